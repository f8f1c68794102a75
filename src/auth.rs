//! Bearer tokens and roles: who may do what.
//!
//! Tokens are HS256 JWTs signed with `JWT_SECRET`; the algorithm is fixed by
//! us (see [`polycache_core::jwt`]). A missing `JWT_SECRET` fails every auth
//! route with a configuration error rather than ever issuing or accepting an
//! unsigned token. Tokens name this deployment (`INSTANCE_ID`) in `aud`, and
//! only its own are accepted. Long-lived tokens (`polycache token mint`)
//! carry a `jti`, and those listed in `REVOKED_TOKENS` are refused.
//!
//! Passwords are checked with PBKDF2 through WebCrypto ([`fn@derive`]), at the
//! same cost for every login ([`polycache_core::accounts::LoginCheck`]).

use polycache_core::accounts::{parse_auth_users, Accounts, LoginCheck, ServiceAccount};
use polycache_core::config::required;
use polycache_core::jwt::{self, Claims, Role};
use wasm_bindgen::prelude::*;
use worker::Request;

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::platform;

/// How long an issued token lives: one hour, long enough for a mirror to
/// reuse it for many deliveries, short enough that a leaked one expires soon.
pub const TOKEN_TTL_SECS: u64 = 3600;

/// Seconds since the epoch, from the runtime's clock.
pub fn now_secs() -> u64 {
    platform::now_ms() / 1000
}

/// The signing key.
pub fn secret(ctx: &Ctx) -> ApiResult<Vec<u8>> {
    let secret = required(|n| platform::var(&ctx.env, n), "JWT_SECRET")?;
    if secret.len() < jwt::MIN_SECRET_LEN {
        return Err(ApiError::Config(format!(
            "setting JWT_SECRET: must be at least {} bytes",
            jwt::MIN_SECRET_LEN
        )));
    }
    Ok(secret.into_bytes())
}

#[wasm_bindgen(module = "/src/js/pbkdf2.js")]
extern "C" {
    /// PBKDF2-HMAC-SHA256 through `crypto.subtle.deriveBits`: a
    /// `Uint8Array` of 32 bytes.
    #[wasm_bindgen(catch, js_name = pbkdf2Sha256)]
    async fn pbkdf2_sha256(password: &str, salt: &str, iterations: u32)
        -> Result<JsValue, JsValue>;
}

/// The key a login derives from `password`, as `check` asks: one PBKDF2 in
/// the runtime's native WebCrypto.
pub async fn derive(check: &LoginCheck<'_>, password: &str) -> ApiResult<Vec<u8>> {
    let key = pbkdf2_sha256(password, check.salt, check.iterations)
        .await
        .map_err(|e| ApiError::Internal(format!("PBKDF2 through WebCrypto failed: {e:?}")))?;
    Ok(js_sys::Uint8Array::new(&key).to_vec())
}

/// The accounts that may log in: `AUTH_USERS` plus the service account.
pub fn accounts(ctx: &Ctx) -> ApiResult<Accounts> {
    let users = match platform::var(&ctx.env, "AUTH_USERS") {
        Some(json) if !json.trim().is_empty() => parse_auth_users(&json)?,
        _ => Vec::new(),
    };
    let service = match (
        platform::var(&ctx.env, "SERVICE_EMAIL"),
        platform::var(&ctx.env, "SERVICE_PASSWORD"),
    ) {
        (Some(email), Some(password)) if !email.is_empty() && !password.is_empty() => {
            Some(ServiceAccount { email, password })
        }
        _ => None,
    };
    Ok(Accounts::new(users, service)?)
}

/// Issues a token for an authenticated account.
pub fn issue(ctx: &Ctx, email: &str, role: Role) -> ApiResult<(String, u64)> {
    let now = now_secs();
    let claims = Claims {
        sub: email.to_owned(),
        role,
        iat: now,
        exp: now + TOKEN_TTL_SECS,
        aud: ctx.config.instance_id.clone(),
        // A login's token lives an hour: nothing to revoke it by.
        jti: None,
    };
    Ok((jwt::issue(&claims, &secret(ctx)?)?, claims.exp))
}

/// The claims of the request's bearer token, which must be valid, not
/// revoked, and of a role that `allowed` accepts: 401 without a valid token,
/// 401 `token_revoked` for a long-lived token whose `jti` is in
/// `REVOKED_TOKENS`, 403 for a role that may not.
pub fn require(ctx: &Ctx, req: &Request, allowed: fn(Role) -> bool) -> ApiResult<Claims> {
    let header = req
        .headers()
        .get("authorization")?
        .ok_or_else(|| ApiError::Unauthenticated("missing Authorization: Bearer <token>".into()))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("expected Authorization: Bearer <token>".into())
        })?;
    let audience = &ctx.config.instance_id;
    let claims = jwt::verify(token, &secret(ctx)?, audience, now_secs()).map_err(|e| match e {
        polycache_core::Error::Config { .. } => ApiError::from(e),
        other => ApiError::Unauthenticated(other.to_string()),
    })?;
    if let Some(jti) = &claims.jti {
        if ctx.config.revoked_tokens.contains(jti) {
            // The jti is no secret (it only names the token), and the app's
            // operator needs it to tell which of their tokens this was.
            return Err(ApiError::TokenRevoked(format!(
                "token {jti} was revoked (REVOKED_TOKENS): mint a new one with `polycache token mint`"
            )));
        }
    }
    if !allowed(claims.role) {
        return Err(ApiError::Forbidden(format!(
            "role {} may not do this",
            claims.role.as_str()
        )));
    }
    Ok(claims)
}
