//! A client of Upstash Redis's REST API, independent of the HTTP stack.
//!
//! Upstash speaks Redis over HTTPS (<https://upstash.com/docs/redis/features/restapi>):
//! - a command is a JSON array POSTed to the base URL, `["SET","k","v","EX",60]`,
//!   answered `{"result": ...}`, or `{"error": "..."}` with status 400 when
//!   the command failed;
//! - `POST /pipeline` takes an array of such arrays and answers an array of
//!   `{"result"}` / `{"error"}` objects, one per command, in order but not
//!   atomically;
//! - `POST /multi-exec` does the same inside `MULTI`/`EXEC`: atomic, and a
//!   transaction discarded as a whole answers a single `{"error"}`;
//! - every request carries `Authorization: Bearer <token>`; a wrong token is
//!   answered 401, too many requests 429;
//! - responses carry `upstash-sync-token`; sending the newest one back with
//!   the next request makes a read replica of a global database wait until
//!   it has applied the writes this client has seen (read-your-writes).
//!
//! `upstash-redis-rs` does not compile for stable Rust nor for wasm32, and we
//! need a handful of commands, so this is our own. The HTTP request itself is
//! the caller's: the Worker and the Hub pass a [`Transport`] over
//! `worker::Fetch`, the tests here a scripted one. Everything that can go
//! wrong becomes an [`Error::Backend`]; nothing panics, and no message
//! carries the token (the transport never sees a message of ours with it,
//! and [`Client`] scrubs it from anything the server or the runtime says).
//!
//! Scripts ([`Script`]) run by `EVALSHA`. The first time a client runs one
//! it does not know the script's SHA-1, so it sends one `/pipeline` of
//! `SCRIPT LOAD` (which answers the SHA-1) and `EVAL` (which runs it): one
//! round trip, and no SHA-1 implementation of our own. A `NOSCRIPT` answer
//! (the server's script cache was flushed) falls back to that pipeline.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::error::BackendFailure;
use crate::{Error, Result};

/// The response header (and request header) of read-your-writes.
pub const SYNC_TOKEN_HEADER: &str = "upstash-sync-token";

/// One HTTP POST for the [`Transport`] to send.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The full URL.
    pub url: String,
    /// Header names (lowercase) and values; one of them holds the token.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: String,
}

impl fmt::Debug for HttpRequest {
    /// Leaves the headers out: one of them is the bearer token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("url", &self.url)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// What the [`Transport`] got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `upstash-sync-token` header, when present.
    pub sync_token: Option<String>,
    /// The body, as text.
    pub body: String,
}

/// Sends one HTTP POST. Implemented over `worker::Fetch` at the edge, by a
/// scripted fake in tests.
///
/// Errors are [`Error::Backend`] of kind [`BackendFailure::Unreachable`] or
/// [`BackendFailure::Timeout`]; an HTTP status is not an error here.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends `request` and reads the whole response.
    async fn post(&self, request: HttpRequest) -> Result<HttpResponse>;
}

/// A Lua script, run with `EVALSHA` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    /// A name for the SHA-1 cache and for error messages.
    pub name: &'static str,
    /// The Lua source.
    pub source: &'static str,
}

/// The connection settings of an Upstash database.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `UPSTASH_REDIS_REST_URL`, without a trailing `/`.
    pub url: String,
    /// `UPSTASH_REDIS_REST_TOKEN`.
    pub token: String,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Endpoint {
    /// Reads `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN`
    /// through `get` (the Worker's vars and secrets).
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that is missing, empty, or (for
    /// the URL) not an `http(s)://` URL with a host. The token is never
    /// quoted.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Endpoint> {
        const URL: &str = "UPSTASH_REDIS_REST_URL";
        const TOKEN: &str = "UPSTASH_REDIS_REST_TOKEN";
        let url = crate::config::required(&get, URL)?;
        let token = crate::config::required(&get, TOKEN)?;
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        let valid = rest.is_some_and(|r| {
            !r.split('/').next().unwrap_or_default().is_empty()
                && !r.contains(['?', '#'])
                && !r.chars().any(|c| c.is_whitespace() || c.is_control())
        });
        if !valid {
            return Err(Error::Config {
                name: URL.to_owned(),
                message: "must be the database's https:// REST URL (http:// for a local shim), \
                          without a query"
                    .to_owned(),
            });
        }
        Ok(Endpoint {
            url: url.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        })
    }
}

