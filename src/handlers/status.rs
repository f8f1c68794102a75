//! `GET /api/status`: the Hub's counters (open streams, last event id,
//! generations, cache entries, types whose reads bypass the cache), public
//! like the stream itself, so that an operator or a test can see that
//! closed streams are gone; plus the cache backend and `originReads`, the
//! origin reads of cached reads made by the isolate that answers (one per
//! `wrangler dev`; several in production, each with its own count).

use polycache_core::hub_api::{route, StatusResponse};
use serde_json::json;
use worker::Response;

use crate::cache;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::response::json_response;

/// Answers the status.
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let status: StatusResponse = hub_client::get(&ctx.env, route::STATUS).await?;
    let mut body = serde_json::to_value(&status).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["backend"] = json!(ctx.config.backend.as_str());
    body["originReads"] = json!(cache::origin_reads());
    json_response(200, &body)
}
