//! The runtime's clock, randomness and settings: the Hub crate's
//! `platform` module, shared so that the Worker and the Hub read them one way.

pub use polycache_hub::platform::{now_ms, random_u53, rng, var};