/// A client of one Upstash database over a [`Transport`].
///
/// Holds the newest sync token it has seen and the SHA-1 of every script it
/// has loaded; both live as long as the client (an isolate, or the Hub).
/// `RefCell`s suffice: the runtime is single-threaded, and no borrow is held
/// across an `await`.
pub struct Client<T> {
    endpoint: Endpoint,
    transport: T,
    sync_token: RefCell<Option<String>>,
    shas: RefCell<BTreeMap<&'static str, String>>,
}

impl<T> fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Client<T> {
    /// A client of `endpoint` over `transport`.
    pub fn new(endpoint: Endpoint, transport: T) -> Self {
        Self {
            endpoint,
            transport,
            sync_token: RefCell::new(None),
            shas: RefCell::new(BTreeMap::new()),
        }
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The newest `upstash-sync-token` seen.
    pub fn sync_token(&self) -> Option<String> {
        self.sync_token.borrow().clone()
    }

    /// Adopts a sync token learnt elsewhere (the Hub's, after it recorded an
    /// invalidation), so that the next request waits for that write too.
    pub fn adopt_sync_token(&self, token: &str) {
        if !token.is_empty() {
            *self.sync_token.borrow_mut() = Some(token.to_owned());
        }
    }

    /// Runs one command: `command(&[json!("GET"), json!("k")])`.
    ///
    /// # Errors
    /// [`Error::Backend`]: unreachable, timeout, unauthorized, rate limited,
    /// a Redis error reply (`Command`), a server error, or an answer that is
    /// not `{"result"}` / `{"error"}` (`Protocol`).
    pub async fn command(&self, command: &[Value]) -> Result<Value> {
        let body = to_json(command)?;
        let text = self.send("", body).await?;
        reply(&self.parse(&text)?).map_err(|e| self.scrub(e))
    }

    /// Runs commands in one request, in order but not atomically; returns
    /// one result per command.
    ///
    /// # Errors
    /// As [`Client::command`] for the request as a whole; each command's own
    /// error reply is in its slot of the answer.
    pub async fn pipeline(&self, commands: &[Vec<Value>]) -> Result<Vec<Result<Value>>> {
        self.batch("/pipeline", commands).await
    }

    /// Runs commands atomically (`MULTI` ... `EXEC`); returns one result per
    /// command.
    ///
    /// # Errors
    /// As [`Client::pipeline`]; a transaction discarded as a whole is one
    /// `Command` error.
    pub async fn multi_exec(&self, commands: &[Vec<Value>]) -> Result<Vec<Result<Value>>> {
        self.batch("/multi-exec", commands).await
    }

    /// Runs `script` with `keys` and `args`, by `EVALSHA` once its SHA-1 is
    /// known (see the module docs).
    ///
    /// # Errors
    /// As [`Client::command`]; an error raised by the script is `Command`.
    pub async fn eval(&self, script: &Script, keys: &[String], args: &[Value]) -> Result<Value> {
        let known = self.shas.borrow().get(script.name).cloned();
        if let Some(sha) = known {
            let mut command = vec![Value::from("EVALSHA"), Value::from(sha)];
            push_keys_and_args(&mut command, keys, args);
            match self.command(&command).await {
                Err(Error::Backend {
                    kind: BackendFailure::Command,
                    message,
                }) if message.starts_with("NOSCRIPT") => {
                    self.shas.borrow_mut().remove(script.name);
                }
                other => return other,
            }
        }
        let mut eval = vec![Value::from("EVAL"), Value::from(script.source)];
        push_keys_and_args(&mut eval, keys, args);
        let load = vec![
            Value::from("SCRIPT"),
            Value::from("LOAD"),
            Value::from(script.source),
        ];
        let mut results = self.pipeline(&[load, eval]).await?.into_iter();
        if let Some(Ok(Value::String(sha))) = results.next() {
            self.shas.borrow_mut().insert(script.name, sha);
        }
        results.next().unwrap_or_else(|| {
            Err(Error::backend(
                BackendFailure::Protocol,
                format!("no result for script {}", script.name),
            ))
        })
    }

    async fn batch(&self, path: &str, commands: &[Vec<Value>]) -> Result<Vec<Result<Value>>> {
        let body = to_json(commands)?;
        let text = self.send(path, body).await?;
        match self.parse(&text)? {
            Value::Array(items) if items.len() == commands.len() => Ok(items
                .iter()
                .map(|item| reply(item).map_err(|e| self.scrub(e)))
                .collect()),
            Value::Object(map) if map.contains_key("error") => Err(self.scrub(
                reply(&Value::Object(map)).err().unwrap_or_else(|| {
                    Error::backend(BackendFailure::Protocol, "an error without a message")
                }),
            )),
            _ => Err(Error::backend(
                BackendFailure::Protocol,
                format!("{path}: expected {} results", commands.len()),
            )),
        }
    }

    /// POSTs `body` to the base URL plus `path`; returns the body of a 200
    /// or the error its status means.
    async fn send(&self, path: &str, body: String) -> Result<String> {
        let mut headers = vec![
            ("authorization", format!("Bearer {}", self.endpoint.token)),
            ("content-type", "application/json".to_owned()),
        ];
        if let Some(token) = self.sync_token.borrow().clone() {
            headers.push((SYNC_TOKEN_HEADER, token));
        }
        let request = HttpRequest {
            url: format!("{}{path}", self.endpoint.url),
            headers,
            body,
        };
        let response = self
            .transport
            .post(request)
            .await
            .map_err(|e| self.scrub(e))?;
        if let Some(token) = response.sync_token.filter(|t| !t.is_empty()) {
            *self.sync_token.borrow_mut() = Some(token);
        }
        let failure = match response.status {
            200..=299 => return Ok(response.body),
            // A failed single command: its `{"error"}` is the message.
            400 => {
                return match self.parse(&response.body).map(|v| reply(&v)) {
                    Ok(Err(e)) => Err(self.scrub(e)),
                    _ => Err(Error::backend(
                        BackendFailure::Command,
                        "400 without an error message",
                    )),
                }
            }
            401 | 403 => BackendFailure::Unauthorized,
            429 => BackendFailure::RateLimited,
            500..=599 => BackendFailure::Server,
            _ => BackendFailure::Protocol,
        };
        let detail = self
            .parse(&response.body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .map(|m| format!(": {}", truncate(&m)))
            .unwrap_or_default();
        Err(self.scrub(Error::backend(
            failure,
            format!("Upstash answered {}{detail}", response.status),
        )))
    }

    fn parse(&self, text: &str) -> Result<Value> {
        serde_json::from_str(text).map_err(|_| {
            Error::backend(
                BackendFailure::Protocol,
                format!("not JSON: {}", truncate(text)),
            )
        })
    }

    /// Replaces the token wherever a message might quote it.
    fn scrub(&self, error: Error) -> Error {
        match error {
            Error::Backend { kind, message } => Error::Backend {
                kind,
                message: scrub(&message, &self.endpoint.token),
            },
            other => other,
        }
    }
}

fn scrub(message: &str, token: &str) -> String {
    if token.is_empty() {
        return message.to_owned();
    }
    message.replace(token, "[redacted]")
}

/// At most 200 characters of a server's message, for error texts.
fn truncate(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn to_json<S: serde::Serialize + ?Sized>(value: &S) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::backend(BackendFailure::Protocol, format!("encoding: {e}")))
}

fn push_keys_and_args(command: &mut Vec<Value>, keys: &[String], args: &[Value]) {
    command.push(Value::from(keys.len()));
    command.extend(keys.iter().map(|k| Value::from(k.as_str())));
    command.extend(args.iter().cloned());
}

/// One `{"result": v}` or `{"error": "..."}`.
fn reply(value: &Value) -> Result<Value> {
    let Some(map): Option<&Map<String, Value>> = value.as_object() else {
        return Err(Error::backend(
            BackendFailure::Protocol,
            "expected {\"result\"} or {\"error\"}",
        ));
    };
    if let Some(error) = map.get("error") {
        let message = error.as_str().unwrap_or("an error without a message");
        return Err(Error::backend(BackendFailure::Command, truncate(message)));
    }
    match map.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(Error::backend(
            BackendFailure::Protocol,
            "expected {\"result\"} or {\"error\"}",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use serde_json::json;
    use std::collections::VecDeque;

    /// Answers requests from a script of responses and records them.
    #[derive(Default)]
    struct Scripted {
        answers: RefCell<VecDeque<Result<HttpResponse>>>,
        seen: RefCell<Vec<HttpRequest>>,
    }

    impl Scripted {
        fn answer(self, status: u16, body: &str, sync: Option<&str>) -> Self {
            self.answers.borrow_mut().push_back(Ok(HttpResponse {
                status,
                sync_token: sync.map(str::to_owned),
                body: body.to_owned(),
            }));
            self
        }
        fn fail(self, error: Error) -> Self {
            self.answers.borrow_mut().push_back(Err(error));
            self
        }
    }

    impl Transport for &Scripted {
        async fn post(&self, request: HttpRequest) -> Result<HttpResponse> {
            self.seen.borrow_mut().push(request);
            self.answers
                .borrow_mut()
                .pop_front()
                .unwrap_or_else(|| panic!("unexpected request"))
        }
    }

    const TOKEN: &str = "AX_secret_token_123";

    fn client(t: &Scripted) -> Client<&Scripted> {
        Client::new(
            Endpoint {
                url: "https://db.upstash.io".into(),
                token: TOKEN.into(),
            },
            t,
        )
    }

    fn kind(r: Result<Value>) -> (BackendFailure, String) {
        match r {
            Err(Error::Backend { kind, message }) => (kind, message),
            other => panic!("expected a backend error, got {other:?}"),
        }
    }

    #[test]
    fn a_command_is_a_json_array_posted_with_the_token() {
        let t = Scripted::default().answer(200, r#"{"result":"OK"}"#, None);
        let c = client(&t);
        let r =
            block_on(c.command(&[json!("SET"), json!("k"), json!("v"), json!("EX"), json!(60)]));
        assert_eq!(r.unwrap(), json!("OK"));
        let seen = t.seen.borrow();
        assert_eq!(seen[0].url, "https://db.upstash.io");
        assert_eq!(seen[0].body, r#"["SET","k","v","EX",60]"#);
        assert!(seen[0]
            .headers
            .contains(&("authorization", format!("Bearer {TOKEN}"))));
        assert!(!format!("{:?}", seen[0]).contains(TOKEN));
        assert!(!format!("{c:?}").contains(TOKEN));
    }

    #[test]
    fn results_of_every_shape() {
        let t = Scripted::default()
            .answer(200, r#"{"result":null}"#, None)
            .answer(200, r#"{"result":137}"#, None)
            .answer(200, r#"{"result":["a",null,2]}"#, None);
        let c = client(&t);
        assert_eq!(
            block_on(c.command(&[json!("GET"), json!("x")])).unwrap(),
            Value::Null
        );
        assert_eq!(
            block_on(c.command(&[json!("INCR"), json!("x")])).unwrap(),
            json!(137)
        );
        assert_eq!(
            block_on(c.command(&[json!("MGET"), json!("a")])).unwrap(),
            json!(["a", null, 2])
        );
    }

    #[test]
    fn statuses_become_failure_kinds_without_the_token() {
        let t = Scripted::default()
            .answer(401, r#"{"error":"Unauthorized"}"#, None)
            .answer(429, r#"{"error":"ERR max requests limit exceeded"}"#, None)
            .answer(
                400,
                r#"{"error":"WRONGTYPE Operation against a key"}"#,
                None,
            )
            .answer(502, "<html>bad gateway</html>", None)
            .answer(200, "not json", None)
            .answer(200, r#"{"neither":1}"#, None)
            .answer(
                400,
                &format!(r#"{{"error":"ERR bad token {TOKEN}"}}"#),
                None,
            )
            .fail(Error::backend(
                BackendFailure::Unreachable,
                format!("connect refused, Bearer {TOKEN}"),
            ));
        let c = client(&t);
        let get = || block_on(c.command(&[json!("GET"), json!("k")]));
        let (k, m) = kind(get());
        assert_eq!(k, BackendFailure::Unauthorized);
        assert!(m.contains("401"), "{m}");
        let (k, _) = kind(get());
        assert_eq!(k, BackendFailure::RateLimited);
        let (k, m) = kind(get());
        assert_eq!(
            (k, m.as_str()),
            (BackendFailure::Command, "WRONGTYPE Operation against a key")
        );
        assert_eq!(kind(get()).0, BackendFailure::Server);
        assert_eq!(kind(get()).0, BackendFailure::Protocol);
        assert_eq!(kind(get()).0, BackendFailure::Protocol);
        let (_, m) = kind(get());
        assert!(!m.contains(TOKEN), "{m}");
        let (k, m) = kind(get());
        assert_eq!(k, BackendFailure::Unreachable);
        assert!(!m.contains(TOKEN), "{m}");
    }

    #[test]
    fn the_newest_sync_token_goes_back_with_the_next_request() {
        let t = Scripted::default()
            .answer(200, r#"{"result":1}"#, Some("tok-1"))
            .answer(200, r#"{"result":1}"#, None)
            .answer(200, r#"{"result":1}"#, Some("tok-2"))
            .answer(200, r#"{"result":1}"#, None);
        let c = client(&t);
        for _ in 0..4 {
            block_on(c.command(&[json!("INCR"), json!("k")])).unwrap();
        }
        let sent: Vec<Option<String>> = t
            .seen
            .borrow()
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .find(|(k, _)| *k == SYNC_TOKEN_HEADER)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        assert_eq!(
            sent,
            [
                None,
                Some("tok-1".into()),
                Some("tok-1".into()),
                Some("tok-2".into())
            ]
        );
        c.adopt_sync_token("hub-tok");
        assert_eq!(c.sync_token().as_deref(), Some("hub-tok"));
    }

    #[test]
    fn pipeline_and_multi_exec_answer_per_command() {
        let t = Scripted::default()
            .answer(
                200,
                r#"[{"result":"OK"},{"error":"ERR not an integer"},{"result":2}]"#,
                None,
            )
            .answer(200, r#"[{"result":1},{"result":4}]"#, None)
            .answer(400, r#"{"error":"ERR transaction discarded"}"#, None)
            .answer(200, r#"[{"result":1}]"#, None);
        let c = client(&t);
        let cmds = vec![
            vec![json!("SET"), json!("a"), json!("x")],
            vec![json!("INCR"), json!("a")],
            vec![json!("ZADD"), json!("z"), json!(1), json!("m")],
        ];
        let r = block_on(c.pipeline(&cmds)).unwrap();
        assert_eq!(r[0].as_ref().unwrap(), &json!("OK"));
        assert!(matches!(
            &r[1],
            Err(Error::Backend {
                kind: BackendFailure::Command,
                ..
            })
        ));
        assert_eq!(r[2].as_ref().unwrap(), &json!(2));
        assert_eq!(t.seen.borrow()[0].url, "https://db.upstash.io/pipeline");

        let two = &cmds[..2];
        let r = block_on(c.multi_exec(two)).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(t.seen.borrow()[1].url, "https://db.upstash.io/multi-exec");
        let discarded = block_on(c.multi_exec(two)).map(|_| Value::Null);
        assert_eq!(kind(discarded).0, BackendFailure::Command);
        // A count that does not match the commands is not trusted.
        assert_eq!(
            kind(block_on(c.multi_exec(two)).map(|_| Value::Null)).0,
            BackendFailure::Protocol
        );
    }

    const SCRIPT: Script = Script {
        name: "echo",
        source: "return ARGV[1]",
    };

    #[test]
    fn a_script_is_loaded_once_then_run_by_sha() {
        let t = Scripted::default()
            .answer(200, r#"[{"result":"abc123"},{"result":"hi"}]"#, None)
            .answer(200, r#"{"result":"again"}"#, None)
            // The server forgot the script: fall back to loading it.
            .answer(400, r#"{"error":"NOSCRIPT No matching script."}"#, None)
            .answer(200, r#"[{"result":"abc123"},{"result":"back"}]"#, None);
        let c = client(&t);
        let keys = vec!["k1".to_owned()];
        let run = || block_on(c.eval(&SCRIPT, &keys, &[json!("hi")])).unwrap();
        assert_eq!(run(), json!("hi"));
        assert_eq!(run(), json!("again"));
        assert_eq!(run(), json!("back"));
        let seen = t.seen.borrow();
        assert_eq!(seen[0].url, "https://db.upstash.io/pipeline");
        assert_eq!(
            seen[0].body,
            r#"[["SCRIPT","LOAD","return ARGV[1]"],["EVAL","return ARGV[1]",1,"k1","hi"]]"#
        );
        assert_eq!(seen[1].body, r#"["EVALSHA","abc123",1,"k1","hi"]"#);
        assert_eq!(seen[3].url, "https://db.upstash.io/pipeline");
    }

    #[test]
    fn a_script_error_is_a_command_error() {
        let t = Scripted::default().answer(
            200,
            r#"[{"result":"abc"},{"error":"OOM command not allowed"}]"#,
            None,
        );
        let c = client(&t);
        assert_eq!(
            kind(block_on(c.eval(&SCRIPT, &[], &[]))).0,
            BackendFailure::Command
        );
    }

    #[test]
    fn endpoint_from_vars() {
        let vars = |url: &'static str, token: &'static str| {
            move |name: &str| match name {
                "UPSTASH_REDIS_REST_URL" => Some(url.to_owned()),
                "UPSTASH_REDIS_REST_TOKEN" => Some(token.to_owned()),
                _ => None,
            }
        };
        let e = Endpoint::from_vars(vars("https://eu1-x.upstash.io/", "tok")).unwrap();
        assert_eq!(e.url, "https://eu1-x.upstash.io");
        assert!(!format!("{e:?}").contains("tok\""));
        assert!(Endpoint::from_vars(vars("http://127.0.0.1:8079", "t")).is_ok());
        for bad in ["ftp://x", "https://", "https://x?y=1", "x.upstash.io"] {
            match Endpoint::from_vars(vars(bad, "tok")) {
                Err(Error::Config { name, .. }) => assert_eq!(name, "UPSTASH_REDIS_REST_URL"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        match Endpoint::from_vars(vars("https://x.io", "")) {
            Err(Error::Config { name, message }) => {
                assert_eq!(name, "UPSTASH_REDIS_REST_TOKEN");
                assert_eq!(message, "is not set");
            }
            other => panic!("{other:?}"),
        }
    }
}
