//! Long-lived tokens and how they are revoked.
//!
//! A login's token lives an hour, so nothing needs to revoke it. An app that
//! tells polycache about changes made outside it (an admin panel, a cron
//! job) keeps a token in its settings for years instead, minted offline by
//! `polycache token mint`; such a token carries a `jti`, a random id, and a
//! deployment refuses every token whose `jti` is listed in its
//! `REVOKED_TOKENS` setting. The Worker has no storage of its own for
//! sessions, and a setting is what an operator already edits and deploys,
//! so the list is a setting rather than a table.

use crate::error::quote;
use crate::password::random_salt;
use crate::{Error, Result};

/// The longest `jti` accepted, in characters: a revoked one is written into
/// `REVOKED_TOKENS`, and ours are 22.
pub const MAX_JTI_LEN: usize = 64;

/// Random bytes in a minted `jti`: 128 bits, so that two tokens never share
/// one (RFC 7519 §4.1.7 asks for a negligible chance of a collision).
pub const JTI_RANDOM_BYTES: usize = 16;

/// The most `jti`s `REVOKED_TOKENS` may list. The list is parsed on every
/// request and searched for every token that has a `jti`; a thousand is
/// more long-lived tokens than a deployment hands out to its apps, and a
/// list that long is a sign to change `JWT_SECRET` instead (which revokes
/// every token at once).
pub const MAX_REVOKED_TOKENS: usize = 1_000;

/// Checks that `jti` can be listed in `REVOKED_TOKENS`: 1 to
/// [`MAX_JTI_LEN`] characters of `A-Z a-z 0-9 _ -` (no comma, no space, so
/// that the list needs no quoting).
///
/// # Errors
/// [`Error::Invalid`] quoting the (escaped, cut short) value.
pub fn check_jti(jti: &str) -> Result<()> {
    let valid = !jti.is_empty()
        && jti.len() <= MAX_JTI_LEN
        && jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "a token id (jti) is 1 to {MAX_JTI_LEN} characters of A-Z, a-z, 0-9, '_' and '-', got {}",
            quote(jti)
        )))
    }
}

/// A new `jti` from `random` bytes (the caller's randomness: the core crate
/// has none on `wasm32-unknown-unknown`): 22 base-62 characters, the
/// alphabet of [`random_salt`], which spreads the bytes without bias.
pub fn new_jti(random: &[u8; JTI_RANDOM_BYTES]) -> String {
    random_salt(random)
}

/// The `jti`s of `REVOKED_TOKENS`, in the order given, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedTokens {
    jtis: Vec<String>,
}

impl RevokedTokens {
    /// Parses a comma-separated list; spaces around an item and empty items
    /// are ignored, an item listed twice counts once.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an item that is not a `jti` ([`check_jti`]) or
    /// a list of more than [`MAX_REVOKED_TOKENS`].
    pub fn parse(list: &str) -> Result<RevokedTokens> {
        let mut revoked = RevokedTokens::default();
        for jti in list.split(',').map(str::trim).filter(|j| !j.is_empty()) {
            revoked = revoked.with(jti)?;
        }
        Ok(revoked)
    }

    /// This list and `jti` (unchanged when it is listed already).
    ///
    /// # Errors
    /// As [`RevokedTokens::parse`].
    pub fn with(mut self, jti: &str) -> Result<RevokedTokens> {
        check_jti(jti)?;
        if self.contains(jti) {
            return Ok(self);
        }
        if self.jtis.len() == MAX_REVOKED_TOKENS {
            return Err(Error::Invalid(format!(
                "lists more than {MAX_REVOKED_TOKENS} token ids; change JWT_SECRET instead, \
                 which revokes every token, and mint new ones for the apps that keep them"
            )));
        }
        self.jtis.push(jti.to_owned());
        Ok(self)
    }

    /// Whether the token with this `jti` is revoked. A linear search: at
    /// most a thousand comparisons of short strings, once per request that
    /// carries a long-lived token, and no set to build on every request.
    pub fn contains(&self, jti: &str) -> bool {
        self.jtis.iter().any(|j| j == jti)
    }

    /// How many `jti`s are listed.
    pub fn len(&self) -> usize {
        self.jtis.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.jtis.is_empty()
    }

    /// The setting's value: the `jti`s joined by commas.
    pub fn to_setting(&self) -> String {
        self.jtis.join(",")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_trimmed_and_each_jti_kept_once_in_order() {
        let revoked = RevokedTokens::parse(" b-1 ,a_2,, b-1 ,").unwrap();
        assert_eq!(revoked.to_setting(), "b-1,a_2");
        assert!(revoked.contains("a_2"));
        assert!(!revoked.contains("a"));
        assert!(!revoked.contains("A_2"), "ids are compared exactly");
        assert!(RevokedTokens::parse("").unwrap().is_empty());
    }

    #[test]
    fn an_item_that_is_not_a_jti_is_refused_and_quoted() {
        for bad in ["a b", "a;b", "é", "x\u{7}", &"a".repeat(MAX_JTI_LEN + 1)] {
            let Err(Error::Invalid(message)) = RevokedTokens::parse(&format!("ok,{bad}")) else {
                panic!("{bad:?} accepted");
            };
            assert!(message.contains("1 to 64 characters"), "{message}");
        }
        assert!(check_jti(&"a".repeat(MAX_JTI_LEN)).is_ok());
        assert!(check_jti("").is_err());
    }

    #[test]
    fn a_thousand_are_accepted_and_one_more_is_refused() {
        let list: Vec<String> = (0..MAX_REVOKED_TOKENS).map(|i| format!("j{i}")).collect();
        let revoked = RevokedTokens::parse(&list.join(",")).unwrap();
        assert_eq!(revoked.len(), MAX_REVOKED_TOKENS);
        // The same one again is no new entry.
        let same = revoked.clone().with("j0").unwrap();
        assert_eq!(same, revoked);
        let Err(Error::Invalid(message)) = revoked.with("one-more") else {
            panic!("a 1,001st id accepted");
        };
        assert!(message.contains("more than 1000"), "{message}");
    }

    #[test]
    fn new_jtis_are_valid_and_differ_with_their_bytes() {
        let a = new_jti(&[0; JTI_RANDOM_BYTES]);
        let b = new_jti(&[1; JTI_RANDOM_BYTES]);
        assert_eq!(a.len(), 22);
        assert!(check_jti(&a).is_ok() && check_jti(&b).is_ok());
        assert_ne!(a, b);
    }
}
