//! The API's error contract: every error answer, of the Worker to its
//! clients and of the Hub to the Worker, is `{"error": {"code", "message"}}`
//! with the status of its [`ErrorCode`]. One declaration, so that the
//! Worker, the Hub and the CLI cannot disagree on a code or its status.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A machine-readable error code; each has one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the request is malformed (bad JSON, bad id, bad query).
    BadRequest,
    /// 401: no valid credentials.
    Unauthenticated,
    /// 401: a valid long-lived token whose `jti` is in `REVOKED_TOKENS`:
    /// apart from `unauthenticated` so that the app holding it is told to
    /// get a new one, not that it is misconfigured.
    TokenRevoked,
    /// 403: valid credentials of a role that may not do this.
    Forbidden,
    /// 404: no such route or entity.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 409: the request conflicts with the state (a mirror loop, a referenced row).
    Conflict,
    /// 413: the body exceeds the limit.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: well-formed, but names an unknown type or field or an invalid value.
    Unprocessable,
    /// 429: too many requests (logins past their limits, streams past theirs).
    TooManyRequests,
    /// 500: a setting is missing or malformed; the message names it.
    Configuration,
    /// 503: a dependency (D1, the Hub, a backend) failed.
    Unavailable,
    /// 500: a bug.
    Internal,
    /// 502 (origin mode): the origin could not be reached, or answered
    /// what cannot be passed on.
    OriginUnreachable,
    /// 504 (origin mode): the origin did not answer within
    /// `ORIGIN_TIMEOUT_MS`.
    OriginTimeout,
    /// 502 (origin mode): the origin's answer on a cached route ran past
    /// `ORIGIN_MAX_BODY_BYTES` without saying its length.
    OriginTooLarge,
}

impl ErrorCode {
    /// The HTTP status of this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthenticated | ErrorCode::TokenRevoked => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Unprocessable => 422,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Configuration | ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
            ErrorCode::OriginUnreachable => 502,
            ErrorCode::OriginTimeout => 504,
            ErrorCode::OriginTooLarge => 502,
        }
    }

    /// The wire name, e.g. `"bad_request"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::TokenRevoked => "token_revoked",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unprocessable => "unprocessable",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Configuration => "configuration",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::OriginUnreachable => "origin_unreachable",
            ErrorCode::OriginTimeout => "origin_timeout",
            ErrorCode::OriginTooLarge => "origin_too_large",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code and the human-readable message of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// What a person reads; never a secret or a runtime internal.
    pub message: String,
}

impl ErrorBody {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ALL: [ErrorCode; 17] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::TokenRevoked,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unprocessable,
        ErrorCode::TooManyRequests,
        ErrorCode::Configuration,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::OriginUnreachable,
        ErrorCode::OriginTimeout,
        ErrorCode::OriginTooLarge,
    ];

    #[test]
    fn the_wire_name_is_the_serde_name_and_round_trips() {
        for code in ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn only_configuration_internal_unavailable_and_the_origins_are_5xx() {
        let server: Vec<ErrorCode> = ALL.into_iter().filter(|c| c.status() >= 500).collect();
        assert_eq!(
            server,
            [
                ErrorCode::Configuration,
                ErrorCode::Unavailable,
                ErrorCode::Internal,
                ErrorCode::OriginUnreachable,
                ErrorCode::OriginTimeout,
                ErrorCode::OriginTooLarge
            ]
        );
    }

    #[test]
    fn the_body_is_the_documented_shape() {
        let body = ErrorBody::new(ErrorCode::Conflict, "loop");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"conflict","message":"loop"}}"#
        );
    }
}
