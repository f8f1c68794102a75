//! Bearer tokens: the claims a login grants, and HS256 JWTs that carry them.
//!
//! `POST /api/auth/login` answers with a token; every write sends it back in
//! `authorization: Bearer …`. The token is a JWT (RFC 7519) signed with
//! HMAC-SHA256 under `JWT_SECRET`, so the Worker needs no session storage:
//! whoever holds a token whose signature checks out and whose `exp` lies in
//! the future is the account named in `sub`, with the [`Role`] in `role`.
//!
//! The algorithm is ours, never the token's. The classic JWT attacks (`"alg":
//! "none"`, or a token that names another algorithm so that the key is used
//! the wrong way) rely on a verifier that believes the header; [`verify`]
//! accepts `HS256` and nothing else, and requires `exp`.
//!
//! Deployments may share a `JWT_SECRET` (a local instance and production,
//! set up by one person), so a token also names the deployment that issued
//! it in `aud`, its `INSTANCE_ID`, and each accepts only its own. A mirror
//! logs in to the receiver and so holds the receiver's token.
//!
//! A token minted for an app to keep (`polycache token mint`) lives for
//! years and carries a `jti`, its id, by which `REVOKED_TOKENS` revokes it
//! ([`crate::revocation`]); a login's token has none. Time is passed in as
//! seconds since the epoch because the core crate has no clock (it runs on
//! `wasm32-unknown-unknown`, where `SystemTime::now` panics).

use jwt_compact::{
    alg::{Hs256, Hs256Key},
    AlgorithmExt as _, Empty, Header, UntrustedToken, ValidationError,
};
use serde::{Deserialize, Serialize};

use crate::revocation::check_jti;
use crate::{Error, Result};

/// What an account may do. Reads and the stream are public, so every role
/// is about writing or watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A person who edits content: creates, updates and deletes entities.
    Editor,
    /// Another application that tells us its data changed, through the
    /// mirror endpoint `POST /api/cache/invalidate`.
    Service,
    /// Both of the above, plus the cache's logs and mirror status.
    Admin,
}

impl Role {
    /// The name used in tokens and in `AUTH_USERS`: `editor`, `service` or
    /// `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editor => "editor",
            Role::Service => "service",
            Role::Admin => "admin",
        }
    }

    /// Reads a role from its name, exactly as [`Role::as_str`] writes it.
    ///
    /// Case matters: a role is a permission, and `Admin` in a hand-written
    /// setting is more likely a mistake to report than a spelling to guess.
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "editor" => Ok(Role::Editor),
            "service" => Ok(Role::Service),
            "admin" => Ok(Role::Admin),
            other => Err(Error::Invalid(format!(
                "unknown role {other:?}; expected editor, service or admin"
            ))),
        }
    }

    /// Whether this role may create, update and delete entities: `editor`
    /// and `admin`.
    pub fn may_write_content(self) -> bool {
        matches!(self, Role::Editor | Role::Admin)
    }

    /// Whether this role may call the mirror endpoint: `service` and `admin`.
    pub fn may_invalidate(self) -> bool {
        matches!(self, Role::Service | Role::Admin)
    }

    /// Whether this role may read the cache logs and the mirror status:
    /// `admin` only.
    pub fn may_read_logs(self) -> bool {
        matches!(self, Role::Admin)
    }
}

/// What a token says about its holder. Times are seconds since the Unix
/// epoch, as in RFC 7519.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account: its canonical email.
    pub sub: String,
    /// What the account may do.
    pub role: Role,
    /// When the token stops being valid (it is invalid from this second on).
    pub exp: u64,
    /// When the token was issued.
    pub iat: u64,
    /// The deployment that issued it and alone accepts it: its
    /// `INSTANCE_ID`.
    pub aud: String,
    /// The token's id, for revocation: set on long-lived tokens only, and
    /// then written into the token; a token without one (every login's)
    /// cannot be revoked and expires within the hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// How far in the future a token's `iat` may lie, in seconds: clocks of
/// Cloudflare's machines agree far better than that, and a token "issued"
/// later was made by someone else's clock or by hand.
pub const MAX_IAT_AHEAD_SECS: u64 = 60;

