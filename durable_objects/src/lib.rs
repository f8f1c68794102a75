//! polycache-hub: the Hub Durable Object, one per deployment.
//!
//! A Durable Object is a single-threaded actor with its own durable storage,
//! addressed by name: every Worker instance of the deployment that asks for
//! the Hub named `"hub"` reaches the same object. That is what makes it the
//! right place for what must be consistent across the deployment: the
//! generation counters, the event log and its ids, the set of open streams,
//! the mirror outbox.
//!
//! Map of the crate:
//! - [`hub`]: the `Hub` object and its request dispatch.

// `#[durable_object]` generates undocumented wasm-bindgen glue; the logic
// of the Hub lives in the other modules, where docs are required.
#[allow(missing_docs)]
pub mod hub;

pub use hub::Hub;
