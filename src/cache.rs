//! The cache service: reads through the cache, invalidation by generation.
//!
//! A reader takes the generation of the type *before* it reads the origin and
//! stores its result under that generation, so a read that raced a write can
//! never re-fill the cache with the old row: the write bumped the generation,
//! and the entry it stored is under a key nobody asks for any more (the job
//! leases do in memcache). An invalidation bumps the generations of the whole
//! closure in one step in the Hub (and, for upstash, in Redis first), which
//! pushes them to every Edge that serves reads, and is acknowledged only
//! once each has applied them (or its lease has run out), which gives the
//! guarantee (docs/architecture.md): once acknowledged, no read anywhere
//! returns data cached before the write.
//!
//! Where entries live is the backend's business ([`crate::backends`]); this
//! module decides what a read answers:
//! - `x-cache: hit`: from the cache, possibly after waiting for another
//!   reader's fill (stampede control: one reader per key and generation
//!   reads the origin, see [`polycache_core::lease`]);
//! - `miss`: this request read the origin and filled the cache;
//! - `bypass`: this request read the origin without the cache, because the
//!   backend failed (the failure goes to the cache log) or the type has an
//!   invalidation the backend has not recorded yet.
//!
//! A backend failure never fails a read; a misconfigured backend does, with
//! a message naming the setting.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use polycache_core::edge_api::EDGE_HEADER;
use polycache_core::edge_name::EdgeName;
use polycache_core::event::Action;
use polycache_core::hub_api::{
    route, DedupeKey, FailureReport, InvalidateBatch, InvalidateBatchResponse, InvalidateRequest,
    InvalidateResponse,
};
use polycache_core::throttle::{Throttle, WINDOW_MS};
use polycache_core::types::EntityType;
use worker::{console_error, Delay, Response};

use crate::backends::{self, Failure, Lookup};
use crate::ctx::Ctx;
use crate::edge_client;
use crate::error::ApiResult;
use crate::hub_client;
use crate::platform;
use crate::response::json_text_response;

/// What an origin read answers for an id with no row (the JSON `null`):
/// a 404, which only the memory backend keeps, and briefly
/// ([`backends::fill_negative`]).
pub const ABSENT: &str = "null";

/// Origin reads made by this isolate through [`read_through`], for
/// `GET /api/status` (a test counts them under a stampede).
static ORIGIN_READS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Backend failures reported to the cache log by this isolate, at most
    /// one per kind per window (see [`polycache_core::throttle`]).
    static REPORTS: RefCell<Throttle> = RefCell::new(Throttle::new(WINDOW_MS));
}

/// How many times this isolate has read the origin for a cached read.
pub fn origin_reads() -> u64 {
    ORIGIN_READS.load(Ordering::Relaxed)
}

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

/// How a cached read was served: from the cache or not, and by which Edge.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    /// Sent as `x-cache`.
    pub cache: CacheStatus,
    /// The Edge that served it (sent as `x-polycache-edge`).
    pub edge: EdgeName,
}

/// What an origin read gives [`read_through_with`]: what to keep, and how.
#[derive(Debug)]
pub enum Loaded {
    /// Stored for every reader of the key and generation.
    Store(String),
    /// An absent entity (a 404): kept only by the memory backend, and
    /// briefly ([`backends::fill_negative`]).
    Negative(String),
    /// For this reader alone (origin mode: an answer marked `no-store`, one
    /// that sets a cookie, ...): the readers waiting for the fill read the
    /// origin themselves, and the read is served as `bypass`.
    Pass(String),
}

/// Reads `path` of type `t` through the cache; `load` reads the origin and
/// returns JSON text (the D1 content API: [`ABSENT`] for no row). Returns
/// the text and how it was served.
pub async fn read_through<F, Fut>(
    ctx: &Ctx,
    t: EntityType,
    path: &str,
    load: F,
) -> ApiResult<(String, Served)>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<String>>,
{
    read_through_with(ctx, t, path, || async {
        let text = load().await?;
        Ok(if text == ABSENT {
            Loaded::Negative(text)
        } else {
            Loaded::Store(text)
        })
    })
    .await
}

