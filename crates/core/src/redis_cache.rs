//! The cache's layout in Redis, for the `upstash` backend: key names, the
//! Lua scripts that read, fill and release, the commands that bump
//! generations, and the decoding of their answers.
//!
//! Keys (all under `polycache:<INSTANCE_ID>:`, so that two deployments can
//! share a database without sharing a cache):
//! - `gen`: a hash, type -> generation. Invalidation is one `HINCRBY` per
//!   type of the closure, sent as one `/multi-exec` transaction, so that no
//!   reader sees part of a closure bumped ([`RedisLayout::bump`]). A type
//!   without a field starts at [`first_generation`] of the clock, not at 0:
//!   a database with an `allkeys-*` eviction policy may evict the hash
//!   (it has no TTL, but such a policy takes any key), and generations that
//!   started again at 0 would meet entries stored under those numbers
//!   before, and serve them as current.
//! - `e:<type>:<path>`: the entry, `"<generation>:<JSON>"`, with a TTL
//!   (`SET ... EX`). One key per path: a fill under a newer generation
//!   replaces the old entry instead of leaving it to age out.
//! - `l:<type>:<path>`: the fill lease, `"<generation>:<token>"`, with a TTL
//!   (`PX`): a lease of an older generation is void.
//!
//! A read is one round trip ([`READ`]): the script compares the entry's
//! generation with the current one and returns the value, or a miss with the
//! current generation and, if nobody is filling that generation yet, a lease
//! for the caller. The filler stores with [`FILL`], which stores only if the
//! generation has not moved since the reader took it (a slow filler can
//! never store stale data) and gives the lease back. Everything is one
//! script so that Redis runs it atomically; scripts declare every key they
//! touch in `KEYS`.

use serde_json::Value;

use crate::error::BackendFailure;
use crate::types::EntityType;
use crate::upstash::Script;
use crate::{Error, Result};

/// Reads an entry, or takes the fill lease on a miss.
///
/// `KEYS`: generations, entry, lease. `ARGV`: type, lease token, lease ms,
/// [`first_generation`] (the type's generation if the hash has none).
/// Answers `{1, value}` on a hit, `{0, generation, 1}` on a miss with the
/// lease, `{0, generation, 0}` on a miss while someone else fills.
pub const READ: Script = Script {
    name: "polycache-read",
    source: r"local g = redis.call('HGET', KEYS[1], ARGV[1])
if not g then
  g = ARGV[4]
  redis.call('HSET', KEYS[1], ARGV[1], g)
end
local e = redis.call('GET', KEYS[2])
if e then
  local at = string.find(e, ':', 1, true)
  if at and string.sub(e, 1, at - 1) == g then
    return {1, string.sub(e, at + 1)}
  end
end
local l = redis.call('GET', KEYS[3])
if l then
  local at = string.find(l, ':', 1, true)
  if at and string.sub(l, 1, at - 1) == g then
    return {0, g, 0}
  end
end
redis.call('SET', KEYS[3], g .. ':' .. ARGV[2], 'PX', ARGV[3])
return {0, g, 1}",
};

/// Stores a value read from the origin, if its generation is still current
/// (a generation lost meanwhile is not current), and gives back the
/// caller's lease.
///
/// `KEYS`: generations, entry, lease. `ARGV`: type, generation, value, TTL
/// seconds, lease token (empty without a lease). Answers 1 when stored.
pub const FILL: Script = Script {
    name: "polycache-fill",
    source: r"local g = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] .. ':' .. ARGV[5] then
  redis.call('DEL', KEYS[3])
end
if g ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2] .. ':' .. ARGV[3], 'EX', ARGV[4])
return 1",
};

/// Gives back a lease without filling (the origin read failed), so that the
/// next reader fills instead of waiting for the lease to expire.
///
/// `KEYS`: lease. `ARGV`: `"<generation>:<token>"`.
pub const RELEASE: Script = Script {
    name: "polycache-release",
    source: r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
};

/// What a [`READ`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The entry of the current generation.
    Hit(String),
    /// No entry of the current generation.
    Miss {
        /// The current generation, to fill under.
        generation: u64,
        /// Whether the caller got the lease (and should fill); otherwise
        /// someone else is filling.
        leased: bool,
    },
}

/// The key names of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisLayout {
    prefix: String,
}

impl RedisLayout {
    /// The keys of the deployment named `instance_id`.
    pub fn new(instance_id: &str) -> Self {
        Self {
            prefix: format!("polycache:{instance_id}:"),
        }
    }

    /// The hash of generations.
    pub fn generations(&self) -> String {
        format!("{}gen", self.prefix)
    }

    /// The entry of `path` read as type `t`.
    pub fn entry(&self, t: EntityType, path: &str) -> String {
        format!("{}e:{}:{path}", self.prefix, t.as_str())
    }

