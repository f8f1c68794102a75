//! The one error type of the core crate.
//!
//! Each variant carries a message that names the culprit (the setting, the
//! type, the graph node), so that the Worker can pass it on to the client
//! unchanged. Messages never contain secrets: a bad token or password is
//! described, never quoted.

/// Everything that can go wrong in the core crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name that is neither an entity type nor one of its aliases.
    #[error("unknown type {0:?}")]
    UnknownType(String),
    /// A dependency graph that cannot be used: a cycle, a self dependency or
    /// an unknown name. The message names the culprit.
    #[error("invalid dependency graph: {0}")]
    Graph(String),
    /// A setting that is missing or malformed.
    #[error("setting {name}: {message}")]
    Config {
        /// The variable's name, e.g. `CACHE_TTL_SECS`.
        name: String,
        /// What is wrong with it (never its value when it is a secret).
        message: String,
    },
    /// A bearer token that is malformed, forged, expired or of another algorithm.
    #[error("invalid token: {0}")]
    Token(String),
    /// A password hash string that cannot be used.
    #[error("invalid password hash: {0}")]
    PasswordHash(String),
    /// Input that does not have the expected shape.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A request that is malformed (a query parameter that does not parse):
    /// the Worker answers 400 with the message.
    #[error("{0}")]
    Malformed(String),
    /// A cache backend (Upstash, Workers KV) failed or refused a request.
    /// The message never contains the backend's credentials.
    #[error("cache backend {kind}: {message}")]
    Backend {
        /// What kind of failure, for logs and for deciding what to do.
        kind: BackendFailure,
        /// What happened, for a human.
        message: String,
    },
}

/// How a cache backend failed. Every kind is handled the same way by the
/// read path (read the origin, `x-cache: bypass`); the kinds exist so that a
/// log says which one of them to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BackendFailure {
    /// No answer: connection refused, DNS, TLS, a dropped connection.
    Unreachable,
    /// No answer within the time we allow.
    Timeout,
    /// The credentials were refused (Upstash answers 401 to a wrong token).
    Unauthorized,
    /// Too many requests (Upstash answers 429; KV refuses a second write to
    /// a key within a second).
    RateLimited,
    /// The backend ran the command and it failed (a Redis error reply such
    /// as `OOM` or `WRONGTYPE`).
    Command,
    /// The backend answered with a server error (5xx).
    Server,
    /// An answer we cannot understand.
    Protocol,
}

impl BackendFailure {
    /// A stable name for logs: `"unreachable"`, `"timeout"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            BackendFailure::Unreachable => "unreachable",
            BackendFailure::Timeout => "timeout",
            BackendFailure::Unauthorized => "unauthorized",
            BackendFailure::RateLimited => "rate_limited",
            BackendFailure::Command => "command",
            BackendFailure::Server => "server",
            BackendFailure::Protocol => "protocol",
        }
    }
}

impl std::fmt::Display for BackendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// A [`Error::Backend`] of this kind.
    pub fn backend(kind: BackendFailure, message: impl Into<String>) -> Self {
        Error::Backend {
            kind,
            message: message.into(),
        }
    }
}

/// The result type of the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How much of a bad value an error quotes back.
const MAX_QUOTED_CHARS: usize = 40;

/// `value` quoted for an error message: escaped (no raw control characters
/// reach a log line or a response) and cut to 40 characters.
pub(crate) fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(MAX_QUOTED_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}
