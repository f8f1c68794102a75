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
}

/// The result type of the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
