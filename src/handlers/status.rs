//! `GET /api/status`: the Hub's counters and its registry of Edges, each
//! Edge's own report (open streams, memory entries, last applied event,
//! chunks and events written to its streams),
//! the sums over them, the cache backend and `originReads` (the origin reads
//! of cached reads made by the isolate that answers: one per `wrangler dev`;
//! several in production, each with its own count). Public like the stream
//! itself, so that an operator or a test can see that closed streams are
//! gone and which Edges hold a lease.

use futures::future::join_all;
use polycache_core::edge_name::EdgeName;
use polycache_core::hub_api::{route, StatusResponse};
use polycache_core::push_queue::MAX_IN_FLIGHT;
use serde_json::json;
use worker::Response;

use crate::cache;
use crate::ctx::Ctx;
use crate::edge_client;
use crate::error::{ApiError, ApiResult};
use crate::hub_client;
use crate::response::json_response;

/// Answers the status.
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let mut status: StatusResponse = hub_client::get(&ctx.env, route::STATUS).await?;
    // Each registered Edge reports itself, a few at a time (a Worker may
    // have at most six requests in flight); one that cannot be reached
    // keeps what the registry knows.
    for chunk in status.edges.chunks_mut(MAX_IN_FLIGHT) {
        let reports = join_all(chunk.iter().map(|edge| async move {
            let name = EdgeName::parse(&edge.name).ok()?;
            edge_client::report(ctx, name).await.ok()
        }))
        .await;
        for (edge, report) in chunk.iter_mut().zip(reports) {
            if let Some(report) = report {
                edge.subscribers = report.subscribers;
                edge.cache_entries = report.cache_entries;
                edge.stream_chunks = report.stream_chunks;
                edge.stream_events = report.stream_events;
                edge.last_event_id = edge.last_event_id.max(report.last_event_id);
            }
        }
    }
    status.subscribers = status.edges.iter().map(|e| e.subscribers).sum();
    status.cache_entries = status.edges.iter().map(|e| e.cache_entries).sum();
    status.stream_chunks = status.edges.iter().map(|e| e.stream_chunks).sum();
    status.stream_events = status.edges.iter().map(|e| e.stream_events).sum();
    let mut body = serde_json::to_value(&status).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["backend"] = json!(ctx.config.backend.as_str());
    body["originReads"] = json!(cache::origin_reads());
    json_response(200, &body)
}
