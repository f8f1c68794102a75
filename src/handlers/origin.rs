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
//! the result checked), redirects are passed back rather than followed (a
//! `Location` on the origin's host moved to polycache's, as a reverse proxy
//! does), and
//! each request has `ORIGIN_TIMEOUT_MS` in all: a reader who waited for
//! another's fill reads the origin with what is left of it.

use std::cell::RefCell;
use std::time::Duration;

use futures::future::{select, Either};
use polycache_core::edge_api::EDGE_HEADER;
use polycache_core::event::Action;
use polycache_core::origin::{
    self, is_hop_by_hop, storable, Bypass, OriginSettings, OriginUrl, RouteMatch, StoredAnswer,
    Unmatched,
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
        let fetched = fetch(origin, req, url, Method::Get, None, deadline, Read::Stream).await?;
        return fetched_response(fetched, head, None, Some(Bypass::Credentials));
    }
    if !found.route.takes_query(url.query()) {
        // A parameter the route does not list: answered, never stored.
        let fetched = fetch(origin, req, url, Method::Get, None, deadline, Read::Stream).await?;
        return fetched_response(fetched, head, None, Some(Bypass::Query));
    }
    let t = EntityType::parse(&found.route.type_name)?;
    let vary: Vec<(&str, Option<String>)> = found
        .route
        .vary
        .iter()
        .map(|name| (name.as_str(), header(name)))
        .collect();
    let key = origin::cache_path(url.path(), url.query(), &vary);
    // An answer too large to store goes to this reader as it arrives.
    let streamed: RefCell<Option<Response>> = RefCell::new(None);
    let (text, served) = cache::read_through_with(ctx, t, &key, || async {
        let answer = match fetch(
            origin,
            req,
            url,
            Method::Get,
            None,
            deadline,
            Read::WholeIfItFits,
        )
        .await?
        {
            Fetched::Whole(answer) => answer,
            Fetched::Streamed(resp) => {
                *streamed.borrow_mut() = Some(resp);
                return Ok(Loaded::Pass(String::new()));
            }
        };
        let text = serde_json::to_string(&answer.stored)
            .map_err(|e| ApiError::Internal(format!("encoding an answer: {e}")))?;
        Ok(match answer.bypass {
            Some(_) => Loaded::Pass(text),
            None if answer.stored.status == 404 => Loaded::Negative(text),
            None => Loaded::Store(text),
        })
    })
    .await?;
    if let Some(resp) = streamed.borrow_mut().take() {
        return fetched_response(
            Fetched::Streamed(resp),
            head,
            Some(served),
            Some(Bypass::TooLarge),
        );
    }
    let stored: StoredAnswer = serde_json::from_str(&text)
        .map_err(|e| ApiError::Internal(format!("a cached answer of {key} is unreadable: {e}")))?;
    if served.cache == CacheStatus::Hit && !stored.fits(header) {
        // Stored for another value of a header the origin varies on.
        let fetched = fetch(origin, req, url, Method::Get, None, deadline, Read::Stream).await?;
        return fetched_response(fetched, head, None, Some(Bypass::VaryMismatch));
    }
    // Why a read served without the cache was not stored, when the answer
    // says (a backend failure or a pending invalidation does not).
    let bypass = match served.cache {
        CacheStatus::Bypass => storable(stored.status, &stored.headers).err(),
        _ => None,
    };
    let answer = Answer { stored, bypass };
    fetched_response(Fetched::Whole(answer), head, Some(served), None)
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
    let result = fetch(
        origin,
        &req,
        url,
        method.clone(),
        Some(body),
        deadline,
        Read::WholeIfItFits,
    )
    .await;
    let status = result.as_ref().ok().map(|fetched| match fetched {
        Fetched::Whole(answer) => answer.stored.status,
        Fetched::Streamed(resp) => resp.status_code(),
    });
    let applied = match status {
        Some(s) if (200..300).contains(&s) => true,
        // The origin may have applied it before it failed or went quiet.
        Some(s) if s >= 500 => true,
        Some(_) => false,
        None => true,
    };
    if !applied {
        return fetched_response(result?, false, None, None);
    }
    let id = found
        .entity_id()
        .map(str::to_owned)
        .or_else(|| match (&result, &method) {
            (Ok(Fetched::Whole(answer)), Method::Post) => origin::created_id(&answer.stored.body()),
            _ => None,
        });
    let inv = Invalidation::local(ctx, &found.route.type_name, t, id.clone(), action);
    let invalidated = cache::invalidate(ctx, inv).await;
    let fetched = result?;
    let answered = status.unwrap_or_default();
    let outcome = match invalidated {
        Ok(outcome) => outcome,
        Err(e) => {
            console_error!("origin mode: {action} of {t} {id:?} answered {answered}, but the invalidation failed: {e:?}");
            return Err(ApiError::Unavailable(format!(
                "the origin answered {answered} to this {action} of {t}, but the cache could not be \
                 invalidated; cached reads may be stale until it is (repeat the write) or they expire"
            )));
        }
    };
    let resp = fetched_response(fetched, false, None, None)?;
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
    let fetched = fetch(origin, &req, url, method, body, deadline, Read::Stream).await?;
    fetched_response(fetched, false, None, None)
}

/// The origin's answer: its stored form, and why it may not be stored.
struct Answer {
    stored: StoredAnswer,
    bypass: Option<Bypass>,
}

/// What the origin answered: read whole, or (larger than
/// `ORIGIN_MAX_BODY_BYTES` by its `content-length`, or on a path that is
/// never cached) passed to the client as it arrives.
enum Fetched {
    Whole(Answer),
    Streamed(Response),
}

