//! JSON answers of the Hub's internal routes, in the Worker's error shape so
//! that the Worker can pass a 4xx on unchanged.

use polycache_core::error_code::{ErrorBody, ErrorCode};
use serde::Serialize;
use worker::{Headers, Response, Result};

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    let text = serde_json::to_string(body)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(text.into_bytes())?
        .with_status(status)
        .with_headers(headers))
}

/// A JSON error `{"error": {"code", "message"}}` with the code's status.
pub fn error(code: ErrorCode, message: &str) -> Result<Response> {
    json(code.status(), &ErrorBody::new(code, message))
}
