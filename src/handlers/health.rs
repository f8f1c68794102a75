//! `GET /api/health`: `{ok, version, instance, backend, mode}` (`mode`:
//! `d1`, or `origin` in front of the user's API), so that a deploy,
//! a test harness or a load balancer can tell the Worker is up and how it is
//! configured.

use serde_json::json;
use worker::Response;

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::response::json_response;

/// The crate version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Answers the health check.
pub fn get(ctx: &Ctx) -> ApiResult<Response> {
    let config = &ctx.config;
    json_response(
        200,
        &json!({
            "ok": true,
            "version": VERSION,
            "instance": config.instance_id,
            "backend": config.backend.as_str(),
            "mode": if config.origin.is_some() { "origin" } else { "d1" },
        }),
    )
}
