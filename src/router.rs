//! The router: method and path to handler, written as one match so that it
//! reads like the API table in DESIGN.md. Unknown paths answer 404 and known
//! paths with the wrong method 405, both as JSON errors.

use serde::Serialize;
use worker::{Context, Env, Headers, Method, Request, Response};

use crate::error::{ApiError, ApiResult};
use crate::handlers;

/// Handles one request; never fails: errors become JSON responses here.
pub async fn handle(req: Request, env: Env, ctx: Context) -> Response {
    match route(req, env, ctx).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn route(req: Request, env: Env, _ctx: Context) -> ApiResult<Response> {
    let url = req
        .url()
        .map_err(|_| ApiError::BadRequest("malformed URL".into()))?;
    let path = url.path().to_owned();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method();
    match segments.as_slice() {
        ["api", "health"] => match method {
            Method::Get | Method::Head => handlers::health::get(&env),
            _ => Err(ApiError::MethodNotAllowed { allowed: &["GET"] }),
        },
        _ => Err(ApiError::NotFound(format!("no route for {path}"))),
    }
}

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: u16, body: &T) -> ApiResult<Response> {
    let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(text.into_bytes())?
        .with_status(status)
        .with_headers(headers))
}
