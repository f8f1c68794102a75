//! The router: method and path to handler, written as one match so that it
//! reads like the API table in the README. Unknown paths answer 404 and known
//! paths with the wrong method 405, both as JSON errors.

use polycache_core::config::Config;
use polycache_core::region::{CfLocation, Region};
use polycache_core::types::EntityType;
use worker::{js_sys, Context, Env, Method, Request, Response};

use crate::ctx::Ctx;
use crate::db::{self, schema::MAX_ID};
use crate::error::{ApiError, ApiResult};
use crate::handlers;
use crate::settings;

/// Handles one request; never fails: errors become JSON responses here.
pub async fn handle(req: Request, env: Env, exec: Context) -> Response {
    match route(req, env, exec).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn route(req: Request, env: Env, exec: Context) -> ApiResult<Response> {
    let url = req
        .url()
        .map_err(|_| ApiError::BadRequest("malformed URL".into()))?;
    let path = url.path().to_owned();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = method_of(&req)?;
    let config = settings::load(&env)?;
    if config.origin.is_none() && !matches!(segments.first(), Some(&"api")) {
        return Err(ApiError::NotFound(format!("no route for {path}")));
    }
    let region = request_region(&config, &req);
    let ctx = Ctx {
        env,
        config,
        exec,
        region,
    };
    use Method::{Delete, Get, Head, Patch, Post};
    match (segments.as_slice(), method) {
        (["api", "health"], Get | Head) => handlers::health::get(&ctx),
        (["api", "health"], _) => not_allowed(&["GET"]),

        (["api", "status"], Get | Head) => handlers::status::get(&ctx).await,
        (["api", "status"], _) => not_allowed(&["GET"]),

        (["api", "auth", "login"], Post) => handlers::auth::login(&ctx, req).await,
        (["api", "auth", "login"], _) => not_allowed(&["POST"]),

        (["api", "stream"], Get) => handlers::stream::get(&ctx, req).await,
        (["api", "stream"], _) => not_allowed(&["GET"]),

        (["api", "cache", "invalidate"], Post) => handlers::invalidate::post(&ctx, req).await,
        (["api", "cache", "invalidate"], _) => not_allowed(&["POST"]),

        (["api", "cache", "mirrors"], Get | Head) => handlers::mirrors::get(&ctx, req, &url).await,
        (["api", "cache", "mirrors"], _) => not_allowed(&["GET"]),
        (["api", "cache", "mirrors", "retry"], Post) => handlers::mirrors::retry(&ctx, req).await,
        (["api", "cache", "mirrors", "retry"], _) => not_allowed(&["POST"]),
        (["api", "cache", "hub", "reset"], Post) => handlers::mirrors::reset_hub(&ctx, req).await,

        (["api", "cache", "logs"], Get | Head) => handlers::logs::get(&ctx, req, &url).await,
        (["api", "cache", "logs"], _) => not_allowed(&["GET"]),

        (["api", "cache", "routes"], Get | Head) => handlers::origin::routes(&ctx),
        (["api", "cache", "routes"], _) => not_allowed(&["GET"]),
        // Below /api/auth/ and /api/cache/ every path is ours, in either mode.
        (["api", "auth" | "cache", ..], _) => {
            Err(ApiError::NotFound(format!("no route for {path}")))
        }

        // Origin mode: every other path is the origin's (README, "Put
        // polycache in front of your API").
        _ if ctx.config.origin.is_some() => match &ctx.config.origin {
            Some(origin) => handlers::origin::handle(&ctx, origin, req, &url).await,
            None => Err(ApiError::NotFound(format!("no route for {path}"))),
        },

        (["api", "feed"], Get | Head) => handlers::feed::get(&ctx).await,
        (["api", "feed"], _) => not_allowed(&["GET"]),

        (["api", name], m) => {
            let t = content_type(name)?;
            match m {
                Get | Head => handlers::content::list(&ctx, t).await,
                Post => handlers::content::create(&ctx, t, name, req).await,
                _ => not_allowed(&["GET", "POST"]),
            }
        }
        (["api", name, id], m) => {
            let t = content_type(name)?;
            let id = parse_id(t, id)?;
            match m {
                Get | Head => handlers::content::get(&ctx, t, id).await,
                Patch => handlers::content::update(&ctx, t, name, id, req).await,
                Delete => handlers::content::delete(&ctx, t, name, id, req).await,
                _ => not_allowed(&["GET", "PATCH", "DELETE"]),
            }
        }
        _ => Err(ApiError::NotFound(format!("no route for {path}"))),
    }
}

/// The methods worker-rs reads as themselves (in any case); it reads every
/// other one (`PURGE`, `PROPFIND`, `QUERY`) as GET.
const KNOWN_METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "REPORT",
];

