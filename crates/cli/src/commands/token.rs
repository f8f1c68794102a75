//! `polycache token mint` and `polycache token revoke`: long-lived tokens
//! for an app that tells polycache about changes made outside it, through
//! `POST /api/cache/invalidate`.
//!
//! Both work offline. `mint` signs with the core crate's [`jwt::issue`],
//! the code the Worker verifies with, so a token minted here for the
//! Worker's `INSTANCE_ID` and `JWT_SECRET` is one it accepts. `revoke`
//! needs no secret: it reads the token's `jti` and prints the
//! `REVOKED_TOKENS` that lists it, parsed and bounded by the core crate's
//! [`RevokedTokens`], as the Worker parses it.

use std::path::Path;

use polycache_core::jwt::{self, Claims};
use polycache_core::revocation::{check_jti, new_jti, RevokedTokens, JTI_RANDOM_BYTES};
use serde_json::json;

use crate::cli::{Global, MintArgs, RevokeArgs, TokenArgs, TokenCommand};
use crate::error::{CliError, Result};
use crate::secret::{env_nonempty, random_bytes};
use crate::{output, time};

/// The prefix of a minted token's `sub`, so that a log or an event tells a
/// token's label from an account's email.
const SUBJECT_PREFIX: &str = "token:";

/// Seconds in a day, for `--days`.
const DAY_SECS: u64 = 86_400;

/// Runs `token mint` or `token revoke`.
pub fn run(g: &Global, args: TokenArgs) -> Result<()> {
    match args.command {
        TokenCommand::Mint(args) => mint(g, args),
        TokenCommand::Revoke(args) => revoke(g, args),
    }
}

/// Prints a new token on stdout and what it is on stderr.
fn mint(g: &Global, args: MintArgs) -> Result<()> {
    let secret = jwt_secret(args.secret_file.as_deref())?;
    let jti = new_jti(&random_bytes::<JTI_RANDOM_BYTES>()?);
    let now_ms = time::now_ms();
    let claims = claims(&args, now_ms / 1000, jti);
    let token = jwt::issue(&claims, &secret).map_err(|e| match e {
        // The secret's length: say where it came from, never what it is.
        polycache_core::Error::Config { .. } => CliError::Usage(format!(
            "{e} (the Worker's JWT_SECRET, from {})",
            secret_source(args.secret_file.as_deref())
        )),
        other => CliError::Failed(format!("cannot sign the token: {other}")),
    })?;
    let expires_ms = claims.exp.saturating_mul(1000);
    let jti = claims.jti.unwrap_or_default();
    if g.json {
        return output::json(&json!({
            "token": token,
            "jti": jti,
            "name": args.name,
            "role": claims.role.as_str(),
            "instance": claims.aud,
            "expiresAt": expires_ms,
        }));
    }
    output::status(&format!(
        "token {jti} \"{}\" ({}) for {}, valid until {} ({}); revoke it with `polycache token revoke {jti}`",
        args.name,
        claims.role.as_str(),
        claims.aud,
        time::utc(expires_ms),
        time::relative(expires_ms, now_ms),
    ));
    output::line(&token)
}

/// The claims of a token minted at `now_secs` with this `jti`.
fn claims(args: &MintArgs, now_secs: u64, jti: String) -> Claims {
    Claims {
        sub: format!("{SUBJECT_PREFIX}{}", args.name),
        role: args.role,
        iat: now_secs,
        exp: now_secs.saturating_add(args.days.saturating_mul(DAY_SECS)),
        aud: args.instance.clone(),
        jti: Some(jti),
    }
}

/// The signing key: the first line of `--secret-file`, else `JWT_SECRET`.
/// An argument never carries it (shell history, `ps`).
fn jwt_secret(file: Option<&Path>) -> Result<Vec<u8>> {
    let Some(path) = file else {
        return env_nonempty("JWT_SECRET").map(String::into_bytes).ok_or_else(|| {
            CliError::Usage(
                "no JWT_SECRET: set it to the Worker's (as in .dev.vars), or pass --secret-file FILE"
                    .into(),
            )
        });
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
    // The line ending an editor or `echo` adds is not part of the secret.
    let secret = text.lines().next().unwrap_or_default();
    if secret.is_empty() {
        return Err(CliError::Usage(format!(
            "{} is empty: it should hold the Worker's JWT_SECRET",
            path.display()
        )));
    }
    Ok(secret.as_bytes().to_vec())
}

fn secret_source(file: Option<&Path>) -> String {
    file.map_or_else(|| "the environment".to_owned(), |p| p.display().to_string())
}

/// Prints `REVOKED_TOKENS` with the token's id added.
fn revoke(g: &Global, args: RevokeArgs) -> Result<()> {
    let given = if args.token == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::io("cannot read stdin", e))?;
        line
    } else {
        args.token
    };
    let jti = jti_of(given.trim())?;
    let current = env_nonempty("REVOKED_TOKENS").unwrap_or_default();
    let (listed_before, revoked) = revoked_with(&current, &jti)?;
    let value = revoked.to_setting();
    if g.json {
        return output::json(&json!({
            "jti": jti,
            "revokedTokens": value,
            "alreadyListed": listed_before,
        }));
    }
    output::status(&if listed_before {
        format!("token {jti} is already in REVOKED_TOKENS; the value is unchanged:")
    } else {
        format!(
            "set REVOKED_TOKENS to this in the Worker's settings and deploy; token {jti} then answers 401 token_revoked ({} listed):",
            revoked.len()
        )
    });
    output::line(&value)
}

