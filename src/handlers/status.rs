//! `GET /api/status`: the Hub's counters (open streams, last event id,
//! generations, cache entries), public like the stream itself, so that an
//! operator or a test can see that closed streams are gone.

use polycache_core::hub_api::StatusResponse;
use worker::Response;

use crate::error::ApiResult;
use crate::hub_client;
use crate::router::{json_response, Ctx};

/// Answers the status.
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let status: StatusResponse = hub_client::get(&ctx.env, "/status").await?;
    json_response(200, &status)
}
