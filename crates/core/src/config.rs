//! Settings, parsed from the Worker's vars.
//!
//! The Worker hands us a lookup function over its environment (vars from
//! `wrangler.toml`, secrets from `.dev.vars` or `wrangler secret`), so that
//! parsing needs no runtime and is tested here. Every setting is checked in
//! one place, and every error names the variable and what is wrong with it,
//! because a misconfigured deployment is only ever diagnosed from that
//! message. Non-secret values are quoted back (cut short, escaped); secrets
//! never are.
//!
//! A var set to the empty string counts as unset, since that is how a
//! `wrangler.toml` line is usually "commented out".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::quote;
use crate::fault::Faults;
use crate::graph::DependencyGraph;
use crate::lease::{LEASE_MS, WAIT_MS};
use crate::origin::{
    OriginSettings, OriginUrl, RouteTable, Unmatched, ROUTES_SETTING, URL_SETTING,
};
use crate::rate_limit::{LoginLimits, DEFAULT_FAILURES_PER_ACCOUNT, DEFAULT_FAILURES_PER_ADDRESS};
use crate::region::{region_for_request, CfLocation, EdgeRegions, Region};
use crate::retry::RetryPolicy;
use crate::revocation::RevokedTokens;
use crate::{Error, Result};

/// Default `CACHE_TTL_SECS`: five minutes, the lifetime of an entry that is
/// never invalidated (invalidation, not TTL, is what keeps reads fresh).
const DEFAULT_CACHE_TTL_SECS: u64 = 300;
/// Largest `CACHE_TTL_SECS`: one year (365 days); KV accepts more, but
/// an entry outliving that is a configuration mistake.
const MAX_CACHE_TTL_SECS: u64 = 365 * 24 * 60 * 60;
/// Default `NEGATIVE_CACHE_SECS`: a 404 is kept 5 s, long enough to spare
/// D1 a burst of reads of one absent row, short enough that a flood of
/// random ids holds little memory at a time.
const DEFAULT_NEGATIVE_CACHE_SECS: u64 = 5;
/// Largest `NEGATIVE_CACHE_SECS`: a minute; an absent row costs one D1
/// read, so keeping its 404 longer saves little and holds memory a flood
/// of random ids fills.
const MAX_NEGATIVE_CACHE_SECS: u64 = 60;
/// Default `SSE_HEARTBEAT_SECS`, as in the README ("Configuration").
const DEFAULT_HEARTBEAT_SECS: u64 = 15;
/// Largest `SSE_HEARTBEAT_SECS`: Cloudflare cuts a stream idle for 100 s, and
/// 10 s of margin absorbs a late alarm or a slow write.
const MAX_HEARTBEAT_SECS: u64 = 90;
/// Default `EVENT_LOG_SIZE`: enough to replay several minutes of a busy
/// site's writes to a client that was offline, at a few MB of Hub memory.
const DEFAULT_EVENT_LOG_SIZE: u64 = 10_000;
/// Largest `EVENT_LOG_SIZE`: a Durable Object has 128 MB of memory, and a
/// million events of ~150 bytes already take a large share of it.
const MAX_EVENT_LOG_SIZE: u64 = 1_000_000;
/// Default `MIRROR_MAX_ATTEMPTS`: with exponential backoff this spans
/// minutes, long enough to ride out a mirror's deploy or restart.
const DEFAULT_MIRROR_MAX_ATTEMPTS: u64 = 10;
/// Largest `MIRROR_MAX_ATTEMPTS`: past this a mirror is down, not flaky.
const MAX_MIRROR_MAX_ATTEMPTS: u64 = 100;
/// Default `MIRROR_RETRY_BASE_MS`: the first retry of a failed mirror
/// delivery waits up to a second (core `retry`, full jitter).
const DEFAULT_MIRROR_RETRY_BASE_MS: u64 = 1_000;
/// Default `MIRROR_RETRY_CAP_MS`: no retry waits more than five minutes.
const DEFAULT_MIRROR_RETRY_CAP_MS: u64 = 300_000;
/// Largest retry delay setting: one hour.
const MAX_MIRROR_RETRY_MS: u64 = 3_600_000;
/// Default `SSE_QUEUE_BYTES`: bytes buffered for one slow stream before it
/// is disconnected (it resumes with `Last-Event-ID`): 1 MiB, thousands of
/// events, so that only a client that stopped reading is cut. Counted in
/// bytes, not writes, since one write may carry a burst of events.
const DEFAULT_SSE_QUEUE_BYTES: u64 = 1 << 20;
/// Largest `SSE_QUEUE_BYTES`: 64 MiB, half of a Durable Object's memory.
const MAX_SSE_QUEUE_BYTES: u64 = 64 << 20;
/// Default `SSE_COALESCE_MS`: events that reach an Edge within this many
/// milliseconds of each other go to each stream as one write. workerd pays
/// a fixed cost per write per stream, whatever its size, so a burst of 50
/// events costs about what one costs; a lone event waits at most this long.
const DEFAULT_SSE_COALESCE_MS: u64 = 5;
/// Largest `SSE_COALESCE_MS`: a second, far past where waiting pays.
const MAX_SSE_COALESCE_MS: u64 = 1_000;
/// Default `SSE_STREAMS_PER_ADDRESS`: open streams one client address (an
/// IPv6 /64) may hold on one Edge; 200 covers an office behind one NAT.
const DEFAULT_SSE_STREAMS_PER_ADDRESS: u64 = 200;
/// Default `SSE_STREAMS_PER_OBJECT`: open streams on one Edge; about what one
/// Durable Object serves with room for the events (README, "Performance").
const DEFAULT_SSE_STREAMS_PER_OBJECT: u64 = 10_000;
/// Largest stream-count setting: 100,000.
const MAX_SSE_STREAMS: u64 = 100_000;
/// Default `SSE_REPLAY_MAX_EVENTS`: the most events a resume is replayed;
/// a client further behind gets `reset` (refetch everything), which costs
/// it one refetch per query instead of the Edge megabytes.
const DEFAULT_SSE_REPLAY_MAX_EVENTS: u64 = 1_000;
/// Default `SSE_REPLAY_MAX_BYTES`: the most bytes of replay a resume is
/// sent: 1 MiB, past which it gets `reset` as well.
const DEFAULT_SSE_REPLAY_MAX_BYTES: u64 = 1 << 20;
/// Default `MIRROR_QUEUE_LIMIT`: entries one mirror's pending list (and,
/// apart, its parked list) holds before it is collapsed
/// ([`crate::outbox`]): a few MB of Hub memory and storage per mirror
/// (an entry is ~250 bytes), and a few hours of a busy site's writes.
const DEFAULT_MIRROR_QUEUE_LIMIT: u64 = 10_000;
/// Smallest `MIRROR_QUEUE_LIMIT`: collapsing keeps at least one entry per
/// type, and there are eight types (`types::EntityType::ALL`).
const MIN_MIRROR_QUEUE_LIMIT: u64 = 16;
/// Largest `MIRROR_QUEUE_LIMIT`: the Hub loads every queue at start-up,
/// within its 128 MB. Also the most entries one mirror can have parked,
/// which bounds how far the CLI's `mirrors --all` pages.
pub const MAX_MIRROR_QUEUE_LIMIT: u64 = 100_000;
/// Default `SSE_MAX_WRITES`: writes (events and heartbeats) one stream
/// carries before the Hub ends it and the client reconnects with
/// `Last-Event-ID`. workerd keeps about 96 bytes per write of a stream
/// until that stream ends (its pump of a JavaScript stream is a promise
/// chain), so a stream that never ended would grow the Hub without bound.
/// 500: at most about 48 KB kept per stream, against one reconnect every
/// 250 to 500 writes (an idle stream, with a 15 s heartbeat, every 1 to 2
/// hours).
const DEFAULT_SSE_MAX_WRITES: u64 = 500;
/// Largest `SSE_MAX_WRITES`: one stream may then keep about 96 MB before it
/// is renewed, a bound for experiments (the heap probe), not for production.
const MAX_SSE_MAX_WRITES: u64 = 1_000_000;
/// Largest `CACHE_ORIGIN_DELAY_MS`: ten seconds, far past any real origin.
const MAX_ORIGIN_DELAY_MS: u64 = 10_000;

