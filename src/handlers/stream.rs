//! `GET /api/stream`: the Server-Sent Events stream of `app-update` events.
//!
//! An Edge of the visitor's region writes the stream: the Worker validates
//! the query, asks the Edge for a stream over RPC (`Edge.subscribe`,
//! `src/js/entry.mjs`) and returns the Edge's body as its own, so the
//! runtime pipes every event through without running the Worker's code.
//! The Edge writes the heartbeat and bounds the queue of a slow client
//! (`durable_objects/src/js/streams.js`); when a write to a gone client
//! fails, the request's signal aborts (the `enable_request_signal` flag)
//! and the Worker tells the Edge to forget the stream
//! (`src/js/subscribe.js`).

use polycache_core::edge_api::EDGE_HEADER;
use polycache_core::query::StreamQuery;
use worker::{Headers, Request, Response, ResponseBody};

use crate::ctx::Ctx;
use crate::edge_client;
use crate::error::ApiResult;

/// Opens a stream.
pub async fn get(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    let mut query = StreamQuery::parse(req.url()?.query_pairs())?;
    if let Some(id) = req.headers().get("last-event-id")? {
        query.resume_from_header(&id)?;
    }
    let (body, edge) = edge_client::open_stream(ctx, &req, &query).await?;

    let headers = Headers::new();
    headers.set("content-type", "text/event-stream; charset=utf-8")?;
    headers.set("cache-control", "no-cache, no-transform")?;
    headers.set("x-accel-buffering", "no")?;
    headers.set(EDGE_HEADER, &edge.to_string())?;
    Ok(Response::from_body(ResponseBody::Stream(body))?.with_headers(headers))
}
