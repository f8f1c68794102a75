//! The Edge's streams: `GET /stream?lastEventId=N&types=a,b`, called by the
//! Worker through `Edge.subscribe` (RPC, `src/js/entry.mjs`), answers the
//! stream's body, which starts with `retry`, `hello` and the replay, then
//! carries every event the Edge applies.
//!
//! The replay comes from the Edge's tail of recent events, and from the
//! Hub's log for what is older; a resume whose id is ahead of the Edge (the
//! client came from a region further ahead) first catches the Edge up from
//! the Hub. Nothing awaits between building the preamble and opening the
//! stream, so no event applied meanwhile is missed or sent twice.

use polycache_core::config::Config;
use polycache_core::edge_api::{route, EventsPage, EventsRequest};
use polycache_core::edge_replay::{replay, tail_reaches, Catchup};
use polycache_core::error_code::ErrorCode;
use polycache_core::query::StreamQuery;
use polycache_core::sse;
use serde_json::json;
use std::time::Duration;

use futures::future::select;
use worker::{Delay, Response, Result};

use super::Edge;
use crate::calls;
use crate::platform::now_ms;
use crate::reply;
use crate::streams::StreamPolicy;

impl Edge {
    /// Waits until the streams have been sent every event through `after`
    /// (while the Hub holds events back until their writes are
    /// acknowledged, a client from an Edge further ahead may resume past
    /// this one), at most a lease term: by then the write is acknowledged
    /// or the Edge no longer counts. Past that the replay answers `reset`.
    async fn wait_forwarded(&self, after: u64, config: &Config) {
        let until = now_ms().saturating_add(config.edge_lease_secs.saturating_mul(1000));
        while self.inner.forwarded.get() < after
            && after <= self.inner.replica.borrow().last_applied_id()
        {
            let now = now_ms();
            if now >= until {
                return;
            }
            let woken = self.forward_wakeup();
            let timer = Delay::from(Duration::from_millis(until - now));
            let _ = select(woken, timer).await;
        }
    }

    /// Opens a stream (see the module docs).
    pub(super) async fn stream(&self, url: &worker::Url) -> Result<Response> {
        let config = self.config()?;
        let query = match StreamQuery::parse(url.query_pairs()) {
            Ok(query) => query,
            Err(e) => return reply::error(ErrorCode::Unprocessable, &e.to_string()),
        };
        let (after, filter) = (query.last_event_id, query.types);
        self.ensure_serving().await?;
        if let Some(after) = after {
            if after > self.inner.replica.borrow().last_applied_id() {
                // Ahead of this Edge: catch up from the Hub first.
                self.renew().await?;
            }
            self.wait_forwarded(after, &config).await;
        }
        let older = match after {
            Some(id) if !tail_reaches(&self.inner.tail.borrow(), id) => {
                let hub = calls::hub(&self.env)?;
                let page: EventsPage =
                    calls::post(&hub, "hub", route::HUB_EVENTS, &EventsRequest { after: id })
                        .await?;
                Some(page.events)
            }
            _ => None,
        };
        // From here to the stream's opening nothing awaits.
        let last_id = self.inner.forwarded.get();
        let mut preamble = sse::retry(sse::RETRY_MS);
        // A fresh stream's hello carries the current id as its SSE id, so
        // that a plain EventSource which sees no event before the stream is
        // renewed (or cut) resumes from here, missing nothing. A resumed
        // stream's hello carries none: the replay after it does, and an id
        // on hello would skip replayed events not yet received when a cut
        // came.
        preamble += &sse::event(
            if after.is_none() { Some(last_id) } else { None },
            Some("hello"),
            &json!({ "lastEventId": last_id }).to_string(),
        );
        if let Some(after) = after {
            match replay(after, older, &self.inner.tail.borrow(), last_id) {
                Catchup::Events(events) => {
                    for event in events.iter().filter(|e| e.concerns(&filter)) {
                        preamble.push_str(&sse::event(
                            Some(event.id),
                            Some("app-update"),
                            &event.to_json(),
                        ));
                    }
                }
                Catchup::Reset => {
                    let data = json!({ "lastEventId": last_id }).to_string();
                    preamble.push_str(&sse::event(Some(last_id), Some("reset"), &data));
                }
            }
        }
        let resp = self
            .inner
            .streams
            .accept(&filter, &preamble, policy(&config))?;
        self.schedule_renewal().await?;
        Ok(resp)
    }
}

fn policy(config: &Config) -> StreamPolicy {
    StreamPolicy {
        heartbeat_ms: u32::try_from(config.heartbeat_secs.saturating_mul(1000)).unwrap_or(u32::MAX),
        queue_limit: u32::try_from(config.sse_queue_limit).unwrap_or(u32::MAX),
        max_writes: config.sse_max_writes,
    }
}