/// The `jti` of `given`: a token's (three dot-separated parts), read
/// without checking it, or `given` itself.
fn jti_of(given: &str) -> Result<String> {
    let jti = if given.contains('.') {
        jwt::jti_unverified(given)
            .map_err(|_| {
                CliError::Usage(
                    "this is not a token (three base64url parts separated by dots) nor a token id"
                        .into(),
                )
            })?
            .ok_or_else(|| {
                CliError::Usage(
                    "this token has no id (jti): it is a login's, which expires within the hour; \
                     only tokens from `polycache token mint` can be revoked (changing JWT_SECRET \
                     refuses every token)"
                        .into(),
                )
            })?
    } else {
        given.to_owned()
    };
    check_jti(&jti).map_err(|e| usage("", e))?;
    Ok(jti)
}

/// `current` (the `REVOKED_TOKENS` of the environment) parsed as the Worker
/// parses it, with `jti` added; and whether it was listed already.
fn revoked_with(current: &str, jti: &str) -> Result<(bool, RevokedTokens)> {
    let current = RevokedTokens::parse(current)
        .map_err(|e| usage("REVOKED_TOKENS in the environment: ", e))?;
    let listed = current.contains(jti);
    let revoked = current.with(jti).map_err(|e| usage("REVOKED_TOKENS ", e))?;
    Ok((listed, revoked))
}

/// A usage error from a core error about the input: its message after
/// `prefix`, without the core's "invalid input: ".
fn usage(prefix: &str, e: polycache_core::Error) -> CliError {
    match e {
        polycache_core::Error::Invalid(message) => CliError::Usage(format!("{prefix}{message}")),
        other => CliError::Usage(format!("{prefix}{other}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use polycache_core::jwt::Role;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    fn args(role: Role, days: u64) -> MintArgs {
        MintArgs {
            name: "shop admin".into(),
            instance: "prod-1".into(),
            role,
            days,
            secret_file: None,
        }
    }

    #[test]
    fn a_minted_token_is_what_the_worker_accepts_for_its_instance_only() {
        let claims = claims(
            &args(Role::Service, 3_650),
            NOW,
            "kQ3v7Xw2b9LmN4pR8sT1uY".into(),
        );
        let token = jwt::issue(&claims, SECRET).unwrap();
        let verified = jwt::verify(&token, SECRET, "prod-1", NOW).unwrap();
        assert_eq!(verified.sub, "token:shop admin");
        assert_eq!(verified.role, Role::Service);
        assert_eq!(verified.jti.as_deref(), Some("kQ3v7Xw2b9LmN4pR8sT1uY"));
        assert_eq!(verified.exp, NOW + 3_650 * 86_400);
        // Still valid a day before it expires, not at its expiry.
        assert!(jwt::verify(&token, SECRET, "prod-1", verified.exp - DAY_SECS).is_ok());
        assert!(jwt::verify(&token, SECRET, "prod-1", verified.exp).is_err());
        assert!(jwt::verify(&token, SECRET, "staging", NOW).is_err());
    }

    #[test]
    fn a_secret_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(jwt_secret(Some(&path)).unwrap(), SECRET);
        std::fs::write(&path, "\n").unwrap();
        let e = jwt_secret(Some(&path)).unwrap_err();
        assert!(matches!(e, CliError::Usage(_)), "{e}");
        let missing = dir.path().join("none");
        assert!(matches!(
            jwt_secret(Some(&missing)),
            Err(CliError::Io { .. })
        ));
    }

    #[test]
    fn revoke_takes_a_minted_token_or_its_id_but_not_a_login_token() {
        let minted = jwt::issue(
            &claims(&args(Role::Service, 1), NOW, "abc_1".into()),
            SECRET,
        )
        .unwrap();
        assert_eq!(jti_of(&minted).unwrap(), "abc_1");
        assert_eq!(jti_of("abc_1").unwrap(), "abc_1");
        let login = Claims {
            jti: None,
            ..claims(&args(Role::Service, 1), NOW, String::new())
        };
        let login = jwt::issue(&login, SECRET).unwrap();
        let e = jti_of(&login).unwrap_err().to_string();
        assert!(e.contains("has no id"), "{e}");
        for bad in ["not an id", "a,b", "x.y.z", ""] {
            assert!(matches!(jti_of(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn revoke_adds_to_the_list_in_force_once() {
        let (listed, revoked) = revoked_with("", "new").unwrap();
        assert!(!listed);
        assert_eq!(revoked.to_setting(), "new");
        let (listed, revoked) = revoked_with(" old1, old2 ", "new").unwrap();
        assert!(!listed);
        assert_eq!(revoked.to_setting(), "old1,old2,new");
        let (listed, revoked) = revoked_with("old1,new", "new").unwrap();
        assert!(listed);
        assert_eq!(revoked.to_setting(), "old1,new");
        let e = revoked_with("old one", "new").unwrap_err().to_string();
        assert!(e.starts_with("REVOKED_TOKENS in the environment:"), "{e}");
    }
}