/// [`read_through`] with an origin read that says what may be kept.
pub async fn read_through_with<F, Fut>(
    ctx: &Ctx,
    t: EntityType,
    path: &str,
    load: F,
) -> ApiResult<(String, Served)>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Loaded>>,
{
    let delay_ms = ctx.config.origin_delay_ms;
    let origin = || async move {
        let value = load().await;
        // Counted once the origin has answered, so that a test which sees
        // the count rise knows the read holds its data.
        ORIGIN_READS.fetch_add(1, Ordering::Relaxed);
        if delay_ms > 0 {
            // CACHE_ORIGIN_DELAY_MS: a remote origin, simulated for tests.
            // Its answer arrives late, after the data was read: the order in
            // which a read races a write (it holds data from before a write
            // acknowledged while its answer was on the way).
            Delay::from(Duration::from_millis(delay_ms)).await;
        }
        value
    };
    let edge = edge_client::for_key(ctx, t, path);
    let served = |cache| Served { cache, edge };
    match backends::lookup(ctx, t, path).await {
        Ok(Lookup::Hit(value)) => Ok((value, served(CacheStatus::Hit))),
        Ok(Lookup::Bypass) => Ok((origin().await?.text(), served(CacheStatus::Bypass))),
        Ok(Lookup::Miss(ticket)) => match origin().await {
            Ok(loaded) => {
                let filled = match &loaded {
                    Loaded::Store(value) => backends::fill(ctx, &ticket, value).await,
                    Loaded::Negative(value) => backends::fill_negative(ctx, &ticket, value).await,
                    Loaded::Pass(_) => {
                        backends::release(ctx, &ticket).await;
                        Ok(())
                    }
                };
                if let Err(failure) = filled {
                    report(ctx, t, "fill", failure);
                }
                let status = match loaded {
                    Loaded::Pass(_) => CacheStatus::Bypass,
                    _ => CacheStatus::Miss,
                };
                Ok((loaded.text(), served(status)))
            }
            Err(e) => {
                backends::release(ctx, &ticket).await;
                Err(e)
            }
        },
        Err(Failure::Config(e)) => Err(e),
        Err(failure) => {
            report(ctx, t, "read", failure);
            Ok((origin().await?.text(), served(CacheStatus::Bypass)))
        }
    }
}

impl Loaded {
    fn text(self) -> String {
        match self {
            Loaded::Store(text) | Loaded::Negative(text) | Loaded::Pass(text) => text,
        }
    }
}

/// Puts a backend failure in the cache log (throttled; sent after the
/// response, so that a failing backend does not slow reads down further).
/// A failure of the Hub goes to the console: the Hub is where the log is.
fn report(ctx: &Ctx, t: EntityType, op: &str, failure: Failure) {
    let error = match failure {
        Failure::Backend(e) => e,
        Failure::Edge(e) | Failure::Config(e) => {
            console_error!("cache {op} of {t}: the edge tier failed: {e:?}");
            return;
        }
    };
    let kind = match &error {
        polycache_core::Error::Backend { kind, .. } => kind.as_str(),
        _ => "other",
    };
    let key = format!("{op}:{kind}");
    let Some(suppressed) = REPORTS.with(|r| r.borrow_mut().admit(&key, platform::now_ms())) else {
        return;
    };
    let report = FailureReport {
        backend: ctx.config.backend.as_str().to_owned(),
        op: op.to_owned(),
        kind: kind.to_owned(),
        message: error.to_string(),
        entity_type: t,
        suppressed,
    };
    let env = ctx.env.clone();
    ctx.exec.wait_until(async move {
        let sent: ApiResult<serde_json::Value> =
            hub_client::call(&env, route::CACHE_FAILURE, &report).await;
        if let Err(e) = sent {
            console_error!("cache: reporting a backend failure to the hub failed: {e:?}");
        }
    });
}

/// A JSON response of a cached read, with its `x-cache` and
/// `x-polycache-edge` headers.
pub fn cached_response(status: u16, body: String, served: Served) -> ApiResult<Response> {
    let resp = json_text_response(status, body)?;
    resp.headers().set("x-cache", served.cache.as_str())?;
    resp.headers().set(EDGE_HEADER, &served.edge.to_string())?;
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
    hub_client::call(&ctx.env, route::INVALIDATE, &request(ctx, inv)).await
}

/// [`invalidate`] of each, in order, in one call to the Hub: one storage
/// write, and one chunk per stream for them all.
pub async fn invalidate_all(
    ctx: &Ctx,
    invs: Vec<Invalidation>,
) -> ApiResult<Vec<InvalidateResponse>> {
    let batch = InvalidateBatch {
        requests: invs.into_iter().map(|inv| request(ctx, inv)).collect(),
    };
    let answer: InvalidateBatchResponse =
        hub_client::call(&ctx.env, route::INVALIDATE_BATCH, &batch).await?;
    Ok(answer.results)
}

/// The Hub's request for `inv`: its type's closure to invalidate.
fn request(ctx: &Ctx, inv: Invalidation) -> InvalidateRequest {
    InvalidateRequest {
        types: ctx.config.graph.closure(inv.entity_type),
        type_name: inv.type_name,
        entity_id: inv.entity_id,
        action: inv.action,
        origin: inv.origin,
        mirror: inv.mirror,
        dedupe: inv.dedupe,
    }
}

/// Sets `x-invalidation-event` on a write's response.
pub fn with_event_header(resp: Response, event_id: u64) -> ApiResult<Response> {
    resp.headers()
        .set("x-invalidation-event", &event_id.to_string())?;
    Ok(resp)
}