/// How long a request to the origin may take in origin mode before the
/// client gets 504: long enough for a slow API's slowest page.
const DEFAULT_ORIGIN_TIMEOUT_MS: u64 = 10_000;
/// Two minutes: past that a client has long given up.
const MAX_ORIGIN_TIMEOUT_MS: u64 = 120_000;
/// The largest request body forwarded to the origin, and answer stored.
const DEFAULT_ORIGIN_MAX_BODY_BYTES: u64 = 1 << 20;
/// 25 MiB, Workers KV's largest value (a stored answer may grow by a third
/// in base64).
const MAX_ORIGIN_MAX_BODY_BYTES: u64 = 18 << 20;
/// Default `EDGE_SHARDS`: one Edge per region. A second shard pays only
/// once a region's reads pass what one Durable Object serves, about 1,000
/// requests a second (the soft limit in Cloudflare's Durable Objects
/// limits).
const DEFAULT_EDGE_SHARDS: u64 = 1;
/// Largest `EDGE_SHARDS`: 16. The Hub pushes every invalidation to every
/// Edge and acknowledges the write once each has applied it, with at most 6
/// pushes waiting at once (the platform's limit on an invocation's
/// outstanding requests): nine regions of 16 shards are 144 Edges, 24
/// rounds of pushes per write. Past that a write waits longer than the
/// reads it spreads gain.
const MAX_EDGE_SHARDS: u64 = 16;
/// Default `EDGE_LEASE_SECS`: 10 s. The term bounds how long a write waits
/// for an Edge that cannot be reached (until that Edge's lease runs out),
/// and sets how often each busy Edge renews at the Hub (once a term).
pub const DEFAULT_EDGE_LEASE_SECS: u64 = 10;
/// Smallest `EDGE_LEASE_SECS`: 2 s. An Edge stops serving 1 s before its
/// lease ends, a margin for the clocks of two objects, so a 1 s lease
/// would never serve.
const MIN_EDGE_LEASE_SECS: u64 = 2;
/// Largest `EDGE_LEASE_SECS`: 60 s. A write may wait one term for an Edge
/// that cannot be reached; Cloudflare gives up on a response that has not
/// begun after 100 s (error 524), and 60 s leaves room for the write's own
/// work.
const MAX_EDGE_LEASE_SECS: u64 = 60;
/// Longest `INSTANCE_ID`: it travels in every event's `origin` and in logs.
const MAX_INSTANCE_ID_LEN: usize = 64;
/// Largest `LOGIN_FAILURES_PER_ADDRESS` and `LOGIN_FAILURES_PER_ACCOUNT`:
/// 100 guesses a minute is already no real limit, and the limiter keeps 16
/// bytes per counted attempt for each of up to 10,000 keys, 16 MB at 100.
const MAX_LOGIN_FAILURES: u64 = 100;

/// Where cached entries live (`CACHE_BACKEND`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Inside the Hub Durable Object: strongly consistent; the default.
    #[default]
    Memory,
    /// Workers KV for entries, generations in the Hub.
    Kv,
    /// Upstash Redis over its REST API.
    Upstash,
    /// The Workers Cache API (`caches.default`) for entries, generations in
    /// the Hub: free, per data centre; a no-op on `*.workers.dev`.
    Cache,
}

impl Backend {
    /// Every backend, in the order the messages list them.
    pub const ALL: [Backend; 4] = [
        Backend::Memory,
        Backend::Kv,
        Backend::Upstash,
        Backend::Cache,
    ];

    /// The name as written in `CACHE_BACKEND`: `"memory"`, `"kv"`, `"upstash"`,
    /// `"cache"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Kv => "kv",
            Backend::Upstash => "upstash",
            Backend::Cache => "cache",
        }
    }

    /// Parses a backend name, ignoring ASCII case.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the (escaped, cut short) value.
    pub fn parse(name: &str) -> Result<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| name.eq_ignore_ascii_case(b.as_str()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown cache backend {}: expected memory, kv, upstash or cache",
                    quote(name)
                ))
            })
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Backend::parse(s)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every non-secret setting of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `INSTANCE_ID` (required): this deployment's name, 1 to 64 characters
    /// of `A-Z a-z 0-9 . _ -`; the `origin` of its events.
    pub instance_id: String,
    /// `CACHE_BACKEND`, default `memory`.
    pub backend: Backend,
    /// `CACHE_DEPENDENCIES` (JSON), default the original graph (docs/architecture.md, "Where it comes from").
    pub graph: DependencyGraph,
    /// `CACHE_TTL_SECS`, default 300, 1 to 31 536 000.
    pub cache_ttl_secs: u64,
    /// `NEGATIVE_CACHE_SECS`: how long the `memory` backend keeps a 404 (an
    /// id with no row), at most `cache_ttl_secs`; default 5, 0 to 60, 0 =
    /// never. Other backends never store one: every new id would cost a
    /// KV, Redis or Cache API write.
    pub negative_cache_secs: u64,
    /// `CACHE_MIRRORS`: comma-separated http(s) base URLs, without trailing
    /// `/`; default none.
    pub mirrors: Vec<String>,
    /// `SSE_HEARTBEAT_SECS`, default 15, 1 to 90 (Cloudflare cuts idle
    /// streams at 100 s).
    pub heartbeat_secs: u64,
    /// `EVENT_LOG_SIZE`, default 10 000, 1 to 1 000 000.
    pub event_log_size: usize,
    /// `MIRROR_MAX_ATTEMPTS`, default 10, 1 to 100.
    pub mirror_max_attempts: u32,
    /// How the Edges bound and batch their streams (`SSE_*`).
    pub streams: StreamLimits,
    /// `SSE_MAX_WRITES`: writes one stream carries before the Hub ends it
    /// (each stream at a random count between half of this and this, so
    /// that streams opened together do not reconnect together) and the
    /// client reconnects with `Last-Event-ID`; default 500, 1 to 1 000 000.
    pub sse_max_writes: u32,
    /// `MIRROR_RETRY_BASE_MS`: the backoff's first ceiling; default 1 000.
    pub mirror_retry_base_ms: u64,
    /// `MIRROR_RETRY_CAP_MS`: the backoff's largest ceiling; default 300 000.
    pub mirror_retry_cap_ms: u64,
    /// `MIRROR_QUEUE_LIMIT`: entries a mirror's pending list, and apart its
    /// parked list, hold at most, by collapsing ([`crate::outbox`]);
    /// default 10 000, 16 to 100 000.
    pub mirror_queue_limit: usize,
    /// `CACHE_ORIGIN_DELAY_MS`: for tests and demonstrations only, a delay
    /// added to every origin read of a cached read once the origin has
    /// answered, standing in for a remote database, so that a stampede on
    /// a local machine lasts long enough to see stampede control at work,
    /// and a read can be made to race a write; default 0 (unset), at most
    /// 10 000.
    pub origin_delay_ms: u64,
    /// `EDGE_REGIONS`: the location hints the Edges run at, comma-separated,
    /// each once; the first takes the requests whose location cannot be
    /// told. Default none: one Edge, in region `default`.
    pub edge_regions: EdgeRegions,
    /// `EDGE_SHARDS`: Edges per region; default 1, 1 to 16.
    pub edge_shards: u32,
    /// `EDGE_LEASE_SECS`: the term of an Edge's lease on the generations;
    /// default 10, 2 to 60.
    pub edge_lease_secs: u64,
    /// `EDGE_REGION_HEADER`: for tests and local runs, the request header
    /// (a valid header name, kept in lower case) whose value picks the
    /// region; default unset, and then no header is read.
    pub edge_region_header: Option<String>,
    /// `TEST_FAULTS`: for tests only, the faults to inject (`fault`), each
    /// on an Edge of this deployment; default none.
    pub test_faults: Faults,
    /// `LOGIN_FAILURES_PER_ADDRESS` (default 10) and
    /// `LOGIN_FAILURES_PER_ACCOUNT` (default 20): failed logins a minute
    /// before 429, 1 to 100 each (`rate_limit`).
    pub login_limits: LoginLimits,
    /// Origin mode (`ORIGIN_URL`, `CACHE_ROUTES`, `ORIGIN_*`): polycache in
    /// front of the user's own API ([`crate::origin`]); `None` serves the
    /// D1 content API.
    pub origin: Option<OriginSettings>,
    /// `REVOKED_TOKENS`: the `jti`s of long-lived tokens this deployment
    /// refuses, comma-separated, at most 1 000 ([`crate::revocation`]);
    /// default none.
    pub revoked_tokens: RevokedTokens,
}

