//! Delivery of outbox entries to a mirror: login for a service token,
//! `POST <mirror>/api/cache/invalidate` (one entry, or a batch of those due
//! when there are several), and the classification of what came back
//! ([`polycache_core::outbox::classify`]).
//!
//! The token is cached per mirror until a minute before it expires
//! ([`polycache_core::outbox::MirrorTokens`]), and
//! fetched again once when the mirror answers 401 (its `JWT_SECRET` may have
//! been rotated). Passwords and tokens never appear in an error or a log.
//!
//! What a mirror can do to the sender is bounded:
//! - a redirect is not followed, so neither the password (in the login's
//!   body) nor the token (in `Authorization`) goes anywhere but the URL in
//!   `CACHE_MIRRORS`: the attempt is parked, with where it pointed, for an
//!   operator to fix the URL (config allows only `https://`, or `http://`
//!   on this machine, so the password never travels in clear);
//! - an answer is read up to [`MAX_ANSWER_BYTES`], then the request is
//!   aborted and the attempt retried (a batch's answer, 100 results, is
//!   some 15 KiB);
//! - a request with no complete answer within [`TIMEOUT`] is aborted
//!   (its `AbortSignal`), so the runtime closes the connection rather than
//!   leave it open behind an abandoned future.

use std::time::Duration;

use futures::future::{select, Either};
use futures::StreamExt;
use polycache_core::api::{
    refused_entry, InvalidateBatchAnswer, InvalidateBatchBody, LoginRequest, LoginResponse,
};
use polycache_core::error_code::ErrorBody;
use polycache_core::outbox::{classify, Attempt, OutboxEntry, MAX_ANSWER_BYTES};
use serde::Serialize;
use worker::{
    AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response,
};

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
    match send(memory, mirror, url, creds, &entry.body(), now).await {
        Ok((status, body)) => classify(status, &detail(&body)),
        Err(failed) => failed,
    }
}

/// What one attempt at a batch came to.
pub enum BatchAttempt {
    /// The mirror acknowledged every entry.
    Delivered,
    /// The mirror does not take batches: an older version, which answers
    /// 400 or 422 to the batch body (or a 2xx without one result per
    /// entry). Its entries go singly.
    Refused(String),
    /// The mirror takes batches but refused this one for the entry at this
    /// index (of this run), with its message: nothing was applied. The
    /// entries before it can go as a batch, the entry itself singly (to
    /// park alone), the rest as batches again.
    EntryRefused(usize, String),
    /// The batch failed as a single delivery would (all of it retries).
    Failed(Attempt),
}

/// One attempt to deliver `entries` (2 to [`polycache_core::api::MAX_BATCH`],
/// in order) to the mirror at `url` in one request.
pub async fn deliver_batch(
    memory: &HubState,
    mirror: &str,
    url: &str,
    creds: Option<&Credentials>,
    entries: &[OutboxEntry],
    now: u64,
) -> BatchAttempt {
    let body = InvalidateBatchBody {
        deliveries: entries.iter().map(OutboxEntry::body).collect(),
    };
    let (status, text) = match send(memory, mirror, url, creds, &body, now).await {
        Ok(answer) => answer,
        Err(failed) => return BatchAttempt::Failed(failed),
    };
    if status == 400 || status == 422 {
        let detail = detail(&text);
        return match refused_entry(&detail) {
            Some(index) if index < entries.len() => {
                BatchAttempt::EntryRefused(index, format!("HTTP {status}: {detail}"))
            }
            _ => BatchAttempt::Refused(format!("HTTP {status}: {detail}")),
        };
    }
    match classify(status, &detail(&text)) {
        Attempt::Delivered => match serde_json::from_str::<InvalidateBatchAnswer>(&text) {
            Ok(answer) if answer.results.len() == entries.len() => BatchAttempt::Delivered,
            _ => BatchAttempt::Refused(format!("HTTP {status} without one result per delivery")),
        },
        failed => BatchAttempt::Failed(failed),
    }
}

