//! Origin mode (`ORIGIN_URL`): every path that is not polycache's own goes
//! to the user's API, and the route table (`CACHE_ROUTES`) says which of
//! them are cached and invalidated ([`polycache_core::origin`]).
//!
//! - GET and HEAD on a route read through the cache like the D1 content
//!   API (every backend, the edge tier's guarantee), keyed by the path, the
//!   sorted query and the route's `vary` headers. The origin's answer is
//!   stored whole (status, headers, body, binary too) when it may be: 2xx
//!   and 404 only (404 as briefly and only where the D1 API keeps one),
//!   never one marked `no-store` or `private`, one that sets a cookie, one
//!   with `Vary: *`, nor one for a request with credentials unless the
//!   route is public; those are `x-cache: bypass`.
//! - Writes on a route are forwarded with the caller's headers; the origin
//!   decides who may write. A 2xx invalidates the route's type (and entity:
//!   the `id` parameter, or the `id` of a create's JSON answer), mirrors
//!   and announces it, and carries `x-invalidation-event`; a 1xx, 3xx or 4xx
//!   invalidates nothing; a 5xx, a timeout or a lost connection invalidates
//!   anyway, since the origin may have applied the write.
//! - Every other path and method goes to the origin untouched, uncached
//!   (or is answered 404 with `ORIGIN_UNMATCHED=404`).
//!
//! Requests go only to `ORIGIN_URL`'s host (the path is appended to it and
//! the result checked), redirects are passed back rather than followed, and
//! each request has `ORIGIN_TIMEOUT_MS` in all: a reader who waited for
//! another's fill reads the origin with what is left of it.

use std::time::Duration;

use futures::future::{select, Either};
use polycache_core::edge_api::EDGE_HEADER;
use polycache_core::event::Action;
use polycache_core::origin::{
    self, is_hop_by_hop, storable, Bypass, OriginSettings, RouteMatch, StoredAnswer, Unmatched,
};
use polycache_core::types::EntityType;
use serde_json::json;
use worker::{
    console_error, AbortController, Delay, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, Response, Url,
};

use crate::body;
use crate::cache::{self, CacheStatus, Invalidation, Loaded, Served};
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::platform;
use crate::response::json_response;

/// The header that says why a read was not served from the cache.
const BYPASS_HEADER: &str = "x-polycache-bypass";

/// `GET /api/cache/routes`: the mode, and the route table (public: it is
/// what a client needs to key its queries by type; `ORIGIN_URL` is not
/// shown).
pub fn routes(ctx: &Ctx) -> ApiResult<Response> {
    let (mode, routes) = match &ctx.config.origin {
        Some(o) => ("origin", o.routes.routes().to_vec()),
        None => ("d1", Vec::new()),
    };
    json_response(200, &json!({ "mode": mode, "routes": routes }))
}

/// Serves `req` (a path that is not polycache's own) from the origin.
pub async fn handle(
    ctx: &Ctx,
    origin: &OriginSettings,
    req: Request,
    url: &Url,
) -> ApiResult<Response> {
    let deadline = platform::now_ms().saturating_add(origin.timeout_ms);
    let Some(found) = origin.routes.find(url.path()) else {
        return match origin.unmatched {
            Unmatched::NotFound => Err(ApiError::NotFound(format!("no route for {}", url.path()))),
            Unmatched::Pass => pass(origin, req, url, deadline).await,
        };
    };
    match req.method() {
        Method::Get | Method::Head => read(ctx, origin, &req, url, &found, deadline).await,
        Method::Post | Method::Put | Method::Patch | Method::Delete => {
            write(ctx, origin, req, url, &found, deadline).await
        }
        _ => pass(origin, req, url, deadline).await,
    }
}

/// A GET or HEAD on a route, through the cache.
async fn read(
    ctx: &Ctx,
    origin: &OriginSettings,
    req: &Request,
    url: &Url,
    found: &RouteMatch<'_>,
    deadline: u64,
) -> ApiResult<Response> {
    let head = req.method() == Method::Head;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if !found.route.public && (header("authorization").is_some() || header("cookie").is_some()) {
        let answer = fetch_answer(origin, req, url, Method::Get, None, deadline).await?;
        return answer_response(answer, head, None, Some(Bypass::Credentials));
    }
    let t = EntityType::parse(&found.route.type_name)?;
    let vary: Vec<(&str, Option<String>)> = found
        .route
        .vary
        .iter()
        .map(|name| (name.as_str(), header(name)))
        .collect();
    let key = origin::cache_path(url.path(), url.query(), &vary);
    let (text, served) = cache::read_through_with(ctx, t, &key, || async {
        let answer = fetch_answer(origin, req, url, Method::Get, None, deadline).await?;
        let text = serde_json::to_string(&answer.stored)
            .map_err(|e| ApiError::Internal(format!("encoding an answer: {e}")))?;
        Ok(match answer.bypass {
            Some(_) => Loaded::Pass(text),
            None if answer.stored.status == 404 => Loaded::Negative(text),
            None => Loaded::Store(text),
        })
    })
    .await?;
    let stored: StoredAnswer = serde_json::from_str(&text)
        .map_err(|e| ApiError::Internal(format!("a cached answer of {key} is unreadable: {e}")))?;
    if served.cache == CacheStatus::Hit && !stored.fits(header) {
        // Stored for another value of a header the origin varies on.
        let answer = fetch_answer(origin, req, url, Method::Get, None, deadline).await?;
        return answer_response(answer, head, None, Some(Bypass::VaryMismatch));
    }
    let reason = (served.cache == CacheStatus::Bypass).then(|| {
        let headers = stored.headers.clone();
        storable(stored.status, &headers).err()
    });
    let answer = Answer {
        stored,
        bypass: reason.flatten(),
    };
    answer_response(answer, head, Some(served), None)
}

