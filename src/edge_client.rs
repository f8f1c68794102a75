//! The client of the Edges: which Edge serves a request (its region, and
//! the shard of its cache key or a random one for a stream), a call to one
//! of its routes with the route's typed request and answer, and the RPC
//! call that opens a stream on it, whose JavaScript lives in
//! `src/js/subscribe.js`.

use polycache_core::edge_api::{route, EdgeReport, EDGE_HEADER};
use polycache_core::edge_name::{shard_for_key, shard_for_stream, EdgeName};
use polycache_core::query::StreamQuery;
use polycache_core::rate_limit::address_key;
use polycache_core::types::EntityType;
use polycache_hub::calls;
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;
use worker::{console_error, Headers, Method, Request, RequestInit, Response, ResponseBody, Stub};

use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::hub_client::object_error;
use crate::platform;

#[wasm_bindgen(module = "/src/js/subscribe.js")]
extern "C" {
    /// `subscribe(url, name, client)` on this stub (the Edge `name`, the
    /// client's address key): its answer (a `Response`); when `signal`
    /// aborts, `unsubscribe` under `ctx.waitUntil`.
    #[wasm_bindgen(catch)]
    async fn subscribe(
        stub: &JsValue,
        url: &str,
        name: &str,
        client: &str,
        signal: &JsValue,
        ctx: &JsValue,
    ) -> Result<JsValue, JsValue>;
}

/// The Edge of this request's region that serves the cached reads of
/// `path` of type `t`: every reader of a key in a region goes to the same
/// Edge, which holds its entry (memory backend) and its fill lease.
pub fn for_key(ctx: &Ctx, t: EntityType, path: &str) -> EdgeName {
    let key = format!("{t}:{path}");
    EdgeName::new(ctx.region, shard_for_key(&key, ctx.config.edge_shards))
}

/// An Edge of this request's region for a new stream (any shard).
pub fn for_stream(ctx: &Ctx) -> EdgeName {
    let shard = shard_for_stream(platform::random_u53(), ctx.config.edge_shards);
    EdgeName::new(ctx.region, shard)
}

fn stub(ctx: &Ctx, edge: EdgeName) -> ApiResult<Stub> {
    calls::edge(&ctx.env, edge).map_err(|e| {
        console_error!("edge {edge}: {e}");
        unavailable()
    })
}

/// `POST https://edge/<path>` on `edge` with a JSON body, answering JSON.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    ctx: &Ctx,
    edge: EdgeName,
    path: &str,
    body: &Req,
) -> ApiResult<Resp> {
    let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut resp = send(ctx, edge, Method::Post, path, Some(text)).await?;
    Ok(resp.json().await?)
}

/// What `edge` reports of itself, for `/api/status`.
pub async fn report(ctx: &Ctx, edge: EdgeName) -> ApiResult<EdgeReport> {
    let mut resp = send(ctx, edge, Method::Get, route::REPORT, None).await?;
    Ok(resp.json().await?)
}

/// `<method> https://edge/<path>` on `edge`, with its name in
/// [`EDGE_HEADER`] (an Edge learns its name from the Worker's requests) and
/// a JSON body if any.
async fn send(
    ctx: &Ctx,
    edge: EdgeName,
    method: Method,
    path: &str,
    json: Option<String>,
) -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set(EDGE_HEADER, &edge.to_string())?;
    let mut init = RequestInit::new();
    if let Some(json) = json {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(json.into()));
    }
    init.with_method(method).with_headers(headers);
    let req = Request::new_with_init(&format!("https://edge{path}"), &init)?;
    // A call that throws is an Edge that failed, not a bug of this request:
    // 503 like any failure of the tier.
    let resp = stub(ctx, edge)?
        .fetch_with_request(req)
        .await
        .map_err(|e| {
            console_error!("edge {edge}: {e}");
            unavailable()
        })?;
    if resp.status_code() >= 400 {
        return Err(object_error(resp, "edge").await);
    }
    Ok(resp)
}

/// Opens a stream on an Edge of the request's region for `req` (whose
/// abort signal tells the Edge when the client has gone), as `query` asks.
/// Answers the body the Edge writes, to be returned as it is, and the
/// Edge.
pub async fn open_stream(
    ctx: &Ctx,
    req: &Request,
    query: &StreamQuery,
) -> ApiResult<(web_sys::ReadableStream, EdgeName)> {
    let edge = for_stream(ctx);
    let url = format!("https://edge{}?{}", route::STREAM, query.to_query());
    let stub: JsValue = stub(ctx, edge)?.into_rpc();
    let signal: JsValue = req.inner().signal().into();
    let exec: &JsValue = ctx.exec.as_ref().as_ref();
    let client = address_key(&req.headers().get("cf-connecting-ip")?.unwrap_or_default());
    let answer = subscribe(&stub, &url, &edge.to_string(), &client, &signal, exec)
        .await
        .map_err(|e| {
            console_error!("edge {edge} did not open a stream: {e:?}");
            unavailable()
        })?;
    let resp = Response::from(web_sys::Response::from(answer));
    if resp.status_code() != 200 {
        return Err(object_error(resp, "edge").await);
    }
    match resp.body() {
        ResponseBody::Stream(body) => Ok((body.clone(), edge)),
        _ => {
            console_error!("edge {edge} answered a stream without a body");
            Err(unavailable())
        }
    }
}

/// The error of an Edge that could not be reached or failed to answer;
/// what went wrong goes to the console, not to the client.
pub fn unavailable() -> ApiError {
    ApiError::Unavailable("the edge is unavailable; try again shortly".into())
}
