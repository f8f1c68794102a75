//! `GET /api/cache/mirrors` (admin): per mirror its URL, pending count,
//! oldest pending age, delivered count, parked entries with their last
//! error, last success. `POST /api/cache/mirrors/retry` (admin) puts every
//! parked entry back in its queue, for when the cause is fixed (a secret
//! corrected, a mirror back up for good).

use polycache_core::hub_api::{route, Ack, MirrorsResponse, Requeued};
use polycache_core::jwt::Role;
use worker::{Request, Response};

use crate::auth;
use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::hub_client;
use crate::response::json_response;

/// The mirror status.
pub async fn get(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_read_logs)?;
    let status: MirrorsResponse = hub_client::get(&ctx.env, route::MIRRORS).await?;
    json_response(200, &status)
}

/// Requeues parked entries.
pub async fn retry(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_read_logs)?;
    let outcome: Requeued = hub_client::call(&ctx.env, route::MIRRORS_RETRY, &Ack {}).await?;
    json_response(200, &outcome)
}
