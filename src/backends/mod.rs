//! The cache backends as a read sees them: look an entry up, fill it after
//! reading the origin, or give the fill lease back.
//!
//! - [`memory`]: entries in the Hub; one Hub call answers the value, or a
//!   lease, or (after waiting for someone else's fill) the value.
//! - [`kv`]: the generation (and any bypass) from the Hub, the entry from
//!   Workers KV under the generation-stamped key; on a miss, a lease from
//!   the Hub.
//! - [`upstash`]: one script in Redis compares the entry's generation with
//!   the current one and answers the value or a miss with a lease; the
//!   Hub's bypass check runs beside it, not after it.
//!
//! Every backend follows the same order (DESIGN.md, "Cache and
//! consistency"): the generation is taken before the origin is read and
//! the fill is stored under it, so a fill that raced a write is never read.
//! A failure of the backend is a [`Failure`], never a failed request: the
//! cache service reads the origin instead (`x-cache: bypass`).

pub mod kv;
pub mod memory;
pub mod upstash;

use polycache_core::config::Backend;
use polycache_core::hub_api::{ReadRequest, ReadResponse};
use polycache_core::types::EntityType;

use crate::error::ApiError;
use crate::hub_client;
use crate::router::Ctx;

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// The entry (possibly filled by another reader while this one waited).
    Hit(String),
    /// No entry: read the origin, then [`fill`].
    Miss(Ticket),
    /// The type has an invalidation the backend has not recorded yet: read
    /// the origin and do not cache.
    Bypass,
}

/// What a reader that missed needs to fill.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The type read.
    pub entity_type: EntityType,
    /// The path that names the entry.
    pub path: String,
    /// The generation taken before the origin is read.
    pub generation: u64,
    /// The fill lease held, if any.
    pub lease: Lease,
}

/// A fill lease, where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// None: another reader fills (it did not within the wait bound).
    None,
    /// Granted by the Hub (memory, kv).
    Hub,
    /// Taken in Redis with this token (upstash).
    Redis(String),
}

/// Why the cache could not be used.
#[derive(Debug)]
pub enum Failure {
    /// The Hub failed (it logs its own failures).
    Hub(ApiError),
    /// The backend failed: reported to the cache log.
    Backend(polycache_core::Error),
    /// The deployment is misconfigured: the request fails naming the setting.
    Config(ApiError),
}

/// What a backend asks of the Hub's `/cache/read`.
#[derive(Clone, Copy)]
enum HubRead {
    /// Only the generation check (and bypass): the value lives elsewhere.
    GenerationOnly,
    /// The memory backend: the value itself, or the fill lease on a miss.
    ValueAndLease,
}

/// One `/cache/read` call to the Hub for `path` of type `t`.
async fn hub_read(
    ctx: &Ctx,
    t: EntityType,
    path: &str,
    what: HubRead,
) -> Result<ReadResponse, Failure> {
    let full = matches!(what, HubRead::ValueAndLease);
    hub_client::call(
        &ctx.env,
        "/cache/read",
        &ReadRequest {
            entity_type: t,
            path: path.to_owned(),
            with_value: full,
            lease: full,
        },
    )
    .await
    .map_err(Failure::Hub)
}

/// Looks `path` of type `t` up in the configured backend.
pub async fn lookup(ctx: &Ctx, t: EntityType, path: &str) -> Result<Lookup, Failure> {
    match ctx.config.backend {
        Backend::Memory => memory::lookup(ctx, t, path).await,
        Backend::Kv => kv::lookup(ctx, t, path).await,
        Backend::Upstash => upstash::lookup(ctx, t, path).await,
    }
}

/// Stores `value` (read from the origin after `ticket` was taken) and hands
/// it to the readers waiting for it.
pub async fn fill(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    match ctx.config.backend {
        Backend::Memory => memory::fill(ctx, ticket, value).await,
        Backend::Kv => kv::fill(ctx, ticket, value).await,
        Backend::Upstash => upstash::fill(ctx, ticket, value).await,
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
