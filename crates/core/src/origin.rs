//! Origin mode: polycache in front of an API the user already has.
//!
//! With `ORIGIN_URL` set, the Worker serves no content of its own: a route
//! table (`CACHE_ROUTES`) says which of the origin's paths are cached, under
//! which type, with which path parameter as the entity id; GETs on those
//! paths read through the cache, writes on them are forwarded and then
//! invalidate their type, and every other path goes to the origin untouched.
//! This module is the pure part: the settings and their checks, matching a
//! path against the table, the cache key of a request, what may be stored,
//! and the stored form of an answer. The Worker's `src/handlers/origin.rs`
//! does the fetching.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::types::{is_type_name, MAX_NAME_LEN};
use crate::{Error, Result};

/// The setting naming the origin.
pub const URL_SETTING: &str = "ORIGIN_URL";
/// The setting holding the route table.
pub const ROUTES_SETTING: &str = "CACHE_ROUTES";
/// The most routes a table may hold: each is matched in turn per request.
pub const MAX_ROUTES: usize = 256;
/// The longest route path accepted, in bytes.
const MAX_ROUTE_PATH_LEN: usize = 512;
/// The most `vary` headers a route may key on.
const MAX_VARY: usize = 8;
/// Most query parameters a route's `query` lists.
const MAX_QUERY_NAMES: usize = 32;
/// Longest query parameter name a route's `query` lists.
const MAX_QUERY_NAME_LEN: usize = 64;
/// Cache keys longer than this are cut and end in a SHA-256 of the whole:
/// Workers KV refuses keys over 512 bytes, and the type and generation go
/// in front.
const MAX_KEY_LEN: usize = 400;

/// Paths that are polycache's own and that no route may cover (some under a
/// prefix: every path below `/api/auth/` and `/api/cache/` is ours).
const OWN_PATHS: &[&str] = &[
    "/api/health",
    "/api/status",
    "/api/stream",
    "/api/auth/login",
    "/api/cache/invalidate",
    "/api/cache/mirrors",
    "/api/cache/mirrors/retry",
    "/api/cache/hub/reset",
    "/api/cache/logs",
    "/api/cache/routes",
];
/// The second segment of the paths under `/api/` that are ours.
const OWN_UNDER_API: &[&str] = &["health", "status", "stream", "auth", "cache"];

/// Headers that concern one connection, never forwarded either way
/// (RFC 9110 §7.6.1), with `host`, which the fetch sets from `ORIGIN_URL`.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// What happens to a path that no route covers (`ORIGIN_UNMATCHED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// Sent to the origin untouched, never cached (the default).
    Pass,
    /// Answered 404 without asking the origin.
    NotFound,
}

/// The origin-mode settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginSettings {
    /// `ORIGIN_URL`.
    pub url: OriginUrl,
    /// `CACHE_ROUTES`.
    pub routes: RouteTable,
    /// `ORIGIN_TIMEOUT_MS`: how long a request to the origin may take.
    pub timeout_ms: u64,
    /// `ORIGIN_MAX_BODY_BYTES`: the largest request body forwarded, and the
    /// largest answer stored.
    pub max_body_bytes: u64,
    /// `ORIGIN_UNMATCHED`.
    pub unmatched: Unmatched,
}

/// `ORIGIN_URL`: where requests go; nothing in a request can change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginUrl {
    /// `scheme://host[:port]`, no trailing `/`.
    origin: String,
    /// The path prefix, without a trailing `/` (empty for none).
    prefix: String,
    host: String,
}

