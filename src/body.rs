//! Reading a JSON request body: `content-type: application/json` (415
//! otherwise), at most [`MAX_BODY_BYTES`] (413), well-formed JSON (400), an
//! object of the expected shape (422 for unknown or ill-typed fields).

use serde::de::DeserializeOwned;
use worker::Request;

use crate::error::{ApiError, ApiResult};

/// The body limit: 64 KiB (README, "API": 413 past it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the body as JSON text, checking media type and size.
pub async fn json_value(req: &mut Request) -> ApiResult<serde_json::Value> {
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(ApiError::UnsupportedMediaType);
    }
    if let Some(len) = req.headers().get("content-length")? {
        if len
            .trim()
            .parse::<usize>()
            .map_or(true, |n| n > MAX_BODY_BYTES)
        {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
    }
    // A chunked body has no content-length; its size is checked once read.
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::BadRequest("could not read the body".into()))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("body is not valid JSON: {e}")))
}

/// Reads the body as `T`; shape errors (unknown fields, wrong types) are 422.
pub async fn json<T: DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    let value = json_value(req).await?;
    if !value.is_object() {
        return Err(ApiError::Unprocessable("body must be a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|e| ApiError::Unprocessable(e.to_string()))
}
