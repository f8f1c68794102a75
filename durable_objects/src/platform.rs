//! The runtime's clock, randomness and settings, in one place for this crate
//! and the Worker (which re-exports them from `src/platform.rs`): every other
//! module takes plain values, so its logic runs natively in tests.

use polycache_core::retry::SplitMix64;
use worker::{js_sys, Date, Env};

/// Milliseconds since the Unix epoch, from the runtime's clock. (In a
/// Worker the clock advances only across I/O: a Spectre mitigation.)
pub fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// 53 random bits from the runtime (`Math.random`), for retry jitter and
/// lease tokens: unpredictable enough to spread retries and tell leases
/// apart, never used for secrets.
pub fn random_u53() -> u64 {
    // 2^53: every integer below it is exact in an f64.
    (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
}

/// A jitter generator seeded by the runtime.
pub fn rng() -> SplitMix64 {
    SplitMix64::new(random_u53())
}

/// The value of a var or a secret, `None` when unset. Secrets set with
/// `wrangler secret put` and vars of `wrangler.toml` (or `.dev.vars`) are
/// read alike.
pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
}
