//! Cache and mirror activity as pino-format log records, in a bounded ring.
//!
//! The original app logged cache and mirror activity with pino (<https://getpino.io>)
//! to `logs/cache.json`, one JSON object per line:
//! `{"level":30,"time":1531171074631,"name":"cache","msg":"..."}` plus fields.
//! A Worker has no files, so the Hub keeps the newest records in a
//! [`LogRing`] and serves them from `GET /api/cache/logs?since=<seq>`; the
//! CLI appends them to `logs/cache.json`, where pino's tools read them as if
//! pino had written them. Each record also has a `seq`, increasing and never
//! reused while the Hub lives, so that a follower asks for what it has not
//! seen yet.
//!
//! Logs leave the Worker and land on developers' disks, so [`redact`] runs on
//! every record: credentials are replaced before a record is stored, not when
//! it is served.

use std::collections::{BTreeMap, VecDeque};

use serde::de::Error as _;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The severity of a record, with pino's numeric levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 10.
    Trace,
    /// 20.
    Debug,
    /// 30: a normal event (an invalidation, a delivered mirror call).
    Info,
    /// 40: something that will be retried.
    Warn,
    /// 50: something that failed for good (a parked mirror entry).
    Error,
    /// 60.
    Fatal,
}

impl Level {
    /// Pino's number for the level.
    pub fn number(self) -> u8 {
        match self {
            Level::Trace => 10,
            Level::Debug => 20,
            Level::Info => 30,
            Level::Warn => 40,
            Level::Error => 50,
            Level::Fatal => 60,
        }
    }

    /// The level of one of pino's numbers; `None` for custom levels.
    pub fn from_number(number: u8) -> Option<Level> {
        Some(match number {
            10 => Level::Trace,
            20 => Level::Debug,
            30 => Level::Info,
            40 => Level::Warn,
            50 => Level::Error,
            60 => Level::Fatal,
            _ => return None,
        })
    }

    /// Pino's name for the level (`"info"`), for printing.
    pub fn label(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = u8::deserialize(deserializer)?;
        Level::from_number(number)
            .ok_or_else(|| D::Error::custom(format!("unknown pino level {number}")))
    }
}

/// The keys of a record that fields cannot take.
const RESERVED: [&str; 5] = ["level", "time", "name", "msg", "seq"];

/// What replaces a credential.
const REDACTED: &str = "[redacted]";

/// Key fragments that mark a value as a credential, compared in lower case.
/// `cookie` is there because a session cookie is a credential too.
const SENSITIVE_KEYS: [&str; 6] = [
    "password",
    "token",
    "secret",
    "authorization",
    "jwt",
    "cookie",
];

/// One log record: pino's keys, our `seq`, and free-form fields.
///
/// It serializes as one flat JSON object, keys in the order `level`, `time`,
/// `name`, `msg`, `seq`, then the fields; a field named like one of those is
/// dropped rather than allowed to overwrite it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Position in the ring's sequence, from 1.
    pub seq: u64,
    /// Severity.
    pub level: Level,
    /// Milliseconds since the Unix epoch, as pino writes it.
    pub time: u64,
    /// The logger's name; `"cache"`, as the original pino logger was named.
    pub name: String,
    /// The message.
    pub msg: String,
    /// Everything else (`type`, `types`, `mirror`, `eventId`, ...).
    pub fields: Map<String, Value>,
}

impl LogRecord {
    /// The record as one line of JSON (no trailing newline): JSON escapes
    /// line breaks inside strings, so a line is always one record.
    pub fn to_json_line(&self) -> String {
        // Serializing a map of JSON values into a String has no way to fail;
        // the fallback only keeps this function total.
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                r#"{{"level":{},"time":{},"name":"cache","msg":"unserializable log record","seq":{}}}"#,
                Level::Error.number(),
                self.time,
                self.seq
            )
        })
    }
}

impl Serialize for LogRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("level", &self.level)?;
        map.serialize_entry("time", &self.time)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("msg", &self.msg)?;
        map.serialize_entry("seq", &self.seq)?;
        for (key, value) in &self.fields {
            if !RESERVED.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LogRecord {
    /// Reads our records and plain pino lines alike: `level` and `time` are
    /// required, a missing `name` or `msg` is empty and a missing `seq` is 0.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::deserialize(deserializer)?;
        let number = |fields: &mut Map<String, Value>, key: &'static str| match fields.remove(key) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("{key} is not a whole number"))),
        };
        let text = |fields: &mut Map<String, Value>, key: &'static str| match fields.remove(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(D::Error::custom(format!("{key} is not a string"))),
        };
        let level =
            number(&mut fields, "level")?.ok_or_else(|| D::Error::missing_field("level"))?;
        let level = u8::try_from(level)
            .ok()
            .and_then(Level::from_number)
            .ok_or_else(|| D::Error::custom(format!("unknown pino level {level}")))?;
        let time = number(&mut fields, "time")?.ok_or_else(|| D::Error::missing_field("time"))?;
        let seq = number(&mut fields, "seq")?.unwrap_or(0);
        let name = text(&mut fields, "name")?;
        let msg = text(&mut fields, "msg")?;
        Ok(LogRecord {
            seq,
            level,
            time,
            name,
            msg,
            fields,
        })
    }
}

