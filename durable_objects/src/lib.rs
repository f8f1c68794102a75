//! polycache-hub: the Hub Durable Object, one per deployment.
//!
//! A Durable Object is a single-threaded actor with its own durable storage,
//! addressed by name: every Worker instance of the deployment that asks for
//! the Hub named `"hub"` reaches the same object. That is what makes it the
//! right place for what must be consistent across the deployment: the
//! generation counters, the event log and its ids, the set of open streams,
//! the memory cache backend, the failed-login limiter.
//!
//! Map of the crate:
//! - [`hub`]: the `Hub` object: request dispatch; its cache routes (memory entries, fill leases, generation bumps in
//!   Upstash and their retry) in `hub/cache.rs`.
//! - [`state`]: what the Hub remembers, loaded from and saved to storage.
//! - [`mirror`]: delivery of outbox entries to a mirror (login, POST, classify).
//! - [`streams`]: the SSE streams the Hub writes and the fan-out of events
//!   to them.
//! - [`storage`]: JSON values in Durable Object storage.
//! - [`fetch_transport`]: the Upstash client's HTTP over `worker::Fetch`,
//!   shared with the Worker.
//! - [`reply`]: JSON responses and errors of the Hub's internal routes.
//! - [`platform`]: the runtime's clock, randomness and settings, for this
//!   crate and the Worker.
//!
//! The Hub only answers the Worker (`https://hub/...` through its stub, and
//! `subscribe` over RPC for a stream); the
//! Worker does all validation of client input before calling it.

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
