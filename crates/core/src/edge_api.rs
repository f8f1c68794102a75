//! The internal routes of an Edge object and of the Hub's side of the edge
//! tier, with their typed requests and answers (the messages of the lease
//! protocol itself are in [`crate::edge_protocol`]).
//!
//! - The Worker calls an Edge's cache routes with the Hub's shapes
//!   ([`crate::hub_api::ReadRequest`] and the rest: the Edge answers them as
//!   the Hub did in the first version, from its replica), opens streams on
//!   it over RPC, and asks it for its [`EdgeReport`].
//! - The Hub pushes a [`PushBatch`] to an Edge, answered by a [`PushAck`].
//! - An Edge renews at the Hub ([`crate::edge_protocol::RenewRequest`]) and
//!   fetches older events for a resuming stream ([`EventsRequest`]).

use serde::{Deserialize, Serialize};

use crate::edge_protocol::EdgePush;
use crate::event::InvalidationEvent;
use crate::types::EntityType;

/// The paths of an Edge's internal routes (`https://edge/<path>`), and of
/// the Hub's routes for the Edges.
pub mod route {
    /// `POST`: [`crate::hub_api::ReadRequest`] → [`crate::hub_api::ReadResponse`].
    pub const CACHE_READ: &str = "/cache/read";
    /// `POST`: [`crate::hub_api::LeaseRequest`] → [`crate::hub_api::ReadResponse`].
    pub const CACHE_LEASE: &str = "/cache/lease";
    /// `POST`: [`crate::hub_api::WriteRequest`] → [`crate::hub_api::Stored`].
    pub const CACHE_WRITE: &str = "/cache/write";
    /// `POST`: [`crate::hub_api::ReleaseRequest`] → [`crate::hub_api::Ack`].
    pub const CACHE_RELEASE: &str = "/cache/release";
    /// `GET ?`[`crate::query::StreamQuery`]: the stream's body (over RPC).
    pub const STREAM: &str = "/stream";
    /// `POST ?id=<stream id>` → [`crate::hub_api::StreamClosed`].
    pub const STREAM_CLOSE: &str = "/stream/close";
    /// `POST`: a [`super::PushBatch`] from the Hub.
    pub const PUSH: &str = "/push";
    /// `GET`: the Edge's [`super::EdgeReport`].
    pub const REPORT: &str = "/report";
    /// `POST` at the Hub: an Edge registers or renews its lease.
    pub const HUB_RENEW: &str = "/edge/renew";
    /// `POST` at the Hub: the events after an id, for a resuming stream.
    pub const HUB_EVENTS: &str = "/edge/events";
}

/// The header that names the Edge a read went to, on every cached read
/// (`x-polycache-edge: edge:weur:0`), and the Edge's name on the Worker's
/// requests to it (so that it knows its name before the runtime tells it).
pub const EDGE_HEADER: &str = "x-polycache-edge";

/// The header in which the Worker tells an Edge whose stream it opens: the
/// client's address key ([`crate::rate_limit::address_key`]), for the limit
/// of streams per address.
pub const CLIENT_HEADER: &str = "x-polycache-client";

/// Hub to Edge: events pending for this Edge, in id order, and the types
/// whose reads bypass the cache now (an invalidation the upstash backend
/// has not recorded yet, [`crate::pending`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushBatch {
    /// The events, oldest first.
    pub pushes: Vec<EdgePush>,
    /// The Hub's bypass set when the batch was sent.
    #[serde(default)]
    pub bypass: Vec<EntityType>,
    /// The Hub's newest `upstash-sync-token` (upstash backend), passed on
    /// to readers so that their next Redis request sees the Hub's bumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    /// With several shards per region, the last event id the Edge may send
    /// to its streams: every write through it is acknowledged, so every
    /// shard a client's refetch may reach has applied it. `None`: forward
    /// each event as soon as it is applied (one shard per region, where the
    /// refetch reaches the Edge that applied it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_through: Option<u64>,
}

/// An Edge's answer to a [`PushBatch`]: the id it has applied through
/// (the acknowledgement of every push up to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushAck {
    /// The last event id the Edge has applied.
    pub applied_id: u64,
}

/// Edge to Hub: the events after `after`, for a stream that resumes from
/// further back than the Edge's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsRequest {
    /// The id the stream resumes after.
    pub after: u64,
}

/// The Hub's answer to an [`EventsRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage {
    /// The Hub's last event id.
    pub last_event_id: u64,
    /// Every event after the id asked for, oldest first; `None` when the
    /// Hub's log no longer holds them all (the stream gets `reset`).
    pub events: Option<Vec<InvalidationEvent>>,
}

/// What an Edge reports of itself (`GET https://edge/report`), for
/// `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeReport {
    /// Its name, `edge:<region>:<shard>`.
    pub name: String,
    /// Open streams.
    pub subscribers: usize,
    /// Entries of the memory backend it holds.
    pub cache_entries: usize,
    /// The last event id it applied.
    pub last_event_id: u64,
    /// Whether it holds a lease now (it serves from its replica).
    pub serving: bool,
    /// Chunks of events it wrote to its streams, summed over streams
    /// (heartbeats and each stream's opening aside): with coalescing, a
    /// burst of events is one chunk per stream.
    #[serde(default)]
    pub stream_chunks: u64,
    /// Events in those chunks, summed over streams.
    #[serde(default)]
    pub stream_events: u64,
}

/// The Hub's counters since it started, for `/api/status` (`hub`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubCounters {
    /// Every request the Hub served.
    pub requests: u64,
    /// Cache-read calls that reached the Hub (`/cache/read`, `/cache/lease`,
    /// `/cache/write`, `/cache/release`): none, since reads go through the
    /// Edges; the Hub refuses them and counts them, so that a deployment
    /// whose hits reach the Hub shows it.
    pub cache_reads: u64,
    /// Invalidations (writes) it took.
    pub writes: u64,
    /// Push requests it sent to Edges.
    pub pushes: u64,
    /// Lease registrations and renewals it answered.
    pub renewals: u64,
    /// The most push requests in flight at once (at most
    /// [`crate::push_queue::MAX_IN_FLIGHT`]).
    pub pushes_in_flight_peak: usize,
}
