//! The messages between the Worker and the Hub Durable Object.
//!
//! The Worker talks to the Hub with `stub.fetch` requests whose bodies are
//! these types as JSON; keeping them here, in plain Rust, lets both sides
//! share one definition and lets the shapes be tested natively.

use serde::{Deserialize, Serialize};

use crate::edge_api::HubCounters;
use crate::edge_lease::EdgeStatus;

use crate::event::Action;
use crate::generation::Generations;
use crate::log::LogRecord;
use crate::rate_limit::Reservation;
use crate::types::EntityType;

/// The name every Worker uses to reach the one Hub of its deployment.
pub const HUB_NAME: &str = "hub";

/// The Hub's routes, named once for the Worker's calls and the Hub's
/// dispatch. Each route's request and answer are the types below. (The
/// cache reads and streams, whose shapes are also below, are the Edges'
/// routes: [`crate::edge_api::route`].)
pub mod route {
    /// `POST`: [`super::InvalidateRequest`] → [`super::InvalidateResponse`].
    pub const INVALIDATE: &str = "/invalidate";
    /// `POST`: [`super::InvalidateBatch`] → [`super::InvalidateBatchResponse`]:
    /// several invalidations applied in order, in one go.
    pub const INVALIDATE_BATCH: &str = "/invalidate/batch";
    /// `POST`: [`super::FailureReport`] → [`super::Ack`].
    pub const CACHE_FAILURE: &str = "/cache/failure";
    /// `GET` → [`super::StatusResponse`].
    pub const STATUS: &str = "/status";
    /// `POST`: [`super::LoginAttempt`] → [`super::LoginVerdict`]: counts
    /// the attempt before its password is checked, or refuses it.
    pub const LOGIN_RESERVE: &str = "/login/reserve";
    /// `POST`: [`super::LoginRelease`] → [`super::Ack`]: the login
    /// succeeded, its attempt is given back.
    pub const LOGIN_RELEASE: &str = "/login/release";
    /// `POST`: [`super::LoginAttempt`] → [`super::Ack`]: the login failed
    /// (already counted by its reservation); for the cache log.
    pub const LOGIN_FAILED: &str = "/login/failed";
    /// `GET` → [`super::MirrorsResponse`].
    pub const MIRRORS: &str = "/mirrors";
    /// `POST` → [`super::Requeued`].
    pub const MIRRORS_RETRY: &str = "/mirrors/retry";
    /// `POST` → [`super::Ack`], then the Hub resets itself (only with the
    /// test fault `hub-reset`, [`crate::fault`]).
    pub const RESET: &str = "/test/reset";
    /// `GET ?`[`crate::query::LogsQuery`] → [`super::LogsPage`].
    pub const LOGS: &str = "/logs";
}

/// Which received event this is, for exactly-once effect of mirror deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DedupeKey {
    /// The sending deployment's `INSTANCE_ID`.
    pub origin: String,
    /// The sending Hub's epoch: its event ids start over when its state is
    /// wiped, and the epoch with them. Empty for an older sender.
    #[serde(default)]
    pub epoch: String,
    /// The event id on the sending deployment.
    pub event_id: u64,
}

/// `POST /invalidate`: bump the generations of `types`, log the event, send
/// it to every stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidateRequest {
    /// The type as the caller named it (`post`).
    pub type_name: String,
    /// The canonical closure to invalidate.
    pub types: Vec<EntityType>,
    /// The entity concerned, if one.
    pub entity_id: Option<String>,
    /// What happened to it.
    pub action: Action,
    /// The deployment where the change was made.
    pub origin: String,
    /// Whether to mirror this invalidation to `CACHE_MIRRORS`.
    pub mirror: bool,
    /// Set for deliveries from a mirror: a repeat is acknowledged without a second event.
    pub dedupe: Option<DedupeKey>,
}

/// The answer to [`InvalidateRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidateResponse {
    /// The id of the event (of the first delivery, for a duplicate).
    pub event_id: u64,
    /// The canonical closure invalidated.
    pub types: Vec<EntityType>,
    /// True when this was a repeat of an already applied delivery.
    pub duplicate: bool,
}

/// `POST /invalidate/batch`: [`InvalidateRequest`]s applied in order with
/// one storage write and one wait for the Edges, whose pushes carry them
/// all (a mirror catching up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidateBatch {
    /// The invalidations, in the order they are applied.
    pub requests: Vec<InvalidateRequest>,
}

/// The answer to [`InvalidateBatch`]: one per request, in their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidateBatchResponse {
    /// What each request alone would have answered.
    pub results: Vec<InvalidateResponse>,
}

/// `POST /cache/read`: the current generation of a type, whether reads of
/// it must bypass the cache, and, for the memory backend, the entry cached
/// under it (waiting for another reader's fill when asked to, see
/// [`crate::lease`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadRequest {
    /// The type whose generation stamps the entry.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// The request path (with query) that names the entry.
    pub path: String,
    /// Whether to look the entry up too (memory backend) or only the generation.
    pub with_value: bool,
    /// On a miss, take the fill lease or wait for the holder's fill.
    #[serde(default)]
    pub lease: bool,
}