impl OriginUrl {
    /// Parses `ORIGIN_URL`: `http` or `https`, a host, optionally a port and a
    /// path prefix; no credentials, query or fragment.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<OriginUrl> {
        let url = Url::parse(raw.trim())
            .map_err(|e| Error::Invalid(format!("must be an absolute http(s) URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Invalid(format!(
                "must be http:// or https://, not {}:",
                url.scheme()
            )));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(Error::Invalid("must name a host".into()));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Invalid(
                "must not carry credentials (the origin authenticates the callers' own headers)"
                    .into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Invalid("must not have a query or a fragment".into()));
        }
        let origin = url.origin().ascii_serialization();
        Ok(OriginUrl {
            origin,
            prefix: url.path().trim_end_matches('/').to_owned(),
            host: host.to_owned(),
        })
    }

    /// The URL the request for `path` (which starts with `/`, as every
    /// request path does) and `query` goes to: the origin's scheme, host and
    /// port, its prefix, then the path. The result is parsed again and its
    /// host compared, so that no path (`//evil.example/x`, `/@evil`) can
    /// reach another host.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the path does not start with `/` or the
    /// result would name another host.
    pub fn target(&self, path: &str, query: Option<&str>) -> Result<String> {
        if !path.starts_with('/') {
            return Err(Error::Invalid(format!(
                "path must start with '/': {path:?}"
            )));
        }
        let mut target = format!("{}{}{}", self.origin, self.prefix, path);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            target.push('?');
            target.push_str(q);
        }
        let parsed = Url::parse(&target)
            .map_err(|e| Error::Invalid(format!("not a URL with this path: {e}")))?;
        if parsed.host_str() != Some(self.host.as_str())
            || parsed.origin().ascii_serialization() != self.origin
        {
            return Err(Error::Invalid(
                "the path would leave ORIGIN_URL's host".into(),
            ));
        }
        Ok(target)
    }

    /// `scheme://host[:port]`, for comparing a redirect's target.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A `Location` the origin sent, as the client must follow it: one on
    /// the origin's own host (and under its prefix) is moved to `public`
    /// (`scheme://host[:port]` of the client's request), as a reverse proxy
    /// does, so that the client comes back through polycache rather than
    /// to an origin it may not be able to reach; any other is kept.
    pub fn public_location(&self, location: &str, public: &str) -> String {
        let base = format!("{}{}", self.origin, self.prefix);
        match location.strip_prefix(&base) {
            Some(rest) if rest.is_empty() || rest.starts_with(['/', '?', '#']) => {
                format!("{public}{rest}")
            }
            _ => location.to_owned(),
        }
    }
}

/// One segment of a route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One entry of `CACHE_ROUTES`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The pattern as given, e.g. `/v1/products/:id`.
    pub path: String,
    /// The type its answers belong to.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The parameter that is the entity id, if any (`null` in JSON).
    pub id: Option<String>,
    /// Whether requests with credentials may share its cache entries.
    pub public: bool,
    /// Request headers (lower case) whose values are part of the cache key.
    pub vary: Vec<String>,
    /// The query parameters its answers depend on, when the route lists
    /// them: a request with any other parameter is passed to the origin
    /// without the cache, so that made-up parameters (`?cb=<random>`)
    /// cannot fill the cache with copies. `None`: every query is its own
    /// entry.
    pub query: Option<Vec<String>>,
    #[serde(skip)]
    segments: Vec<Segment>,
}

impl Route {
    /// Whether a request with `query` may be served through the cache: the
    /// route lists no parameters, or the query names only listed ones.
    pub fn takes_query(&self, query: Option<&str>) -> bool {
        let Some(listed) = &self.query else {
            return true;
        };
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .all(|(name, _)| listed.iter().any(|l| *l == name))
    }
}

/// A route as written in the setting.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: String,
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    vary: Vec<String>,
    #[serde(default)]
    query: Option<Vec<String>>,
}

/// A path matched against the table: the route and its parameters' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The route.
    pub route: &'a Route,
    /// `(name, value)` of each parameter, in path order.
    pub params: Vec<(&'a str, String)>,
}

impl RouteMatch<'_> {
    /// The entity id: the value of the route's `id` parameter.
    pub fn entity_id(&self) -> Option<&str> {
        let id = self.route.id.as_deref()?;
        self.params
            .iter()
            .find(|(name, _)| *name == id)
            .map(|(_, v)| v.as_str())
    }
}

