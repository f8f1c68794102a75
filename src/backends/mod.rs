//! The cache backends as a read sees them: look an entry up, fill it after
//! reading the origin, or give the fill lease back.
//!
//! - [`memory`]: entries in the region's Edge; one Edge call answers the value, or a
//!   lease, or (after waiting for someone else's fill) the value.
//! - [`kv`]: the generation (and any bypass) from the Edge, the entry from
//!   Workers KV under the generation-stamped key; on a miss, a lease from
//!   the Edge.
//! - [`cache_api`] (`cache`): the same, with the entry in the Workers Cache
//!   API of the data centre.
//! - [`stamped`]: the reads and fills that `kv` and `cache` share, and the
//!   [`stamped::StampedStore`] each of them is.
//! - [`outcome`]: what a lookup answers ([`Lookup`], [`Ticket`], [`Lease`],
//!   [`Failure`]) and the Edge's `/cache/read` call the backends share.
//! - [`upstash`]: one script in Redis compares the entry's generation with
//!   the current one and answers the value or a miss with a lease; the
//!   Edge's bypass check runs beside it, not after it.
//!
//! Every backend follows the same order (docs/architecture.md,
//! "The guarantee"): the generation is taken before the origin is read and
//! the fill is stored under it, so a fill that raced a write is never read.
//! A failure of the backend is a [`Failure`], never a failed request: the
//! cache service reads the origin instead (`x-cache: bypass`).

pub mod cache_api;
pub mod kv;
pub mod memory;
pub mod outcome;
pub mod stamped;
pub mod upstash;

use polycache_core::config::Backend;
use polycache_core::types::EntityType;

use self::cache_api::CacheApi;
use self::kv::KvCache;
pub use self::outcome::{Failure, Lease, Lookup, Ticket};
use crate::ctx::Ctx;

/// Looks `path` of type `t` up in the configured backend.
pub async fn lookup(ctx: &Ctx, t: EntityType, path: &str) -> Result<Lookup, Failure> {
    match ctx.config.backend {
        Backend::Memory => memory::lookup(ctx, t, path).await,
        Backend::Kv => stamped::lookup::<KvCache>(ctx, t, path).await,
        Backend::Upstash => upstash::lookup(ctx, t, path).await,
        Backend::Cache => stamped::lookup::<CacheApi>(ctx, t, path).await,
    }
}

/// Stores `value` (read from the origin after `ticket` was taken) and hands
/// it to the readers waiting for it.
pub async fn fill(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    match ctx.config.backend {
        Backend::Memory => memory::fill(ctx, ticket, value).await,
        Backend::Kv => stamped::fill::<KvCache>(ctx, ticket, value).await,
        Backend::Upstash => upstash::fill(ctx, ticket, value).await,
        Backend::Cache => stamped::fill::<CacheApi>(ctx, ticket, value).await,
    }
}

/// Hands a 404 (an id with no row) to the readers waiting for it; only the
/// `memory` backend keeps it (in its Edge, for `NEGATIVE_CACHE_SECS`). In
/// KV, Redis or the Cache API every random id read would cost a write
/// (KV's free plan allows 1,000 a day) and hold storage, to spare a D1
/// read that costs about as much as the write.
pub async fn fill_negative(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    match ctx.config.backend {
        Backend::Memory => memory::fill_negative(ctx, ticket, value).await,
        Backend::Kv | Backend::Cache => {
            memory::write(ctx, ticket, value, memory::Keep::Nothing).await
        }
        // Its waiters poll Redis: with the lease given back, the next takes
        // it and reads the origin.
        Backend::Upstash => upstash::release(ctx, ticket).await,
    }
}

/// Gives the lease of `ticket` back (the origin read failed), so that the
/// readers waiting for it go on at once. Best effort: a lease not given back
/// expires.
pub async fn release(ctx: &Ctx, ticket: &Ticket) {
    let result = match (&ticket.lease, ctx.config.backend) {
        (Lease::None, _) => Ok(()),
        (_, Backend::Upstash) => upstash::release(ctx, ticket).await,
        _ => memory::release(ctx, ticket).await,
    };
    if let Err(e) = result {
        worker::console_error!("cache: giving a lease back failed: {e:?}");
    }
}
