//! `GET /api/cache/mirrors?cursor=<seq>&limit=<n>` (admin): per mirror its
//! URL, pending count, oldest pending age, delivered count, parked count,
//! one page of the parked entries with their last error (the `limit`,
//! default 100, oldest of all mirrors after `cursor`; the answer's
//! `nextCursor` is the next page's), last success. `POST /api/cache/mirrors/retry` (admin) puts every
//! parked entry back in its queue, for when the cause is fixed (a secret
//! corrected, a mirror back up for good). `POST /api/cache/hub/reset`
//! resets the Hub, for tests only.

use polycache_core::hub_api::{route, Ack, MirrorsResponse, Requeued};
use polycache_core::jwt::Role;
use polycache_core::query::MirrorsQuery;
use worker::{Request, Response, Url};

use crate::auth;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::response::json_response;

/// The mirror status, one page of parked entries.
pub async fn get(ctx: &Ctx, req: Request, url: &Url) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_read_logs)?;
    let query = MirrorsQuery::parse(url.query_pairs())?;
    let path = format!("{}?{}", route::MIRRORS, query.to_query());
    let status: MirrorsResponse = hub_client::get(&ctx.env, &path).await?;
    json_response(200, &status)
}

/// `POST /api/cache/hub/reset` (admin, and only with the test fault
/// `hub-reset`, else 404): resets the Hub object alone, for the tests of a
/// Hub restart (what it kept in memory goes, its storage stays).
pub async fn reset_hub(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    if !ctx.config.test_faults.hub_reset() {
        return Err(ApiError::NotFound(
            "no route for /api/cache/hub/reset (a test fault: TEST_FAULTS=hub-reset)".into(),
        ));
    }
    auth::require(ctx, &req, Role::may_read_logs)?;
    let _: Ack = hub_client::call(&ctx.env, route::RESET, &Ack {}).await?;
    json_response(200, &Ack {})
}

/// Requeues parked entries.
pub async fn retry(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_read_logs)?;
    let outcome: Requeued = hub_client::call(&ctx.env, route::MIRRORS_RETRY, &Ack {}).await?;
    json_response(200, &outcome)
}