/// `CACHE_ROUTES`: the origin's cached paths, first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Parses and checks the table. Every error names the entry
    /// (`CACHE_ROUTES[2] ("/api/status"): ...`).
    ///
    /// # Errors
    /// [`Error::Invalid`] with that message.
    pub fn from_json(json: &str) -> Result<RouteTable> {
        let raw: Vec<Value> = serde_json::from_str(json).map_err(|e| {
            Error::Invalid(format!(
                "must be a JSON list of routes such as [{{\"path\":\"/v1/items/:id\",\"type\":\"items\",\"id\":\"id\"}}]: {e}"
            ))
        })?;
        if raw.is_empty() || raw.len() > MAX_ROUTES {
            return Err(Error::Invalid(format!(
                "must hold 1 to {MAX_ROUTES} routes, not {}",
                raw.len()
            )));
        }
        let mut routes: Vec<Route> = Vec::with_capacity(raw.len());
        for (i, value) in raw.into_iter().enumerate() {
            let label = match value.get("path").and_then(Value::as_str) {
                Some(p) => format!("[{i}] ({})", quote(p)),
                None => format!("[{i}]"),
            };
            let route = parse_route(value).map_err(|e| Error::Invalid(format!("{label}: {e}")))?;
            if let Some(j) = routes.iter().position(|r| r.segments == route.segments) {
                return Err(Error::Invalid(format!(
                    "{label}: the same path as entry [{j}]"
                )));
            }
            routes.push(route);
        }
        Ok(RouteTable { routes })
    }

    /// The routes, in table order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The types the table names, each once, in the order of first use.
    pub fn types(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.routes
            .iter()
            .filter(|r| seen.insert(r.type_name.as_str()))
            .map(|r| r.type_name.clone())
            .collect()
    }

    /// The first route whose pattern matches `path`.
    pub fn find(&self, path: &str) -> Option<RouteMatch<'_>> {
        let parts = split(path);
        self.routes.iter().find_map(|route| {
            let params = match_segments(&route.segments, &parts)?;
            Some(RouteMatch { route, params })
        })
    }
}

fn parse_route(value: Value) -> std::result::Result<Route, String> {
    let raw: RawRoute = serde_json::from_value(value).map_err(|e| {
        format!(
            "{e}; a route is {{\"path\", \"type\", \"id\"?, \"public\"?, \"vary\"?, \"query\"?}}"
        )
    })?;
    if !raw.path.starts_with('/') || raw.path.len() > MAX_ROUTE_PATH_LEN {
        return Err(format!(
            "path must start with '/' and be at most {MAX_ROUTE_PATH_LEN} bytes"
        ));
    }
    if raw.path.contains(['?', '#', '*']) || raw.path.chars().any(char::is_whitespace) {
        return Err("path must be a plain path: no query, fragment, '*' or spaces".into());
    }
    let mut segments = Vec::new();
    for part in split(&raw.path) {
        match part.strip_prefix(':') {
            Some(name) if is_name(name) => {
                if segments.contains(&Segment::Param(name.to_owned())) {
                    return Err(format!("parameter :{name} is used twice"));
                }
                segments.push(Segment::Param(name.to_owned()));
            }
            Some(name) => {
                return Err(format!(
                    "parameter {} must be ':' then a letter, then letters, digits or '_'",
                    quote(name)
                ))
            }
            None if part.is_empty() => return Err("path has an empty segment ('//')".into()),
            None => segments.push(Segment::Literal(part.to_owned())),
        }
    }
    if collides(&segments) {
        return Err(
            "collides with polycache's own routes (/api/health, /api/status, /api/stream, /api/auth/*, /api/cache/*)"
                .into(),
        );
    }
    if !is_type_name(&raw.type_name) {
        return Err(format!(
            "type {} must be 1 to {MAX_NAME_LEN} lower-case letters, digits or '_', from a letter",
            quote(&raw.type_name)
        ));
    }
    if let Some(id) = &raw.id {
        if !segments.contains(&Segment::Param(id.clone())) {
            return Err(format!("id {} is not a parameter of the path", quote(id)));
        }
    }
    if raw.vary.len() > MAX_VARY {
        return Err(format!("vary lists at most {MAX_VARY} headers"));
    }
    let mut vary = Vec::with_capacity(raw.vary.len());
    for name in &raw.vary {
        let lower = name.to_ascii_lowercase();
        let token = !lower.is_empty()
            && lower.len() <= 64
            && lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !token {
            return Err(format!("vary: {} is not a header name", quote(name)));
        }
        if matches!(lower.as_str(), "authorization" | "cookie") {
            return Err(format!(
                "vary: {lower} would key the cache on a credential; mark the route public or leave it uncached"
            ));
        }
        if !vary.contains(&lower) {
            vary.push(lower);
        }
    }
    let query = raw.query.map(query_names).transpose()?;
    Ok(Route {
        path: raw.path,
        type_name: raw.type_name,
        id: raw.id,
        public: raw.public,
        vary,
        query,
        segments,
    })
}