/// A write on a route: forwarded, then invalidated unless the origin
/// refused it.
async fn write(
    ctx: &Ctx,
    origin: &OriginSettings,
    mut req: Request,
    url: &Url,
    found: &RouteMatch<'_>,
    deadline: u64,
) -> ApiResult<Response> {
    let limit = usize::try_from(origin.max_body_bytes).unwrap_or(usize::MAX);
    let body = body::bytes(&mut req, limit).await?;
    let t = EntityType::parse(&found.route.type_name)?;
    let method = req.method();
    let action = match method {
        Method::Post => Action::Create,
        Method::Delete => Action::Delete,
        _ => Action::Update,
    };
    let result = fetch_answer(origin, &req, url, method.clone(), Some(body), deadline).await;
    let status = result.as_ref().map(|a| a.stored.status).ok();
    let applied = match status {
        Some(s) if (200..300).contains(&s) => true,
        // The origin may have applied it before it failed or went quiet.
        Some(s) if s >= 500 => true,
        Some(_) => false,
        None => true,
    };
    if !applied {
        return answer_response(result?, false, None, None);
    }
    let id = found
        .entity_id()
        .map(str::to_owned)
        .or_else(|| match (&result, &method) {
            (Ok(answer), Method::Post) => origin::created_id(&answer.stored.body()),
            _ => None,
        });
    let inv = Invalidation::local(ctx, &found.route.type_name, t, id.clone(), action);
    let invalidated = cache::invalidate(ctx, inv).await;
    let answer = result?;
    let outcome = match invalidated {
        Ok(outcome) => outcome,
        Err(e) => {
            console_error!("origin mode: {action} of {t} {id:?} answered {}, but the invalidation failed: {e:?}", answer.stored.status);
            return Err(ApiError::Unavailable(format!(
                "the origin answered {} to this {action} of {t}, but the cache could not be \
                 invalidated; cached reads may be stale until it is (repeat the write) or they expire",
                answer.stored.status
            )));
        }
    };
    let resp = answer_response(answer, false, None, None)?;
    cache::with_event_header(resp, outcome.event_id)
}

/// Any other request: to the origin untouched, and back uncached.
async fn pass(
    origin: &OriginSettings,
    mut req: Request,
    url: &Url,
    deadline: u64,
) -> ApiResult<Response> {
    let method = req.method();
    let body = match method {
        Method::Get | Method::Head => None,
        _ => {
            let limit = usize::try_from(origin.max_body_bytes).unwrap_or(usize::MAX);
            Some(body::bytes(&mut req, limit).await?)
        }
    };
    let head = method == Method::Head;
    let answer = fetch_answer(origin, &req, url, method, body, deadline).await?;
    answer_response(answer, head, None, None)
}

/// The origin's answer: its stored form, and why it may not be stored.
struct Answer {
    stored: StoredAnswer,
    bypass: Option<Bypass>,
}

