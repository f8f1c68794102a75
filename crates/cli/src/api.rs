//! The HTTP API of a polycache Worker, as blocking calls.
//!
//! Every request goes through [`Api::call`], and every failure becomes a
//! [`CliError`] in one of two functions: [`unreachable`](fn@unreachable) when no answer came,
//! [`Api::refusal`] when the answer was an error. That is where the
//! "what to do" half of each message is decided, once, so that `invalidate`,
//! `mirrors` and `logs` give the same advice for the same 401.
//!
//! The client is `ureq` with rustls and the Mozilla root certificates built
//! in: one small blocking dependency, no system OpenSSL, and a body that can
//! be read as it arrives, which following the SSE stream needs.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;
use ureq::http::Response;
use ureq::{Agent, Body};

use polycache_core::api::{LoginRequest, LoginResponse};
use polycache_core::error_code::ErrorBody;
use polycache_core::query::{LogsQuery, MirrorsQuery};
use serde::Deserialize as _;

use crate::cli::Global;
use crate::error::{CliError, Result};

/// How long a connection attempt may take: a local `wrangler dev` accepts
/// at once, and a deployment across the world within a second or two.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest error message from the Worker quoted back: long enough for
/// any message the Worker writes, short enough to stay one terminal line.
const MAX_QUOTED: usize = 300;

/// A bearer token and where it came from, which decides the advice when it
/// is refused.
#[derive(Debug, Clone)]
pub struct Token {
    /// The JWT.
    pub value: String,
    /// Where it came from.
    pub source: TokenSource,
}

/// Where a [`Token`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The `POLYCACHE_TOKEN` environment variable.
    Env,
    /// The token file, written by `polycache login`.
    Stored,
    /// A login made just now with `POLYCACHE_EMAIL` and `POLYCACHE_PASSWORD`.
    Login,
}

/// What `POST /api/auth/login` answers.
#[derive(Debug, Clone)]
pub struct Login {
    /// The JWT.
    pub token: String,
    /// When it expires, in milliseconds since the epoch.
    pub expires_at: u64,
    /// The account's role, when the Worker says it.
    pub role: Option<String>,
}

/// A polycache Worker at a base URL.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    agent: Agent,
    timeout: Duration,
}

/// The base URL as given, minus trailing slashes, with the scheme and host
/// in lower case (they are case-insensitive, and the token file is keyed on
/// this form).
///
/// # Errors
/// A usage error when the URL is not `http://` or `https://` with a host.
pub fn normalize_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let bad = || {
        CliError::Usage(format!(
            "--url {url:?} is not an http:// or https:// URL, e.g. http://127.0.0.1:8787"
        ))
    };
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let (host, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if host.is_empty()
        || host.contains(char::is_whitespace)
        || !path.is_empty() && !path.starts_with('/')
    {
        return Err(bad());
    }
    if path.contains(['?', '#']) {
        return Err(CliError::Usage(format!(
            "--url {url:?} has a query or fragment: give the Worker's base URL, e.g. https://example.com"
        )));
    }
    Ok(format!("{scheme}://{}{path}", host.to_ascii_lowercase()))
}

/// Whether the URL points at this machine, where the advice for a refused
/// connection is to start the Worker.
fn is_local(url: &str) -> bool {
    let host = url.split_once("://").map_or(url, |(_, rest)| rest);
    ["127.", "localhost", "[::1]", "0.0.0.0"]
        .iter()
        .any(|prefix| host.starts_with(prefix))
}

/// The error for a request that got no answer.
pub fn unreachable(url: &str, error: &ureq::Error) -> CliError {
    let local = is_local(url);
    let start_it = if local {
        "is the Worker running? try `make dev`"
    } else {
        "is the deployment up, and is --url right?"
    };
    let (reason, hint): (String, &str) = match error {
        ureq::Error::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ("connection refused".into(), start_it),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                ("connection reset".into(), start_it)
            }
            std::io::ErrorKind::TimedOut => (
                "timed out".into(),
                "the Worker may be starting or overloaded; try again, or raise --timeout",
            ),
            _ => (e.to_string(), start_it),
        },
        ureq::Error::HostNotFound => (
            "host not found".into(),
            "check the host name in --url (or POLYCACHE_URL)",
        ),
        ureq::Error::Timeout(t) => (
            format!("no answer in time ({t})"),
            "the Worker may be starting or overloaded; try again, or raise --timeout",
        ),
        ureq::Error::ConnectionFailed => ("connection failed".into(), start_it),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => (
            format!("TLS: {error}"),
            "check the scheme in --url: `wrangler dev` serves http://, deployments https://",
        ),
        ureq::Error::Protocol(_) => (
            format!("not an HTTP answer: {error}"),
            "is --url the polycache Worker (and http:// for `wrangler dev`)?",
        ),
        other => (other.to_string(), start_it),
    };
    CliError::Unreachable {
        url: url.to_owned(),
        reason: one_line(&reason),
        hint: hint.to_owned(),
    }
}

/// `s` on one line and at most [`MAX_QUOTED`] characters.
fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out: String = flat.chars().take(MAX_QUOTED).collect();
    if flat.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    out
}