impl Config {
    /// How long the `memory` backend keeps a 404: `NEGATIVE_CACHE_SECS`,
    /// never longer than any entry (`CACHE_TTL_SECS`); 0 = not at all.
    pub fn negative_ttl_secs(&self) -> u64 {
        self.negative_cache_secs.min(self.cache_ttl_secs)
    }

    /// How long a reader waits for another reader's fill of the same key
    /// before reading the origin itself: in origin mode as long as the
    /// origin may take (`ORIGIN_TIMEOUT_MS`), so that a slow origin still
    /// sees one read per key and region.
    pub fn fill_wait_ms(&self) -> u64 {
        match &self.origin {
            Some(o) => o.timeout_ms,
            None => WAIT_MS,
        }
    }

    /// How long a fill lease lasts: past [`Config::fill_wait_ms`], so that
    /// a live filler keeps its lease while its waiters wait.
    pub fn fill_lease_ms(&self) -> u64 {
        match &self.origin {
            Some(o) => o.timeout_ms.saturating_add(1_000).max(LEASE_MS),
            None => LEASE_MS,
        }
    }

    /// The retry policy of mirror deliveries.
    pub fn mirror_retry(&self) -> RetryPolicy {
        RetryPolicy {
            base_ms: self.mirror_retry_base_ms,
            cap_ms: self.mirror_retry_cap_ms.max(self.mirror_retry_base_ms),
            max_attempts: self.mirror_max_attempts,
        }
    }

    /// The region that serves a request from `cf`. `header` looks up one of
    /// the request's headers by name; it is called only when
    /// `EDGE_REGION_HEADER` is set (`region::region_for_request` says what
    /// its value does).
    pub fn request_region(
        &self,
        header: impl FnOnce(&str) -> Option<String>,
        cf: &CfLocation,
    ) -> Region {
        let value = self.edge_region_header.as_deref().and_then(header);
        region_for_request(value.as_deref(), cf, &self.edge_regions)
    }

    /// Reads and checks every setting through `get` (a lookup of the
    /// Worker's vars).
    ///
    /// # Errors
    /// [`Error::Config`] for the first missing or malformed setting, naming
    /// the variable and saying what is wrong.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let get = &get;
        // Read first: `TEST_FAULTS` is checked against them.
        let edge_regions = edge_regions(get)?;
        let edge_shards = number(
            get,
            "EDGE_SHARDS",
            "shards",
            DEFAULT_EDGE_SHARDS,
            MAX_EDGE_SHARDS,
        )?;
        // Before the graph: in origin mode, the route table's types are the
        // ones CACHE_DEPENDENCIES may name.
        let origin = origin_settings(get)?;
        crate::types::install_origin_types(origin.as_ref().map(|o| o.routes.types()).as_deref())?;
        Ok(Config {
            instance_id: instance_id(get)?,
            backend: backend(get)?,
            graph: graph(get)?,
            origin,
            cache_ttl_secs: number(
                get,
                "CACHE_TTL_SECS",
                "seconds",
                DEFAULT_CACHE_TTL_SECS,
                MAX_CACHE_TTL_SECS,
            )?,
            negative_cache_secs: number_between(
                get,
                "NEGATIVE_CACHE_SECS",
                "seconds",
                DEFAULT_NEGATIVE_CACHE_SECS,
                0,
                MAX_NEGATIVE_CACHE_SECS,
            )?,
            mirrors: mirrors(get)?,
            heartbeat_secs: number(
                get,
                "SSE_HEARTBEAT_SECS",
                "seconds",
                DEFAULT_HEARTBEAT_SECS,
                MAX_HEARTBEAT_SECS,
            )?,
            event_log_size: number(
                get,
                "EVENT_LOG_SIZE",
                "events",
                DEFAULT_EVENT_LOG_SIZE,
                MAX_EVENT_LOG_SIZE,
            )?,
            mirror_max_attempts: number(
                get,
                "MIRROR_MAX_ATTEMPTS",
                "attempts",
                DEFAULT_MIRROR_MAX_ATTEMPTS,
                MAX_MIRROR_MAX_ATTEMPTS,
            )?,
            streams: StreamLimits::from_vars(get)?,
            sse_max_writes: number(
                get,
                "SSE_MAX_WRITES",
                "writes",
                DEFAULT_SSE_MAX_WRITES,
                MAX_SSE_MAX_WRITES,
            )?,
            mirror_retry_base_ms: number(
                get,
                "MIRROR_RETRY_BASE_MS",
                "milliseconds",
                DEFAULT_MIRROR_RETRY_BASE_MS,
                MAX_MIRROR_RETRY_MS,
            )?,
            mirror_retry_cap_ms: number(
                get,
                "MIRROR_RETRY_CAP_MS",
                "milliseconds",
                DEFAULT_MIRROR_RETRY_CAP_MS,
                MAX_MIRROR_RETRY_MS,
            )?,
            mirror_queue_limit: number_between(
                get,
                "MIRROR_QUEUE_LIMIT",
                "entries",
                DEFAULT_MIRROR_QUEUE_LIMIT,
                MIN_MIRROR_QUEUE_LIMIT,
                MAX_MIRROR_QUEUE_LIMIT,
            )?,
            origin_delay_ms: match optional(get, "CACHE_ORIGIN_DELAY_MS") {
                None => 0,
                Some(_) => number(
                    get,
                    "CACHE_ORIGIN_DELAY_MS",
                    "milliseconds",
                    1,
                    MAX_ORIGIN_DELAY_MS,
                )?,
            },
            edge_lease_secs: number_between(
                get,
                "EDGE_LEASE_SECS",
                "seconds",
                DEFAULT_EDGE_LEASE_SECS,
                MIN_EDGE_LEASE_SECS,
                MAX_EDGE_LEASE_SECS,
            )?,
            edge_region_header: edge_region_header(get)?,
            test_faults: test_faults(get, &edge_regions, edge_shards)?,
            login_limits: LoginLimits {
                per_address: number(
                    get,
                    "LOGIN_FAILURES_PER_ADDRESS",
                    "failures",
                    u64::from(DEFAULT_FAILURES_PER_ADDRESS),
                    MAX_LOGIN_FAILURES,
                )?,
                per_account: number(
                    get,
                    "LOGIN_FAILURES_PER_ACCOUNT",
                    "failures",
                    u64::from(DEFAULT_FAILURES_PER_ACCOUNT),
                    MAX_LOGIN_FAILURES,
                )?,
            },
            edge_regions,
            edge_shards,
            revoked_tokens: revoked_tokens(get)?,
        })
    }
}

/// How the Edges bound and batch their streams: what a public deployment
/// needs so that streams opened by anyone cannot pin an Edge's CPU or
/// memory (README, "Security").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// `SSE_COALESCE_MS`: events within this window go to a stream as one
    /// write; default 5, 0 (one write per event) to 1 000.
    pub coalesce_ms: u64,
    /// `SSE_QUEUE_BYTES`: bytes buffered per slow stream before it is
    /// disconnected; default 1 MiB, 1 KiB to 64 MiB.
    pub queue_bytes: u64,
    /// `SSE_STREAMS_PER_ADDRESS`: open streams per client address (IPv6 by
    /// /64) on one Edge; default 200, 1 to 100 000.
    pub per_address: u32,
    /// `SSE_STREAMS_PER_OBJECT`: open streams on one Edge; default 10 000,
    /// 1 to 100 000.
    pub per_object: u32,
    /// `SSE_REPLAY_MAX_EVENTS`: events replayed to a resume at most, past
    /// which it gets `reset`; default 1 000, 1 to 1 000 000.
    pub replay_events: usize,
    /// `SSE_REPLAY_MAX_BYTES`: bytes replayed to a resume at most; default
    /// 1 MiB, 1 KiB to 64 MiB.
    pub replay_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self::from_vars(&|_: &str| None).expect("the defaults are valid")
    }
}

