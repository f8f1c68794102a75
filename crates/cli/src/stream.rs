//! Following the Worker's SSE stream the way a browser's `EventSource`
//! does: parse it with the core crate's [`Decoder`], remember the last event
//! id, and when the connection drops wait the stream's `retry:` time and
//! reconnect with `Last-Event-ID`, so that the Worker replays what was missed.
//!
//! The connection is read on a thread of its own that hands bytes over a
//! channel. The loop here then waits with a timeout, which gives two bounds
//! that a blocking read alone could not: a deadline (`--max-seconds`) that
//! holds even while no byte arrives, and an idle limit after which a silent
//! connection counts as dead (the Worker writes `: ping` at least every
//! 90 s, so minutes of silence mean a half-open socket).

use std::io::Read as _;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use polycache_core::sse::{Decoder, Message};
use serde_json::Value;

use crate::api::Api;
use crate::error::{CliError, Result};

/// Silence after which a connection counts as dead: `SSE_HEARTBEAT_SECS` is
/// at most 90 (below Cloudflare's 100 s idle cut), plus a margin for a slow
/// hop.
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);

/// The reconnection delay until the stream sets one with `retry:`: the
/// Worker's own value (`RETRY_MS` in `crates/core/src/sse.rs`).
const DEFAULT_RETRY: Duration = Duration::from_millis(2_000);

/// The longest wait between reconnection attempts while the Worker stays
/// down: attempts double from the retry time up to this, so a restart is
/// noticed within seconds and a long outage costs one request per 10 s.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Chunks queued between the reading thread and the loop; a bound so that a
/// loop that stalls (a blocked stdout) stops the reads instead of buffering.
const QUEUE: usize = 64;

/// Whether to go on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep following.
    Continue,
    /// Stop; [`follow`] returns `Ok`.
    Stop,
}

/// What happens while following, handed to the caller.
#[derive(Debug)]
pub enum Happening<'a> {
    /// A connection is open; `after` is the id it resumed after, if any.
    Connected {
        /// The `Last-Event-ID` sent.
        after: Option<u64>,
        /// Whether this is a reconnection.
        again: bool,
    },
    /// An event (`hello`, `app-update`, `reset`, ...).
    Event(&'a Message),
    /// The connection dropped; the next attempt comes after `delay`.
    Dropped {
        /// Why, in a few words.
        reason: &'a str,
        /// The wait before reconnecting.
        delay: Duration,
        /// The id the next connection resumes after.
        after: Option<u64>,
    },
}

/// What the reading thread sends.
enum Piece {
    Connected,
    Refused(CliError),
    Bytes(Vec<u8>),
    End(String),
}

/// Follows the stream of `api` (filtered by `types`, starting after
/// `after`) until `handle` says stop or `deadline` passes.
///
/// # Errors
/// When the first connection fails, or any connection is refused with an
/// HTTP error (a wrong URL, a bad filter): retrying would not help. Once the
/// stream has been open, unreachable Workers are waited for.
pub fn follow(
    api: &Api,
    types: &[String],
    mut after: Option<u64>,
    deadline: Option<Instant>,
    mut handle: impl FnMut(Happening<'_>) -> Result<Flow>,
) -> Result<()> {
    let mut connected_once = false;
    let mut failures = 0u32;
    let mut retry = DEFAULT_RETRY;
    loop {
        let pieces = spawn_reader(api.clone(), types.to_vec(), after);
        let mut decoder = Decoder::default();
        let mut text = Utf8Buffer::default();
        let reason = loop {
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(IDLE_LIMIT),
                None => IDLE_LIMIT,
            };
            match pieces.recv_timeout(wait) {
                Ok(Piece::Connected) => {
                    failures = 0;
                    let again = connected_once;
                    connected_once = true;
                    if handle(Happening::Connected { after, again })? == Flow::Stop {
                        return Ok(());
                    }
                }
                Ok(Piece::Refused(e)) => {
                    if !connected_once || !e.is_transient() {
                        return Err(e);
                    }
                    break e.to_string();
                }
                Ok(Piece::Bytes(bytes)) => {
                    for message in decoder.push(&text.decode(&bytes)) {
                        if let Some(ms) = message.retry {
                            retry = Duration::from_millis(ms);
                        }
                        after = resume_point(&message, after);
                        if handle(Happening::Event(&message))? == Flow::Stop {
                            return Ok(());
                        }
                    }
                }
                Ok(Piece::End(reason)) => break reason,
                Err(RecvTimeoutError::Timeout) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(());
                    }
                    break format!("no data for {} s", IDLE_LIMIT.as_secs());
                }
                Err(RecvTimeoutError::Disconnected) => break "the connection ended".to_owned(),
            }
        };
        failures += 1;
        let delay = backoff(retry, failures);
        let flow = handle(Happening::Dropped {
            reason: &reason,
            delay,
            after,
        })?;
        if flow == Flow::Stop {
            return Ok(());
        }
        let delay = match deadline {
            Some(d) => delay.min(d.saturating_duration_since(Instant::now())),
            None => delay,
        };
        thread::sleep(delay);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
    }
}

