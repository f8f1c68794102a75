//! polycache-hub: the Durable Objects of polycache: the Hub, one per
//! deployment, and the Edges, one per region and shard.
//!
//! A Durable Object is a single-threaded actor with its own durable storage,
//! addressed by name: every Worker instance of the deployment that asks for
//! the Hub named `"hub"` reaches the same object. That is what makes it the
//! right place for what must be consistent across the deployment: the
//! generation counters, the event log and its ids, the registry of Edges,
//! the mirror outbox, the failed-login limiter. The Edges
//! (`edge:<region>:<shard>`, created near their region) serve what
//! visitors touch, from a replica of the generations held under a lease
//! from the Hub: cached reads, the memory backend's entries and fill
//! leases, the SSE streams.
//!
//! Map of the crate:
//! - [`hub`]: the `Hub` object: request dispatch; generation bumps in
//!   Upstash and their retry in `hub/cache.rs`; renewals, pushes to the
//!   Edges and the wait for their acknowledgements in `hub/edges.rs`.
//! - [`edge`]: the `Edge` object: its replica and lease, pushes, renewal by
//!   alarm; its cache routes in `edge/cache.rs`, its streams in
//!   `edge/stream.rs`.
//! - [`calls`]: JSON calls from one object to another, and their stubs.
//! - [`state`]: what the Hub remembers, loaded from and saved to storage.
//! - [`mirror`]: delivery of outbox entries to a mirror (login, POST, classify).
//! - [`streams`]: the SSE streams an object writes (the Edges) and the
//!   fan-out of events to them.
//! - [`storage`]: JSON values in Durable Object storage.
//! - [`fetch_transport`]: the Upstash client's HTTP over `worker::Fetch`,
//!   shared with the Worker.
//! - [`reply`]: JSON responses and errors of the Hub's internal routes.
//! - [`platform`]: the runtime's clock, randomness and settings, for this
//!   crate and the Worker.
//!
//! The objects answer only the Worker and each other (`https://hub/...` and
//! `https://edge/...` through their stubs, and `subscribe` over RPC for a
//! stream); the Worker does all validation of client input before calling
//! them.

// `#[durable_object]` generates undocumented wasm-bindgen glue; the logic
// of the Hub lives in the other modules, where docs are required.
pub mod calls;
#[allow(missing_docs)]
pub mod edge;
pub mod fetch_transport;
#[allow(missing_docs)]
pub mod hub;
pub mod mirror;
pub mod platform;
pub mod reply;
pub mod state;
pub mod storage;
pub mod streams;

pub use edge::Edge;
pub use hub::Hub;