/// A route's `query` list, checked: names as a query carries them (after
/// percent-decoding), each once.
fn query_names(names: Vec<String>) -> std::result::Result<Vec<String>, String> {
    if names.len() > MAX_QUERY_NAMES {
        return Err(format!("query lists at most {MAX_QUERY_NAMES} parameters"));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if name.is_empty() || name.len() > MAX_QUERY_NAME_LEN || name.chars().any(char::is_control)
        {
            return Err(format!(
                "query: {} must be 1 to {MAX_QUERY_NAME_LEN} bytes without control characters",
                quote(&name)
            ));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Whether some path of polycache's own would match `segments`.
fn collides(segments: &[Segment]) -> bool {
    let own = OWN_PATHS
        .iter()
        .any(|p| match_segments(segments, &split(p)).is_some());
    let under_api = matches!(
        segments,
        [Segment::Literal(a), Segment::Literal(b), ..] if a == "api" && OWN_UNDER_API.contains(&b.as_str())
    );
    own || under_api
}

/// The segments of a path: `/v1/items/` and `/v1/items` are the same path.
fn split(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn match_segments<'a>(segments: &'a [Segment], parts: &[&str]) -> Option<Vec<(&'a str, String)>> {
    if segments.len() != parts.len() {
        return None;
    }
    let mut params = Vec::new();
    for (segment, part) in segments.iter().zip(parts) {
        match segment {
            Segment::Literal(l) if l == part => {}
            Segment::Param(name) if !part.is_empty() => {
                params.push((name.as_str(), (*part).to_owned()))
            }
            _ => return None,
        }
    }
    Some(params)
}

fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn quote(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    format!("{cut:?}")
}

/// The cache key of a GET: the path, the query with its pairs sorted (so
/// that `?a=1&b=2` and `?b=2&a=1` are one entry), and the values of the
/// route's `vary` headers (`None`: the header was absent). A key past
/// 400 bytes is cut and ends in the SHA-256 of the whole.
pub fn cache_path(path: &str, query: Option<&str>, vary: &[(&str, Option<String>)]) -> String {
    let mut key = path.to_owned();
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.sort();
        let sorted: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        key.push('?');
        key.push_str(&sorted);
    }
    for (name, value) in vary {
        // `#` cannot occur in a request's path or query, so this part
        // cannot be forged by one.
        key.push('#');
        key.push_str(name);
        if let Some(v) = value {
            key.push('=');
            key.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        }
    }
    if key.len() <= MAX_KEY_LEN {
        return key;
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = MAX_KEY_LEN - 72;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#sha256={hex}", &key[..cut])
}

/// Why an answer is not stored (sent back as `x-cache: bypass`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    /// The request carries `authorization` or `cookie` and the route is not
    /// public.
    Credentials,
    /// The status is neither 2xx nor 404.
    Status,
    /// `cache-control: no-store` or `private`.
    NoStore,
    /// The answer sets a cookie.
    SetCookie,
    /// `Vary: *`.
    VaryAll,
    /// Larger than `ORIGIN_MAX_BODY_BYTES`.
    TooLarge,
    /// A stored answer varies on a header whose value differs.
    VaryMismatch,
    /// The query names a parameter the route's `query` does not list.
    Query,
}

impl Bypass {
    /// Why, in a few words (the `x-polycache-bypass` header).
    pub fn as_str(self) -> &'static str {
        match self {
            Bypass::Credentials => "credentials",
            Bypass::Status => "status",
            Bypass::NoStore => "no-store",
            Bypass::SetCookie => "set-cookie",
            Bypass::VaryAll => "vary",
            Bypass::TooLarge => "too-large",
            Bypass::VaryMismatch => "vary-mismatch",
            Bypass::Query => "query",
        }
    }
}

/// Whether an answer with `status` and `headers` (names in lower case) may
/// be stored.
///
/// # Errors
/// The reason it may not.
pub fn storable(status: u16, headers: &[(String, String)]) -> std::result::Result<(), Bypass> {
    if !((200..300).contains(&status) || status == 404) {
        return Err(Bypass::Status);
    }
    if values(headers, "cache-control")
        .iter()
        .any(|d| d == "no-store" || d == "private" || d.starts_with("private="))
    {
        return Err(Bypass::NoStore);
    }
    if headers.iter().any(|(n, _)| n == "set-cookie") {
        return Err(Bypass::SetCookie);
    }
    if values(headers, "vary").iter().any(|v| v == "*") {
        return Err(Bypass::VaryAll);
    }
    Ok(())
}

/// The comma-separated values of header `name`, trimmed, in lower case.
fn values(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

/// The request headers an answer varies on (its `Vary`, lower case), less
/// `accept-encoding`: the Worker stores bodies decoded, and Cloudflare
/// encodes them again for each client.
pub fn vary_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = values(headers, "vary")
        .into_iter()
        .filter(|v| !v.is_empty() && v != "accept-encoding")
        .collect();
    names.sort();
    names.dedup();
    names
}

/// An origin's answer as stored in the cache: status, headers, body, and
/// the values of the request headers it varies on when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    /// The origin's status.
    pub status: u16,
    /// Its headers, less hop-by-hop ones, `content-length` and
    /// `content-encoding`.
    pub headers: Vec<(String, String)>,
    /// The body as text when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The body in base64 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// `(header, value)` of each header in the answer's `Vary`.
    #[serde(default)]
    pub vary: Vec<(String, Option<String>)>,
}

