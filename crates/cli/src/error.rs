//! The one error type of the CLI, and what each kind means as an exit code.
//!
//! An operator reads these in a terminal and a script reads the exit code,
//! so every message is one line that names what failed and says what to do
//! next ("is the Worker running? try `make dev`"), and the exit code only
//! separates "you asked wrongly" (2, as clap does for its own usage errors)
//! from "it did not work" (1).

use std::fmt;
use std::io;

/// The exit code of a run that did what it was asked.
pub const EXIT_OK: u8 = 0;
/// The exit code of a run that failed: unreachable, refused, invalid input file.
pub const EXIT_FAILED: u8 = 1;
/// The exit code of a usage error, the same as clap's.
pub const EXIT_USAGE: u8 = 2;

/// Everything that can end a command early.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// The command line (or what stands in for it: missing input, an
    /// environment variable) does not say what to do. Exit code 2.
    Usage(String),
    /// The Worker could not be reached at all: refused, unresolvable, timed
    /// out, TLS. `url` is the base URL, `reason` the short cause.
    Unreachable {
        /// The base URL that was tried.
        url: String,
        /// What went wrong, e.g. "connection refused".
        reason: String,
        /// What to do about it.
        hint: String,
    },
    /// The Worker answered with an error. `message` is already the whole
    /// line: what was asked, the Worker's own message, and what to do.
    Api(String),
    /// The Worker (or a proxy before it) failed with a 5xx: a missing
    /// setting, a bug, or a deployment in progress. Retried by the commands
    /// that follow (`tail`, `logs --follow`), reported by the others.
    Server(String),
    /// No usable token for the URL.
    NotLoggedIn(String),
    /// The Worker refused the token (401): it expired, or the Worker's
    /// `JWT_SECRET` changed. Apart from [`CliError::Api`] so that a long
    /// `logs --follow` can log in again and go on.
    TokenRefused(String),
    /// A local file could not be read or written.
    Io {
        /// What was being done, e.g. "cannot write logs/cache.json".
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// Any other failure, with its message (an invalid graph file, a reply
    /// that is not what the API promises).
    Failed(String),
    /// Stdout was closed by its reader (`polycache tail | head -1`): not a
    /// failure, the reader had what it wanted.
    StdoutClosed,
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::StdoutClosed => EXIT_OK,
            _ => EXIT_FAILED,
        }
    }

    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether retrying later could help: the Worker was not reachable or
    /// failed (it restarts, a network blip, a deployment), as opposed to
    /// being reached and refusing.
    pub fn is_transient(&self) -> bool {
        matches!(self, CliError::Unreachable { .. } | CliError::Server(_))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m)
            | CliError::Api(m)
            | CliError::NotLoggedIn(m)
            | CliError::TokenRefused(m)
            | CliError::Server(m)
            | CliError::Failed(m) => f.write_str(m),
            CliError::Unreachable { url, reason, hint } => {
                write!(f, "cannot reach {url} ({reason}): {hint}")
            }
            CliError::Io { what, source } => write!(f, "{what}: {source}"),
            CliError::StdoutClosed => f.write_str("stdout was closed"),
        }
    }
}

impl std::error::Error for CliError {}

/// The result type of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_two_failures_are_one_and_a_closed_pipe_is_success() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Api("x".into()).exit_code(), 1);
        assert_eq!(CliError::Failed("x".into()).exit_code(), 1);
        assert_eq!(CliError::StdoutClosed.exit_code(), 0);
    }

    #[test]
    fn unreachable_reads_as_one_line_with_advice() {
        let e = CliError::Unreachable {
            url: "http://127.0.0.1:9".into(),
            reason: "connection refused".into(),
            hint: "is the Worker running? try `make dev`".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach http://127.0.0.1:9 (connection refused): is the Worker running? try `make dev`"
        );
        assert!(e.is_transient());
        assert!(!e.to_string().contains('\n'));
    }
}
