//! `GET /api/cache/logs?since=<seq>&limit=<n>` (admin): the cache log, pino
//! records oldest first, `{records, lastSeq}`; a follower passes the last
//! `seq` it saw as `since`. The original app wrote these to `logs/cache.json`;
//! Workers have no files, so `polycache logs --follow` writes that file.

use polycache_core::jwt::Role;
use serde_json::Value;
use worker::{Request, Response, Url};

use crate::auth;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::response::json_response;

/// The log records.
pub async fn get(ctx: &Ctx, req: Request, url: &Url) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_read_logs)?;
    let mut since = 0u64;
    let mut limit = 500usize;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "since" => {
                since = v.parse().map_err(|_| {
                    ApiError::BadRequest("since must be a non-negative integer".into())
                })?
            }
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=2_000).contains(n))
                    .ok_or_else(|| ApiError::BadRequest("limit must be 1 to 2000".into()))?
            }
            _ => {}
        }
    }
    let records: Value =
        hub_client::get(&ctx.env, &format!("/logs?since={since}&limit={limit}")).await?;
    json_response(200, &records)
}