/// Whether to read an answer whole or to stream it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Whole when it fits `ORIGIN_MAX_BODY_BYTES` (to store it, or to look
    /// at it), streamed when its length says it does not.
    WholeIfItFits,
    /// Streamed (nothing is stored).
    Stream,
}

/// Sends the request to the origin, its headers answered before
/// `deadline`, and an answer read whole before it too.
async fn fetch(
    origin: &OriginSettings,
    req: &Request,
    url: &Url,
    method: Method,
    body: Option<Vec<u8>>,
    deadline: u64,
    read: Read,
) -> ApiResult<Fetched> {
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
    let public = url.origin().ascii_serialization();
    let exchange = async move {
        let mut resp = Fetch::Request(outgoing)
            .send_with_signal(&signal)
            .await
            .map_err(|_| ApiError::OriginUnreachable("the origin could not be reached".into()))?;
        let status = resp.status_code();
        if !(200..=599).contains(&status) {
            // No response can carry it to the client (a 1xx the origin sent
            // on its own; `expect` is not forwarded).
            return Err(ApiError::OriginUnreachable(format!(
                "the origin answered with status {status}, which cannot be passed on"
            )));
        }
        let headers = answer_headers(resp.headers(), &origin.url, &public);
        let announced = resp
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|n| n.trim().parse::<u64>().ok());
        if read == Read::Stream || announced.is_some_and(|n| n > limit) {
            let streamed = resp.with_headers(to_headers(&headers));
            return Ok(Fetched::Streamed(streamed));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| ApiError::OriginUnreachable("the origin's answer was cut".into()))?;
        if bytes.len() as u64 > limit {
            return Err(too_large(limit));
        }
        let bypass = storable(status, &headers).err();
        Ok(Fetched::Whole(Answer {
            stored: StoredAnswer::new(status, headers, bytes, Vec::new()),
            bypass,
        }))
    };
    let left = deadline.saturating_sub(platform::now_ms());
    let timer = Delay::from(Duration::from_millis(left));
    let mut fetched = match select(Box::pin(exchange), timer).await {
        Either::Left((result, _)) => result?,
        Either::Right(((), _)) => {
            controller.abort();
            return Err(ApiError::OriginTimeout(origin.timeout_ms));
        }
    };
    if let Fetched::Whole(answer) = &mut fetched {
        answer.stored.vary = origin::vary_names(&answer.stored.headers)
            .into_iter()
            .map(|name| {
                let value = req.headers().get(&name).ok().flatten();
                (name, value)
            })
            .collect();
    }
    Ok(fetched)
}

/// Headers from `(name, value)` pairs; one the runtime refuses is left
/// out, not an error.
fn to_headers(pairs: &[(String, String)]) -> Headers {
    let headers = Headers::new();
    for (name, value) in pairs {
        let _ = headers.append(name, value);
    }
    headers
}

fn too_large(limit: u64) -> ApiError {
    ApiError::OriginTooLarge(limit)
}

/// The caller's headers for the origin: all but hop-by-hop ones, those
/// of Cloudflare's and polycache's own (`cf-*`, `x-polycache-*`), any
/// `x-forwarded-*` the caller made up, `accept-encoding` (the runtime
/// negotiates its own) and `expect` (polycache has the whole body before
/// it asks, and the origin's `100 Continue` would come back as its
/// answer); with `x-forwarded-host`, `-proto` and `-for`.
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
            || name == "content-length"
            || name == "expect";
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
/// `content-encoding` (the runtime has decoded it); a `location` on the
/// origin's host moved to polycache's (`public`).
fn answer_headers(headers: &Headers, origin: &OriginUrl, public: &str) -> Vec<(String, String)> {
    let connection = connection_names(headers);
    headers
        .entries()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| {
            !is_hop_by_hop(name, &connection)
                && name != "content-length"
                && name != "content-encoding"
        })
        .map(|(name, value)| match name.as_str() {
            "location" | "content-location" => {
                let moved = origin.public_location(&value, public);
                (name, moved)
            }
            _ => (name, value),
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
/// a HEAD), with `x-cache` and `x-polycache-edge` for a read of a route,
/// and `x-polycache-bypass` saying why a read was not stored.
fn fetched_response(
    fetched: Fetched,
    head: bool,
    served: Option<Served>,
    bypass: Option<Bypass>,
) -> ApiResult<Response> {
    let (answer, streamed) = match fetched {
        Fetched::Whole(answer) => (Some(answer), None),
        Fetched::Streamed(resp) => (None, Some(resp)),
    };
    let headers = match (&answer, &streamed) {
        (Some(answer), _) => to_headers(&answer.stored.headers),
        (None, Some(resp)) => resp.headers().clone(),
        (None, None) => Headers::new(),
    };
    let cache = match (served.map(|s| s.cache), bypass) {
        (_, Some(_)) => Some(CacheStatus::Bypass),
        (cache, None) => cache,
    };
    if let Some(cache) = cache {
        headers.set("x-cache", cache.as_str())?;
    }
    let reason = match cache {
        Some(CacheStatus::Bypass) => bypass.or(answer.as_ref().and_then(|a| a.bypass)),
        _ => None,
    };
    if let Some(reason) = reason {
        headers.set(BYPASS_HEADER, reason.as_str())?;
    }
    if let Some(served) = served {
        headers.set(EDGE_HEADER, &served.edge.to_string())?;
    }
    let Some(answer) = answer else {
        let resp = streamed.ok_or_else(|| ApiError::Internal("no answer".into()))?;
        let status_code = resp.status_code();
        if head {
            return Ok(Response::empty()?
                .with_status(status_code)
                .with_headers(headers));
        }
        return Ok(resp.with_headers(headers));
    };
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