/// The wait before attempt number `failures` (1 for the first after a
/// drop): the stream's retry time, doubled per further failure, at most
/// [`MAX_RETRY`] (but never less than the Worker asked for).
fn backoff(retry: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(8);
    retry.saturating_mul(factor).min(MAX_RETRY.max(retry))
}

/// The id to resume after once `message` has been seen: the id of an
/// `app-update` or `reset`, or, before any, the `lastEventId` that `hello`
/// announces, so that events between two connections are not lost even when
/// none had arrived yet.
fn resume_point(message: &Message, after: Option<u64>) -> Option<u64> {
    match message.event.as_str() {
        "hello" if after.is_none() => serde_json::from_str::<Value>(&message.data)
            .ok()
            .and_then(|v| v.get("lastEventId").and_then(Value::as_u64))
            .or(after),
        "hello" => after,
        _ => message
            .id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .or(after),
    }
}

fn spawn_reader(api: Api, types: Vec<String>, after: Option<u64>) -> Receiver<Piece> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    thread::spawn(move || {
        let mut body = match api.open_stream(&types, after, IDLE_LIMIT) {
            Ok(body) => body,
            Err(e) => {
                let _ = tx.send(Piece::Refused(e));
                return;
            }
        };
        if tx.send(Piece::Connected).is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let piece = match body.read(&mut buf) {
                Ok(0) => Piece::End("the Worker closed the stream".to_owned()),
                Ok(n) => Piece::Bytes(buf[..n].to_vec()),
                Err(e) => Piece::End(e.to_string()),
            };
            let end = matches!(piece, Piece::End(_));
            // A send fails when the loop has moved on (a deadline, a new
            // connection): this thread's work is then over.
            if tx.send(piece).is_err() || end {
                return;
            }
        }
    });
    rx
}

/// Turns a byte stream into text when a chunk may end inside a character:
/// the incomplete tail waits for the next chunk; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Buffer {
    pending: Vec<u8>,
}

impl Utf8Buffer {
    /// The text completed by `bytes`.
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn characters_split_across_chunks_survive() {
        let text = "data: é→✓\n\n";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut b = Utf8Buffer::default();
            let mut got = b.decode(&bytes[..cut]);
            got.push_str(&b.decode(&bytes[cut..]));
            assert_eq!(got, text, "cut at {cut}");
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut b = Utf8Buffer::default();
        assert_eq!(b.decode(b"a\xffb"), "a\u{FFFD}b");
    }

    /// A parsed SSE message, for the tests of this crate.
    pub(crate) fn message(event: &str, id: Option<&str>, data: &str) -> Message {
        Message {
            id: id.map(str::to_owned),
            event: event.to_owned(),
            data: data.to_owned(),
            retry: None,
        }
    }

    #[test]
    fn resume_after_hello_then_events() {
        let hello = message("hello", None, r#"{"lastEventId":41}"#);
        assert_eq!(resume_point(&hello, None), Some(41));
        // A resumed connection's hello does not move the resume point back.
        assert_eq!(resume_point(&hello, Some(50)), Some(50));
        let update = message("app-update", Some("42"), "{}");
        assert_eq!(resume_point(&update, Some(41)), Some(42));
        let reset = message("reset", Some("90"), r#"{"lastEventId":90}"#);
        assert_eq!(resume_point(&reset, Some(42)), Some(90));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Duration::from_secs(2);
        assert_eq!(backoff(r, 1), Duration::from_secs(2));
        assert_eq!(backoff(r, 2), Duration::from_secs(4));
        assert_eq!(backoff(r, 3), Duration::from_secs(8));
        assert_eq!(backoff(r, 4), MAX_RETRY);
        assert_eq!(backoff(r, 100), MAX_RETRY);
        // A Worker that asks for more than the cap gets what it asked.
        assert_eq!(backoff(Duration::from_secs(30), 3), Duration::from_secs(30));
    }
}