impl StreamLimits {
    fn from_vars(get: &impl Fn(&str) -> Option<String>) -> Result<StreamLimits> {
        if optional(get, "SSE_QUEUE_LIMIT").is_some() {
            return Err(config_error(
                "SSE_QUEUE_LIMIT",
                "was replaced by SSE_QUEUE_BYTES, a bound in bytes (default 1048576)".into(),
            ));
        }
        Ok(StreamLimits {
            coalesce_ms: number_between(
                get,
                "SSE_COALESCE_MS",
                "milliseconds",
                DEFAULT_SSE_COALESCE_MS,
                0,
                MAX_SSE_COALESCE_MS,
            )?,
            queue_bytes: number_between(
                get,
                "SSE_QUEUE_BYTES",
                "bytes",
                DEFAULT_SSE_QUEUE_BYTES,
                1024,
                MAX_SSE_QUEUE_BYTES,
            )?,
            per_address: number(
                get,
                "SSE_STREAMS_PER_ADDRESS",
                "streams",
                DEFAULT_SSE_STREAMS_PER_ADDRESS,
                MAX_SSE_STREAMS,
            )?,
            per_object: number(
                get,
                "SSE_STREAMS_PER_OBJECT",
                "streams",
                DEFAULT_SSE_STREAMS_PER_OBJECT,
                MAX_SSE_STREAMS,
            )?,
            replay_events: number(
                get,
                "SSE_REPLAY_MAX_EVENTS",
                "events",
                DEFAULT_SSE_REPLAY_MAX_EVENTS,
                MAX_EVENT_LOG_SIZE,
            )?,
            replay_bytes: number_between(
                get,
                "SSE_REPLAY_MAX_BYTES",
                "bytes",
                DEFAULT_SSE_REPLAY_MAX_BYTES,
                1024,
                MAX_SSE_QUEUE_BYTES,
            )?,
        })
    }
}

/// Reads a required secret: missing or empty -> `Error::Config { name,
/// message: "is not set" }`; the value never appears in any error.
///
/// # Errors
/// [`Error::Config`] when the variable is missing or empty.
pub fn required(get: impl Fn(&str) -> Option<String>, name: &str) -> Result<String> {
    match get(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(config_error(name, "is not set".to_string())),
    }
}

fn config_error(name: &str, message: String) -> Error {
    Error::Config {
        name: name.to_string(),
        message,
    }
}

/// `e`, from parsing the value of setting `name`, as that setting's error:
/// an [`Error::Invalid`]'s message becomes the setting's.
fn setting_error(name: &str, e: Error) -> Error {
    match e {
        Error::Invalid(message) => config_error(name, message),
        other => config_error(name, other.to_string()),
    }
}

/// A setting with a default: `None` when unset, empty or only whitespace.
fn optional(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).filter(|value| !value.trim().is_empty())
}

fn instance_id(get: &impl Fn(&str) -> Option<String>) -> Result<String> {
    const NAME: &str = "INSTANCE_ID";
    let id = required(get, NAME)?;
    check_instance_id(&id).map_err(|e| setting_error(NAME, e))?;
    Ok(id)
}

/// Checks an `INSTANCE_ID` as the Worker does, for tools that name a
/// deployment (`polycache token mint --instance`): 1 to 64 characters of
/// `A-Z a-z 0-9 . _ -`.
///
/// # Errors
/// [`Error::Invalid`] quoting the (escaped, cut short) value.
pub fn check_instance_id(id: &str) -> Result<()> {
    // Not trimmed: the id is compared with the `origin` of mirrored events,
    // so a stray space would make this deployment a stranger to itself.
    let valid = !id.is_empty()
        && id.len() <= MAX_INSTANCE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "must be 1 to {MAX_INSTANCE_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_' and '-', got {}",
            quote(id)
        )))
    }
}

fn revoked_tokens(get: &impl Fn(&str) -> Option<String>) -> Result<RevokedTokens> {
    const NAME: &str = "REVOKED_TOKENS";
    match optional(get, NAME) {
        None => Ok(RevokedTokens::default()),
        Some(list) => RevokedTokens::parse(&list).map_err(|e| setting_error(NAME, e)),
    }
}

fn backend(get: &impl Fn(&str) -> Option<String>) -> Result<Backend> {
    const NAME: &str = "CACHE_BACKEND";
    let Some(raw) = optional(get, NAME) else {
        return Ok(Backend::default());
    };
    Backend::parse(raw.trim()).map_err(|_| {
        config_error(
            NAME,
            format!("must be memory, kv, upstash or cache, got {}", quote(&raw)),
        )
    })
}

/// `ORIGIN_URL` and the settings that go with it; `None` when it is unset
/// (and then the others must be unset too, so that a typo in the name of
/// `ORIGIN_URL` does not silently leave a deployment in D1 mode).
fn origin_settings(get: &impl Fn(&str) -> Option<String>) -> Result<Option<OriginSettings>> {
    const OTHERS: [&str; 4] = [
        ROUTES_SETTING,
        "ORIGIN_TIMEOUT_MS",
        "ORIGIN_MAX_BODY_BYTES",
        "ORIGIN_UNMATCHED",
    ];
    let Some(raw) = optional(get, URL_SETTING) else {
        if let Some(name) = OTHERS.iter().find(|n| optional(get, n).is_some()) {
            return Err(config_error(
                name,
                format!("is set, but {URL_SETTING} is not: set {URL_SETTING} for origin mode, or remove {name}"),
            ));
        }
        return Ok(None);
    };
    let url = OriginUrl::parse(&raw).map_err(|e| setting_error(URL_SETTING, e))?;
    let Some(table) = optional(get, ROUTES_SETTING) else {
        return Err(config_error(
            ROUTES_SETTING,
            format!("is not set; origin mode ({URL_SETTING}) needs a route table"),
        ));
    };
    let routes = RouteTable::from_json(&table).map_err(|e| setting_error(ROUTES_SETTING, e))?;
    let unmatched = match optional(get, "ORIGIN_UNMATCHED").as_deref().map(str::trim) {
        None | Some("pass") => Unmatched::Pass,
        Some("404") => Unmatched::NotFound,
        Some(other) => {
            return Err(config_error(
                "ORIGIN_UNMATCHED",
                format!("must be pass or 404, got {}", quote(other)),
            ))
        }
    };
    Ok(Some(OriginSettings {
        url,
        routes,
        timeout_ms: number(
            get,
            "ORIGIN_TIMEOUT_MS",
            "milliseconds",
            DEFAULT_ORIGIN_TIMEOUT_MS,
            MAX_ORIGIN_TIMEOUT_MS,
        )?,
        max_body_bytes: number_between(
            get,
            "ORIGIN_MAX_BODY_BYTES",
            "bytes",
            DEFAULT_ORIGIN_MAX_BODY_BYTES,
            1024,
            MAX_ORIGIN_MAX_BODY_BYTES,
        )?,
        unmatched,
    }))
}

fn graph(get: &impl Fn(&str) -> Option<String>) -> Result<DependencyGraph> {
    const NAME: &str = "CACHE_DEPENDENCIES";
    match optional(get, NAME) {
        None => Ok(DependencyGraph::default()),
        // The graph's own message names the culprit (a type, a cycle); the
        // JSON itself may be long and is not quoted.
        Some(json) => {
            DependencyGraph::from_json(&json).map_err(|e| config_error(NAME, e.to_string()))
        }
    }
}

/// A whole number in `1..=max`: [`number_between`] from 1.
fn number<T: TryFrom<u64>>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    unit: &str,
    default: u64,
    max: u64,
) -> Result<T> {
    number_between(get, name, unit, default, 1, max)
}

/// A whole number in `min..=max` (surrounding whitespace allowed), or
/// `default` when unset. Only ASCII digits are accepted, so that `+5`,
/// `1e3` and `15s` are reported rather than half-understood.
fn number_between<T: TryFrom<u64>>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    unit: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<T> {
    let raw = optional(get, name);
    let value = match raw.as_deref().map(str::trim) {
        None => Some(default),
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n)),
        Some(_) => None,
    };
    value.and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        config_error(
            name,
            format!(
                "must be a whole number of {unit} between {min} and {max}, got {}",
                quote(raw.as_deref().unwrap_or_default())
            ),
        )
    })
}

fn mirrors(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    const NAME: &str = "CACHE_MIRRORS";
    let Some(raw) = optional(get, NAME) else {
        return Ok(Vec::new());
    };
    let mut mirrors: Vec<String> = Vec::new();
    for item in raw
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        // Checked before the trailing '/' goes, so that "https://" is
        // reported as a URL without a host rather than without a scheme.
        check_mirror_url(item)
            .map_err(|what| config_error(NAME, format!("{what}, got {}", quote(item))))?;
        let url = item.trim_end_matches('/');
        // Case-insensitive: two entries differing only in case are one
        // deployment listed twice, which would receive every event twice.
        if mirrors.iter().any(|m| m.eq_ignore_ascii_case(url)) {
            return Err(config_error(NAME, format!("lists {} twice", quote(url))));
        }
        mirrors.push(url.to_string());
    }
    Ok(mirrors)
}

