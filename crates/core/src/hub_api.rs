//! The messages between the Worker and the Hub Durable Object.
//!
//! The Worker talks to the Hub with `stub.fetch` requests whose bodies are
//! these types as JSON; keeping them here, in plain Rust, lets both sides
//! share one definition and lets the shapes be tested natively.

use serde::{Deserialize, Serialize};

use crate::event::Action;
use crate::generation::Generations;
use crate::types::EntityType;

/// The name every Worker uses to reach the one Hub of its deployment.
pub const HUB_NAME: &str = "hub";

/// Which received event this is, for exactly-once effect of mirror deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DedupeKey {
    /// The sending deployment's `INSTANCE_ID`.
    pub origin: String,
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

/// `POST /cache/read`: the current generation of a type and, for the memory
/// backend, the entry cached under it.
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
}

/// The answer to [`ReadRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadResponse {
    /// The type's current generation.
    pub generation: u64,
    /// The cached value, when asked for and present.
    pub value: Option<String>,
}

/// `POST /cache/write`: store a value read from the origin under the
/// generation the reader took before reading. The Hub drops it when the
/// generation has moved on since (it would never be read anyway).
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
}

/// `GET /status`: what an operator or a test wants to see of the Hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// Open streams (WebSockets from Workers relaying an SSE response).
    pub subscribers: usize,
    /// The id of the newest event.
    pub last_event_id: u64,
    /// Events kept for replay.
    pub event_log_len: usize,
    /// The generation of every type.
    pub generations: Generations,
    /// Entries in the memory backend.
    pub cache_entries: usize,
}

/// `POST /login/check` and `POST /login/failure`: the failed-login limiter
/// lives in the Hub so that every Worker isolate of the deployment shares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginAttempt {
    /// The client address.
    pub addr: String,
}

/// The answer to a login check: `Some(seconds)` when the address must wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginVerdict {
    /// Seconds to wait before trying again, when refused.
    pub retry_after: Option<u64>,
}
