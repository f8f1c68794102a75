//! `POST /api/auth/login` `{email, password}` -> `{token, expiresAt}`.
//!
//! Failed attempts are counted per client address in the Hub (shared by all
//! Worker isolates): more than ten within a minute answer 429 with
//! `retry-after`; successful logins do not count.

use polycache_core::api::{LoginRequest, LoginResponse};
use polycache_core::hub_api::{route, Ack, LoginAttempt, LoginVerdict};
use worker::{Request, Response};

use crate::auth;
use crate::body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::response::json_response;

/// The client's address as Cloudflare reports it; `wrangler dev` sets it to
/// the loopback address.
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
    let addr = LoginAttempt {
        addr: client_addr(&req),
    };
    let verdict: LoginVerdict = hub_client::call(&ctx.env, route::LOGIN_CHECK, &addr).await?;
    if let Some(secs) = verdict.retry_after {
        return Err(ApiError::TooManyRequests(secs));
    }
    let login: LoginRequest = body::json(&mut req).await?;
    match accounts.authenticate(&login.email, &login.password) {
        Some((email, role)) => {
            let (token, expires_at) = auth::issue(ctx, &email, role)?;
            json_response(
                200,
                &LoginResponse {
                    token,
                    expires_at: expires_at * 1000,
                    role: Some(role),
                },
            )
        }
        None => {
            let _: Ack = hub_client::call(&ctx.env, route::LOGIN_FAILURE, &addr).await?;
            Err(ApiError::Unauthenticated("wrong email or password".into()))
        }
    }
}