fn edge_regions(get: &impl Fn(&str) -> Option<String>) -> Result<EdgeRegions> {
    const NAME: &str = "EDGE_REGIONS";
    match optional(get, NAME) {
        None => Ok(EdgeRegions::default()),
        Some(list) => EdgeRegions::parse(&list).map_err(|e| setting_error(NAME, e)),
    }
}

fn edge_region_header(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>> {
    const NAME: &str = "EDGE_REGION_HEADER";
    let Some(raw) = optional(get, NAME) else {
        return Ok(None);
    };
    let name = raw.trim();
    // A field name is a token (RFC 9110, section 5.6.2); header names are
    // compared ignoring case, so one spelling is kept.
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.bytes().all(is_token_char) {
        Ok(Some(name.to_ascii_lowercase()))
    } else {
        Err(config_error(
            NAME,
            format!(
                "must be a header name (letters, digits and !#$%&'*+-.^_`|~), got {}",
                quote(&raw)
            ),
        ))
    }
}

fn test_faults(
    get: &impl Fn(&str) -> Option<String>,
    regions: &EdgeRegions,
    shards: u32,
) -> Result<Faults> {
    const NAME: &str = "TEST_FAULTS";
    let Some(list) = optional(get, NAME) else {
        return Ok(Faults::default());
    };
    let faults = Faults::parse(&list).map_err(|e| setting_error(NAME, e))?;
    // A fault on an Edge that does not exist never fires, and the test that
    // relies on it would pass for the wrong reason.
    if let Some(fault) = faults
        .iter()
        .find(|f| f.edge().is_some_and(|e| !e.is_in(regions, shards)))
    {
        return Err(config_error(
            NAME,
            format!("{fault} names no Edge of this deployment (see EDGE_REGIONS and EDGE_SHARDS)"),
        ));
    }
    Ok(faults)
}

/// Why `url` (already trimmed) is not a usable mirror
/// base URL, if it is not.
///
/// Only `https://`, except on this machine: the sender logs in to a mirror
/// with the service password, which plain `http://` would carry in clear
/// across the network. Loopback (`localhost`, `127.0.0.0/8`, `::1`) never
/// leaves the machine, and is how two local instances mirror each other.
/// The host is taken by the `url` crate, as the runtime's fetch takes it,
/// so that `http://localhost@evil.example` or `http://127.0.0.1.evil.example`
/// count as the remote hosts they are.
fn check_mirror_url(url: &str) -> std::result::Result<(), &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("each mirror must be a URL without spaces or control characters");
    }
    let has_scheme = |scheme: &str| {
        url.get(..scheme.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    };
    let (rest, https) = if has_scheme("https://") {
        (&url["https://".len()..], true)
    } else if has_scheme("http://") {
        (&url["http://".len()..], false)
    } else {
        return Err("each mirror must be an http:// or https:// base URL");
    };
    if rest.split('/').next().is_none_or(str::is_empty) {
        return Err("each mirror must name a host");
    }
    // The mirror endpoint's path is appended to the base URL, which a query
    // or fragment would swallow.
    if rest.contains(['?', '#']) {
        return Err("each mirror must be a base URL without a query or fragment");
    }
    let parsed = url::Url::parse(url).map_err(|_| "each mirror must be a valid URL")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("each mirror must be a base URL without a user or password");
    }
    if !https && !is_loopback(&parsed) {
        return Err(
            "each mirror must be an https:// URL (http:// only for localhost, 127.0.0.1 or [::1]): \
             the service password would travel in clear",
        );
    }
    Ok(())
}