/// The shortest `JWT_SECRET` accepted, in bytes.
///
/// RFC 7518 §3.2: a key used with HS256 must be at least as long as the hash
/// output, 256 bits; a shorter one makes brute force of the secret from a
/// single token cheaper than forging the MAC.
pub const MIN_SECRET_LEN: usize = 32;

/// The claims besides the registered times, which `jwt-compact` keeps in its
/// own `Claims` fields (`exp`, `iat`, `nbf`).
#[derive(Serialize, Deserialize)]
struct Subject {
    sub: String,
    // Read as a string and parsed after the signature check, so that a
    // token of ours with a role we no longer know says so, rather than
    // "malformed".
    role: String,
    // RFC 7519 §4.1.3: a string, or a list of them; checked after the
    // signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<serde_json::Value>,
    // Absent from a login's token, so the tokens issued before `jti`
    // existed read the same as those issued since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

/// The token header `typ`, as RFC 7519 §5.1 recommends.
const TOKEN_TYPE: &str = "JWT";

/// Signs `claims` into a compact HS256 JWT.
///
/// Fails with [`Error::Config`] naming `JWT_SECRET` when the secret is
/// shorter than [`MIN_SECRET_LEN`], and with [`Error::Invalid`] when a time
/// is beyond what a JWT timestamp can hold or the `jti` is not one
/// `REVOKED_TOKENS` could list ([`check_jti`]).
pub fn issue(claims: &Claims, secret: &[u8]) -> Result<String> {
    let key = key(secret)?;
    if let Some(jti) = &claims.jti {
        check_jti(jti)?;
    }
    let subject = Subject {
        sub: claims.sub.clone(),
        role: claims.role.as_str().to_owned(),
        aud: Some(serde_json::Value::String(claims.aud.clone())),
        jti: claims.jti.clone(),
    };
    // jwt-compact keeps `exp` and `iat` as chrono times, and chrono is not a
    // dependency of ours; its own serde format (integer seconds) is the
    // bridge, so the times cross without us naming chrono.
    let times = serde_json::json!({ "exp": claims.exp, "iat": claims.iat });
    let times: jwt_compact::Claims<Empty> = serde_json::from_value(times)
        .map_err(|_| Error::Invalid("token times are out of range".to_owned()))?;
    let mut token_claims = jwt_compact::Claims::new(subject);
    token_claims.expiration = times.expiration;
    token_claims.issued_at = times.issued_at;
    Hs256
        .token(
            &Header::empty().with_token_type(TOKEN_TYPE),
            &token_claims,
            &key,
        )
        .map_err(|_| Error::Token("cannot encode".to_owned()))
}

/// Checks a token and returns its claims.
///
/// Rejected, as [`Error::Token`] with a short reason that never quotes the
/// token: a malformed token; a header `alg` other than `HS256` (`none`,
/// `HS384`, `RS256`, or none at all); a bad signature; a missing `exp` or
/// `iat`; `exp <= now_secs` (no leeway: the Worker and the issuer are the
/// same clock); an `nbf` after `now_secs`; an `iat` more than
/// [`MAX_IAT_AHEAD_SECS`] after `now_secs`; an `aud` that is not, or does
/// not contain, `audience` (also none at all); an unknown role; a `jti`
/// that `REVOKED_TOKENS` could not list ([`check_jti`]), so that every
/// token accepted with an id can be revoked by it. A secret
/// shorter than [`MIN_SECRET_LEN`] is an [`Error::Config`] naming
/// `JWT_SECRET`.
pub fn verify(token: &str, secret: &[u8], audience: &str, now_secs: u64) -> Result<Claims> {
    let key = key(secret)?;
    let token = UntrustedToken::new(token).map_err(|_| reject("malformed"))?;
    // The validator compares the header's `alg` with `Hs256` before it looks
    // at anything else, so the header never chooses how the key is used.
    let token = Hs256
        .validator::<Subject>(&key)
        .validate(&token)
        .map_err(|error| match error {
            ValidationError::AlgorithmMismatch { .. } => reject("unsupported algorithm"),
            ValidationError::InvalidSignatureLen { .. }
            | ValidationError::MalformedSignature(_)
            | ValidationError::InvalidSignature => reject("bad signature"),
            _ => reject("malformed"),
        })?;
    let claims = token.claims();

    let exp = claims.expiration.ok_or_else(|| reject("missing exp"))?;
    let exp = u64::try_from(exp.timestamp()).map_err(|_| reject("malformed"))?;
    if exp <= now_secs {
        return Err(reject("expired"));
    }
    if let Some(not_before) = claims.not_before {
        // A negative `nbf` lies in the past, hence `unwrap_or(0)`.
        if u64::try_from(not_before.timestamp()).unwrap_or(0) > now_secs {
            return Err(reject("not yet valid"));
        }
    }
    let iat = claims.issued_at.ok_or_else(|| reject("missing iat"))?;
    let iat = u64::try_from(iat.timestamp()).map_err(|_| reject("malformed"))?;
    if iat > now_secs.saturating_add(MAX_IAT_AHEAD_SECS) {
        return Err(reject("issued in the future"));
    }
    if !names(claims.custom.aud.as_ref(), audience) {
        return Err(reject("issued for another deployment"));
    }
    let role = Role::parse(&claims.custom.role).map_err(|_| reject("unknown role"))?;
    if let Some(jti) = &claims.custom.jti {
        check_jti(jti).map_err(|_| reject("malformed jti"))?;
    }

    Ok(Claims {
        sub: claims.custom.sub.clone(),
        role,
        exp,
        iat,
        aud: audience.to_owned(),
        jti: claims.custom.jti.clone(),
    })
}

/// The `jti` of a token, read without checking its signature, its audience
/// or its times: for `polycache token revoke`, whose user may hold the
/// token but not the secret. Never a basis for accepting a token.
///
/// # Errors
/// [`Error::Token`] for a token that is not a JWT, or whose `jti` is there
/// but not a string.
pub fn jti_unverified(token: &str) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Id {
        #[serde(default)]
        jti: Option<String>,
    }
    let token = UntrustedToken::new(token).map_err(|_| reject("malformed"))?;
    let claims = token
        .deserialize_claims_unchecked::<Id>()
        .map_err(|_| reject("malformed"))?;
    Ok(claims.custom.jti)
}

