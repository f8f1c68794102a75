//! What a lookup in a backend answers, and the one Edge call that the
//! backends share (`/cache/read`).

use polycache_core::edge_api::route;
use polycache_core::hub_api::{ReadRequest, ReadResponse};
use polycache_core::types::EntityType;

use crate::ctx::Ctx;
use crate::edge_client;
use crate::error::ApiError;

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// The entry (possibly filled by another reader while this one waited).
    Hit(String),
    /// No entry: read the origin, then [`super::fill`].
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
    /// Granted by the region's Edge (memory, kv, cache).
    Edge,
    /// Taken in Redis with this token (upstash).
    Redis(String),
}

/// Why the cache could not be used.
#[derive(Debug)]
pub enum Failure {
    /// The Edge (or the Hub behind it) failed; it logs its own failures.
    Edge(ApiError),
    /// The backend failed: reported to the cache log.
    Backend(polycache_core::Error),
    /// The deployment is misconfigured: the request fails naming the setting.
    Config(ApiError),
}

/// What a backend asks of the Edge's `/cache/read`.
#[derive(Clone, Copy)]
pub(super) enum EdgeRead {
    /// Only the generation check (and bypass): the value lives elsewhere.
    GenerationOnly,
    /// The memory backend: the value itself, or the fill lease on a miss.
    ValueAndLease,
}

/// One `/cache/read` call for `path` of type `t` to the Edge of the
/// region that serves it.
pub(super) async fn edge_read(
    ctx: &Ctx,
    t: EntityType,
    path: &str,
    what: EdgeRead,
) -> Result<ReadResponse, Failure> {
    let full = matches!(what, EdgeRead::ValueAndLease);
    edge_client::call(
        ctx,
        edge_client::for_key(ctx, t, path),
        route::CACHE_READ,
        &ReadRequest {
            entity_type: t,
            path: path.to_owned(),
            with_value: full,
            lease: full,
        },
    )
    .await
    .map_err(Failure::Edge)
}
