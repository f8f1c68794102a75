//! Reading a JSON request body: `content-type: application/json` (415
//! otherwise), at most [`MAX_BODY_BYTES`] (413), well-formed JSON (400), an
//! object of the expected shape (422 for unknown or ill-typed fields).

use futures::StreamExt;
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
    // Past the limit, what fits the bounds is read (and dropped) first, as
    // for a body without a length: see `read_bounded`.
    let bytes = bytes(req, MAX_BODY_BYTES).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("body is not valid JSON: {e}")))
}

/// Reads a body of any media type, at most `limit` bytes (413 past it,
/// told by its `content-length` or found while reading).
pub async fn bytes(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    if let Some(len) = req.headers().get("content-length")? {
        if len.trim().parse::<usize>().map_or(true, |n| n > limit) {
            let _ = read_bounded(req, limit).await;
            return Err(ApiError::PayloadTooLarge(limit));
        }
    }
    read_bounded(req, limit).await
}

/// Reads the body chunk by chunk and stops at the first chunk that takes it
/// past `limit` (413). A body without a length (`Transfer-Encoding:
/// chunked`) passes the content-length check above, so this bound is what
/// keeps a stranger's 90 MB from being held in the isolate's memory: read
/// whole, it cost workerd 271 MiB of peak memory (the test in
/// tests/runtime/requests.test.mjs). Dropping the stream cancels it, so the
/// runtime stops taking the rest.
async fn read_bounded(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req
        .stream()
        .map_err(|_| ApiError::BadRequest("could not read the body".into()))?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest("could not read the body".into()))?;
        if !append_within(&mut bytes, &chunk, limit) {
            drain(&mut stream, DRAIN_BYTES).await;
            return Err(ApiError::PayloadTooLarge(limit));
        }
    }
    Ok(bytes)
}

/// How much of a body past the limit is read and dropped before the 413:
/// a body that is only a little too big (the usual mistake) is then read
/// whole, and its client reads the 413; a connection closed with bytes
/// still unread is reset, and a client (or a proxy in between, such as
/// wrangler dev's) still sending may see the reset instead of the answer.
/// Bounded, so a 90 MB body still costs at most this much more.
const DRAIN_BYTES: usize = 64 * 1024;

/// Reads and drops up to about `max` bytes of what is left of `stream`.
async fn drain(stream: &mut worker::ByteStream, max: usize) {
    let mut seen = 0;
    while seen < max {
        match stream.next().await {
            Some(Ok(chunk)) => seen += chunk.len(),
            _ => return,
        }
    }
}

/// Appends `chunk` to `bytes` if the sum stays within `limit`; false (and
/// nothing appended) otherwise.
fn append_within(bytes: &mut Vec<u8>, chunk: &[u8], limit: usize) -> bool {
    if bytes.len().saturating_add(chunk.len()) > limit {
        return false;
    }
    bytes.extend_from_slice(chunk);
    true
}

/// Reads the body as `T`; shape errors (unknown fields, wrong types) are 422.
pub async fn json<T: DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    parse(json_value(req).await?)
}

/// Reads a body already read as JSON as `T`, as [`json`] does.
pub fn parse<T: DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    if !value.is_object() {
        return Err(ApiError::Unprocessable("body must be a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_kept_up_to_the_limit_and_refused_past_it() {
        let mut bytes = Vec::new();
        assert!(append_within(&mut bytes, &[1; 40], 64));
        assert!(append_within(&mut bytes, &[2; 24], 64), "exactly the limit");
        assert!(!append_within(&mut bytes, &[3], 64), "one byte past it");
        assert_eq!(bytes.len(), 64, "the refused chunk is not kept");
    }
}