/// Replaces credentials in `fields`, at any depth, with `"[redacted]"`.
///
/// - The whole value of a key that contains (in any case) `password`,
///   `token`, `secret`, `authorization`, `jwt` or `cookie`.
/// - Inside any other string: a JWT (three base64url segments separated by
///   dots, the first starting `ey`, the base64url of a JSON object's `{"`)
///   and the credential after `Bearer `.
///
/// The `ey` condition keeps host names and versions (`api.example.com`,
/// `1.2.3`), which are three dot-separated base64url segments too, readable.
pub fn redact(fields: &mut Map<String, Value>) {
    for (key, value) in fields.iter_mut() {
        let lower = key.to_ascii_lowercase();
        if SENSITIVE_KEYS.iter().any(|word| lower.contains(word)) {
            *value = Value::String(REDACTED.to_owned());
        } else {
            redact_value(value);
        }
    }
}

fn redact_value(value: &mut Value) {
    match value {
        Value::Object(map) => redact(map),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::String(text) => {
            if let Some(clean) = redact_text(text) {
                *text = clean;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with bearer credentials and JWTs replaced, or `None` when it has
/// none (the common case, which then costs no allocation).
fn redact_text(text: &str) -> Option<String> {
    let without_bearer = redact_bearer(text);
    let current = without_bearer.as_deref().unwrap_or(text);
    let without_jwt = redact_jwts(current);
    without_jwt.or(without_bearer)
}

fn redact_bearer(text: &str) -> Option<String> {
    const SCHEME: &str = "bearer ";
    // ASCII lower-casing keeps byte offsets, so positions found in `lower`
    // are valid in `text`.
    let lower = text.to_ascii_lowercase();
    lower.find(SCHEME)?;
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(SCHEME) {
        let after_scheme = pos + found + SCHEME.len();
        let credential_start =
            after_scheme + (text[after_scheme..].len() - text[after_scheme..].trim_start().len());
        let credential_len = text[credential_start..]
            .find(char::is_whitespace)
            .unwrap_or(text.len() - credential_start);
        out.push_str(&text[pos..credential_start]);
        if credential_len > 0 {
            out.push_str(REDACTED);
        }
        pos = credential_start + credential_len;
    }
    out.push_str(&text[pos..]);
    Some(out)
}

fn is_base64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn looks_like_jwt(run: &str) -> bool {
    let mut segments: Vec<&str> = run.split('.').collect();
    // An unsigned JWT ends in a dot (empty signature); a sentence may add
    // one more.
    if segments.len() == 4 && segments.last() == Some(&"") {
        segments.pop();
    }
    segments.len() == 3
        && segments[0].len() > 2
        && segments[0].starts_with("ey")
        && !segments[1].is_empty()
}

fn redact_jwts(text: &str) -> Option<String> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut run_start = None;
    // A sentinel space ends the last run.
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if is_base64url(c) || c == '.' {
            run_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = run_start.take() {
            if looks_like_jwt(&text[start..i]) {
                let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
                copied = i;
            }
        }
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// The newest log records, bounded, with increasing sequence numbers.
#[derive(Debug, Clone)]
pub struct LogRing {
    capacity: usize,
    next_seq: u64,
    records: VecDeque<LogRecord>,
}

impl LogRing {
    /// An empty ring of at most `capacity` records (at least 1, since
    /// [`LogRing::push`] returns the record it kept). Sequence numbers start
    /// at 1, so `since(0)` is everything.
    pub fn new(capacity: usize) -> Self {
        Self::restore(capacity, 1, Vec::new())
    }

    /// A ring rebuilt from persisted records (sorted by `seq`), keeping the
    /// newest `capacity`. The next record gets `next_seq`, or one more than
    /// the newest record's if that is larger, so a seq is never reused.
    pub fn restore(capacity: usize, next_seq: u64, mut records: Vec<LogRecord>) -> Self {
        let capacity = capacity.max(1);
        records.sort_by_key(|r| r.seq);
        let next_seq = records
            .last()
            .map_or(next_seq, |r| next_seq.max(r.seq.saturating_add(1)))
            .max(1);
        let skip = records.len().saturating_sub(capacity);
        Self {
            capacity,
            next_seq,
            records: records.into_iter().skip(skip).collect(),
        }
    }

    /// Redacts `fields`, drops those named like pino's keys, stamps the record
    /// with the next seq and the name `"cache"`, and keeps it, evicting the
    /// oldest past capacity.
    pub fn push(
        &mut self,
        level: Level,
        time: u64,
        msg: &str,
        mut fields: Map<String, Value>,
    ) -> &LogRecord {
        redact(&mut fields);
        for key in RESERVED {
            fields.remove(key);
        }
        let record = LogRecord {
            seq: self.next_seq,
            level,
            time,
            name: "cache".to_owned(),
            // Messages are ours, but may quote an upstream error that echoes
            // a header.
            msg: redact_text(msg).unwrap_or_else(|| msg.to_owned()),
            fields,
        };
        self.next_seq += 1;
        if self.records.len() >= self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record);
        // Just pushed, so the ring is not empty.
        &self.records[self.records.len() - 1]
    }

    /// Removes the record `replaced` (if still held) and pushes a new one as
    /// [`LogRing::push`] does: a record that is updated moves to the end,
    /// under a new seq, so that a follower sees the update and the ring
    /// holds one copy.
    pub fn repush(
        &mut self,
        replaced: u64,
        level: Level,
        time: u64,
        msg: &str,
        fields: Map<String, Value>,
    ) -> &LogRecord {
        if let Ok(index) = self.records.binary_search_by_key(&replaced, |r| r.seq) {
            self.records.remove(index);
        }
        self.push(level, time, msg, fields)
    }

    /// Up to `limit` records with `seq > after_seq`, oldest first; a follower
    /// passes the last seq it got to continue.
    pub fn since(&self, after_seq: u64, limit: usize) -> Vec<LogRecord> {
        let start = self.records.partition_point(|r| r.seq <= after_seq);
        self.records.range(start..).take(limit).cloned().collect()
    }

    /// The seq of the newest record ever pushed (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Addresses a [`FailedLogins`] record names one by one; failures from
/// further addresses in its minute are only counted (`otherAddrs`).
pub const LISTED_ADDRESSES: usize = 10;

/// The failed logins of the current minute, kept as one record of the ring
/// (`"login failed"`, with `count`, `addrs` and `otherAddrs`), updated with
/// each failure: a burst of failures, from any number of addresses, takes
/// one record a minute, and leaves the others in the ring. (One record per
/// failure, as this once was, let 2,000 failed logins push every other
/// record out of a ring of 2,000.)
#[derive(Debug, Clone, Default)]
pub struct FailedLogins {
    /// The minute counted (milliseconds since the epoch / 60,000).
    minute: u64,
    /// The seq of its record, once there is one.
    seq: Option<u64>,
    count: u64,
    addrs: BTreeMap<String, u64>,
    other_addrs: u64,
}

impl FailedLogins {
    /// Counts a failed login from `addr` at `now_ms` and writes the minute's
    /// record to `ring` anew.
    pub fn count(&mut self, ring: &mut LogRing, addr: &str, now_ms: u64) {
        let minute = now_ms / 60_000;
        if self.seq.is_none() || minute != self.minute {
            *self = FailedLogins {
                minute,
                ..FailedLogins::default()
            };
        }
        self.count += 1;
        if let Some(n) = self.addrs.get_mut(addr) {
            *n += 1;
        } else if self.addrs.len() < LISTED_ADDRESSES {
            self.addrs.insert(addr.to_owned(), 1);
        } else {
            self.other_addrs += 1;
        }
        let mut fields = Map::new();
        fields.insert("count".to_owned(), self.count.into());
        fields.insert("minute".to_owned(), (minute * 60_000).into());
        fields.insert(
            "addrs".to_owned(),
            Value::Object(
                self.addrs
                    .iter()
                    .map(|(addr, n)| (addr.clone(), Value::from(*n)))
                    .collect(),
            ),
        );
        fields.insert("otherAddrs".to_owned(), self.other_addrs.into());
        let record = match self.seq {
            Some(seq) => ring.repush(seq, Level::Warn, now_ms, "login failed", fields),
            None => ring.push(Level::Warn, now_ms, "login failed", fields),
        };
        self.seq = Some(record.seq);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhQGIuYyIsImV4cCI6OTk5OTk5OTk5OX0.dGhpcyBpcyBub3QgYSBzaWduYXR1cmU";

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn a_record_is_a_pino_line() {
        let mut ring = LogRing::new(10);
        let line = ring
            .push(
                Level::Info,
                1_531_171_074_631,
                "invalidate",
                fields(json!({"type": "post", "types": ["posts", "feed"], "eventId": 7})),
            )
            .to_json_line();
        assert!(
            line.starts_with(
                r#"{"level":30,"time":1531171074631,"name":"cache","msg":"invalidate","seq":1,"#
            ),
            "{line}"
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["types"], json!(["posts", "feed"]));
        assert_eq!(parsed["eventId"], 7);
    }

    #[test]
    fn fields_cannot_override_pino_keys() {
        let record = LogRecord {
            seq: 3,
            level: Level::Warn,
            time: 5,
            name: "cache".into(),
            msg: "m".into(),
            fields: fields(json!({"level": 60, "msg": "forged", "seq": 0, "x": 1})),
        };
        let parsed: Value = serde_json::from_str(&record.to_json_line()).unwrap();
        assert_eq!(
            parsed,
            json!({"level": 40, "time": 5, "name": "cache", "msg": "m", "seq": 3, "x": 1})
        );

        let mut ring = LogRing::new(2);
        let kept = ring.push(
            Level::Info,
            1,
            "m",
            fields(json!({"name": "other", "y": 2})),
        );
        assert_eq!(kept.name, "cache");
        assert_eq!(kept.fields, fields(json!({"y": 2})));
    }

    #[test]
    fn records_round_trip_through_json() {
        let mut ring = LogRing::new(2);
        let record = ring
            .push(
                Level::Error,
                9,
                "line\nbreak",
                fields(json!({"nested": {"a": [1, "two"]}})),
            )
            .clone();
        let line = record.to_json_line();
        assert!(!line.contains('\n'));
        let back: LogRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn reads_plain_pino_lines_and_rejects_bad_ones() {
        let record: LogRecord =
            serde_json::from_str(r#"{"level":20,"time":1,"pid":4,"hostname":"h","msg":"hi"}"#)
                .unwrap();
        assert_eq!(record.level, Level::Debug);
        assert_eq!(record.seq, 0);
        assert_eq!(record.name, "");
        assert_eq!(record.fields, fields(json!({"pid": 4, "hostname": "h"})));
        assert!(serde_json::from_str::<LogRecord>(r#"{"level":35,"time":1}"#).is_err());
        assert!(serde_json::from_str::<LogRecord>(r#"{"level":30}"#).is_err());
        assert!(serde_json::from_str::<LogRecord>(r#"{"level":30,"time":1,"msg":3}"#).is_err());
        assert!(serde_json::from_str::<Level>("61").is_err());
        assert_eq!(serde_json::to_string(&Level::Fatal).unwrap(), "60");
    }

    #[test]
    fn levels_order_and_number_like_pino() {
        let all = [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
            Level::Fatal,
        ];
        for pair in all.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].number() < pair[1].number());
        }
        for level in all {
            assert_eq!(Level::from_number(level.number()), Some(level));
        }
        assert_eq!(Level::Warn.label(), "warn");
    }

    #[test]
    fn credentials_never_reach_the_line() {
        let mut ring = LogRing::new(4);
        let line = ring
            .push(
                Level::Warn,
                1,
                &format!("login to mirror failed, sent Bearer {JWT}"),
                fields(json!({
                    "password": "hunter2",
                    "SERVICE_PASSWORD": "hunter3",
                    "headers": {"Authorization": "Basic dXNlcjpwYXNz", "accept": "*/*"},
                    "apiToken": 12345,
                    "jwtSecret": ["a"],
                    "body": format!("{{\"token\":\"{JWT}\"}}"),
                    "list": [JWT, {"Cookie": "session=abc"}],
                    "url": format!("https://prod.example.com/api?t={JWT}"),
                    "raw": JWT,
                    "header": "bearer opaque-token-value",
                })),
            )
            .to_json_line();
        for secret in [
            "hunter2",
            "hunter3",
            "dXNlcjpwYXNz",
            "12345",
            "\"a\"",
            "session=abc",
            "opaque-token-value",
            "eyJ",
        ] {
            assert!(!line.contains(secret), "{secret} leaked in {line}");
        }
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["password"], REDACTED);
        assert_eq!(parsed["headers"]["accept"], "*/*");
        assert_eq!(parsed["url"], "https://prod.example.com/api?t=[redacted]");
        assert_eq!(parsed["header"], "bearer [redacted]");
        assert_eq!(
            parsed["msg"],
            "login to mirror failed, sent Bearer [redacted]"
        );
    }

    #[test]
    fn ordinary_dotted_text_is_kept() {
        let mut map = fields(json!({
            "host": "api.example.com",
            "version": "1.2.3",
            "msg2": "types posts.feed.pages changed.",
            "n": 3,
        }));
        let before = map.clone();
        redact(&mut map);
        assert_eq!(map, before);
    }

    #[test]
    fn an_unsigned_jwt_is_redacted_too() {
        let mut map = fields(json!({"v": "token eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. here"}));
        redact(&mut map);
        assert_eq!(map["v"], "token [redacted] here");
    }

    #[test]
    fn the_ring_is_bounded_and_keeps_the_newest() {
        let mut ring = LogRing::new(3);
        assert!(ring.is_empty());
        assert_eq!(ring.last_seq(), 0);
        for i in 0..5 {
            ring.push(Level::Info, i, &format!("m{i}"), Map::new());
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.last_seq(), 5);
        let seqs = |v: Vec<LogRecord>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!(seqs(ring.since(0, 100)), [3, 4, 5]);
        assert_eq!(seqs(ring.since(3, 100)), [4, 5]);
        assert_eq!(seqs(ring.since(0, 2)), [3, 4]);
        assert_eq!(seqs(ring.since(5, 100)), Vec::<u64>::new());
        assert_eq!(seqs(ring.since(99, 100)), Vec::<u64>::new());
        assert_eq!(seqs(ring.since(0, 0)), Vec::<u64>::new());
    }

    #[test]
    fn a_ring_of_zero_keeps_one() {
        let mut ring = LogRing::new(0);
        assert_eq!(ring.push(Level::Info, 0, "a", Map::new()).seq, 1);
        assert_eq!(ring.push(Level::Info, 0, "b", Map::new()).msg, "b");
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn restore_continues_the_sequence() {
        let mut ring = LogRing::new(10);
        for i in 0..4 {
            ring.push(Level::Info, i, "m", Map::new());
        }
        let saved = ring.since(0, usize::MAX);
        let mut back = LogRing::restore(2, 1, saved.clone());
        assert_eq!(back.len(), 2);
        assert_eq!(back.since(0, 10), saved[2..].to_vec());
        assert_eq!(back.push(Level::Info, 9, "m", Map::new()).seq, 5);
        // A larger persisted next_seq wins over the records.
        let mut empty = LogRing::restore(2, 40, Vec::new());
        assert_eq!(empty.last_seq(), 39);
        assert_eq!(empty.push(Level::Info, 9, "m", Map::new()).seq, 40);
    }

    #[test]
    fn failed_logins_take_one_record_a_minute() {
        let mut ring = LogRing::new(50);
        ring.push(Level::Info, 0, "invalidate", Map::new());
        let mut failed = FailedLogins::default();
        for i in 0..2_000u64 {
            let addr = format!("10.0.{}.{}", i / 256, i % 256);
            failed.count(&mut ring, &addr, 60_000 + i);
        }
        // The first minute's failures are one record, after the invalidation.
        let records = ring.since(0, 100);
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[0].msg, "invalidate");
        let record = &records[1];
        assert_eq!(record.msg, "login failed");
        assert_eq!(record.level, Level::Warn);
        assert_eq!(record.fields["count"], 2_000);
        assert_eq!(record.fields["minute"], 60_000);
        assert_eq!(record.fields["addrs"].as_object().unwrap().len(), 10);
        assert_eq!(record.fields["addrs"]["10.0.0.0"], 1);
        assert_eq!(record.fields["otherAddrs"], 1_990);
        // A follower sees each update as a new record.
        assert_eq!(record.seq, 2_001);
        // The same address again counts under its name.
        failed.count(&mut ring, "10.0.0.0", 60_000 + 2_000);
        assert_eq!(ring.since(0, 100)[1].fields["addrs"]["10.0.0.0"], 2);
        // The next minute starts a new record; the old one stays.
        failed.count(&mut ring, "10.0.0.1", 120_000);
        let records = ring.since(0, 100);
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].fields["count"], 2_001);
        assert_eq!(records[2].fields["count"], 1);
        assert_eq!(records[2].fields["minute"], 120_000);
    }

    #[test]
    fn repush_of_a_record_already_gone_only_pushes() {
        let mut ring = LogRing::new(2);
        let first = ring.push(Level::Info, 0, "a", Map::new()).seq;
        ring.push(Level::Info, 0, "b", Map::new());
        ring.push(Level::Info, 0, "c", Map::new());
        ring.repush(first, Level::Info, 0, "d", Map::new());
        let msgs: Vec<String> = ring.since(0, 10).into_iter().map(|r| r.msg).collect();
        assert_eq!(msgs, ["c", "d"]);
    }
}