    /// The fill lease of `path` read as type `t`.
    pub fn lease(&self, t: EntityType, path: &str) -> String {
        format!("{}l:{}:{path}", self.prefix, t.as_str())
    }

    /// `KEYS` of [`READ`] and [`FILL`].
    pub fn keys(&self, t: EntityType, path: &str) -> Vec<String> {
        vec![self.generations(), self.entry(t, path), self.lease(t, path)]
    }

    /// The commands that bump `types` (each once, in registry
    /// order), to send as one `/multi-exec` transaction: per type, `HSETNX`
    /// of `first` (a type the hash lost starts there, see the module docs),
    /// then `HINCRBY` of 1.
    pub fn bump(&self, types: &[EntityType], first: u64) -> Vec<Vec<Value>> {
        let once: std::collections::BTreeSet<EntityType> = types.iter().copied().collect();
        once.into_iter()
            .flat_map(|t| {
                [
                    vec![
                        Value::from("HSETNX"),
                        Value::from(self.generations()),
                        Value::from(t.as_str()),
                        Value::from(first.to_string()),
                    ],
                    vec![
                        Value::from("HINCRBY"),
                        Value::from(self.generations()),
                        Value::from(t.as_str()),
                        Value::from(1),
                    ],
                ]
            })
            .collect()
    }
}

/// The generation a type starts at when the hash has no field for it: the
/// clock in milliseconds times 1,000. A hash lost and started again is then
/// past every generation it held before (those started at 0, or at an
/// earlier clock, and were bumped once per invalidation), unless one type
/// was invalidated 1,000 times a millisecond for its whole life. The
/// product stays below 2^53 until the year 2255, so Lua and JSON carry it
/// exactly.
pub fn first_generation(now_ms: u64) -> u64 {
    now_ms.saturating_mul(1_000)
}

/// `ARGV` of [`READ`]; `first` is [`first_generation`] of now.
pub fn read_args(t: EntityType, lease_token: &str, lease_ms: u64, first: u64) -> Vec<Value> {
    vec![
        Value::from(t.as_str()),
        Value::from(lease_token),
        Value::from(lease_ms.max(1)),
        Value::from(first.to_string()),
    ]
}

/// `ARGV` of [`FILL`]; `lease_token` is `None` for a reader that did not
/// hold the lease (it waited past the bound and read the origin itself).
pub fn fill_args(
    t: EntityType,
    generation: u64,
    value: &str,
    ttl_secs: u64,
    lease_token: Option<&str>,
) -> Vec<Value> {
    vec![
        Value::from(t.as_str()),
        Value::from(generation.to_string()),
        Value::from(value),
        Value::from(ttl_secs.max(1)),
        Value::from(lease_token.unwrap_or_default()),
    ]
}

/// `ARGV` of [`RELEASE`].
pub fn release_args(generation: u64, lease_token: &str) -> Vec<Value> {
    vec![Value::from(format!("{generation}:{lease_token}"))]
}

/// Decodes the answer of [`READ`].
///
/// # Errors
/// [`Error::Backend`] of kind `Protocol` for any other shape.
pub fn parse_read(answer: &Value) -> Result<Lookup> {
    let bad = || {
        Error::backend(
            BackendFailure::Protocol,
            format!("unexpected answer of the read script: {answer}"),
        )
    };
    let items = answer.as_array().ok_or_else(bad)?;
    match (items.first().and_then(Value::as_i64), items.len()) {
        (Some(1), 2) => Ok(Lookup::Hit(items[1].as_str().ok_or_else(bad)?.to_owned())),
        (Some(0), 3) => Ok(Lookup::Miss {
            generation: number(&items[1]).ok_or_else(bad)?,
            leased: items[2].as_i64() == Some(1),
        }),
        _ => Err(bad()),
    }
}

/// Decodes the answer of [`FILL`]: whether the entry was stored.
///
/// # Errors
/// [`Error::Backend`] of kind `Protocol` for anything but 0 or 1.
pub fn parse_fill(answer: &Value) -> Result<bool> {
    match answer.as_i64() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(Error::backend(
            BackendFailure::Protocol,
            format!("unexpected answer of the fill script: {answer}"),
        )),
    }
}

/// Decodes the answers of a [`RedisLayout::bump`] transaction: the new
/// generation of each type (the `HINCRBY` answers), or the first error (a
/// transaction whose commands did not all succeed did not record the
/// invalidation).
///
/// # Errors
/// The first command's error, or `Protocol` for answers that are not pairs
/// of `HSETNX` and `HINCRBY` integers.
pub fn parse_bump(answers: Vec<Result<Value>>) -> Result<Vec<u64>> {
    let answers = answers.into_iter().collect::<Result<Vec<_>>>()?;
    let bad = |what: &str| Error::backend(BackendFailure::Protocol, what.to_owned());
    if answers.len() % 2 != 0 {
        return Err(bad(&format!(
            "a bump answered {} commands, not pairs",
            answers.len()
        )));
    }
    answers
        .chunks(2)
        .map(|pair| match (pair[0].as_u64(), pair[1].as_u64()) {
            (Some(0 | 1), Some(g)) => Ok(g),
            _ => Err(bad(&format!(
                "HSETNX and HINCRBY answered {} and {}",
                pair[0], pair[1]
            ))),
        })
        .collect()
}

