//! Delivery of outbox entries to a mirror: login for a service token,
//! `POST <mirror>/api/cache/invalidate`, and the classification of what came
//! back ([`polycache_core::outbox::classify`]).
//!
//! The token is cached per mirror until a minute before it expires
//! ([`polycache_core::outbox::MirrorTokens`]), and
//! fetched again once when the mirror answers 401 (its `JWT_SECRET` may have
//! been rotated). Passwords and tokens never appear in an error or a log.

use std::time::Duration;

use futures::future::{select, Either};
use polycache_core::api::{LoginRequest, LoginResponse};
use polycache_core::error_code::ErrorBody;
use polycache_core::outbox::{classify, Attempt, OutboxEntry};
use serde::Serialize;
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit};

use crate::platform;
use crate::state::HubState;

/// How long one HTTP call to a mirror may take before it counts as failed:
/// well above a healthy round trip, well below the alarm's time budget.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest piece of a mirror's error message we keep.
const MAX_DETAIL: usize = 200;

/// The service account this deployment logs in to its mirrors with:
/// `SERVICE_EMAIL`/`SERVICE_PASSWORD`, else `TEST_EMAIL`/`TEST_PASSWORD`.
pub struct Credentials {
    email: String,
    password: String,
}

impl Credentials {
    /// Reads them from the environment; `None` when neither pair is set.
    pub fn from_env(env: &Env) -> Option<Credentials> {
        let var = |n: &str| platform::var(env, n).filter(|v| !v.is_empty());
        [
            ("SERVICE_EMAIL", "SERVICE_PASSWORD"),
            ("TEST_EMAIL", "TEST_PASSWORD"),
        ]
        .iter()
        .find_map(|(e, p)| {
            Some(Credentials {
                email: var(e)?,
                password: var(p)?,
            })
        })
    }
}

/// One attempt to deliver `entry` to the mirror at `url`.
pub async fn deliver(
    memory: &HubState,
    mirror: &str,
    url: &str,
    creds: Option<&Credentials>,
    entry: &OutboxEntry,
    now: u64,
) -> Attempt {
    let Some(creds) = creds else {
        return Attempt::Park(
            "no service credentials: set SERVICE_EMAIL and SERVICE_PASSWORD".into(),
        );
    };
    let cached = memory.tokens.borrow().get(mirror, now).map(str::to_owned);
    let fresh_login = cached.is_none();
    let token = match cached {
        Some(t) => t,
        None => match login(memory, mirror, url, creds).await {
            Ok(t) => t,
            Err(a) => return a,
        },
    };
    let target = format!("{url}/api/cache/invalidate");
    let mut result = post(&target, Some(&token), &entry.body()).await;
    if matches!(result, Ok((401, _))) && !fresh_login {
        // The cached token was refused: log in again, once.
        memory.tokens.borrow_mut().forget(mirror);
        let token = match login(memory, mirror, url, creds).await {
            Ok(t) => t,
            Err(a) => return a,
        };
        result = post(&target, Some(&token), &entry.body()).await;
    }
    match result {
        Ok((status, body)) => classify(status, &detail(&body)),
        Err(e) => Attempt::Retry(e),
    }
}

async fn login(
    memory: &HubState,
    mirror: &str,
    url: &str,
    creds: &Credentials,
) -> Result<String, Attempt> {
    let body = LoginRequest {
        email: creds.email.clone(),
        password: creds.password.clone(),
    };
    let (status, text) = post(&format!("{url}/api/auth/login"), None, &body)
        .await
        .map_err(|e| Attempt::Retry(format!("login: {e}")))?;
    if status == 401 {
        return Err(Attempt::Retry(format!(
            "login to {url} refused (401): the mirror does not accept this deployment's \
             SERVICE_EMAIL/SERVICE_PASSWORD"
        )));
    }
    if !(200..300).contains(&status) {
        return Err(match classify(status, &detail(&text)) {
            Attempt::Park(e) => Attempt::Park(format!("login: {e}")),
            Attempt::Retry(e) => Attempt::Retry(format!("login: {e}")),
            Attempt::Delivered => Attempt::Retry("login: unexpected answer".into()),
        });
    }
    // The parse error is not kept: it may quote the answer, a credential.
    let answer: LoginResponse = serde_json::from_str(&text)
        .map_err(|_| Attempt::Retry("login: the answer has no token and expiry".into()))?;
    let (token, expires) = (answer.token, answer.expires_at);
    memory
        .tokens
        .borrow_mut()
        .insert(mirror, token.clone(), expires);
    Ok(token)
}

/// `POST` JSON; the status and body, or why there was none.
async fn post(
    url: &str,
    bearer: Option<&str>,
    body: &impl Serialize,
) -> Result<(u16, String), String> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|_| "bad header".to_string());
    set("content-type", "application/json")?;
    if let Some(token) = bearer {
        set("authorization", &format!("Bearer {token}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(
            serde_json::to_string(body)
                .map_err(|_| "the body does not serialize".to_string())?
                .into(),
        ));
    let req = Request::new_with_init(url, &init).map_err(|_| format!("bad mirror URL {url}"))?;
    let call = Box::pin(async move {
        let mut resp = Fetch::Request(req).send().await?;
        let status = resp.status_code();
        let text = resp.text().await.unwrap_or_default();
        Ok::<_, worker::Error>((status, text))
    });
    match select(call, Box::pin(Delay::from(TIMEOUT))).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(e), _)) => Err(format!("unreachable: {}", short(&e.to_string()))),
        Either::Right(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

/// The message of a JSON error answer, or the start of the body.
fn detail(body: &str) -> String {
    let text = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| body.to_owned());
    short(&text)
}

fn short(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