/// Whether an `aud` claim names `audience`: equal to it, or a list holding it.
fn names(aud: Option<&serde_json::Value>, audience: &str) -> bool {
    match aud {
        Some(serde_json::Value::String(aud)) => aud == audience,
        Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// The HS256 key, once the secret is known to be long enough.
fn key(secret: &[u8]) -> Result<Hs256Key> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(Error::Config {
            name: "JWT_SECRET".to_owned(),
            message: format!("must be at least {MIN_SECRET_LEN} bytes"),
        });
    }
    Ok(Hs256Key::new(secret))
}

fn reject(reason: &str) -> Error {
    Error::Token(reason.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use sha2::{Sha256, Sha384};

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210";
    const NOW: u64 = 1_800_000_000;
    const AUD: &str = "test-deployment";

    fn claims() -> Claims {
        Claims {
            sub: "ada@example.com".to_owned(),
            role: Role::Editor,
            exp: NOW + 3600,
            iat: NOW,
            aud: AUD.to_owned(),
            jti: None,
        }
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token assembled by hand from a header and a payload, signed with
    /// HMAC-SHA256, so that tests do not depend on the code under test.
    fn hs256_by_hand(header: &str, payload: &str, secret: &[u8]) -> String {
        let signed = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
    }

    fn payload(exp: u64) -> String {
        format!(
            r#"{{"sub":"ada@example.com","role":"editor","exp":{exp},"iat":{NOW},"aud":"{AUD}"}}"#
        )
    }

    fn token_error(reason: &str) -> Error {
        Error::Token(reason.to_owned())
    }

    #[test]
    fn round_trip() {
        let token = issue(&claims(), SECRET).unwrap();
        assert_eq!(verify(&token, SECRET, AUD, NOW).unwrap(), claims());
    }

    #[test]
    fn round_trip_every_role() {
        for role in [Role::Editor, Role::Service, Role::Admin] {
            let claims = Claims { role, ..claims() };
            let token = issue(&claims, SECRET).unwrap();
            assert_eq!(verify(&token, SECRET, AUD, NOW).unwrap().role, role);
        }
    }

    #[test]
    fn issued_header_names_hs256() {
        let token = issue(&claims(), SECRET).unwrap();
        let header = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["typ"], "JWT");
    }

    /// The control for the hand-crafted tests below: a correct token made by
    /// hand verifies, so their rejections are for the reason they test.
    #[test]
    fn hand_crafted_hs256_token_verifies() {
        let token = hs256_by_hand(r#"{"alg":"HS256","typ":"JWT"}"#, &payload(NOW + 60), SECRET);
        let verified = verify(&token, SECRET, AUD, NOW).unwrap();
        assert_eq!(verified.exp, NOW + 60);
        assert_eq!(verified.sub, "ada@example.com");
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let token = issue(&claims(), SECRET).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let admin = Claims {
            role: Role::Admin,
            ..claims()
        };
        let forged_payload = b64(&serde_json::to_vec(&admin).unwrap());
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&forged, SECRET, AUD, NOW),
            Err(token_error("bad signature"))
        );
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let mut token = issue(&claims(), SECRET).unwrap();
        let last = token.pop().unwrap();
        token.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(
            verify(&token, SECRET, AUD, NOW),
            Err(Error::Token(_))
        ));
    }

    #[test]
    fn token_of_another_secret_is_rejected() {
        let token = issue(&claims(), OTHER_SECRET).unwrap();
        assert_eq!(
            verify(&token, SECRET, AUD, NOW),
            Err(token_error("bad signature"))
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let token = format!("eyJhbGciOiJub25lIn0.{}.", b64(payload(NOW + 60).as_bytes()));
        assert_eq!(
            verify(&token, SECRET, AUD, NOW),
            Err(token_error("unsupported algorithm"))
        );
    }

    #[test]
    fn hs384_with_valid_signature_over_same_secret_is_rejected() {
        let header = r#"{"alg":"HS384","typ":"JWT"}"#;
        let signed = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(payload(NOW + 60).as_bytes())
        );
        let mut mac = Hmac::<Sha384>::new_from_slice(SECRET).unwrap();
        mac.update(signed.as_bytes());
        let token = format!("{signed}.{}", b64(&mac.finalize().into_bytes()));
        assert_eq!(
            verify(&token, SECRET, AUD, NOW),
            Err(token_error("unsupported algorithm"))
        );
    }

    #[test]
    fn rs256_header_is_rejected() {
        let token = hs256_by_hand(r#"{"alg":"RS256"}"#, &payload(NOW + 60), SECRET);
        assert_eq!(
            verify(&token, SECRET, AUD, NOW),
            Err(token_error("unsupported algorithm"))
        );
    }

    #[test]
    fn header_without_alg_is_rejected() {
        let token = hs256_by_hand(r#"{"typ":"JWT"}"#, &payload(NOW + 60), SECRET);
        assert!(matches!(
            verify(&token, SECRET, AUD, NOW),
            Err(Error::Token(_))
        ));
    }

    #[test]
    fn missing_exp_is_rejected() {
        let payload =
            format!(r#"{{"sub":"ada@example.com","role":"editor","iat":{NOW},"aud":"{AUD}"}}"#);
        let token = hs256_by_hand(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, SECRET);
        assert_eq!(
            verify(&token, SECRET, AUD, NOW),
            Err(token_error("missing exp"))
        );
    }

    #[test]
    fn missing_iat_is_rejected() {
        let payload = format!(
            r#"{{"sub":"ada@example.com","role":"editor","exp":{},"aud":"{AUD}"}}"#,
            NOW + 60
        );
        let token = hs256_by_hand(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, SECRET);
        assert_eq!(
            verify(&token, SECRET, AUD, NOW),
            Err(token_error("missing iat"))
        );
    }

    #[test]
    fn expired_at_exp_without_leeway() {
        let token = issue(&claims(), SECRET).unwrap();
        let exp = claims().exp;
        assert!(verify(&token, SECRET, AUD, exp - 1).is_ok());
        assert_eq!(
            verify(&token, SECRET, AUD, exp),
            Err(token_error("expired"))
        );
        assert_eq!(
            verify(&token, SECRET, AUD, exp + 86_400),
            Err(token_error("expired"))
        );
    }

    #[test]
    fn future_nbf_is_rejected() {
        let payload = format!(
            r#"{{"sub":"a@example.com","role":"admin","exp":{},"iat":{NOW},"nbf":{},"aud":"{AUD}"}}"#,
            NOW + 600,
            NOW + 60
        );
        let token = hs256_by_hand(r#"{"alg":"HS256"}"#, &payload, SECRET);
        assert_eq!(
            verify(&token, SECRET, AUD, NOW),
            Err(token_error("not yet valid"))
        );
        assert!(verify(&token, SECRET, AUD, NOW + 60).is_ok());
    }

    #[test]
    fn wrong_role_is_rejected() {
        for role in [r#""root""#, r#""Admin""#, "1", "null", r#"["admin"]"#] {
            let payload = format!(
                r#"{{"sub":"a@example.com","role":{role},"exp":{},"iat":{NOW},"aud":"{AUD}"}}"#,
                NOW + 60
            );
            let token = hs256_by_hand(r#"{"alg":"HS256"}"#, &payload, SECRET);
            assert!(
                matches!(verify(&token, SECRET, AUD, NOW), Err(Error::Token(_))),
                "role {role} accepted"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for token in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.",
            "e30.e30.AAAA",
        ] {
            assert!(
                matches!(verify(token, SECRET, AUD, NOW), Err(Error::Token(_))),
                "{token:?} accepted"
            );
        }
    }

    #[test]
    fn short_secret_is_a_config_error() {
        let short = &SECRET[..MIN_SECRET_LEN - 1];
        let expected = Error::Config {
            name: "JWT_SECRET".to_owned(),
            message: "must be at least 32 bytes".to_owned(),
        };
        assert_eq!(issue(&claims(), short), Err(expected.clone()));
        let token = issue(&claims(), SECRET).unwrap();
        assert_eq!(verify(&token, short, AUD, NOW), Err(expected));
    }

    #[test]
    fn errors_never_quote_the_token() {
        let token = issue(&claims(), OTHER_SECRET).unwrap();
        let error = verify(&token, SECRET, AUD, NOW).unwrap_err().to_string();
        for part in token.split('.') {
            assert!(!error.contains(part), "{error}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in [Role::Editor, Role::Service, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert!(matches!(Role::parse("Admin"), Err(Error::Invalid(_))));
        assert!(matches!(Role::parse(""), Err(Error::Invalid(_))));
    }

    #[test]
    fn role_permission_table() {
        // (role, write content, invalidate, read logs), as in the README ("API": roles).
        let table = [
            (Role::Editor, true, false, false),
            (Role::Service, false, true, false),
            (Role::Admin, true, true, true),
        ];
        for (role, write, invalidate, logs) in table {
            assert_eq!(role.may_write_content(), write, "{role:?}");
            assert_eq!(role.may_invalidate(), invalidate, "{role:?}");
            assert_eq!(role.may_read_logs(), logs, "{role:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_strings_are_rejected_without_panic(token in ".{0,200}") {
            prop_assert!(verify(&token, SECRET, AUD, NOW).is_err());
        }

        #[test]
        fn arbitrary_claims_round_trip(
            sub in ".{0,40}",
            iat in 0u64..4_000_000_000,
            lifetime in 1u64..1_000_000,
        ) {
            let claims = Claims { sub, role: Role::Service, exp: iat + lifetime, iat, aud: AUD.to_owned(), jti: None };
            let token = issue(&claims, SECRET).unwrap();
            prop_assert_eq!(verify(&token, SECRET, AUD, iat).unwrap(), claims);
        }
    }

    #[test]
    fn a_token_of_another_deployment_is_rejected() {
        let token = issue(&claims(), SECRET).unwrap();
        assert_eq!(
            verify(&token, SECRET, "production", NOW),
            Err(token_error("issued for another deployment"))
        );
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let with_aud = |aud: &str| {
            let payload = format!(
                r#"{{"sub":"a@example.com","role":"admin","exp":{},"iat":{NOW}{aud}}}"#,
                NOW + 60
            );
            verify(&hs256_by_hand(header, &payload, SECRET), SECRET, AUD, NOW)
        };
        assert!(with_aud(&format!(r#","aud":"{AUD}""#)).is_ok());
        assert!(with_aud(&format!(r#","aud":["other","{AUD}"]"#)).is_ok());
        for wrong in [
            "",
            r#","aud":"other""#,
            r#","aud":["other"]"#,
            r#","aud":null"#,
            r#","aud":7"#,
            r#","aud":"""#,
        ] {
            assert_eq!(
                with_aud(wrong),
                Err(token_error("issued for another deployment")),
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_jti_round_trips_and_is_written_only_when_set() {
        let with_id = Claims {
            jti: Some("kQ3v7Xw2b9LmN4pR8sT1uY".to_owned()),
            ..claims()
        };
        let token = issue(&with_id, SECRET).unwrap();
        assert_eq!(verify(&token, SECRET, AUD, NOW).unwrap(), with_id);
        assert_eq!(
            jti_unverified(&token).unwrap().as_deref(),
            Some("kQ3v7Xw2b9LmN4pR8sT1uY")
        );

        // A login's token keeps the shape it had before `jti` existed.
        let login = issue(&claims(), SECRET).unwrap();
        let payload = login.split('.').nth(1).unwrap();
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(payload.get("jti").is_none(), "{payload}");
        assert_eq!(jti_unverified(&login).unwrap(), None);
    }

    /// A token made before `jti` existed, as the Worker issued it then (the
    /// payload of `payload`: no `jti` key), still verifies, with no id.
    #[test]
    fn a_token_without_jti_still_verifies() {
        let token = hs256_by_hand(r#"{"alg":"HS256","typ":"JWT"}"#, &payload(NOW + 60), SECRET);
        let verified = verify(&token, SECRET, AUD, NOW).unwrap();
        assert_eq!(verified.jti, None);
        assert_eq!(verified.role, Role::Editor);
    }

    #[test]
    fn a_jti_revocation_could_not_list_is_refused() {
        let bad = Claims {
            jti: Some("a,b".to_owned()),
            ..claims()
        };
        assert!(matches!(issue(&bad, SECRET), Err(Error::Invalid(_))));
        let with_jti = |jti: &str| {
            let payload = format!(
                r#"{{"sub":"a@example.com","role":"service","exp":{},"iat":{NOW},"aud":"{AUD}","jti":{jti}}}"#,
                NOW + 60
            );
            verify(
                &hs256_by_hand(r#"{"alg":"HS256"}"#, &payload, SECRET),
                SECRET,
                AUD,
                NOW,
            )
        };
        for jti in [r#""a,b""#, r#""""#, "7", r#""x y""#] {
            assert!(
                matches!(with_jti(jti), Err(Error::Token(_))),
                "jti {jti} accepted"
            );
        }
        // `null` is no id, as an absent key is.
        assert_eq!(with_jti("null").unwrap().jti, None);
    }

    #[test]
    fn jti_unverified_needs_a_jwt_but_not_its_secret() {
        let other = Claims {
            jti: Some("abc".to_owned()),
            ..claims()
        };
        let token = issue(&other, OTHER_SECRET).unwrap();
        assert_eq!(jti_unverified(&token).unwrap().as_deref(), Some("abc"));
        for not_a_token in ["", "abc", "a.b.c", "abc_DEF-123"] {
            assert!(
                matches!(jti_unverified(not_a_token), Err(Error::Token(_))),
                "{not_a_token:?}"
            );
        }
    }

    #[test]
    fn an_iat_over_a_minute_ahead_is_rejected() {
        let ahead = |secs: u64| {
            let claims = Claims {
                iat: NOW + secs,
                exp: NOW + 3600,
                ..claims()
            };
            verify(&issue(&claims, SECRET).unwrap(), SECRET, AUD, NOW)
        };
        assert!(ahead(MAX_IAT_AHEAD_SECS).is_ok());
        assert_eq!(
            ahead(MAX_IAT_AHEAD_SECS + 1),
            Err(token_error("issued in the future"))
        );
        assert_eq!(ahead(86_400), Err(token_error("issued in the future")));
    }
}