/// An answer: status, body text, and the `retry-after` header.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
    retry_after: Option<String>,
}

impl Api {
    /// The client for the global options `--url` and `--timeout`.
    pub fn for_options(g: &Global) -> Result<Api> {
        Api::new(&g.url, Duration::from_secs(g.timeout))
    }

    /// A client of the Worker at `url` (see [`normalize_url`]); each request
    /// may take `timeout` in all.
    pub fn new(url: &str, timeout: Duration) -> Result<Api> {
        let base = normalize_url(url)?;
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(timeout))
            .user_agent(concat!("polycache-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Api {
            base,
            agent,
            timeout,
        })
    }

    /// The normalized base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `POST /api/auth/login`.
    pub fn login(&self, email: &str, password: &str) -> Result<Login> {
        let body = serde_json::to_value(LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        })
        .map_err(|e| CliError::Failed(format!("login: {e}")))?;
        let reply = self.call("POST", "/api/auth/login", None, Some(&body))?;
        if reply.status == 401 {
            return Err(CliError::Api(format!(
                "login to {} as {email} refused: wrong email or password (check --email, and the password or POLYCACHE_PASSWORD)",
                self.base
            )));
        }
        let json = self.expect_ok("login", None, reply)?;
        let answer = LoginResponse::deserialize(&json)
            .map_err(|_| self.not_the_api("login", "no token and expiresAt in the answer"))?;
        Ok(Login {
            token: answer.token,
            expires_at: answer.expires_at,
            role: answer.role.map(|r| r.as_str().to_owned()),
        })
    }

    /// `POST /api/cache/invalidate` with this body.
    pub fn invalidate(&self, token: &Token, body: &Value) -> Result<Value> {
        let reply = self.call("POST", "/api/cache/invalidate", Some(token), Some(body))?;
        self.expect_ok("invalidate", Some(token), reply)
    }

    /// `GET /api/cache/mirrors?cursor=..&limit=..`: one page of parked
    /// entries (a deployment from before paging ignores the query and
    /// lists them all).
    pub fn mirrors(&self, token: &Token, page: &MirrorsQuery) -> Result<Value> {
        let path = format!("/api/cache/mirrors?{}", page.to_query());
        let reply = self.call("GET", &path, Some(token), None)?;
        self.expect_ok("reading the mirror status", Some(token), reply)
    }

    /// `POST /api/cache/mirrors/retry`.
    pub fn retry_mirrors(&self, token: &Token) -> Result<Value> {
        let reply = self.call("POST", "/api/cache/mirrors/retry", Some(token), None)?;
        self.expect_ok("requeueing parked mirror entries", Some(token), reply)
    }

    /// `GET /api/cache/logs?since=..&limit=..`.
    pub fn logs(&self, token: &Token, since: u64, limit: usize) -> Result<Value> {
        let path = format!("/api/cache/logs?{}", LogsQuery { since, limit }.to_query());
        let reply = self.call("GET", &path, Some(token), None)?;
        self.expect_ok("reading the cache log", Some(token), reply)
    }

    /// Opens `GET /api/stream` and returns the body to read as it arrives.
    ///
    /// `idle` bounds each read: the Worker writes a heartbeat at least every
    /// 90 s (`SSE_HEARTBEAT_SECS` is at most 90), so a longer silence means
    /// a dead connection.
    pub fn open_stream(
        &self,
        types: &[String],
        last_event_id: Option<u64>,
        idle: Duration,
    ) -> Result<impl Read + Send + 'static> {
        let mut url = format!("{}/api/stream", self.base);
        if !types.is_empty() {
            url.push_str("?types=");
            url.push_str(&types.join(","));
        }
        // The stream has no overall timeout; only the wait for headers and
        // each read are bounded.
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(self.timeout))
            .timeout_per_read(Some(idle))
            .user_agent(concat!("polycache-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut request = agent.get(&url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.call().map_err(|e| unreachable(&self.base, &e))?;
        if response.status().as_u16() != 200 {
            let reply = self.reply(response)?;
            return Err(self.refusal("opening the stream", None, &reply));
        }
        Ok(response.into_body().into_reader())
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&Token>,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {}", t.value));
        let result = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url).header("accept", "application/json");
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("accept", "application/json")
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                let text = body.map_or_else(|| "{}".to_owned(), Value::to_string);
                r.send(text)
            }
        };
        let response = result.map_err(|e| unreachable(&self.base, &e))?;
        self.reply(response)
    }

    fn reply(&self, mut response: Response<Body>) -> Result<Reply> {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| unreachable(&self.base, &e))?;
        Ok(Reply {
            status,
            body,
            retry_after,
        })
    }

    /// The JSON of a 2xx answer, or the error that explains the answer.
    fn expect_ok(&self, what: &str, token: Option<&Token>, reply: Reply) -> Result<Value> {
        if !(200..300).contains(&reply.status) {
            return Err(self.refusal(what, token, &reply));
        }
        serde_json::from_str(&reply.body).map_err(|_| {
            self.not_the_api(
                what,
                &format!("{} with a body that is not JSON", reply.status),
            )
        })
    }

    fn not_the_api(&self, what: &str, detail: &str) -> CliError {
        CliError::Failed(format!(
            "{what}: {} answered {detail}: is --url the polycache Worker?",
            self.base
        ))
    }

    /// The one place where an error answer becomes a message with advice.
    fn refusal(&self, what: &str, token: Option<&Token>, reply: &Reply) -> CliError {
        let error = serde_json::from_str::<ErrorBody>(&reply.body)
            .ok()
            .map(|b| b.error);
        let Some(error) = error else {
            if reply.status >= 500 {
                // A proxy's or the platform's page: a deployment in progress,
                // an overloaded or crashed Worker.
                return CliError::Server(format!(
                    "{what}: {} answered {} without a polycache error body: is the Worker starting, deploying or failing? see its log",
                    self.base, reply.status
                ));
            }
            return self.not_the_api(
                what,
                &format!("{} without a polycache error body", reply.status),
            );
        };
        let code = error.code;
        let message = one_line(&error.message);
        let base = &self.base;
        let login = format!("run `polycache login --url {base}`");
        let text = match reply.status {
            401 => {
                return match token.map(|t| t.source) {
                    Some(TokenSource::Env) => CliError::TokenRefused(format!(
                        "{what}: {base} refused POLYCACHE_TOKEN ({message}): set a valid token, or unset it and {login}"
                    )),
                    Some(_) => CliError::TokenRefused(format!(
                        "{what}: {base} refused the token ({message}; it may have expired or the Worker's JWT_SECRET changed): {login}"
                    )),
                    None => CliError::Api(format!("{what}: {base} asks to log in ({message}): {login}")),
                }
            }
            403 => format!(
                "{what}: {base} refused ({message}): this needs another role; run `polycache login --url {base} --email <an account with it>`"
            ),
            404 => format!(
                "{what}: {base} has no such route ({message}): is --url the polycache Worker, and is it up to date?"
            ),
            429 => format!(
                "{what}: {base} has seen too many failed logins from this address: wait {} s and try again",
                reply.retry_after.as_deref().unwrap_or("60")
            ),
            s if s >= 500 => {
                return CliError::Server(format!(
                    "{what}: {base} failed ({s} {code}: {message}): a missing setting or a bug; see the Worker's log (the `make dev` terminal, or `wrangler tail`)"
                ))
            }
            s => format!("{what}: {base} refused the request ({s} {code}: {message})"),
        };
        CliError::Api(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_for_keys() {
        let n = |u: &str| normalize_url(u).map_err(|e| e.to_string());
        assert_eq!(
            n("http://127.0.0.1:8787/").as_deref(),
            Ok("http://127.0.0.1:8787")
        );
        assert_eq!(
            n("HTTPS://Example.COM//").as_deref(),
            Ok("https://example.com")
        );
        assert_eq!(
            n("https://example.com/Prefix").as_deref(),
            Ok("https://example.com/Prefix")
        );
    }

    #[test]
    fn urls_that_cannot_be_a_base_are_usage_errors() {
        for bad in [
            "127.0.0.1:8787",
            "ftp://x",
            "http://",
            "http://a b",
            "http://x/?q=1",
        ] {
            let e = normalize_url(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }

    #[test]
    fn local_urls_are_told_to_start_the_worker() {
        let refused = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let local = unreachable("http://127.0.0.1:9", &refused).to_string();
        assert_eq!(
            local,
            "cannot reach http://127.0.0.1:9 (connection refused): is the Worker running? try `make dev`"
        );
        let remote = unreachable("https://example.com", &refused).to_string();
        assert!(remote.contains("is the deployment up"), "{remote}");
    }

    fn api() -> Api {
        Api::new("http://127.0.0.1:9", Duration::from_secs(1)).expect("a valid URL")
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_owned(),
            retry_after: Some("42".into()),
        }
    }

    #[test]
    fn refusals_say_what_to_do() {
        let a = api();
        let stored = Token {
            value: "t".into(),
            source: TokenSource::Stored,
        };
        let err =
            |s, b: &str, t: Option<&Token>| a.refusal("reading X", t, &reply(s, b)).to_string();
        let body = |c: &str, m: &str| format!(r#"{{"error":{{"code":"{c}","message":"{m}"}}}}"#);
        assert!(err(401, &body("unauthenticated", "expired"), Some(&stored))
            .contains("run `polycache login --url http://127.0.0.1:9`"));
        assert!(err(403, &body("forbidden", "needs admin"), Some(&stored)).contains("another role"));
        assert!(err(429, &body("too_many_requests", "slow down"), None).contains("wait 42 s"));
        assert!(err(500, &body("internal", "AUTH_USERS: bad"), None).contains("AUTH_USERS: bad"));
        assert!(err(404, "<html>", None).contains("is --url the polycache Worker?"));
        let multi = err(422, &body("unprocessable", "a\\nb"), None);
        assert!(!multi.contains('\n'), "{multi}");
    }
}