/// The request's method, refused (405) when worker-rs would read it as GET:
/// a `PURGE` on a route would otherwise be served as a cached read, and in
/// origin mode reach the origin as a GET without its body.
fn method_of(req: &Request) -> ApiResult<Method> {
    if is_known_method(&req.inner().method()) {
        Ok(req.method())
    } else {
        not_allowed(&["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    }
}

fn is_known_method(method: &str) -> bool {
    KNOWN_METHODS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(method))
}

fn not_allowed<T>(allowed: &'static [&'static str]) -> ApiResult<T> {
    Err(ApiError::MethodNotAllowed { allowed })
}

/// A path segment naming a content type (plural or singular); other types
/// (`feed`, `auth`) and unknown names have no such route.
fn content_type(name: &str) -> ApiResult<EntityType> {
    match EntityType::parse(name) {
        Ok(t) if t.is_content() => Ok(t),
        _ => {
            let names: Vec<&str> = EntityType::ALL
                .into_iter()
                .filter(|t| t.is_content())
                .map(EntityType::as_str)
                .collect();
            Err(ApiError::NotFound(format!(
                "unknown type {:?}; one of {}",
                truncate(name, 64),
                names.join(", ")
            )))
        }
    }
}

/// An entity id: a positive integer (400 otherwise). One above
/// [`MAX_ID`] names no row, whatever the database holds, and is answered
/// 404 like any id with no row: D1's parameters pass through JavaScript
/// numbers, where `9007199254740993` would become `9007199254740992` and
/// reach that row instead.
fn parse_id(t: EntityType, id: &str) -> ApiResult<i64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || id.bytes().all(|b| b == b'0') {
        return Err(ApiError::BadRequest(format!(
            "id must be a positive integer, got {:?}",
            truncate(id, 64)
        )));
    }
    match id.parse::<i64>() {
        Ok(n) if n <= MAX_ID => Ok(n),
        // Too long for i64 or past 2^53 - 1: a row that cannot exist.
        _ => Err(ApiError::NotFound(format!(
            "no {} with id {}",
            db::table(t)?.singular(),
            truncate(id, 64)
        ))),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The region whose Edges serve `req`: from its `cf` data, or the test
/// header when `EDGE_REGION_HEADER` names one. Read from the `cf` object
/// itself: `worker::Cf::coordinates` unwraps a missing latitude, and
/// `wrangler dev` offline may have no `cf` data at all.
fn request_region(config: &Config, req: &Request) -> Region {
    let cf = js_sys::Reflect::get(req.inner(), &"cf".into()).unwrap_or_default();
    let field = |name: &str| -> Option<wasm_bindgen::JsValue> {
        if cf.is_object() {
            js_sys::Reflect::get(&cf, &name.into())
                .ok()
                .filter(|v| !v.is_undefined() && !v.is_null())
        } else {
            None
        }
    };
    let location = CfLocation {
        continent: field("continent").and_then(|v| v.as_string()),
        country: field("country").and_then(|v| v.as_string()),
        // A string in `cf` ("-0.1257"), a number in some runtimes.
        longitude: field("longitude")
            .and_then(|v| v.as_string().and_then(|s| s.parse().ok()).or(v.as_f64())),
    };
    config.request_region(|name| req.headers().get(name).ok().flatten(), &location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_methods_worker_rs_reads_as_themselves_are_known() {
        for known in [
            "GET", "head", "Post", "PATCH", "DELETE", "OPTIONS", "TRACE", "REPORT",
        ] {
            assert!(is_known_method(known), "{known}");
            // As worker-rs reads it: not the GET it falls back to, unless it is GET.
            let read = Method::from(known.to_owned());
            assert!(
                read.as_ref().eq_ignore_ascii_case(known),
                "{known} read as {read:?}"
            );
        }
        for unknown in ["PURGE", "PROPFIND", "QUERY", "MKCOL", "COPY", "GETX", ""] {
            assert!(!is_known_method(unknown), "{unknown}");
            assert_eq!(
                Method::from(unknown.to_owned()),
                Method::Get,
                "the fallback this guards against"
            );
        }
    }

    #[test]
    fn an_unknown_type_lists_every_content_type() {
        let Err(ApiError::NotFound(message)) = content_type("widgets") else {
            panic!("widgets is a type");
        };
        let content: Vec<&str> = EntityType::ALL
            .into_iter()
            .filter(|t| t.is_content())
            .map(EntityType::as_str)
            .collect();
        assert_eq!(
            message,
            format!("unknown type \"widgets\"; one of {}", content.join(", "))
        );
        // The message of the original six, which a type added later extends.
        assert!(
            message.starts_with(
                "unknown type \"widgets\"; one of posts, pages, categories, pictures, translations, types"
            ),
            "{message}"
        );
        // Types without a table have no route either, and get the same answer.
        let feed = content_type("feed").map(|t| t.as_str());
        assert!(
            matches!(feed, Err(ApiError::NotFound(m)) if m.starts_with("unknown type \"feed\"; one of posts,"))
        );
        for t in EntityType::ALL.into_iter().filter(|t| t.is_content()) {
            assert_eq!(content_type(t.as_str()), Ok(t));
            assert_eq!(content_type(t.alias().unwrap_or(t.as_str())), Ok(t));
        }
    }
}