/// A generation sent as a string (HGET) or a number.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use EntityType as T;

    #[test]
    fn keys_are_namespaced_by_deployment() {
        let a = RedisLayout::new("prod");
        let b = RedisLayout::new("local-dev");
        assert_eq!(a.generations(), "polycache:prod:gen");
        assert_eq!(
            a.entry(T::POSTS, "/api/posts/7"),
            "polycache:prod:e:posts:/api/posts/7"
        );
        assert_eq!(
            a.lease(T::FEED, "/api/feed"),
            "polycache:prod:l:feed:/api/feed"
        );
        assert_ne!(
            a.entry(T::POSTS, "/api/posts"),
            b.entry(T::POSTS, "/api/posts")
        );
        assert_eq!(
            a.keys(T::POSTS, "/p"),
            [
                "polycache:prod:gen",
                "polycache:prod:e:posts:/p",
                "polycache:prod:l:posts:/p"
            ]
        );
    }

    #[test]
    fn bump_starts_a_lost_type_at_the_first_generation_then_adds_one_per_type_once_each() {
        let l = RedisLayout::new("x");
        let cmd =
            |c: &str, t: &str, v: Value| vec![json!(c), json!("polycache:x:gen"), json!(t), v];
        assert_eq!(
            l.bump(&[T::FEED, T::POSTS, T::FEED], 42_000),
            vec![
                cmd("HSETNX", "posts", json!("42000")),
                cmd("HINCRBY", "posts", json!(1)),
                cmd("HSETNX", "feed", json!("42000")),
                cmd("HINCRBY", "feed", json!(1)),
            ]
        );
        assert!(l.bump(&[], 1).is_empty());
    }

    #[test]
    fn first_generation_is_past_any_earlier_start_and_exact_in_lua() {
        // 2026-11-25 in ms: a hash started then and bumped a million times
        // is still behind one started a second later.
        let t = 1_795_651_864_741;
        assert!(first_generation(t) + 1_000_000 < first_generation(t + 1_001));
        assert!(first_generation(t) < 1 << 53);
        assert_eq!(first_generation(u64::MAX), u64::MAX);
    }

    #[test]
    fn read_answers() {
        assert_eq!(
            parse_read(&json!([1, "{\"a\":1}"])).unwrap(),
            Lookup::Hit("{\"a\":1}".into())
        );
        assert_eq!(
            parse_read(&json!([0, "7", 1])).unwrap(),
            Lookup::Miss {
                generation: 7,
                leased: true
            }
        );
        assert_eq!(
            parse_read(&json!([0, "0", 0])).unwrap(),
            Lookup::Miss {
                generation: 0,
                leased: false
            }
        );
        for bad in [
            json!(null),
            json!([1]),
            json!([2, "x"]),
            json!([0, "x", 1]),
            json!([1, 5]),
        ] {
            assert!(parse_read(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fill_and_bump_answers() {
        assert!(parse_fill(&json!(1)).unwrap());
        assert!(!parse_fill(&json!(0)).unwrap());
        assert!(parse_fill(&json!("OK")).is_err());
        assert_eq!(
            parse_bump(vec![Ok(json!(0)), Ok(json!(3)), Ok(json!(1)), Ok(json!(9))]).unwrap(),
            [3, 9]
        );
        let oom = Error::backend(BackendFailure::Command, "OOM");
        assert_eq!(
            parse_bump(vec![
                Ok(json!(0)),
                Ok(json!(3)),
                Ok(json!(0)),
                Err(oom.clone())
            ]),
            Err(oom)
        );
        assert!(parse_bump(vec![Ok(json!(0)), Ok(json!("x"))]).is_err());
        assert!(parse_bump(vec![Ok(json!(0))]).is_err(), "not a pair");
    }

    #[test]
    fn arguments() {
        assert_eq!(
            read_args(T::POSTS, "t1", 3_000, 7_000),
            [json!("posts"), json!("t1"), json!(3_000), json!("7000")]
        );
        assert_eq!(
            fill_args(T::FEED, 4, "[]", 300, None),
            [
                json!("feed"),
                json!("4"),
                json!("[]"),
                json!(300),
                json!("")
            ]
        );
        assert_eq!(fill_args(T::FEED, 4, "[]", 0, Some("t"))[3], json!(1));
        assert_eq!(release_args(4, "t"), [json!("4:t")]);
    }
}