/// Who reads the origin after a miss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fill {
    /// No lease was asked for (or there was a value).
    #[default]
    None,
    /// The caller holds the lease: read the origin, then write or release.
    Granted,
    /// Read the origin without the lease: its holder did not fill within
    /// the wait bound, gave it back, or the generation moved.
    Unleased,
}

/// The answer to [`ReadRequest`] and [`LeaseRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadResponse {
    /// The type's current generation.
    pub generation: u64,
    /// The cached value, when asked for and present (or filled while waiting).
    pub value: Option<String>,
    /// The type has an invalidation the backend has not recorded yet: read
    /// the origin and do not cache ([`crate::pending`]).
    #[serde(default)]
    pub bypass: bool,
    /// Who fills, after a miss with a lease asked for.
    #[serde(default)]
    pub fill: Fill,
    /// The Hub's newest `upstash-sync-token` (upstash backend), so that a
    /// Worker's next request also waits for the Hub's bumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
}

/// `POST /cache/lease` (kv and cache backends, after a miss in their store):
/// take the fill lease of the entry at `generation`, or wait for its
/// holder's fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRequest {
    /// The type whose generation stamps the entry.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// The generation the reader took.
    pub generation: u64,
    /// The request path that names the entry.
    pub path: String,
}

/// `POST /cache/write`: store a value read from the origin under the
/// generation the reader took before reading, and hand it to the readers
/// waiting for it. The Hub drops it when the generation has moved on since
/// (it would never be read anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteRequest {
    /// The type whose generation stamps the entry.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// The generation taken before the origin was read.
    pub generation: u64,
    /// The request path that names the entry.
    pub path: String,
    /// The value (JSON text).
    pub value: String,
    /// Lifetime of the entry.
    pub ttl_secs: u64,
    /// Whether the Hub stores it (memory backend) or only hands it to the
    /// waiters (kv and cache backends: the value is in their store already).
    #[serde(default = "yes")]
    pub store: bool,
    /// Whether the value is a 404 (an id with no row): the Edge keeps
    /// those apart from the other entries, in a small store of their own,
    /// so that a flood of reads of random ids never evicts a hot entry.
    #[serde(default)]
    pub negative: bool,
}

fn yes() -> bool {
    true
}

/// `POST /cache/release`: the holder of a fill lease could not fill (the
/// origin read failed); its waiters read the origin themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRequest {
    /// The type whose generation stamps the entry.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// The generation of the lease.
    pub generation: u64,
    /// The request path that names the entry.
    pub path: String,
}

/// `POST /cache/failure`: a Worker could not use the cache backend; the Hub
/// puts it in the cache log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureReport {
    /// The backend (`kv`, `upstash`, `cache`).
    pub backend: String,
    /// What was being done (`read`, `fill`).
    pub op: String,
    /// The failure kind ([`crate::error::BackendFailure::as_str`]).
    pub kind: String,
    /// What happened (never credentials).
    pub message: String,
    /// The type read.
    #[serde(rename = "type")]
    pub entity_type: EntityType,
    /// Failures of the same kind left out of the log since the last report.
    #[serde(default)]
    pub suppressed: u64,
}

/// `GET /status`: what an operator or a test wants to see of the Hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// Open streams: 0 from the Hub, which has none; the Worker answers
    /// the sum over the Edges.
    pub subscribers: usize,
    /// The id of the newest event.
    pub last_event_id: u64,
    /// Events kept for replay.
    pub event_log_len: usize,
    /// The generation of every type.
    pub generations: Generations,
    /// Entries in the memory backend: 0 from the Hub; the Worker answers
    /// the sum over the Edges.
    pub cache_entries: usize,
    /// Chunks of events written to streams, summed over streams and Edges:
    /// 0 from the Hub; the Worker answers the sum over the Edges.
    #[serde(default)]
    pub stream_chunks: u64,
    /// Events in those chunks, likewise.
    #[serde(default)]
    pub stream_events: u64,
    /// Types with an invalidation the backend has not recorded yet; their
    /// reads bypass the cache until it is ([`crate::pending`]).
    #[serde(default)]
    pub bypass_types: Vec<EntityType>,
    /// The Hub's counters since it started.
    #[serde(default)]
    pub hub: HubCounters,
    /// Every registered Edge, as the registry knows it; the Worker fills
    /// in what each Edge reports of itself.
    #[serde(default)]
    pub edges: Vec<EdgeStatus>,
}

/// `POST /login/reserve` and `POST /login/failed`: the failed-login limiter
/// lives in the Hub so that every Worker isolate of the deployment shares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginAttempt {
    /// The client address, as the request says it (the Hub keys it).
    pub addr: String,
    /// The email tried, as typed (the Hub keys it).
    pub email: String,
}

