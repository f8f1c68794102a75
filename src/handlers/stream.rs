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
use wasm_bindgen::prelude::*;
use worker::{console_error, Headers, Request, Response, ResponseBody};

use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::router::Ctx;

#[wasm_bindgen(module = "/src/js/subscribe.js")]
extern "C" {
    /// `Hub.subscribe(url)` on this stub: the Hub's answer (a `Response`);
    /// when `signal` aborts, `Hub.unsubscribe` under `ctx.waitUntil`.
    #[wasm_bindgen(catch)]
    async fn subscribe(
        stub: &JsValue,
        url: &str,
        signal: &JsValue,
        ctx: &JsValue,
    ) -> Result<JsValue, JsValue>;
}

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
    let stub: JsValue = hub_client::stub(&ctx.env)?.into_rpc();
    let signal: JsValue = req.inner().signal().into();
    let exec: &JsValue = ctx.exec.as_ref().as_ref();
    let answer = subscribe(&stub, &hub_url, &signal, exec)
        .await
        .map_err(|e| {
            console_error!("the hub did not open a stream: {e:?}");
            hub_client::unavailable()
        })?;
    let resp = Response::from(web_sys::Response::from(answer));
    if resp.status_code() != 200 {
        return Err(hub_client::hub_error(resp).await);
    }
    let body = match resp.body() {
        ResponseBody::Stream(body) => body.clone(),
        _ => {
            return Err(ApiError::Unavailable(
                "the hub answered a stream without a body".into(),
            ))
        }
    };

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