/// `POST <url>/api/cache/invalidate` with `body` and the mirror's token
/// (logging in first if none is cached, and again once if the cached one
/// is refused): the status and body of the answer, or the failed attempt.
async fn send(
    memory: &HubState,
    mirror: &str,
    url: &str,
    creds: Option<&Credentials>,
    body: &impl Serialize,
    now: u64,
) -> Result<(u16, String), Attempt> {
    let Some(creds) = creds else {
        return Err(Attempt::Park(
            "no service credentials: set SERVICE_EMAIL and SERVICE_PASSWORD".into(),
        ));
    };
    let cached = memory.tokens.borrow().get(mirror, now).map(str::to_owned);
    let fresh_login = cached.is_none();
    let token = match cached {
        Some(t) => t,
        None => login(memory, mirror, url, creds).await?,
    };
    let target = format!("{url}/api/cache/invalidate");
    let result = post(&target, Some(&token), body).await;
    if matches!(result, Ok((401, _))) && !fresh_login {
        // The cached token was refused: log in again, once.
        memory.tokens.borrow_mut().forget(mirror);
        let token = login(memory, mirror, url, creds).await?;
        return post(&target, Some(&token), body).await;
    }
    result
}

/// `attempt` with its message prefixed by `what` (a login's failure).
fn prefixed(what: &str, attempt: Attempt) -> Attempt {
    match attempt {
        Attempt::Park(e) => Attempt::Park(format!("{what}: {e}")),
        Attempt::Retry(e) => Attempt::Retry(format!("{what}: {e}")),
        Attempt::Delivered => Attempt::Retry(format!("{what}: unexpected answer")),
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
        .map_err(|failed| prefixed("login", failed))?;
    if status == 401 {
        return Err(Attempt::Retry(format!(
            "login to {url} refused (401): the mirror does not accept this deployment's \
             SERVICE_EMAIL/SERVICE_PASSWORD"
        )));
    }
    if !(200..300).contains(&status) {
        return Err(prefixed("login", classify(status, &detail(&text))));
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

/// `POST` JSON without following redirects; the status and body (at most
/// [`MAX_ANSWER_BYTES`]), or the failed attempt: a redirect parks, no
/// answer within [`TIMEOUT`] or one too long retries. The request is
/// aborted once it is settled either way, which closes its connection.
async fn post(
    url: &str,
    bearer: Option<&str>,
    body: &impl Serialize,
) -> Result<(u16, String), Attempt> {
    let retry = |e: String| Attempt::Retry(e);
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|_| retry("bad header".into()));
    set("content-type", "application/json")?;
    if let Some(token) = bearer {
        set("authorization", &format!("Bearer {token}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(
            serde_json::to_string(body)
                .map_err(|_| retry("the body does not serialize".into()))?
                .into(),
        ));
    let req =
        Request::new_with_init(url, &init).map_err(|_| retry(format!("bad mirror URL {url}")))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Box::pin(async move {
        let mut resp = Fetch::Request(req)
            .send_with_signal(&signal)
            .await
            .map_err(|e| retry(format!("unreachable: {}", short(&e.to_string()))))?;
        let status = resp.status_code();
        if (300..400).contains(&status) {
            let to = resp
                .headers()
                .get("location")
                .ok()
                .flatten()
                .unwrap_or_default();
            return Err(Attempt::Park(format!(
                "HTTP {status}: redirected to {}, not followed so that no credential goes \
                 elsewhere; set CACHE_MIRRORS to the URL it should be",
                short(&to)
            )));
        }
        let text = read_bounded(&mut resp).await?;
        Ok((status, text))
    });
    let outcome = match select(call, Box::pin(Delay::from(TIMEOUT))).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err(retry(format!("no answer within {} s", TIMEOUT.as_secs()))),
    };
    // Settled: whatever is still open (a body not read to its end, a
    // request with no answer) is cancelled, not left to run.
    controller.abort();
    outcome
}

/// The body of `resp` as text, read as it comes and given up past
/// [`MAX_ANSWER_BYTES`] (the caller aborts the rest).
async fn read_bounded(resp: &mut Response) -> Result<String, Attempt> {
    // No stream: the answer has no body (a 204, say).
    let Ok(mut stream) = resp.stream() else {
        return Ok(String::new());
    };
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Attempt::Retry(format!("answer cut: {}", short(&e.to_string()))))?;
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Attempt::Retry(format!(
                "the answer is longer than {} KiB: not a polycache mirror's",
                MAX_ANSWER_BYTES / 1024
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
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
