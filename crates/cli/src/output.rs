//! Writing results to stdout and status to stderr.
//!
//! `println!` panics when stdout is a closed pipe (`polycache tail | head
//! -1`); these return [`CliError::StdoutClosed`] instead, which ends the run
//! quietly with success. Each call writes and flushes whole lines, so a
//! reader of a stream (a test, `jq`) sees each event as it happens.

use std::io::Write as _;

use serde_json::Value;

use crate::error::{CliError, Result};

/// Writes `text` and a newline to stdout.
pub fn line(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let result = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    result.map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => CliError::StdoutClosed,
        _ => CliError::io("cannot write to stdout", e),
    })
}

/// Writes `text` as is (it ends in its own newline) to stdout.
pub fn text(text: &str) -> Result<()> {
    line(text.strip_suffix('\n').unwrap_or(text))
}

/// Writes a JSON value as one line to stdout.
pub fn json(value: &Value) -> Result<()> {
    line(&value.to_string())
}

/// A status line on stderr: progress and notices that are not the result.
pub fn status(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