impl StoredAnswer {
    /// The stored form of an answer.
    pub fn new(
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        vary: Vec<(String, Option<String>)>,
    ) -> StoredAnswer {
        let (text, base64) = match String::from_utf8(body) {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(BASE64.encode(e.into_bytes()))),
        };
        StoredAnswer {
            status,
            headers,
            text,
            base64,
            vary,
        }
    }

    /// The body's bytes.
    pub fn body(&self) -> Vec<u8> {
        match (&self.text, &self.base64) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(b64)) => BASE64.decode(b64).unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    /// Whether this answer fits a request whose header values are `value`'s.
    pub fn fits(&self, value: impl Fn(&str) -> Option<String>) -> bool {
        self.vary.iter().all(|(name, v)| value(name) == *v)
    }
}

/// Whether `name` (lower case) is a header to drop between the client and
/// the origin, in either direction, given the names listed in the message's
/// own `Connection` header.
pub fn is_hop_by_hop(name: &str, connection: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || connection.iter().any(|c| c == name)
}

/// The entity id of a create: the `id` of the origin's JSON answer, as text.
pub fn created_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match value.get("id")? {
        Value::String(s) if !s.is_empty() && s.len() <= 128 => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table(json: &str) -> RouteTable {
        RouteTable::from_json(json).unwrap()
    }

    fn error(json: &str) -> String {
        RouteTable::from_json(json).unwrap_err().to_string()
    }

    #[test]
    fn a_path_matches_its_route_and_gives_the_entity_id() {
        let t = table(
            r#"[{"path":"/v1/products","type":"products"},
                {"path":"/v1/products/:id","type":"products","id":"id"},
                {"path":"/v1/products/:id/reviews","type":"reviews"}]"#,
        );
        assert_eq!(t.find("/v1/products").unwrap().route.path, "/v1/products");
        assert_eq!(t.find("/v1/products/").unwrap().route.path, "/v1/products");
        let m = t.find("/v1/products/7").unwrap();
        assert_eq!(m.entity_id(), Some("7"));
        let m = t.find("/v1/products/7/reviews").unwrap();
        assert_eq!(
            (m.route.type_name.as_str(), m.entity_id()),
            ("reviews", None)
        );
        assert!(t.find("/v1/products/7/other").is_none());
        assert!(t.find("/v1").is_none());
        assert!(t.find("/").is_none());
        assert_eq!(t.types(), ["products", "reviews"]);
    }

    #[test]
    fn a_route_that_lists_its_query_takes_only_those_parameters() {
        let t = table(
            r#"[{"path":"/v1/products","type":"products","query":["page","sort","page"]},
                {"path":"/v1/tags","type":"tags","query":[]},
                {"path":"/v1/all","type":"all"}]"#,
        );
        let products = t.find("/v1/products").unwrap().route;
        assert_eq!(
            products.query.as_deref(),
            Some(&["page".to_owned(), "sort".to_owned()][..])
        );
        for ok in [
            None,
            Some(""),
            Some("page=2"),
            Some("sort=id&page=2&page=3"),
            Some("pa%67e=1"),
        ] {
            assert!(products.takes_query(ok), "{ok:?}");
        }
        for refused in [
            Some("cb=123"),
            Some("page=2&utm=x"),
            Some("Page=2"),
            Some("page"),
        ] {
            let takes = products.takes_query(refused);
            // `page` alone is the parameter with an empty value: taken.
            assert_eq!(takes, refused == Some("page"), "{refused:?}");
        }
        let tags = t.find("/v1/tags").unwrap().route;
        assert!(tags.takes_query(None) && tags.takes_query(Some("")));
        assert!(!tags.takes_query(Some("a=1")));
        let all = t.find("/v1/all").unwrap().route;
        assert!(all.query.is_none() && all.takes_query(Some("anything=1&else")));
        let listed = serde_json::to_value(products).unwrap();
        assert_eq!(listed["query"], serde_json::json!(["page", "sort"]));
        assert_eq!(
            serde_json::to_value(all).unwrap()["query"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn every_error_names_its_entry() {
        let ok = r#"{"path":"/v1/a","type":"a"}"#;
        for (json, expected) in [
            (
                format!(r#"[{ok},{{"path":"/api/status","type":"s"}}]"#),
                r#"[1] ("/api/status"): collides"#,
            ),
            (
                format!(r#"[{ok},{{"path":"/api/:x","type":"s"}}]"#),
                r#"[1] ("/api/:x"): collides"#,
            ),
            (
                format!(r#"[{ok},{{"path":"/:a/:b","type":"s"}}]"#),
                r#"[1] ("/:a/:b"): collides"#,
            ),
            (
                format!(r#"[{ok},{{"path":"/api/cache/x/y","type":"s"}}]"#),
                "collides",
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/b","type":"Bad"}}]"#),
                r#"[1] ("/v1/b"): type "Bad""#,
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/b/:id","type":"b","id":"sku"}}]"#),
                r#"id "sku" is not a parameter"#,
            ),
            (
                format!(r#"[{ok},{{"path":"v1/b","type":"b"}}]"#),
                "must start with '/'",
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/a/","type":"b"}}]"#),
                "the same path as entry [0]",
            ),
            (
                format!(r#"[{ok},{{"type":"b"}}]"#),
                "[1]: missing field `path`",
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/b","type":"b","cached":true}}]"#),
                "unknown field `cached`",
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/b","type":"b","vary":["cookie"]}}]"#),
                "credential",
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/:a/:a","type":"b"}}]"#),
                "used twice",
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/b","type":"b","query":[""]}}]"#),
                r#"[1] ("/v1/b"): query: "" must be"#,
            ),
            (
                format!(r#"[{ok},{{"path":"/v1/b","type":"b","query":"page"}}]"#),
                "invalid type: string",
            ),
            ("[]".to_string(), "1 to 256 routes"),
            ("{".to_string(), "JSON list of routes"),
        ] {
            let message = error(&json);
            assert!(message.contains(expected), "{json}: {message}");
        }
        // Paths that only look like ours are fine.
        table(
            r#"[{"path":"/api/posts/:id","type":"posts","id":"id"},{"path":"/apis/status","type":"s"}]"#,
        );
    }

    #[test]
    fn no_path_leaves_the_origin_host() {
        let url = OriginUrl::parse("https://api.example.com/base/").unwrap();
        assert_eq!(
            url.target("/v1/x", Some("a=1")).unwrap(),
            "https://api.example.com/base/v1/x?a=1"
        );
        let bare = OriginUrl::parse("http://127.0.0.1:9100").unwrap();
        for path in [
            "//evil.example/x",
            "/@evil.example/x",
            "/..//evil.example",
            "/%2F%2Fevil.example",
        ] {
            let target = bare.target(path, None).unwrap();
            assert!(
                target.starts_with("http://127.0.0.1:9100/"),
                "{path}: {target}"
            );
            assert_eq!(
                Url::parse(&target).unwrap().host_str(),
                Some("127.0.0.1"),
                "{path}"
            );
        }
        assert!(bare.target("evil.example", None).is_err());
        for bad in [
            "ftp://x",
            "/relative",
            "https://user:pw@x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
        ] {
            assert!(OriginUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_redirect_to_the_origin_comes_back_through_polycache() {
        let url = OriginUrl::parse("http://127.0.0.1:9100/base").unwrap();
        let public = "https://shop.example";
        assert_eq!(
            url.public_location("http://127.0.0.1:9100/base/v1/x?a=1", public),
            "https://shop.example/v1/x?a=1"
        );
        assert_eq!(
            url.public_location("http://127.0.0.1:9100/basement", public),
            "http://127.0.0.1:9100/basement"
        );
        assert_eq!(
            url.public_location("https://elsewhere.example/", public),
            "https://elsewhere.example/"
        );
        assert_eq!(url.public_location("/v1/relative", public), "/v1/relative");
    }

    #[test]
    fn the_cache_key_sorts_the_query_and_carries_the_vary_values() {
        assert_eq!(
            cache_path("/v1/x", Some("b=2&a=1"), &[]),
            cache_path("/v1/x", Some("a=1&b=2"), &[])
        );
        assert_ne!(
            cache_path("/v1/x", Some("a=1"), &[]),
            cache_path("/v1/x", Some("a=2"), &[])
        );
        let en = cache_path("/v1/g", None, &[("accept-language", Some("en".into()))]);
        let de = cache_path("/v1/g", None, &[("accept-language", Some("de".into()))]);
        let none = cache_path("/v1/g", None, &[("accept-language", None)]);
        assert!(en != de && de != none && en != none);
        // A query cannot pose as a vary part.
        assert_ne!(cache_path("/v1/g", Some("#accept-language=en"), &[]), en);
        let long = cache_path(&format!("/v1/{}", "é".repeat(400)), None, &[]);
        assert!(
            long.len() <= MAX_KEY_LEN && long.contains("#sha256="),
            "{}",
            long.len()
        );
    }

    #[test]
    fn what_may_be_stored() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            storable(200, &h(&[("content-type", "application/json")])),
            Ok(())
        );
        assert_eq!(storable(404, &[]), Ok(()));
        assert_eq!(storable(500, &[]), Err(Bypass::Status));
        assert_eq!(storable(302, &[]), Err(Bypass::Status));
        assert_eq!(
            storable(200, &h(&[("cache-control", "max-age=5, no-store")])),
            Err(Bypass::NoStore)
        );
        assert_eq!(
            storable(200, &h(&[("cache-control", "Private")])),
            Err(Bypass::NoStore)
        );
        assert_eq!(
            storable(200, &h(&[("set-cookie", "a=b")])),
            Err(Bypass::SetCookie)
        );
        assert_eq!(
            storable(200, &h(&[("vary", "Accept, *")])),
            Err(Bypass::VaryAll)
        );
        assert_eq!(
            vary_names(&h(&[("vary", "Accept-Encoding, Accept-Language")])),
            ["accept-language"]
        );
    }

    #[test]
    fn a_stored_answer_keeps_binary_bodies_and_checks_vary() {
        let bytes = vec![0x89, b'P', b'N', b'G', 0xff, 0x00];
        let stored = StoredAnswer::new(
            200,
            vec![],
            bytes.clone(),
            vec![("accept-language".into(), Some("en".into()))],
        );
        let json = serde_json::to_string(&stored).unwrap();
        let back: StoredAnswer = serde_json::from_str(&json).unwrap();
        assert_eq!(back.body(), bytes);
        assert!(back.fits(|_| Some("en".into())));
        assert!(!back.fits(|_| Some("de".into())));
        assert!(!back.fits(|_| None));
        assert_eq!(
            created_id(br#"{"id":42,"title":"x"}"#).as_deref(),
            Some("42")
        );
        assert_eq!(created_id(br#"{"id":"a7"}"#).as_deref(), Some("a7"));
        assert_eq!(created_id(b"not json"), None);
    }
}
