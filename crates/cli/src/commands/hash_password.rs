//! `polycache hash-password`: a password hash string for `AUTH_USERS`.
//!
//! The hashing is the core crate's [`PasswordHash`], the same code the
//! Worker verifies with, so a hash made here always logs in there. The salt
//! comes from the operating system's random source ([`secret::random_bytes`]).

use polycache_core::password::{random_salt, PasswordHash};
use serde_json::json;

use crate::cli::{Global, HashPasswordArgs};
use crate::error::{CliError, Result};
use crate::{output, secret};

/// Random bytes for a salt: 16 bytes are 128 bits, Django's salt entropy,
/// which [`random_salt`] spreads over its 22 characters without bias.
const SALT_BYTES: usize = 16;

/// Prompts for a password and prints its hash (or the whole entry).
pub fn run(g: &Global, args: HashPasswordArgs) -> Result<()> {
    let salt = match args.salt {
        Some(s) => s,
        None => random_salt(&secret::random_bytes::<SALT_BYTES>()?),
    };
    let password = secret::password("Password to hash: ", true)?;
    let hash = PasswordHash::new(&password, &salt, args.iterations)
        .map_err(|e| CliError::Usage(format!("{e} (check --salt and --iterations)")))?
        .to_string();
    match (args.email, args.role) {
        (Some(email), Some(role)) => {
            output::json(&json!({ "email": email, "role": role, "password": hash }))
        }
        _ if g.json => output::json(&json!({ "hash": hash })),
        _ => output::line(&hash),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use polycache_core::accounts::parse_auth_users;

    use super::*;

    #[test]
    fn an_entry_made_here_is_an_auth_users_entry_that_verifies() {
        let hash = PasswordHash::new("s3cret", &random_salt(&[7; SALT_BYTES]), 1000)
            .unwrap()
            .to_string();
        let entry = json!([{ "email": "a@example.com", "role": "admin", "password": hash }]);
        let accounts = parse_auth_users(&entry.to_string()).unwrap();
        assert!(accounts[0].password.verify("s3cret"));
        assert!(!accounts[0].password.verify("s3cret "));
    }
}
