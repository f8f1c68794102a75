//! `GET /api/cache/logs?since=<seq>&limit=<n>` (admin): the cache log, pino
//! records oldest first, `{records, lastSeq}`; a follower passes the last
//! `seq` it saw as `since`. The original app wrote these to `logs/cache.json`;
//! Workers have no files, so `polycache logs --follow` writes that file.

use polycache_core::hub_api::{route, LogsPage};
use polycache_core::jwt::Role;
use polycache_core::query::LogsQuery;
use worker::{Request, Response, Url};

use crate::auth;
use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::hub_client;
use crate::response::json_response;

/// The log records.
pub async fn get(ctx: &Ctx, req: Request, url: &Url) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_read_logs)?;
    let query = LogsQuery::parse(url.query_pairs())?;
    let page: LogsPage =
        hub_client::get(&ctx.env, &format!("{}?{}", route::LOGS, query.to_query())).await?;
    json_response(200, &page)
}
