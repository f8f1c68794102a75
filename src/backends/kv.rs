//! The `kv` backend: entries in Workers KV (the `CACHE_KV` binding) under
//! generation-stamped keys, generations and fill leases in the region's
//! Edge.
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
//! holder writes a key, which also keeps us under KV's limit of one write
//! per key per second.

use polycache_core::error::BackendFailure;
use polycache_core::generation::cache_key;
use polycache_core::hub_api::{route, LeaseRequest, ReadResponse};
use polycache_core::store::{kv_ttl_secs, CacheStore};
use polycache_core::types::EntityType;
use worker::kv::KvStore;

use super::memory;
use super::outcome::{edge_read, EdgeRead, Failure, Lease, Lookup, Ticket};
use crate::ctx::Ctx;
use crate::edge_client;
use crate::error::ApiError;

/// The KV namespace binding of the cache (wrangler.toml).
pub const BINDING: &str = "CACHE_KV";

/// Workers KV as a [`CacheStore`].
pub struct KvCache(KvStore);

impl KvCache {
    /// The `CACHE_KV` namespace; a configuration error naming it when the
    /// binding is missing.
    pub fn open(ctx: &Ctx) -> Result<Self, ApiError> {
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

/// The generation from the Edge, then the entry from KV; on a miss, the
/// lease from the Edge (which may hold the reader until another's fill).
pub async fn lookup(ctx: &Ctx, t: EntityType, path: &str) -> Result<Lookup, Failure> {
    let store = KvCache::open(ctx).map_err(Failure::Config)?;
    let read = edge_read(ctx, t, path, EdgeRead::GenerationOnly).await?;
    if read.bypass {
        return Ok(Lookup::Bypass);
    }
    let key = kv_key(ctx, t, read.generation, path);
    if let Some(value) = store.get(&key).await.map_err(Failure::Backend)? {
        return Ok(Lookup::Hit(value));
    }
    let lease: ReadResponse = edge_client::call(
        ctx,
        edge_client::for_key(ctx, t, path),
        route::CACHE_LEASE,
        &LeaseRequest {
            entity_type: t,
            generation: read.generation,
            path: path.to_owned(),
        },
    )
    .await
    .map_err(Failure::Edge)?;
    // The lease's generation is the one the reader took, whatever the
    // answer says: the fill must go under the key looked up.
    let mut lookup = memory::answer(t, path, lease);
    if let Lookup::Miss(ticket) = &mut lookup {
        ticket.generation = read.generation;
    }
    Ok(lookup)
}

/// The lease holder writes KV; every filler then hands the value to the
/// readers waiting in the Edge.
pub async fn fill(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    let stored = if ticket.lease == Lease::Edge {
        let key = kv_key(ctx, ticket.entity_type, ticket.generation, &ticket.path);
        let store = KvCache::open(ctx).map_err(Failure::Config)?;
        store
            .put(&key, value, ctx.config.cache_ttl_secs)
            .await
            .map_err(Failure::Backend)
    } else {
        Ok(())
    };
    memory::write(ctx, ticket, value, false).await?;
    stored
}

/// The KV key of an entry: the region's name, then the generation-stamped
/// cache key (`weur/posts@7:/api/posts`). KV allows one write per key per
/// second; every region's Edge grants its own fill lease, so with one key
/// for all regions a key read in three regions at once would be written
/// three times and refused twice. With a key per region, each is written
/// once per generation, by its region's lease holder.
pub fn kv_key(ctx: &Ctx, t: EntityType, generation: u64, path: &str) -> String {
    format!("{}/{}", ctx.region.as_str(), cache_key(t, generation, path))
}
