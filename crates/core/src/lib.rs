//! polycache-core: the logic of cache invalidation, with no dependency on
//! the Workers runtime, so that it is tested natively and fast.
//!
//! Map of the crate:
//! - [`error`]: the one error type.
//! - [`api`]: public API bodies read or written by more than one program.
//! - [`error_code`]: the API's error codes, their statuses and the error body.
//! - [`types`]: entity types (`posts`, `pages`, ...) and their aliases.
//! - [`graph`]: the dependency graph, its validation and invalidation closure.
//! - [`event`]: the invalidation event sent as `app-update`.
//! - [`sse`]: Server-Sent Events encoding.
//! - [`event_log`]: the bounded event log with replay after an id.
//! - [`generation`]: generation counters and generation-stamped cache keys.
//! - [`store`]: the `CacheStore` trait and the in-memory store.
//! - [`lease`]: fill leases, the stampede control of the Hub's backends.
//! - [`edge_protocol`]: edge leases, the protocol by which Edges serve from
//!   a replica of the generations: its messages, its rules, and (in its
//!   tests) the check of its invariant.
//! - [`edge_lease`]: the Hub's side of it: the registry of Edges, their
//!   leases, pushes and acknowledgements.
//! - [`replica`]: an Edge's side of it: its replica of the generations and
//!   its lease.
//! - [`edge_replay`]: what a stream resuming on an Edge is replayed, from
//!   the Edge's tail and the Hub's log.
//! - [`push_queue`]: the Hub's pushes to Edges, one request per Edge and at
//!   most six in flight.
//! - [`edge_api`]: the internal routes of an Edge and the Hub's edge routes,
//!   with their messages and the Hub's counters.
//! - [`pending`]: invalidations the cache backend has not recorded yet.
//! - [`upstash`]: a client of Upstash Redis's REST API over any transport.
//! - [`redis_cache`]: the cache's keys and Lua scripts in Redis (`upstash`).
//! - [`throttle`]: at most one log record per kind of failure per window.
//! - [`retry`]: the mirror retry policy (exponential backoff, full jitter).
//! - [`jwt`]: claims, roles, HS256 issue and verify.
//! - [`revocation`]: the `jti` of long-lived tokens and `REVOKED_TOKENS`.
//! - [`accounts`]: the accounts of `AUTH_USERS` and the service account.
//! - [`rate_limit`]: the failed-login limiter.
//! - [`password`]: PBKDF2-SHA256 password hash strings in Django's format.
//! - [`log`]: pino-format log records and their bounded ring.
//! - [`outbox`]: the mirror outbox: ordered delivery, retries, parking,
//!   the mirrors' service tokens.
//! - [`receipts`]: the deliveries a receiving mirror has applied.
//! - [`fnv`]: FNV-1a, the stable hash of names that outlive a process.
//! - [`region`]: the nine location hints, the regions in use, and the
//!   region that serves a request (from its `cf` data or the test header).
//! - [`edge_name`]: Edge names (`edge:<region>:<shard>`) and the shard of a
//!   read or a stream.
//! - [`fault`]: the faults `TEST_FAULTS` injects, for tests only.
//! - [`config`]: settings parsed from the Worker's vars.
//! - [`origin`]: origin mode: the route table, cache keys of a proxied
//!   API, what of its answers may be stored.
//! - [`hub_api`]: the messages between the Worker and the Hub.
//! - [`query`]: the queries of `/api/cache/logs` and `/api/stream`, parsed once.
//! - [`hub_state`]: the Hub's durable state, every change to it and the
//!   storage writes that make the change durable, restored from storage.
//!
//! A write flows through them like this: the Worker names a type
//! ([`types`]), the Hub bumps the generations of its closure ([`graph`],
//! [`generation`]), appends an [`event`] to the [`event_log`], and sends it,
//! encoded by [`sse`], to every stream.

pub mod accounts;
pub mod api;
pub mod config;
pub mod edge_api;
pub mod edge_lease;
pub mod edge_name;
pub mod edge_protocol;
pub mod edge_replay;
pub mod error;
pub mod error_code;
pub mod event;
pub mod event_log;
pub mod fault;
pub mod fnv;
pub mod generation;
pub mod graph;
pub mod hub_api;
pub mod hub_state;
pub mod jwt;
pub mod lease;
pub mod log;
pub mod origin;
pub mod outbox;
pub mod password;
pub mod pending;
pub mod push_queue;
pub mod query;
pub mod rate_limit;
pub mod receipts;
pub mod redis_cache;
pub mod region;
pub mod replica;
pub mod retry;
pub mod revocation;
pub mod sse;
pub mod store;
pub mod throttle;
pub mod types;
pub mod upstash;

pub use error::{Error, Result};
