//! JSON responses of the API (errors have theirs in [`crate::error`]).

use serde::Serialize;
use worker::{Headers, Response};

use crate::error::{ApiError, ApiResult};

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: u16, body: &T) -> ApiResult<Response> {
    let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    json_text_response(status, text)
}

/// A response whose body is already JSON text.
pub fn json_text_response(status: u16, text: String) -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(text.into_bytes())?
        .with_status(status)
        .with_headers(headers))
}
