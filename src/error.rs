//! The one error type of the Worker and the one place where an error becomes
//! an HTTP response: `{"error": {"code": "...", "message": "..."}}` with the
//! right status. A 5xx is a bug, so only [`ApiError::Internal`] and
//! [`ApiError::Unavailable`] map to one (and, in origin mode, the origin's
//! own failures: [`ApiError::OriginUnreachable`], 502, and
//! [`ApiError::OriginTimeout`], 504), and their messages never carry
//! secrets or runtime internals.

use polycache_core::error_code::{ErrorBody, ErrorCode};
use worker::{Headers, Response};

/// Everything a request can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, bad id, bad query).
    BadRequest(String),
    /// 401: no valid credentials.
    Unauthenticated(String),
    /// 401: a long-lived token listed in `REVOKED_TOKENS`.
    TokenRevoked(String),
    /// 403: valid credentials of a role that may not do this.
    Forbidden(String),
    /// 404: no such route or entity.
    NotFound(String),
    /// 405: the route exists but not with this method; lists the allowed ones.
    MethodNotAllowed {
        /// The methods the route accepts, for the `allow` header.
        allowed: &'static [&'static str],
    },
    /// 409: the request conflicts with the state (e.g. a mirror loop).
    Conflict(String),
    /// 413: the body exceeds the limit.
    PayloadTooLarge(usize),
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: well-formed, but names an unknown type or field or an invalid value.
    Unprocessable(String),
    /// 429: too many requests (logins, streams); retry after this many seconds.
    TooManyRequests(u64),
    /// 500: a setting is missing or malformed; the message names it.
    Config(String),
    /// 503: a dependency (D1, the Hub, a backend) failed; the message is
    /// generic ("the hub is unavailable; try again shortly"), and what went
    /// wrong goes to the log where the error is made, never to the client.
    Unavailable(String),
    /// 500: a bug. The message is logged, not shown.
    Internal(String),
    /// 502: the origin (origin mode) could not be reached or answered what
    /// cannot be passed on.
    OriginUnreachable(String),
    /// 504: the origin did not answer within `ORIGIN_TIMEOUT_MS`.
    OriginTimeout(u64),
    /// 502: the origin's answer ran past this many bytes
    /// (`ORIGIN_MAX_BODY_BYTES`) without saying its length.
    OriginTooLarge(u64),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        self.code().status()
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ApiError::TokenRevoked(_) => ErrorCode::TokenRevoked,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::Unprocessable(_) => ErrorCode::Unprocessable,
            ApiError::TooManyRequests(_) => ErrorCode::TooManyRequests,
            ApiError::Config(_) => ErrorCode::Configuration,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
            ApiError::OriginUnreachable(_) => ErrorCode::OriginUnreachable,
            ApiError::OriginTimeout(_) => ErrorCode::OriginTimeout,
            ApiError::OriginTooLarge(_) => ErrorCode::OriginTooLarge,
        }
    }

    /// The human-readable message shown to the client.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthenticated(m)
            | ApiError::TokenRevoked(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::Unprocessable(m)
            | ApiError::Config(m)
            | ApiError::Unavailable(m)
            | ApiError::OriginUnreachable(m) => m.clone(),
            ApiError::OriginTooLarge(limit) => format!(
                "the origin's answer is larger than {limit} bytes (ORIGIN_MAX_BODY_BYTES) and says not how large; \
                 raise the setting, have the origin send a content-length, or leave this path out of CACHE_ROUTES"
            ),
            ApiError::OriginTimeout(ms) => {
                format!("the origin did not answer within {ms} ms (ORIGIN_TIMEOUT_MS)")
            }
            ApiError::MethodNotAllowed { allowed } => {
                format!("method not allowed; use {}", allowed.join(", "))
            }
            ApiError::PayloadTooLarge(limit) => format!("body larger than {limit} bytes"),
            ApiError::UnsupportedMediaType => {
                "body must be JSON (content-type: application/json)".into()
            }
            ApiError::TooManyRequests(secs) => format!("too many requests; retry in {secs} s"),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    /// The response for this error: the one place errors become HTTP.
    pub fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            worker::console_error!("internal error: {detail}");
        }
        let body =
            serde_json::to_string(&ErrorBody::new(self.code(), self.message())).unwrap_or_default();
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json");
        let _ = headers.set("cache-control", "no-store");
        match &self {
            ApiError::MethodNotAllowed { allowed } => {
                let _ = headers.set("allow", &allowed.join(", "));
            }
            ApiError::TooManyRequests(secs) => {
                let _ = headers.set("retry-after", &secs.to_string());
            }
            _ => {}
        }
        Response::from_bytes(body.into_bytes())
            .unwrap_or_else(|_| Response::empty().unwrap_or_else(|_| unreachable_response()))
            .with_status(self.status())
            .with_headers(headers)
    }
}

/// `Response::from_bytes` and `Response::empty` only fail when the runtime
/// cannot build a response at all; this keeps the error path panic-free.
fn unreachable_response() -> Response {
    Response::builder().with_status(500).empty()
}

impl From<polycache_core::Error> for ApiError {
    fn from(e: polycache_core::Error) -> Self {
        use polycache_core::Error as E;
        match e {
            E::UnknownType(_) => ApiError::Unprocessable(e.to_string()),
            E::Config { .. } | E::Graph(_) => ApiError::Config(e.to_string()),
            E::Token(_) => ApiError::Unauthenticated(e.to_string()),
            E::PasswordHash(_) => ApiError::Config(e.to_string()),
            E::Invalid(_) => ApiError::Unprocessable(e.to_string()),
            E::Malformed(m) => ApiError::BadRequest(m),
            E::Backend { .. } => {
                worker::console_error!("cache backend: {e}");
                ApiError::Unavailable("the cache backend is unavailable; try again shortly".into())
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
