//! `GET /api/stream`: the Server-Sent Events stream of `app-update` events.
//!
//! The Worker serves the SSE response itself and holds one WebSocket to the
//! Hub per stream; the relay (`src/js/relay.js`) copies the Hub's messages
//! into the response, writes the heartbeat, bounds the queue of a slow
//! client, and closes the socket as soon as the client goes away (the
//! request's abort signal, with the `enable_request_signal` flag).

use polycache_core::types::EntityType;
use wasm_bindgen::prelude::*;
use worker::{Headers, Method, Request, RequestInit, Response, ResponseBody};

use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::router::Ctx;

#[wasm_bindgen(module = "/src/js/relay.js")]
extern "C" {
    #[wasm_bindgen(js_name = relayStream)]
    fn relay_stream(
        ws: &JsValue,
        preamble: &str,
        heartbeat_ms: u32,
        queue_limit: u32,
        signal: &JsValue,
    ) -> web_sys::ReadableStream;
}

/// How long a browser waits before reconnecting a dropped stream (the SSE
/// `retry:` field): short enough that a restart is barely noticed, long
/// enough not to hammer a struggling deployment.
pub const RETRY_MS: u64 = 2_000;

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

    let mut hub_url = String::from("https://hub/stream?");
    if let Some(after) = after {
        hub_url.push_str(&format!("after={after}&"));
    }
    if !filter.is_empty() {
        let names: Vec<&str> = filter.iter().map(|t| t.as_str()).collect();
        hub_url.push_str(&format!("types={}", names.join(",")));
    }
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let hub_req = Request::new_with_init(&hub_url, &init)?;
    let resp = hub_client::stub(&ctx.env)?
        .fetch_with_request(hub_req)
        .await?;
    let ws = resp
        .websocket()
        .ok_or_else(|| ApiError::Unavailable("the hub did not open a stream".into()))?;

    let signal: JsValue = req.inner().signal().into();
    let heartbeat_ms =
        u32::try_from(ctx.config.heartbeat_secs.saturating_mul(1000)).unwrap_or(u32::MAX);
    let queue_limit = u32::try_from(ctx.config.sse_queue_limit).unwrap_or(u32::MAX);
    let raw: &web_sys::WebSocket = ws.as_ref();
    let preamble = polycache_core::sse::retry(RETRY_MS);
    let body = relay_stream(raw.as_ref(), &preamble, heartbeat_ms, queue_limit, &signal);

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
