//! `POST /api/auth/login` `{email, password}` -> `{token, expiresAt}`.
//!
//! The service account's right credentials are told first and never
//! counted: mirrors log in from Worker subrequests, whose address every
//! Worker on Cloudflare shares, so strangers' failures there must not lock
//! them out (its password is long and random, `accounts::Accounts::new`).
//! Every other attempt is counted in the Hub (shared by all Worker
//! isolates) before its password is checked, per address (an IPv6 client
//! per /64) and per account, and given back if it succeeds: past
//! `LOGIN_FAILURES_PER_ADDRESS` (10) or `LOGIN_FAILURES_PER_ACCOUNT` (20)
//! within a minute it answers 429 with `retry-after`. Every path derives
//! one PBKDF2 of the same cost, so the time of an answer does not tell
//! which accounts exist.

use polycache_core::api::{LoginRequest, LoginResponse};
use polycache_core::hub_api::{route, Ack, LoginAttempt, LoginRelease, LoginVerdict};
use polycache_core::jwt::Role;
use worker::{Request, Response};

use crate::auth;
use crate::body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::response::json_response;

/// The client's address as Cloudflare reports it; `wrangler dev` passes on
/// the request's own header, or the loopback address.
fn client_addr(req: &Request) -> String {
    req.headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}

/// Logs in.
pub async fn login(ctx: &Ctx, mut req: Request) -> ApiResult<Response> {
    // Fail on configuration before counting anything against the client.
    auth::secret(ctx)?;
    let accounts = auth::accounts(ctx)?;
    let login: LoginRequest = body::json(&mut req).await?;
    let check = accounts.prepare(&login.email);
    if let Some(email) = accounts.service_login(&login.email, &login.password) {
        // Derived for its cost alone: a service login takes as long as any.
        auth::derive(&check, &login.password).await?;
        return token_response(ctx, &email, Role::Service);
    }
    let attempt = LoginAttempt {
        addr: client_addr(&req),
        email: login.email.clone(),
    };
    let verdict: LoginVerdict = hub_client::call(&ctx.env, route::LOGIN_RESERVE, &attempt).await?;
    let reservation = match (verdict.retry_after, verdict.reservation) {
        (None, Some(reservation)) => reservation,
        (retry_after, _) => return Err(ApiError::TooManyRequests(retry_after.unwrap_or(60))),
    };
    let derived = auth::derive(&check, &login.password).await?;
    match accounts.finish(&check, &login.password, &derived) {
        Some((email, role)) => {
            let release = LoginRelease {
                attempt,
                reservation,
            };
            let _: Ack = hub_client::call(&ctx.env, route::LOGIN_RELEASE, &release).await?;
            token_response(ctx, &email, role)
        }
        None => {
            let _: Ack = hub_client::call(&ctx.env, route::LOGIN_FAILED, &attempt).await?;
            Err(ApiError::Unauthenticated("wrong email or password".into()))
        }
    }
}

/// 200 with a token for this account.
fn token_response(ctx: &Ctx, email: &str, role: Role) -> ApiResult<Response> {
    let (token, expires_at) = auth::issue(ctx, email, role)?;
    json_response(
        200,
        &LoginResponse {
            token,
            expires_at: expires_at * 1000,
            role: Some(role),
        },
    )
}