/// Sends the request to the origin and reads its answer whole (at most
/// `ORIGIN_MAX_BODY_BYTES`), all before `deadline`.
async fn fetch_answer(
    origin: &OriginSettings,
    req: &Request,
    url: &Url,
    method: Method,
    body: Option<Vec<u8>>,
    deadline: u64,
) -> ApiResult<Answer> {
    let target = origin
        .url
        .target(url.path(), url.query())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let headers = forward_headers(req, url)?;
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(bytes) = body.filter(|b| !b.is_empty()) {
        init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    }
    let outgoing = Request::new_with_init(&target, &init)
        .map_err(|_| ApiError::BadRequest("the request cannot be forwarded".into()))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let limit = origin.max_body_bytes;
    let exchange = async move {
        let mut resp = Fetch::Request(outgoing)
            .send_with_signal(&signal)
            .await
            .map_err(|_| ApiError::OriginUnreachable("the origin could not be reached".into()))?;
        let status = resp.status_code();
        let headers = answer_headers(resp.headers());
        let announced = resp
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|n| n.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| ApiError::OriginUnreachable("the origin's answer was cut".into()))?;
        if bytes.len() as u64 > limit {
            return Err(too_large(limit));
        }
        Ok((status, headers, bytes))
    };
    let left = deadline.saturating_sub(platform::now_ms());
    let timer = Delay::from(Duration::from_millis(left));
    let (status, headers, bytes) = match select(Box::pin(exchange), timer).await {
        Either::Left((result, _)) => result?,
        Either::Right(((), _)) => {
            controller.abort();
            return Err(ApiError::OriginTimeout(origin.timeout_ms));
        }
    };
    let bypass = storable(status, &headers).err();
    let vary = origin::vary_names(&headers)
        .into_iter()
        .map(|name| {
            let value = req.headers().get(&name).ok().flatten();
            (name, value)
        })
        .collect();
    Ok(Answer {
        stored: StoredAnswer::new(status, headers, bytes, vary),
        bypass,
    })
}

fn too_large(limit: u64) -> ApiError {
    ApiError::OriginUnreachable(format!(
        "the origin's answer is larger than {limit} bytes (ORIGIN_MAX_BODY_BYTES); raise it, or leave this path out of CACHE_ROUTES to stream it"
    ))
}

/// The caller's headers for the origin: all but hop-by-hop ones, those
/// of Cloudflare's and polycache's own (`cf-*`, `x-polycache-*`), any
/// `x-forwarded-*` the caller made up, and `accept-encoding` (the runtime
/// negotiates its own); with `x-forwarded-host`, `-proto` and `-for`.
fn forward_headers(req: &Request, url: &Url) -> ApiResult<Headers> {
    let incoming = req.headers();
    let connection = connection_names(incoming);
    let headers = Headers::new();
    for (name, value) in incoming.entries() {
        let name = name.to_ascii_lowercase();
        let ours = name.starts_with("cf-")
            || name.starts_with("x-polycache-")
            || name.starts_with("x-forwarded-")
            || name == "x-real-ip"
            || name == "accept-encoding"
            || name == "content-length";
        if ours || is_hop_by_hop(&name, &connection) {
            continue;
        }
        // A header the runtime refuses to set is left out, not an error.
        let _ = headers.append(&name, &value);
    }
    if let Some(host) = url.host_str() {
        headers.set("x-forwarded-host", host)?;
    }
    headers.set("x-forwarded-proto", url.scheme())?;
    if let Some(ip) = incoming.get("cf-connecting-ip")? {
        headers.set("x-forwarded-for", &ip)?;
    }
    Ok(headers)
}

/// The origin's headers as kept: lower-case names, without hop-by-hop
/// ones, `content-length` (the body is sent again, decoded) and
/// `content-encoding` (the runtime has decoded it).
fn answer_headers(headers: &Headers) -> Vec<(String, String)> {
    let connection = connection_names(headers);
    headers
        .entries()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| {
            !is_hop_by_hop(name, &connection)
                && name != "content-length"
                && name != "content-encoding"
        })
        .collect()
}

/// The header names a message's `Connection` header lists.
fn connection_names(headers: &Headers) -> Vec<String> {
    headers
        .get("connection")
        .ok()
        .flatten()
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// The client's response: the origin's status, headers and body (none for
/// a HEAD), with `x-cache` and `x-polycache-edge` for a read of a route.
fn answer_response(
    answer: Answer,
    head: bool,
    served: Option<Served>,
    bypass: Option<Bypass>,
) -> ApiResult<Response> {
    let headers = Headers::new();
    for (name, value) in &answer.stored.headers {
        // A header the runtime refuses is left out, not an error.
        let _ = headers.append(name, value);
    }
    let status = served.map(|s| s.cache);
    match (status, bypass) {
        (_, Some(reason)) => {
            headers.set("x-cache", CacheStatus::Bypass.as_str())?;
            headers.set(BYPASS_HEADER, reason.as_str())?;
        }
        (Some(cache), None) => {
            headers.set("x-cache", cache.as_str())?;
            if let (CacheStatus::Bypass, Some(reason)) = (cache, answer.bypass) {
                headers.set(BYPASS_HEADER, reason.as_str())?;
            }
        }
        (None, None) => {}
    }
    if let Some(served) = served {
        headers.set(EDGE_HEADER, &served.edge.to_string())?;
    }
    let status_code = answer.stored.status;
    // A status that cannot carry a body gets none (the runtime refuses one).
    let body = if head || matches!(status_code, 101 | 204 | 205 | 304) {
        Vec::new()
    } else {
        answer.stored.body()
    };
    let resp = if body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(body)?
    };
    Ok(resp.with_status(status_code).with_headers(headers))
}
