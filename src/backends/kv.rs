//! The `kv` backend: entries in Workers KV (the `CACHE_KV` binding) under
//! generation-stamped keys, generations and fill leases in the region's
//! Edge. This module is the store; the reads and fills, shared with the `cache`
//! backend, are [`super::stamped`]'s.
//!
//! What KV's eventual consistency (a write reaches other locations within
//! about 60 s) means here: the generation comes from the Edge, which holds
//! it under a lease from the Hub and is never older than an acknowledged
//! write, and a key `weur/posts@7:/api/posts` is only ever written
//! with data read after generation 7 was taken. So a reader elsewhere can
//! never get data older than an acknowledged write; it can get a miss for a
//! key already filled in another location (KV also caches "not found" at the
//! edge for up to 60 s), and then reads the origin itself. Propagation costs
//! hit rate, not freshness. The README says the same for operators.
//!
//! KV refuses an `expirationTtl` under 60 s, so entries live at least that
//! long ([`kv_ttl_secs`]); freshness never depends on TTLs. Only the lease
//! holder of a region writes a key, and keys are per region, which keeps
//! us under KV's limit of one write per key per second.

use polycache_core::error::BackendFailure;
use polycache_core::store::{kv_ttl_secs, CacheStore};
use worker::kv::KvStore;

use super::stamped::StampedStore;
use crate::ctx::Ctx;
use crate::error::ApiError;

/// The KV namespace binding of the cache (wrangler.toml).
pub const BINDING: &str = "CACHE_KV";

/// Workers KV as a [`CacheStore`].
pub struct KvCache(KvStore);

impl StampedStore for KvCache {
    /// The `CACHE_KV` namespace; a configuration error naming it when the
    /// binding is missing.
    fn open(ctx: &Ctx) -> Result<Self, ApiError> {
        ctx.env.kv(BINDING).map(KvCache).map_err(|_| {
            ApiError::Config(format!(
                "CACHE_BACKEND is kv, but the KV binding {BINDING} is missing \
                 (wrangler.toml, [[kv_namespaces]])"
            ))
        })
    }
}

impl CacheStore for KvCache {
    async fn get(&self, key: &str) -> polycache_core::Result<Option<String>> {
        self.0.get(key).text().await.map_err(|e| failure(&e))
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> polycache_core::Result<()> {
        self.0
            .put(key, value)
            .map_err(|e| failure(&e))?
            .expiration_ttl(kv_ttl_secs(ttl_secs))
            .execute()
            .await
            .map_err(|e| failure(&e))
    }
}

/// A KV error as a backend failure; KV says "429" when a key is written
/// more than once a second.
fn failure(e: &worker::kv::KvError) -> polycache_core::Error {
    let message = e.to_string();
    let kind = if message.contains("429") || message.contains("Too Many") {
        BackendFailure::RateLimited
    } else {
        BackendFailure::Unreachable
    };
    polycache_core::Error::backend(kind, format!("KV: {message}"))
}
