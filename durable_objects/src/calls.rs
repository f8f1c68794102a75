//! JSON calls from one Durable Object to another (the Hub pushing to an
//! Edge, an Edge renewing at the Hub) through the callee's stub.

use polycache_core::edge_name::EdgeName;
use polycache_core::hub_api::HUB_NAME;
use serde::{de::DeserializeOwned, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit, Result, Stub};

/// The binding of the Hub (wrangler.toml).
pub const HUB_BINDING: &str = "HUB";
/// The binding of the Edges (wrangler.toml).
pub const EDGE_BINDING: &str = "EDGE";

/// The deployment's one Hub.
pub fn hub(env: &Env) -> Result<Stub> {
    env.durable_object(HUB_BINDING)?.get_by_name(HUB_NAME)
}

/// The Edge named `name`, created (on first use) near its region.
pub fn edge(env: &Env, name: EdgeName) -> Result<Stub> {
    let namespace = env.durable_object(EDGE_BINDING)?;
    let text = name.to_string();
    match name.region.location_hint() {
        Some(hint) => namespace.get_by_name_with_location_hint(&text, hint.as_str()),
        None => namespace.get_by_name(&text),
    }
}

/// `POST https://<host><path>` with a JSON body on `stub`, answering JSON;
/// an answer of 400 or more is an error quoting the status and the start of
/// the body.
pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
    stub: &Stub,
    host: &str,
    path: &str,
    body: &Req,
) -> Result<Resp> {
    let mut init = RequestInit::new();
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(serde_json::to_string(body)?.into()));
    let req = Request::new_with_init(&format!("https://{host}{path}"), &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() >= 400 {
        let text = resp.text().await.unwrap_or_default();
        let start: String = text.chars().take(200).collect();
        return Err(worker::Error::RustError(format!(
            "{host}{path} answered {}: {start}",
            resp.status_code()
        )));
    }
    resp.json().await
}
