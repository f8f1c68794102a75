//! The client of the Hub Durable Object: a call to one of its routes
//! ([`polycache_core::hub_api::route`]) with the route's typed request and
//! answer, and the mapping of its errors (which the Edges share).

use polycache_core::error_code::{ErrorBody, ErrorCode};
use polycache_core::hub_api::HUB_NAME;
use serde::{de::DeserializeOwned, Serialize};
use worker::{console_error, Env, Headers, Method, Request, RequestInit, Response, Stub};

use crate::error::{ApiError, ApiResult};

/// The stub of this deployment's one Hub.
pub fn stub(env: &Env) -> ApiResult<Stub> {
    Ok(env.durable_object("HUB")?.get_by_name(HUB_NAME)?)
}

/// `POST https://hub/<path>` with a JSON body, answering JSON.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    env: &Env,
    path: &str,
    body: &Req,
) -> ApiResult<Resp> {
    let mut resp = send(env, Method::Post, path, Some(body)).await?;
    Ok(resp.json().await?)
}

/// `GET https://hub/<path>`, answering JSON.
pub async fn get<Resp: DeserializeOwned>(env: &Env, path: &str) -> ApiResult<Resp> {
    let mut resp = send::<()>(env, Method::Get, path, None).await?;
    Ok(resp.json().await?)
}

async fn send<Req: Serialize>(
    env: &Env,
    method: Method,
    path: &str,
    body: Option<&Req>,
) -> ApiResult<Response> {
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        init.with_headers(headers).with_body(Some(text.into()));
    }
    let req = Request::new_with_init(&format!("https://hub{path}"), &init)?;
    // A call that throws is a Hub that failed (one that cannot open its
    // storage, say), not a bug of this request: 503 like any Hub failure.
    let resp = stub(env)?.fetch_with_request(req).await.map_err(|e| {
        console_error!("hub {path}: {e}");
        unavailable()
    })?;
    if resp.status_code() >= 400 {
        return Err(hub_error(resp).await);
    }
    Ok(resp)
}

/// The Hub's error answer as the Worker's error ([`object_error`]).
pub async fn hub_error(resp: Response) -> ApiError {
    object_error(resp, "hub").await
}

/// The Hub and the Edges (`who`) answer their errors in the API's error
/// shape ([`ErrorBody`]); a client's mistake they found (a malformed or
/// conflicting request, or one past a limit) passes on as it is, and
/// anything else becomes a 503: the object failed, not the client. What it
/// said goes to the log, not to the client: it may carry a JavaScript
/// error's or the storage's text.
pub async fn object_error(mut resp: Response, who: &str) -> ApiError {
    let status = resp.status_code();
    let retry_after = resp.headers().get("retry-after").ok().flatten();
    let body = resp.json::<ErrorBody>().await.ok().map(|b| b.error);
    let message = body
        .as_ref()
        .map_or_else(|| format!("{who} answered {status}"), |e| e.message.clone());
    match body.map(|e| e.code) {
        Some(ErrorCode::BadRequest) => ApiError::BadRequest(message),
        Some(ErrorCode::Conflict) => ApiError::Conflict(message),
        Some(ErrorCode::Unprocessable) => ApiError::Unprocessable(message),
        Some(ErrorCode::TooManyRequests) => {
            ApiError::TooManyRequests(retry_after.and_then(|s| s.trim().parse().ok()).unwrap_or(1))
        }
        _ => {
            console_error!("{who} answered {status}: {message}");
            ApiError::Unavailable(format!("the {who} is unavailable; try again shortly"))
        }
    }
}

/// The error of a Hub that could not be reached or failed to answer; what
/// went wrong goes to the console, not to the client.
pub fn unavailable() -> ApiError {
    ApiError::Unavailable("the hub is unavailable; try again shortly".into())
}
