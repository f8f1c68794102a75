//! The backends whose entries sit in a plain store under generation-stamped
//! keys while the generation, the bypass and the fill leases come from the
//! region's Edge: `kv` (Workers KV, [`super::kv`]) and `cache` (the Workers
//! Cache API, [`super::cache_api`]). They differ only in the store, so the
//! calls they make to the Edge are written once, here.
//!
//! A read: the generation (and any bypass) from the Edge's `/cache/read`,
//! then the entry from the store under `region/type@generation:path`; on a
//! miss, the fill lease from the Edge's `/cache/lease`, which may hold the
//! reader until another reader's fill. A fill: the lease holder puts the
//! entry in the store, then every filler hands the value to the readers
//! waiting in the Edge (`/cache/write` without storing it there). A lease is
//! given back as the memory backend's is ([`super::release`]).
//!
//! Keys are per region: every region's Edge grants its own fill lease, and
//! KV allows one write per key per second, so with one key for all regions
//! a key read in three regions at once would be written three times and
//! refused twice; with a key per region each is written once per
//! generation, by its region's lease holder. (The Cache API is per data
//! centre anyway.)
//!
//! Neither store has to be consistent: the generation comes from the Edge,
//! which holds it under a lease from the Hub and is never older than an
//! acknowledged write, and a key is only ever written with data read after its
//! generation was taken. A store that has not seen a fill (KV elsewhere, for
//! up to a minute; the Cache API in another data centre, or not at all on
//! `*.workers.dev`) answers a miss, never stale data.

use polycache_core::edge_api::route;
use polycache_core::generation::cache_key;
use polycache_core::hub_api::{LeaseRequest, ReadResponse};
use polycache_core::store::CacheStore;
use polycache_core::types::EntityType;

use super::memory::{self, Keep};
use super::outcome::{edge_read, EdgeRead, Failure, Lease, Lookup, Ticket};
use crate::ctx::Ctx;
use crate::edge_client;
use crate::error::ApiError;

/// A store of entries under generation-stamped keys.
pub trait StampedStore: CacheStore + Sized {
    /// This request's store; a configuration error naming the setting when
    /// the deployment cannot have one (a missing binding).
    fn open(ctx: &Ctx) -> Result<Self, ApiError>;
}

/// The generation from the Edge, then the entry from the store; on a miss,
/// the lease from the Edge (which may hold the reader until another's fill).
pub async fn lookup<S: StampedStore>(
    ctx: &Ctx,
    t: EntityType,
    path: &str,
) -> Result<Lookup, Failure> {
    let store = S::open(ctx).map_err(Failure::Config)?;
    let read = edge_read(ctx, t, path, EdgeRead::GenerationOnly).await?;
    if read.bypass {
        return Ok(Lookup::Bypass);
    }
    let key = stamped_key(ctx, t, read.generation, path);
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

/// The lease holder writes the store; every filler then hands the value to
/// the readers waiting in the Edge, even when the store refused it.
pub async fn fill<S: StampedStore>(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    let stored = if ticket.lease == Lease::Edge {
        let key = stamped_key(ctx, ticket.entity_type, ticket.generation, &ticket.path);
        let store = S::open(ctx).map_err(Failure::Config)?;
        store
            .put(&key, value, ctx.config.cache_ttl_secs)
            .await
            .map_err(Failure::Backend)
    } else {
        Ok(())
    };
    memory::write(ctx, ticket, value, Keep::Nothing).await?;
    stored
}

/// The store's key of an entry: the region, then the generation-stamped
/// cache key (`weur/posts@7:/api/posts`); see the module docs for why.
pub fn stamped_key(ctx: &Ctx, t: EntityType, generation: u64, path: &str) -> String {
    format!("{}/{}", ctx.region.as_str(), cache_key(t, generation, path))
}
