//! `POST /api/cache/invalidate` (role `service` or `admin`): the receiving
//! end of a mirror, and a manual purge for operators.
//!
//! `{type, id?, action?, mirror?, origin?, eventId?, epoch?}` -> `{ok,
//! eventId, types, duplicate}`.
//! With `origin` and `eventId` the delivery is remembered as `(origin,
//! epoch, eventId)`, so a repeat (at least once delivery) is acknowledged
//! without a second event, while the events of a sender whose state was
//! wiped (its ids started over, under a new epoch) are applied. A delivery
//! without an epoch (an older sender) counts as epoch `""`. An `origin`
//! equal to our own `INSTANCE_ID` is refused: that is a mirror loop.
//!
//! `{deliveries: [<body>, ...]}` (1 to [`MAX_BATCH`]) -> `{results: [<answer>,
//! ...]}`: a mirror catching up sends its backlog in one request, applied
//! in order with one storage write, its events in one chunk per stream.
//! Each entry is checked as a single body; one bad entry refuses the whole
//! batch (422 naming its index) before anything is applied.

use polycache_core::api::{
    entry_refusal, InvalidateAnswer, InvalidateBatchAnswer, InvalidateBody, MAX_BATCH,
};
use polycache_core::event::Action;
use polycache_core::hub_api::{DedupeKey, InvalidateResponse};
use polycache_core::jwt::Role;
use polycache_core::types::EntityType;
use serde::Deserialize;
use serde_json::Value;
use worker::{Request, Response};

use crate::auth;
use crate::body;
use crate::cache::{self, Invalidation};
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::response::json_response;

/// The longest entity id or origin accepted.
const MAX_NAME_LEN: usize = 128;
/// The longest epoch accepted: ours are 16 hex digits.
const MAX_EPOCH_LEN: usize = 64;

/// A batch as received: its entries are read one by one, so that an error
/// names the entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deliveries {
    deliveries: Vec<Value>,
}

/// Invalidates on request.
pub async fn post(ctx: &Ctx, mut req: Request) -> ApiResult<Response> {
    auth::require(ctx, &req, Role::may_invalidate)?;
    let value = body::json_value(&mut req).await?;
    if value.get("deliveries").is_some() {
        return post_batch(ctx, body::parse(value)?).await;
    }
    let inv = invalidation(ctx, body::parse(value)?)?;
    json_response(200, &answer(cache::invalidate(ctx, inv).await?))
}

/// `{deliveries: [...]}`: every entry checked before any is applied.
async fn post_batch(ctx: &Ctx, batch: Deliveries) -> ApiResult<Response> {
    let count = batch.deliveries.len();
    if count == 0 || count > MAX_BATCH {
        return Err(ApiError::Unprocessable(format!(
            "deliveries must hold 1 to {MAX_BATCH} entries, not {count}"
        )));
    }
    let invs = batch
        .deliveries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            body::parse(entry)
                .and_then(|body| invalidation(ctx, body))
                .map_err(|e| ApiError::Unprocessable(entry_refusal(i, &e.message())))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let results = cache::invalidate_all(ctx, invs).await?;
    json_response(
        200,
        &InvalidateBatchAnswer {
            results: results.into_iter().map(answer).collect(),
        },
    )
}

fn answer(outcome: InvalidateResponse) -> InvalidateAnswer {
    InvalidateAnswer {
        ok: true,
        event_id: outcome.event_id,
        types: outcome.types,
        duplicate: outcome.duplicate,
    }
}

/// A single delivery's body, checked: what to invalidate.
fn invalidation(ctx: &Ctx, body: InvalidateBody) -> ApiResult<Invalidation> {
    let t = EntityType::parse(&body.type_name)?;
    let entity_id = match body.id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "id must be a string, a number or null".into(),
            ))
        }
    };
    if let Some(id) = &entity_id {
        check_name("id", id)?;
    }
    let action = match &body.action {
        Some(a) => Action::parse(a)?,
        None => Action::Update,
    };
    let origin = body
        .origin
        .clone()
        .unwrap_or_else(|| ctx.config.instance_id.clone());
    check_name("origin", &origin)?;
    let from_elsewhere = origin != ctx.config.instance_id;
    if body.origin.is_some() && !from_elsewhere {
        return Err(ApiError::Conflict(format!(
            "origin {origin:?} is this instance: refusing a mirror loop"
        )));
    }
    let epoch = body.epoch.clone().unwrap_or_default();
    check_epoch(&epoch)?;
    let dedupe = match body.event_id {
        Some(event_id) if from_elsewhere => Some(DedupeKey {
            origin: origin.clone(),
            epoch,
            event_id,
        }),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "eventId needs the origin it was assigned by".into(),
            ))
        }
        None => None,
    };
    Ok(Invalidation {
        type_name: body.type_name.clone(),
        entity_type: t,
        entity_id,
        action,
        origin,
        // Mirrored deliveries arrive with mirror:false; a manual purge
        // mirrors unless told not to.
        mirror: body.mirror.unwrap_or(true) && !from_elsewhere,
        dedupe,
    })
}

/// An epoch names a sender's life in a storage key after a `:`, so it has
/// none: letters, digits, `-` and `_` (empty: no epoch).
fn check_epoch(epoch: &str) -> ApiResult<()> {
    let ok = epoch.len() <= MAX_EPOCH_LEN
        && epoch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    Err(ApiError::Unprocessable(format!(
        "epoch must be up to {MAX_EPOCH_LEN} letters, digits, '-' or '_'"
    )))
}

fn check_name(field: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > MAX_NAME_LEN || value.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(format!(
            "{field} must be 1 to {MAX_NAME_LEN} characters without control characters"
        )));
    }
    Ok(())
}
