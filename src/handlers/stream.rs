//! `GET /api/stream`: the Server-Sent Events stream of `app-update` events.
//!
//! The Hub writes the stream: the Worker validates the query, asks the Hub
//! for a stream over RPC (`Hub.subscribe`, `src/js/entry.mjs`) and returns
//! the Hub's body as its own, so the runtime pipes every event through
//! without running the Worker's code. The Hub writes the heartbeat and
//! bounds the queue of a slow client (`durable_objects/src/js/streams.js`);
//! when a write to a gone client fails, the request's signal aborts (the
//! `enable_request_signal` flag) and the Worker tells the Hub to forget the
//! stream (`src/js/subscribe.js`).

use polycache_core::types::EntityType;
use worker::{Headers, Request, Response, ResponseBody};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::hub_client;

/// Opens a stream.
pub async fn get(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    let url = req.url()?;
    let mut filter: Vec<EntityType> = Vec::new();
    let mut after: Option<u64> = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "types" => {
                for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    filter.push(EntityType::parse(name)?);
                }
            }
            "lastEventId" => after = Some(parse_event_id(&v)?),
            _ => {}
        }
    }
    // The header wins over the query: it is what a reconnecting EventSource sends.
    if let Some(id) = req.headers().get("last-event-id")? {
        if !id.trim().is_empty() {
            after = Some(parse_event_id(&id)?);
        }
    }

    let body = hub_client::open_stream(&ctx.env, &ctx.exec, &req, after, &filter).await?;

    let headers = Headers::new();
    headers.set("content-type", "text/event-stream; charset=utf-8")?;
    headers.set("cache-control", "no-cache, no-transform")?;
    headers.set("x-accel-buffering", "no")?;
    Ok(Response::from_body(ResponseBody::Stream(body))?.with_headers(headers))
}

fn parse_event_id(s: &str) -> ApiResult<u64> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| ApiError::BadRequest("last event id must be a non-negative integer".into()))
}
