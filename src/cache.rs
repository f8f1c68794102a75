//! The cache service: reads through the cache, invalidation by generation.
//!
//! A reader takes the generation of the type *before* it reads the origin and
//! stores its result under that generation, so a read that raced a write can
//! never re-fill the cache with the old row: the write bumped the generation,
//! and the entry it stored is under a key nobody asks for any more (the job
//! leases do in memcache). An invalidation bumps the generations of the whole
//! closure in one step in the Hub and is acknowledged only after that, which
//! gives DESIGN.md's invariant: once acknowledged, and before any SSE event
//! for it, no read returns data cached before the write.

use std::future::Future;

use polycache_core::event::Action;
use polycache_core::hub_api::{
    DedupeKey, InvalidateRequest, InvalidateResponse, ReadRequest, ReadResponse, WriteRequest,
};
use polycache_core::types::EntityType;
use worker::Response;

use crate::error::ApiResult;
use crate::hub_client;
use crate::router::{json_text_response, Ctx};

/// Whether a read was served from the cache; sent as `x-cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from the cache.
    Hit,
    /// Read from the origin (and stored).
    Miss,
    /// Read from the origin without the cache (the cache was unavailable).
    Bypass,
}

impl CacheStatus {
    /// The `x-cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
        }
    }
}

/// Reads `path` of type `t` through the cache; `load` reads the origin and
/// returns JSON text. Returns the text and whether it was a hit.
pub async fn read_through<F, Fut>(
    ctx: &Ctx,
    t: EntityType,
    path: &str,
    load: F,
) -> ApiResult<(String, CacheStatus)>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<String>>,
{
    let read: ReadResponse = hub_client::call(
        &ctx.env,
        "/cache/read",
        &ReadRequest {
            entity_type: t,
            path: path.to_owned(),
            with_value: true,
        },
    )
    .await?;
    if let Some(value) = read.value {
        return Ok((value, CacheStatus::Hit));
    }
    let value = load().await?;
    let write = WriteRequest {
        entity_type: t,
        generation: read.generation,
        path: path.to_owned(),
        value: value.clone(),
        ttl_secs: ctx.config.cache_ttl_secs,
    };
    let _: serde_json::Value = hub_client::call(&ctx.env, "/cache/write", &write).await?;
    Ok((value, CacheStatus::Miss))
}

/// A JSON response of a cached read, with its `x-cache` header.
pub fn cached_response(status: u16, body: String, cache: CacheStatus) -> ApiResult<Response> {
    let resp = json_text_response(status, body)?;
    resp.headers().set("x-cache", cache.as_str())?;
    Ok(resp)
}

/// What to invalidate: a type as named by the caller, and what happened.
#[derive(Debug, Clone)]
pub struct Invalidation {
    /// The type as the caller named it (`post` or `posts`).
    pub type_name: String,
    /// The canonical type.
    pub entity_type: EntityType,
    /// The entity concerned, if one.
    pub entity_id: Option<String>,
    /// What happened.
    pub action: Action,
    /// Where the change was made (this instance, or a mirror's origin).
    pub origin: String,
    /// Whether to mirror it.
    pub mirror: bool,
    /// Set for deliveries from a mirror.
    pub dedupe: Option<DedupeKey>,
}

impl Invalidation {
    /// A local change to an entity of this deployment, to be mirrored.
    pub fn local(
        ctx: &Ctx,
        type_name: &str,
        t: EntityType,
        entity_id: Option<String>,
        action: Action,
    ) -> Self {
        Self {
            type_name: type_name.to_owned(),
            entity_type: t,
            entity_id,
            action,
            origin: ctx.config.instance_id.clone(),
            mirror: true,
            dedupe: None,
        }
    }
}

/// Invalidates the closure of the type and notifies every stream; returns
/// once the generations are bumped, with the event id.
pub async fn invalidate(ctx: &Ctx, inv: Invalidation) -> ApiResult<InvalidateResponse> {
    let types = ctx.config.graph.closure(inv.entity_type);
    hub_client::call(
        &ctx.env,
        "/invalidate",
        &InvalidateRequest {
            type_name: inv.type_name,
            types,
            entity_id: inv.entity_id,
            action: inv.action,
            origin: inv.origin,
            mirror: inv.mirror,
            dedupe: inv.dedupe,
        },
    )
    .await
}

/// Sets `x-invalidation-event` on a write's response.
pub fn with_event_header(resp: Response, event_id: u64) -> ApiResult<Response> {
    resp.headers()
        .set("x-invalidation-event", &event_id.to_string())?;
    Ok(resp)
}