/// The answer to `POST /login/reserve`: a reservation, or the seconds to
/// wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginVerdict {
    /// Seconds to wait before trying again, when refused.
    pub retry_after: Option<u64>,
    /// The attempt counted, when allowed: sent back if the login succeeds.
    pub reservation: Option<Reservation>,
}

/// `POST /login/release`: the attempt of `reservation` succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRelease {
    /// The attempt, as reserved.
    #[serde(flatten)]
    pub attempt: LoginAttempt,
    /// What the reservation answered.
    pub reservation: Reservation,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cache_messages_have_defaults_for_fields_added_later() {
        // A Worker and a Hub of one deployment are one build, but a Hub
        // evicted mid-deploy may briefly answer an older Worker: fields added
        // with the backends must not be required.
        let read: ReadRequest =
            serde_json::from_str(r#"{"type":"posts","path":"/api/posts","withValue":true}"#)
                .unwrap();
        assert!(!read.lease);
        let answer: ReadResponse =
            serde_json::from_str(r#"{"generation":3,"value":null}"#).unwrap();
        assert_eq!(
            (answer.bypass, answer.fill, answer.sync_token),
            (false, Fill::None, None)
        );
        let write: WriteRequest = serde_json::from_str(
            r#"{"type":"feed","generation":1,"path":"/api/feed","value":"{}","ttlSecs":60}"#,
        )
        .unwrap();
        assert!(write.store, "the memory backend stores by default");
    }

    #[test]
    fn fill_and_status_shapes() {
        assert_eq!(
            serde_json::to_string(&Fill::Unleased).unwrap(),
            r#""unleased""#
        );
        let status: StatusResponse = serde_json::from_str(
            r#"{"subscribers":0,"lastEventId":0,"eventLogLen":0,"generations":{},"cacheEntries":0}"#,
        )
        .unwrap();
        assert!(status.bypass_types.is_empty());
    }
}

/// `GET /api/cache/logs` (the Hub's `/logs`): a page of the cache log, read
/// by the CLI's `logs`. Records keep pino's key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsPage {
    /// The records after the query's `since`, oldest first.
    pub records: Vec<LogRecord>,
    /// The seq of the newest record the Hub has (0 before the first).
    pub last_seq: u64,
}

/// The answer of a route that only acknowledges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {}

/// The answer to a [`WriteRequest`]: whether the value was kept (a write
/// under a generation an invalidation has passed is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// Whether the entry is now cached.
    pub stored: bool,
}

/// The answer of `/stream/close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamClosed {
    /// False when the stream was already gone.
    pub closed: bool,
}

/// The answer of `POST /api/cache/mirrors/retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requeued {
    /// How many parked entries went back into their queues.
    pub requeued: usize,
}

/// `GET /api/cache/mirrors` (the Hub's `/mirrors`, with a
/// [`crate::query::MirrorsQuery`]): every mirror's outbox, read by the
/// CLI's `mirrors`. The parked entries are paged: one page holds the
/// `limit` oldest parked entries of all mirrors after the `cursor`, each
/// under its mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorsResponse {
    /// The configured mirrors in `CACHE_MIRRORS` order, then any that are no
    /// longer configured but still have entries (until the Hub drops them).
    pub mirrors: Vec<MirrorStatus>,
    /// The `cursor` of the next page of parked entries; none on the last.
    #[serde(default)]
    pub next_cursor: Option<u64>,
}

/// One mirror's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorStatus {
    /// The mirror's base URL.
    pub url: String,
    /// Whether `CACHE_MIRRORS` still names it.
    pub configured: bool,
    /// Entries waiting.
    pub pending: usize,
    /// How long the oldest waiting entry has waited, in ms.
    pub oldest_pending_age_ms: Option<u64>,
    /// When the next attempt is due (ms since the epoch).
    pub next_attempt_at: Option<u64>,
    /// Entries acknowledged.
    pub delivered: u64,
    /// When the last delivery succeeded (ms since the epoch).
    pub last_success: Option<u64>,
    /// The last error of any attempt.
    pub last_error: Option<String>,
    /// Entries given up on, oldest first: this page's.
    pub parked: Vec<ParkedEntry>,
    /// How many entries are parked in all.
    #[serde(default)]
    pub parked_count: usize,
}

/// An outbox entry given up on, until an operator retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParkedEntry {
    /// Its place in the outbox, increasing across mirrors: what a page's
    /// `cursor` counts.
    #[serde(default)]
    pub seq: u64,
    /// The event id on this deployment.
    pub event_id: u64,
    /// The type as the write named it.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The entity, if one.
    pub id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// The error of the last attempt.
    pub last_error: Option<String>,
    /// When the entry was written (ms since the epoch).
    pub created_at: u64,
}