/// Whether `url` names this machine.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::edge_name::EdgeName;
    use crate::region::LocationHint::{Apac, Enam, Weur};
    use crate::types::EntityType;
    use std::collections::BTreeMap;

    /// A lookup over `pairs`, as the Worker's env would provide.
    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// `INSTANCE_ID` plus `pairs`.
    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        let mut all = vec![("INSTANCE_ID", "local-dev")];
        all.extend_from_slice(pairs);
        Config::from_vars(vars(&all))
    }

    /// The `(name, message)` of a config error.
    fn error(result: Result<Config>) -> (String, String) {
        match result {
            Err(Error::Config { name, message }) => (name, message),
            other => panic!("expected Error::Config, got {other:?}"),
        }
    }

    const ROUTES: &str = r#"[{"path":"/v1/products/:id","type":"products","id":"id"},
        {"path":"/v1/products/:id/reviews","type":"reviews"}]"#;

    #[test]
    fn origin_mode_takes_its_types_from_the_route_table() {
        let c = config(&[
            ("ORIGIN_URL", "http://127.0.0.1:9100"),
            ("CACHE_ROUTES", ROUTES),
            ("CACHE_DEPENDENCIES", r#"{"products":["reviews"]}"#),
        ])
        .unwrap();
        let origin = c.origin.as_ref().unwrap();
        assert_eq!(
            (origin.timeout_ms, origin.max_body_bytes),
            (10_000, 1 << 20)
        );
        assert_eq!(origin.unmatched, Unmatched::Pass);
        let names: Vec<&str> = crate::types::EntityType::all()
            .iter()
            .map(|t| t.as_str())
            .collect();
        assert_eq!(names, ["products", "reviews"]);
        let reviews = crate::types::EntityType::parse("reviews").unwrap();
        let closure: Vec<&str> = c
            .graph
            .closure(reviews)
            .iter()
            .map(|t| t.as_str())
            .collect();
        assert_eq!(closure, ["reviews", "products"]);
        // The D1 types are not this deployment's, but stored state naming
        // them still loads.
        assert!(crate::types::EntityType::parse("posts").is_err());
        let stored: crate::types::EntityType = serde_json::from_str("\"posts\"").unwrap();
        assert!(!stored.is_active());
        assert_eq!((c.fill_wait_ms(), c.fill_lease_ms()), (10_000, 11_000));
        // A graph naming a D1 type in origin mode names it as unknown.
        let (name, message) = error(config(&[
            ("ORIGIN_URL", "http://127.0.0.1:9100"),
            ("CACHE_ROUTES", ROUTES),
            ("CACHE_DEPENDENCIES", r#"{"posts":["reviews"]}"#),
        ]));
        assert_eq!(name, "CACHE_DEPENDENCIES", "{message}");
        // Back in D1 mode, the declared types are.
        config(&[]).unwrap();
        assert!(crate::types::EntityType::parse("posts").is_ok());
    }

    #[test]
    fn origin_settings_are_checked_and_named() {
        let url = ("ORIGIN_URL", "https://api.example.com");
        for (vars, expected_name, expected) in [
            (vec![url], "CACHE_ROUTES", "needs a route table"),
            (
                vec![("CACHE_ROUTES", ROUTES)],
                "CACHE_ROUTES",
                "ORIGIN_URL is not",
            ),
            (
                vec![("ORIGIN_URL", "ftp://x"), ("CACHE_ROUTES", ROUTES)],
                "ORIGIN_URL",
                "http",
            ),
            (
                vec![
                    url,
                    ("CACHE_ROUTES", r#"[{"path":"/api/stream","type":"s"}]"#),
                ],
                "CACHE_ROUTES",
                r#"[0] ("/api/stream"): collides"#,
            ),
            (
                vec![url, ("CACHE_ROUTES", ROUTES), ("ORIGIN_UNMATCHED", "drop")],
                "ORIGIN_UNMATCHED",
                "pass or 404",
            ),
            (
                vec![url, ("CACHE_ROUTES", ROUTES), ("ORIGIN_TIMEOUT_MS", "0")],
                "ORIGIN_TIMEOUT_MS",
                "",
            ),
            (
                vec![
                    url,
                    ("CACHE_ROUTES", ROUTES),
                    ("ORIGIN_MAX_BODY_BYTES", "100"),
                ],
                "ORIGIN_MAX_BODY_BYTES",
                "",
            ),
        ] {
            let (name, message) = error(config(&vars));
            assert_eq!(name, expected_name, "{vars:?}: {message}");
            assert!(message.contains(expected), "{vars:?}: {message}");
        }
        let c = config(&[
            url,
            ("CACHE_ROUTES", ROUTES),
            ("ORIGIN_UNMATCHED", "404"),
            ("ORIGIN_TIMEOUT_MS", "1500"),
        ])
        .unwrap();
        let origin = c.origin.unwrap();
        assert_eq!(
            (origin.unmatched, origin.timeout_ms),
            (Unmatched::NotFound, 1500)
        );
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c,
            Config {
                instance_id: "local-dev".to_string(),
                backend: Backend::Memory,
                graph: DependencyGraph::default(),
                cache_ttl_secs: 300,
                negative_cache_secs: 5,
                mirrors: vec![],
                heartbeat_secs: 15,
                event_log_size: 10_000,
                mirror_max_attempts: 10,
                streams: StreamLimits {
                    coalesce_ms: 5,
                    queue_bytes: 1_048_576,
                    per_address: 200,
                    per_object: 10_000,
                    replay_events: 1_000,
                    replay_bytes: 1_048_576,
                },
                sse_max_writes: 500,
                mirror_retry_base_ms: 1_000,
                mirror_retry_cap_ms: 300_000,
                mirror_queue_limit: 10_000,
                origin_delay_ms: 0,
                edge_regions: EdgeRegions::default(),
                edge_shards: 1,
                edge_lease_secs: 10,
                edge_region_header: None,
                test_faults: Faults::default(),
                login_limits: LoginLimits {
                    per_address: 10,
                    per_account: 20,
                },
                origin: None,
                revoked_tokens: RevokedTokens::default(),
            }
        );
    }

    #[test]
    fn a_404_is_kept_no_longer_than_an_entry() {
        let c = |pairs: &[(&str, &str)]| config(pairs).unwrap().negative_ttl_secs();
        assert_eq!(c(&[]), 5);
        assert_eq!(c(&[("NEGATIVE_CACHE_SECS", "0")]), 0, "0: never");
        assert_eq!(c(&[("CACHE_TTL_SECS", "2")]), 2);
        assert_eq!(
            c(&[("NEGATIVE_CACHE_SECS", "60"), ("CACHE_TTL_SECS", "30")]),
            30
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let names = [
            "CACHE_BACKEND",
            "CACHE_DEPENDENCIES",
            "CACHE_TTL_SECS",
            "NEGATIVE_CACHE_SECS",
            "CACHE_MIRRORS",
            "SSE_HEARTBEAT_SECS",
            "EVENT_LOG_SIZE",
            "MIRROR_MAX_ATTEMPTS",
            "SSE_QUEUE_BYTES",
            "SSE_COALESCE_MS",
            "SSE_STREAMS_PER_ADDRESS",
            "SSE_STREAMS_PER_OBJECT",
            "SSE_REPLAY_MAX_EVENTS",
            "SSE_REPLAY_MAX_BYTES",
            "SSE_MAX_WRITES",
            "MIRROR_RETRY_BASE_MS",
            "MIRROR_RETRY_CAP_MS",
            "MIRROR_QUEUE_LIMIT",
            "CACHE_ORIGIN_DELAY_MS",
            "EDGE_REGIONS",
            "EDGE_SHARDS",
            "EDGE_LEASE_SECS",
            "EDGE_REGION_HEADER",
            "TEST_FAULTS",
            "LOGIN_FAILURES_PER_ADDRESS",
            "LOGIN_FAILURES_PER_ACCOUNT",
            "REVOKED_TOKENS",
        ];
        for blank in ["", "  "] {
            let pairs: Vec<_> = names.iter().map(|n| (*n, blank)).collect();
            assert_eq!(config(&pairs).unwrap(), config(&[]).unwrap(), "{blank:?}");
        }
    }

    #[test]
    fn all_settings_are_read() {
        let c = config(&[
            ("CACHE_BACKEND", "upstash"),
            ("CACHE_DEPENDENCIES", r#"{"post":["category"]}"#),
            ("CACHE_TTL_SECS", "60"),
            ("CACHE_MIRRORS", "https://prod.example.com"),
            ("SSE_HEARTBEAT_SECS", "30"),
            ("EVENT_LOG_SIZE", "500"),
            ("MIRROR_MAX_ATTEMPTS", "3"),
            ("SSE_QUEUE_BYTES", "65536"),
            ("SSE_MAX_WRITES", "40"),
        ])
        .unwrap();
        assert_eq!(c.backend, Backend::Upstash);
        assert_eq!(
            c.graph.closure(EntityType::CATEGORIES),
            [EntityType::CATEGORIES, EntityType::POSTS]
        );
        assert_eq!(c.cache_ttl_secs, 60);
        assert_eq!(c.mirrors, ["https://prod.example.com"]);
        assert_eq!(c.heartbeat_secs, 30);
        assert_eq!(c.event_log_size, 500);
        assert_eq!(c.mirror_max_attempts, 3);
        assert_eq!(c.streams.queue_bytes, 65_536);
        assert_eq!(c.sse_max_writes, 40);
    }

    #[test]
    fn revoked_tokens_are_a_list_of_token_ids() {
        let c = config(&[("REVOKED_TOKENS", " kQ3v7Xw2b9LmN4pR8sT1uY , old_one ")]).unwrap();
        assert!(c.revoked_tokens.contains("kQ3v7Xw2b9LmN4pR8sT1uY"));
        assert!(c.revoked_tokens.contains("old_one"));
        assert!(!c.revoked_tokens.contains("other"));

        let (name, message) = error(config(&[("REVOKED_TOKENS", "good,not a jti")]));
        assert_eq!(name, "REVOKED_TOKENS");
        assert!(message.contains(r#"got "not a jti""#), "{message}");

        let many: Vec<String> = (0..=1_000).map(|i| format!("t{i}")).collect();
        let (name, message) = error(config(&[("REVOKED_TOKENS", &many.join(","))]));
        assert_eq!(name, "REVOKED_TOKENS");
        assert!(message.contains("more than 1000"), "{message}");
    }

    #[test]
    fn instance_id_is_required() {
        for pairs in [&[][..], &[("INSTANCE_ID", "")][..]] {
            let (name, message) = error(Config::from_vars(vars(pairs)));
            assert_eq!(
                (name.as_str(), message.as_str()),
                ("INSTANCE_ID", "is not set")
            );
        }
    }

    #[test]
    fn instance_id_bounds_and_characters() {
        let longest = "a".repeat(64);
        for ok in ["a", "Local_dev-1.2", longest.as_str()] {
            assert_eq!(config(&[("INSTANCE_ID", ok)]).unwrap().instance_id, ok);
        }
        let too_long = "a".repeat(65);
        for bad in [
            too_long.as_str(),
            " local",
            "local dev",
            "prod/1",
            "é",
            "a\nb",
        ] {
            let (name, message) = error(config(&[("INSTANCE_ID", bad)]));
            assert_eq!(name, "INSTANCE_ID");
            assert!(
                message.starts_with("must be 1 to 64 characters of A-Z"),
                "{message}"
            );
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }

    #[test]
    fn backend_names() {
        for (raw, backend) in [
            ("memory", Backend::Memory),
            ("KV", Backend::Kv),
            (" upstash ", Backend::Upstash),
            ("Cache", Backend::Cache),
        ] {
            assert_eq!(config(&[("CACHE_BACKEND", raw)]).unwrap().backend, backend);
        }
        let (name, message) = error(config(&[("CACHE_BACKEND", "redis")]));
        assert_eq!(name, "CACHE_BACKEND");
        assert_eq!(
            message,
            r#"must be memory, kv, upstash or cache, got "redis""#
        );
        for b in Backend::ALL {
            assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
            assert_eq!(serde_json::to_string(&b).unwrap(), format!("\"{b}\""));
        }
        assert!(matches!(
            Backend::parse("d1"),
            Err(Error::Invalid(m)) if m == r#"unknown cache backend "d1": expected memory, kv, upstash or cache"#
        ));
        // Every backend is in ALL once, so that parsing reaches each.
        let names: std::collections::BTreeSet<_> =
            Backend::ALL.iter().map(|b| b.as_str()).collect();
        assert_eq!(names.len(), Backend::ALL.len());
    }

    #[test]
    fn dependencies_are_parsed_and_checked() {
        let (name, message) = error(config(&[(
            "CACHE_DEPENDENCIES",
            r#"{"posts":["categories"],"categories":["posts"]}"#,
        )]));
        assert_eq!(name, "CACHE_DEPENDENCIES");
        assert_eq!(
            message,
            "invalid dependency graph: cycle: posts -> categories -> posts"
        );

        let (_, message) = error(config(&[("CACHE_DEPENDENCIES", r#"{"posts":["tags"]}"#)]));
        assert!(message.contains(r#"unknown type "tags""#), "{message}");

        let (_, message) = error(config(&[("CACHE_DEPENDENCIES", "posts: [categories]")]));
        assert!(message.contains("malformed JSON"), "{message}");
    }

    /// `(variable, unit, default, min, max)` of every numeric setting.
    /// (NEGATIVE_CACHE_SECS, whose range starts at 0, has its own test.)
    const NUMBERS: [(&str, &str, u64, u64, u64); 15] = [
        ("MIRROR_RETRY_BASE_MS", "milliseconds", 1_000, 1, 3_600_000),
        ("MIRROR_RETRY_CAP_MS", "milliseconds", 300_000, 1, 3_600_000),
        ("CACHE_TTL_SECS", "seconds", 300, 1, 31_536_000),
        ("SSE_HEARTBEAT_SECS", "seconds", 15, 1, 90),
        ("EVENT_LOG_SIZE", "events", 10_000, 1, 1_000_000),
        ("MIRROR_MAX_ATTEMPTS", "attempts", 10, 1, 100),
        ("SSE_STREAMS_PER_ADDRESS", "streams", 200, 1, 100_000),
        ("SSE_STREAMS_PER_OBJECT", "streams", 10_000, 1, 100_000),
        ("SSE_REPLAY_MAX_EVENTS", "events", 1_000, 1, 1_000_000),
        ("SSE_MAX_WRITES", "writes", 500, 1, 1_000_000),
        ("CACHE_ORIGIN_DELAY_MS", "milliseconds", 0, 1, 10_000),
        ("EDGE_SHARDS", "shards", 1, 1, 16),
        ("EDGE_LEASE_SECS", "seconds", 10, 2, 60),
        ("LOGIN_FAILURES_PER_ADDRESS", "failures", 10, 1, 100),
        ("LOGIN_FAILURES_PER_ACCOUNT", "failures", 20, 1, 100),
    ];

    /// The value of numeric setting `name` in `c`, widened for comparison.
    fn numeric(c: &Config, name: &str) -> u64 {
        match name {
            "CACHE_TTL_SECS" => c.cache_ttl_secs,
            "SSE_HEARTBEAT_SECS" => c.heartbeat_secs,
            "EVENT_LOG_SIZE" => c.event_log_size as u64,
            "MIRROR_MAX_ATTEMPTS" => u64::from(c.mirror_max_attempts),
            "SSE_STREAMS_PER_ADDRESS" => u64::from(c.streams.per_address),
            "SSE_STREAMS_PER_OBJECT" => u64::from(c.streams.per_object),
            "SSE_REPLAY_MAX_EVENTS" => c.streams.replay_events as u64,
            "SSE_MAX_WRITES" => u64::from(c.sse_max_writes),
            "MIRROR_RETRY_BASE_MS" => c.mirror_retry_base_ms,
            "MIRROR_RETRY_CAP_MS" => c.mirror_retry_cap_ms,
            "CACHE_ORIGIN_DELAY_MS" => c.origin_delay_ms,
            "EDGE_SHARDS" => u64::from(c.edge_shards),
            "EDGE_LEASE_SECS" => c.edge_lease_secs,
            "LOGIN_FAILURES_PER_ADDRESS" => u64::from(c.login_limits.per_address),
            "LOGIN_FAILURES_PER_ACCOUNT" => u64::from(c.login_limits.per_account),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn numeric_defaults_and_bounds() {
        let defaults = config(&[]).unwrap();
        for (name, _, default, min, max) in NUMBERS {
            assert_eq!(numeric(&defaults, name), default, "{name}");
            for (raw, expected) in [
                (&min.to_string()[..], min),
                (&max.to_string()[..], max),
                (" 7 ", 7),
                ("007", 7),
            ] {
                let c = config(&[(name, raw)]).unwrap();
                assert_eq!(numeric(&c, name), expected, "{name}={raw:?}");
            }
        }
    }

    #[test]
    fn stream_limits_in_bytes_and_a_window_that_may_be_zero() {
        let c = config(&[
            ("SSE_QUEUE_BYTES", "1024"),
            ("SSE_REPLAY_MAX_BYTES", "67108864"),
            ("SSE_COALESCE_MS", "0"),
        ])
        .unwrap();
        assert_eq!(c.streams.queue_bytes, 1024);
        assert_eq!(c.streams.replay_bytes, 64 << 20);
        assert_eq!(c.streams.coalesce_ms, 0, "0 turns coalescing off");
        for (name, bad) in [
            ("SSE_QUEUE_BYTES", "1023"),
            ("SSE_REPLAY_MAX_BYTES", "67108865"),
            ("SSE_COALESCE_MS", "1001"),
        ] {
            let (got, _) = error(config(&[(name, bad)]));
            assert_eq!(got, name);
        }
        // A setting that was renamed is named, not silently ignored.
        let (got, message) = error(config(&[("SSE_QUEUE_LIMIT", "256")]));
        assert_eq!(got, "SSE_QUEUE_LIMIT");
        assert!(message.contains("SSE_QUEUE_BYTES"), "{message}");
    }

    #[test]
    fn numeric_values_out_of_bounds_or_malformed_are_rejected() {
        for (name, unit, _, min, max) in NUMBERS {
            let below = (min - 1).to_string();
            let above = (max + 1).to_string();
            for bad in [
                "0",
                below.as_str(),
                above.as_str(),
                "abc",
                "-1",
                "+5",
                "1.5",
                "1e3",
                "15s",
                "1 5",
                "99999999999999999999999",
            ] {
                let (got, message) = error(config(&[(name, bad)]));
                assert_eq!(got, name);
                assert_eq!(
                    message,
                    format!(
                        "must be a whole number of {unit} between {min} and {max}, got {bad:?}"
                    )
                );
            }
        }
    }

    #[test]
    fn heartbeat_message_reads_as_documented() {
        let (_, message) = error(config(&[("SSE_HEARTBEAT_SECS", "abc")]));
        assert_eq!(
            message,
            r#"must be a whole number of seconds between 1 and 90, got "abc""#
        );
    }

    #[test]
    fn quoted_values_are_cut_and_escaped() {
        let long = format!("{}\u{7}", "9".repeat(100));
        let (_, message) = error(config(&[("CACHE_TTL_SECS", &long)]));
        assert!(
            message.ends_with(&format!("got \"{}\"…", "9".repeat(40))),
            "{message}"
        );

        let (_, message) = error(config(&[("CACHE_TTL_SECS", "1\n\u{1b}[31m")]));
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.ends_with(r#"got "1\n\u{1b}[31m""#), "{message}");
    }

    #[test]
    fn mirrors_are_trimmed_and_normalized() {
        let c = config(&[(
            "CACHE_MIRRORS",
            " https://prod.example.com/ ,, http://localhost:8787//,HTTPS://b.example/base/ ,",
        )])
        .unwrap();
        assert_eq!(
            c.mirrors,
            [
                "https://prod.example.com",
                "http://localhost:8787",
                "HTTPS://b.example/base"
            ]
        );
        assert_eq!(
            config(&[("CACHE_MIRRORS", " , ,")]).unwrap().mirrors,
            Vec::<String>::new()
        );
    }

    #[test]
    fn plain_http_mirrors_are_only_for_this_machine() {
        for ok in [
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "HTTP://LOCALHOST",
            "http://[::1]:8787",
            "http://127.0.0.2",
            "https://prod.example.com",
        ] {
            assert_eq!(
                config(&[("CACHE_MIRRORS", ok)]).unwrap().mirrors,
                [ok],
                "{ok}"
            );
        }
        for remote in [
            "http://example.com",
            "http://10.0.0.1:8787",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example",
            "http://[::2]",
        ] {
            let (name, message) = error(config(&[("CACHE_MIRRORS", remote)]));
            assert_eq!(name, "CACHE_MIRRORS");
            assert!(
                message.starts_with("each mirror must be an https:// URL"),
                "{remote}: {message}"
            );
        }
        // The user part is not the host.
        let (_, message) = error(config(&[(
            "CACHE_MIRRORS",
            "http://localhost@evil.example",
        )]));
        assert!(message.contains("without a user"), "{message}");
    }

    #[test]
    fn the_mirror_queue_limit_is_bounded() {
        assert_eq!(
            config(&[("MIRROR_QUEUE_LIMIT", "500")])
                .unwrap()
                .mirror_queue_limit,
            500
        );
        for bad in ["0", "15", "100001", "many"] {
            let (name, _) = error(config(&[("MIRROR_QUEUE_LIMIT", bad)]));
            assert_eq!(name, "MIRROR_QUEUE_LIMIT", "{bad}");
        }
    }

    #[test]
    fn mirrors_reject_duplicates() {
        let (name, message) = error(config(&[(
            "CACHE_MIRRORS",
            "https://a.example, https://b.example, https://A.example/",
        )]));
        assert_eq!(name, "CACHE_MIRRORS");
        assert_eq!(message, r#"lists "https://A.example" twice"#);
    }

    #[test]
    fn mirrors_reject_malformed_urls() {
        let cases = [
            (
                "ftp://a.example",
                "each mirror must be an http:// or https:// base URL",
            ),
            (
                "a.example",
                "each mirror must be an http:// or https:// base URL",
            ),
            ("https://", "each mirror must name a host"),
            ("https:///path", "each mirror must name a host"),
            (
                "https://a .example",
                "each mirror must be a URL without spaces or control characters",
            ),
            (
                "https://a.example/\u{0}",
                "each mirror must be a URL without spaces or control characters",
            ),
            (
                "https://a.example/?x=1",
                "each mirror must be a base URL without a query or fragment",
            ),
            (
                "https://a.example#top",
                "each mirror must be a base URL without a query or fragment",
            ),
            (
                "https://user:pw@a.example",
                "each mirror must be a base URL without a user or password",
            ),
        ];
        for (bad, what) in cases {
            let (name, message) = error(config(&[(
                "CACHE_MIRRORS",
                &format!("https://ok.example,{bad}"),
            )]));
            assert_eq!(name, "CACHE_MIRRORS");
            assert_eq!(message, format!("{what}, got {}", quote(bad)), "{bad:?}");
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }

    #[test]
    fn required_secret() {
        let get = vars(&[("JWT_SECRET", "s3cret"), ("EMPTY", "")]);
        assert_eq!(required(&get, "JWT_SECRET").unwrap(), "s3cret");
        for name in ["EMPTY", "MISSING"] {
            assert_eq!(
                required(&get, name),
                Err(Error::Config {
                    name: name.to_string(),
                    message: "is not set".to_string()
                })
            );
        }
    }

    #[test]
    fn edge_regions_are_a_list_of_hints() {
        let c = config(&[("EDGE_REGIONS", " weur, enam,APAC ")]).unwrap();
        assert_eq!(c.edge_regions.hints(), [Weur, Enam, Apac]);
        assert_eq!(c.edge_regions.first(), Region::Hint(Weur));

        let (name, message) = error(config(&[("EDGE_REGIONS", "weur,us-east")]));
        assert_eq!(name, "EDGE_REGIONS");
        assert_eq!(
            message,
            r#"unknown region "us-east": expected wnam, enam, sam, weur, eeur, apac, oc, afr or me"#
        );
        let (name, message) = error(config(&[("EDGE_REGIONS", "weur,enam,WEUR")]));
        assert_eq!(name, "EDGE_REGIONS");
        assert_eq!(message, "lists weur twice");
        // `default` is what an unset list means, not a hint to list.
        let (_, message) = error(config(&[("EDGE_REGIONS", "default")]));
        assert!(
            message.starts_with(r#"unknown region "default""#),
            "{message}"
        );
    }

    #[test]
    fn the_region_header_is_a_header_name() {
        let c = config(&[("EDGE_REGION_HEADER", " X-Polycache-Region ")]).unwrap();
        assert_eq!(c.edge_region_header.as_deref(), Some("x-polycache-region"));
        let c = config(&[("EDGE_REGION_HEADER", "x_region.v2!")]).unwrap();
        assert_eq!(c.edge_region_header.as_deref(), Some("x_region.v2!"));
        for bad in [
            "x region",
            "x:region",
            "région",
            "x\nregion",
            "\"x\"",
            "x/y",
        ] {
            let (name, message) = error(config(&[("EDGE_REGION_HEADER", bad)]));
            assert_eq!(name, "EDGE_REGION_HEADER");
            assert_eq!(
                message,
                format!(
                    "must be a header name (letters, digits and !#$%&'*+-.^_`|~), got {}",
                    quote(bad)
                )
            );
        }
    }

    #[test]
    fn the_region_header_is_read_only_when_named() {
        let tokyo = CfLocation {
            continent: Some("AS".to_string()),
            country: Some("JP".to_string()),
            longitude: Some(139.7),
        };
        let regions = ("EDGE_REGIONS", "weur,apac");
        let unnamed = config(&[regions]).unwrap();
        let never = |name: &str| -> Option<String> { panic!("header {name} was read") };
        assert_eq!(unnamed.request_region(never, &tokyo), Region::Hint(Apac));

        let named = config(&[regions, ("EDGE_REGION_HEADER", "X-Region")]).unwrap();
        let header = |name: &str| (name == "x-region").then(|| "weur".to_string());
        assert_eq!(named.request_region(header, &tokyo), Region::Hint(Weur));
        assert_eq!(
            named.request_region(|_| None, &tokyo),
            Region::Hint(Apac),
            "no header on the request: the cf data decides"
        );
        assert_eq!(
            named.request_region(|_| Some("oc".to_string()), &tokyo),
            Region::Hint(Weur),
            "a region not in use: the first region"
        );
    }

    #[test]
    fn test_faults_name_edges_of_this_deployment() {
        let c = config(&[
            ("EDGE_REGIONS", "weur,apac"),
            ("EDGE_SHARDS", "2"),
            (
                "TEST_FAULTS",
                "edge-deaf:edge:weur:1, edge-deaf:edge:apac:0",
            ),
        ])
        .unwrap();
        assert!(c
            .test_faults
            .is_edge_deaf(EdgeName::new(Region::Hint(Weur), 1)));
        assert!(!c
            .test_faults
            .is_edge_deaf(EdgeName::new(Region::Hint(Weur), 0)));
        assert_eq!(c.test_faults.iter().count(), 2);
        let alone = config(&[("TEST_FAULTS", "edge-deaf:edge:default:0")]).unwrap();
        assert!(alone
            .test_faults
            .is_edge_deaf(EdgeName::new(Region::Default, 0)));

        let absent: [&[(&str, &str)]; 4] = [
            // Without EDGE_REGIONS the one Edge is edge:default:0.
            &[("TEST_FAULTS", "edge-deaf:edge:weur:0")],
            &[
                ("EDGE_REGIONS", "weur"),
                ("TEST_FAULTS", "edge-deaf:edge:default:0"),
            ],
            &[
                ("EDGE_REGIONS", "weur"),
                ("TEST_FAULTS", "edge-deaf:edge:enam:0"),
            ],
            &[
                ("EDGE_REGIONS", "weur"),
                ("EDGE_SHARDS", "2"),
                ("TEST_FAULTS", "edge-deaf:edge:weur:2"),
            ],
        ];
        for vars in absent {
            let fault = vars[vars.len() - 1].1;
            let (name, message) = error(config(vars));
            assert_eq!(name, "TEST_FAULTS");
            assert_eq!(
                message,
                format!(
                    "{fault} names no Edge of this deployment (see EDGE_REGIONS and EDGE_SHARDS)"
                )
            );
        }

        let (name, message) = error(config(&[(
            "TEST_FAULTS",
            "edge-slow:edge:default:0,hub-down",
        )]));
        assert_eq!(name, "TEST_FAULTS");
        assert_eq!(
            message,
            r#"unknown faults "edge-slow", "hub-down": the faults are edge-deaf:<edge name> and hub-reset"#
        );
        let (_, message) = error(config(&[("TEST_FAULTS", "edge-deaf:edge:default:00")]));
        assert_eq!(
            message,
            r#"edge name "edge:default:00": is spelled edge:default:0"#
        );
    }
}
