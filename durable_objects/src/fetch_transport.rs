//! The HTTP transport of the Upstash client ([`polycache_core::upstash`])
//! over `worker::Fetch`, with a timeout.
//!
//! Both the Hub (which records invalidations in Upstash and retries them)
//! and the Worker (which reads and fills entries) talk to Upstash, and the
//! Worker crate depends on this one, so the one transport lives here.
//!
//! A request that gets no complete answer within its timeout is aborted
//! (its `AbortSignal`) and reported as [`BackendFailure::Timeout`]: a cache
//! that does not answer must not hold up a read (which then goes to the
//! origin) or an invalidation (which is then kept and retried) for longer.

use std::time::Duration;

use futures::future::{select, Either};
use polycache_core::error::BackendFailure;
use polycache_core::upstash::{HttpRequest, HttpResponse, Transport, SYNC_TOKEN_HEADER};
use polycache_core::{Error, Result};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// How long one request to Upstash may take. Upstash answers in a few ms
/// from the same region and in ~100 ms across the globe; two seconds means
/// it is not answering, and a read waits no longer before going to the origin.
pub const UPSTASH_TIMEOUT_MS: u64 = 2_000;

fn unreachable(what: &str, e: worker::Error) -> Error {
    Error::backend(BackendFailure::Unreachable, format!("{what}: {e}"))
}

/// `worker::Fetch` with a timeout.
#[derive(Debug, Clone, Copy)]
pub struct FetchTransport {
    timeout_ms: u64,
}

impl Default for FetchTransport {
    fn default() -> Self {
        Self {
            timeout_ms: UPSTASH_TIMEOUT_MS,
        }
    }
}

impl Transport for FetchTransport {
    async fn post(&self, request: HttpRequest) -> Result<HttpResponse> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers
                .set(name, value)
                .map_err(|_| Error::backend(BackendFailure::Protocol, "a header was refused"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(request.body.into()));
        let req =
            Request::new_with_init(&request.url, &init).map_err(|e| unreachable("request", e))?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async move {
            let mut resp = Fetch::Request(req)
                .send_with_signal(&signal)
                .await
                .map_err(|e| unreachable("fetch", e))?;
            let status = resp.status_code();
            let sync_token = resp.headers().get(SYNC_TOKEN_HEADER).ok().flatten();
            let body = resp.text().await.map_err(|e| unreachable("body", e))?;
            Ok(HttpResponse {
                status,
                sync_token,
                body,
            })
        };
        let timer = Delay::from(Duration::from_millis(self.timeout_ms));
        match select(Box::pin(exchange), timer).await {
            Either::Left((result, _)) => result,
            Either::Right(((), _)) => {
                controller.abort();
                Err(Error::backend(
                    BackendFailure::Timeout,
                    format!("no answer within {} ms", self.timeout_ms),
                ))
            }
        }
    }
}
