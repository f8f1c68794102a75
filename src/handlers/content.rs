//! The content routes: `GET /api/{type}[/:id]` read through the cache;
//! `POST`, `PATCH` and `DELETE` (editor role) write D1, then invalidate.
//!
//! Reads are cached under the canonical path (`/api/posts`, `/api/posts/7`),
//! whatever alias or query string the client used: query parameters are
//! ignored, so keying on them would only let any client fill the cache with
//! copies of one answer. An absent row is answered 404; the memory backend
//! keeps that answer for `NEGATIVE_CACHE_SECS` (as the JSON `null`, apart
//! from its entries), no other backend keeps it, and creating the row later
//! bumps the generation like any write.
//!
//! A write completes in D1 before the invalidation starts (the guarantee of
//! docs/architecture.md: once the invalidation is acknowledged, no read returns data
//! cached before the write). When the write succeeded but the invalidation
//! failed, the answer is 503 saying so: the data is saved, and repeating an
//! update (or an update to a created row) invalidates again; until then
//! cached reads may be stale for up to `CACHE_TTL_SECS`.

use polycache_core::edge_api::EDGE_HEADER;
use polycache_core::event::Action;
use polycache_core::hub_api::InvalidateResponse;
use polycache_core::jwt::Role;
use polycache_core::types::EntityType;
use worker::{console_error, Request, Response};

use crate::auth;
use crate::body;
use crate::cache::{self, Invalidation, Served};
use crate::ctx::Ctx;
use crate::db::{self, Db, Mode};
use crate::error::{ApiError, ApiResult};
use crate::platform;
use crate::response::json_text_response;

/// `GET /api/{type}`: every row, ordered by id, as a JSON array.
pub async fn list(ctx: &Ctx, t: EntityType) -> ApiResult<Response> {
    let table = db::table(t)?;
    let key = format!("/api/{t}");
    let (text, status) = cache::read_through(ctx, t, &key, || async {
        db::to_json(&Db::open(&ctx.env)?.list(table).await?)
    })
    .await?;
    cache::cached_response(200, text, status)
}

/// `GET /api/{type}/:id`: one row, or 404.
pub async fn get(ctx: &Ctx, t: EntityType, id: i64) -> ApiResult<Response> {
    let table = db::table(t)?;
    let key = format!("/api/{t}/{id}");
    let (text, status) = cache::read_through(ctx, t, &key, || async {
        db::to_json(&Db::open(&ctx.env)?.get(table, id).await?)
    })
    .await?;
    if text == cache::ABSENT {
        return not_found_cached(table.singular(), id, status);
    }
    cache::cached_response(200, text, status)
}

/// `POST /api/{type}` (editor): creates a row; 201 with the entity.
pub async fn create(ctx: &Ctx, t: EntityType, name: &str, mut req: Request) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_write_content)?;
    let table = db::table(t)?;
    let changes = db::validate(table, &body::json_value(&mut req).await?, Mode::Create)?;
    let entity = Db::open(&ctx.env)?
        .create(table, &changes, now_ms())
        .await?;
    let outcome = invalidate_after_write(ctx, name, t, entity.id(), Action::Create).await?;
    let resp = json_text_response(201, db::to_json(&entity)?)?;
    cache::with_event_header(resp, outcome.event_id)
}

/// `PATCH /api/{type}/:id` (editor): changes the fields the body sets (at
/// least one) and `updatedAt`; 200 with the entity, 404 when absent.
pub async fn update(
    ctx: &Ctx,
    t: EntityType,
    name: &str,
    id: i64,
    mut req: Request,
) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_write_content)?;
    let table = db::table(t)?;
    let changes = db::validate(table, &body::json_value(&mut req).await?, Mode::Update)?;
    let entity = Db::open(&ctx.env)?
        .update(table, id, &changes, now_ms())
        .await?
        .ok_or_else(|| not_found(table.singular(), id))?;
    let outcome = invalidate_after_write(ctx, name, t, id, Action::Update).await?;
    let resp = json_text_response(200, db::to_json(&entity)?)?;
    cache::with_event_header(resp, outcome.event_id)
}

/// `DELETE /api/{type}/:id` (editor): 204, 404 when absent, 409 while a
/// required reference to the row remains (nullable references are cleared:
/// see [`crate::db::sql`]).
pub async fn delete(
    ctx: &Ctx,
    t: EntityType,
    name: &str,
    id: i64,
    req: Request,
) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_write_content)?;
    let table = db::table(t)?;
    if !Db::open(&ctx.env)?.delete(table, id, now_ms()).await? {
        return Err(not_found(table.singular(), id));
    }
    let outcome = invalidate_after_write(ctx, name, t, id, Action::Delete).await?;
    cache::with_event_header(Response::empty()?.with_status(204), outcome.event_id)
}

/// Invalidates after a successful write; a failure is a 503 that says the
/// write itself was saved.
async fn invalidate_after_write(
    ctx: &Ctx,
    name: &str,
    t: EntityType,
    id: i64,
    action: Action,
) -> ApiResult<InvalidateResponse> {
    let inv = Invalidation::local(ctx, name, t, Some(id.to_string()), action);
    cache::invalidate(ctx, inv).await.map_err(|e| {
        console_error!("{action} of {t} {id} saved, but the invalidation failed: {e:?}");
        ApiError::Unavailable(format!(
            "the {action} of {t} {id} was saved, but the cache could not be invalidated; \
             cached reads may be stale until it is (retry the update) or they expire"
        ))
    })
}

fn not_found(singular: &str, id: i64) -> ApiError {
    ApiError::NotFound(format!("no {singular} with id {id}"))
}

/// The 404 of a cached read, with its `x-cache` and `x-polycache-edge`
/// headers like every cached read.
fn not_found_cached(singular: &str, id: i64, served: Served) -> ApiResult<Response> {
    let resp = not_found(singular, id).into_response();
    resp.headers().set("x-cache", served.cache.as_str())?;
    resp.headers().set(EDGE_HEADER, &served.edge.to_string())?;
    Ok(resp)
}

/// Milliseconds since the Unix epoch, from the runtime's clock (the
/// timestamps of rows). Below 2^53 for the next 280,000 years, so it fits
/// i64 and D1's JS numbers exactly.
fn now_ms() -> i64 {
    i64::try_from(platform::now_ms()).unwrap_or(i64::MAX)
}
