//! Where a password (and a missing email) comes from, and random bytes.
//!
//! In this order: `POLYCACHE_PASSWORD`; a prompt on the terminal that does
//! not echo; otherwise the first line of stdin, so that a script can pipe
//! it in (`printf %s "$PW" | polycache hash-password`). A password never
//! comes from an argument, which would leave it in the shell history and in
//! `ps` for every user of the machine.

use std::io::{IsTerminal as _, Write as _};

use crate::error::{CliError, Result};

/// The value of an environment variable, `None` when unset or empty.
pub fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `N` bytes from the operating system's random source (for salts and
/// token ids: the core crate, built for wasm32 too, has none of its own).
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| CliError::Failed(format!("no randomness from the operating system: {e}")))?;
    Ok(bytes)
}

/// Reads a password as described above. With `confirm`, a terminal prompt
/// asks twice and fails when the two differ (for `hash-password`, where a
/// typo would lock the account out).
pub fn password(prompt: &str, confirm: bool) -> Result<String> {
    if let Some(p) = env_nonempty("POLYCACHE_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let read = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map_err(|e| CliError::io("cannot read the password from the terminal", e))
        };
        let first = read(prompt)?;
        if first.is_empty() {
            return Err(CliError::Usage("the password is empty".into()));
        }
        if confirm && read("Again, to confirm: ")? != first {
            return Err(CliError::Usage(
                "the two passwords differ; run it again".into(),
            ));
        }
        return Ok(first);
    }
    let line = first_line(&mut stdin.lock())?;
    if line.is_empty() {
        return Err(CliError::Usage(
            "no password: set POLYCACHE_PASSWORD, pipe it on stdin, or run in a terminal".into(),
        ));
    }
    Ok(line)
}

/// The email: as given (`--email`, or `POLYCACHE_EMAIL` through clap), else
/// asked on the terminal.
pub fn email(given: Option<String>) -> Result<String> {
    if let Some(e) = given.filter(|e| !e.trim().is_empty()) {
        return Ok(e.trim().to_owned());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Usage(
            "no email: pass --email (or set POLYCACHE_EMAIL)".into(),
        ));
    }
    eprint!("Email: ");
    let _ = std::io::stderr().flush();
    let line = first_line(&mut stdin.lock())?;
    if line.is_empty() {
        return Err(CliError::Usage("no email given".into()));
    }
    Ok(line.trim().to_owned())
}

/// The first line of `input` without its line ending (LF or CRLF); empty at
/// end of input.
fn first_line(input: &mut impl std::io::BufRead) -> Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| CliError::io("cannot read stdin", e))?;
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn first_line_drops_only_the_line_ending() {
        let mut input = std::io::Cursor::new(" pass word \r\nsecond\n");
        assert_eq!(first_line(&mut input).unwrap(), " pass word ");
        let mut empty = std::io::Cursor::new("");
        assert_eq!(first_line(&mut empty).unwrap(), "");
        let mut no_newline = std::io::Cursor::new("abc");
        assert_eq!(first_line(&mut no_newline).unwrap(), "abc");
    }
}
