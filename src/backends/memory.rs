//! The `memory` backend: entries, generations and fill leases all in the
//! region's Edge (the shard of the entry's key), so a read is one call to
//! an object near the visitor. Also the Edge's lease routes, which the
//! `kv` and `cache` backends share.

use polycache_core::edge_api::route;
use polycache_core::hub_api::{Ack, Fill, ReadResponse, ReleaseRequest, Stored, WriteRequest};
use polycache_core::types::EntityType;

use super::outcome::{edge_read, EdgeRead, Failure, Lease, Lookup, Ticket};
use crate::ctx::Ctx;
use crate::edge_client;

/// One Edge call: the value, or a miss with (or without) the lease. A
/// reader that finds another filling is held by the Edge until that fill, at most
/// [`polycache_core::lease::WAIT_MS`].
pub async fn lookup(ctx: &Ctx, t: EntityType, path: &str) -> Result<Lookup, Failure> {
    let read = edge_read(ctx, t, path, EdgeRead::ValueAndLease).await?;
    Ok(answer(t, path, read))
}

/// The [`Lookup`] of an Edge answer that carries a value, a lease, or neither.
pub fn answer(t: EntityType, path: &str, read: ReadResponse) -> Lookup {
    if read.bypass {
        return Lookup::Bypass;
    }
    if let Some(value) = read.value {
        return Lookup::Hit(value);
    }
    Lookup::Miss(Ticket {
        entity_type: t,
        path: path.to_owned(),
        generation: read.generation,
        lease: if read.fill == Fill::Granted {
            Lease::Edge
        } else {
            Lease::None
        },
    })
}

/// Stores the value in the Edge (if its generation is still current) and
/// hands it to the waiting readers.
pub async fn fill(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    write(ctx, ticket, value, Keep::Entry).await
}

/// Stores a 404 in the Edge's store of 404s for `NEGATIVE_CACHE_SECS` (not
/// at all when 0), and hands it to the waiting readers.
pub async fn fill_negative(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    write(ctx, ticket, value, Keep::Negative).await
}

/// What the Edge keeps of a value it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// An entry, for `CACHE_TTL_SECS`.
    Entry,
    /// A 404, apart from the entries, for `NEGATIVE_CACHE_SECS`.
    Negative,
    /// Nothing: the value only goes to the readers waiting for the lease
    /// (the kv and cache backends store entries themselves).
    Nothing,
}

/// `/cache/write`: the value to the readers waiting for the lease, and to
/// the Edge's store as `keep` says.
pub async fn write(ctx: &Ctx, ticket: &Ticket, value: &str, keep: Keep) -> Result<(), Failure> {
    let ttl_secs = match keep {
        Keep::Entry => ctx.config.cache_ttl_secs,
        Keep::Negative => ctx.config.negative_ttl_secs(),
        Keep::Nothing => 0,
    };
    let edge = edge_client::for_key(ctx, ticket.entity_type, &ticket.path);
    let _: Stored = edge_client::call(
        ctx,
        edge,
        route::CACHE_WRITE,
        &WriteRequest {
            entity_type: ticket.entity_type,
            generation: ticket.generation,
            path: ticket.path.clone(),
            value: value.to_owned(),
            ttl_secs,
            store: ttl_secs > 0,
            negative: keep == Keep::Negative,
        },
    )
    .await
    .map_err(Failure::Edge)?;
    Ok(())
}

/// Gives an Edge's lease back; its waiters read the origin themselves.
pub async fn release(ctx: &Ctx, ticket: &Ticket) -> Result<(), Failure> {
    let edge = edge_client::for_key(ctx, ticket.entity_type, &ticket.path);
    let _: Ack = edge_client::call(
        ctx,
        edge,
        route::CACHE_RELEASE,
        &ReleaseRequest {
            entity_type: ticket.entity_type,
            generation: ticket.generation,
            path: ticket.path.clone(),
        },
    )
    .await
    .map_err(Failure::Edge)?;
    Ok(())
}
