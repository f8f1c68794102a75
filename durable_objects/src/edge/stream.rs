//! The Edge's streams: `GET /stream?lastEventId=N&types=a,b`, called by the
//! Worker through `Edge.subscribe` (RPC, `src/js/entry.mjs`), answers the
//! stream's body, which starts with `retry`, `hello` and the replay, then
//! carries every event the Edge applies.
//!
//! What one Edge gives the public is bounded: at most
//! `SSE_STREAMS_PER_ADDRESS` open streams per client address (from the
//! Worker, in [`polycache_core::edge_api::CLIENT_HEADER`]) and
//! `SSE_STREAMS_PER_OBJECT` in all (429 with `retry-after` past them), and
//! a replay of at most
//! `SSE_REPLAY_MAX_EVENTS` events and `SSE_REPLAY_MAX_BYTES` bytes (a
//! `reset` past them: the client refetches everything).
//!
//! The replay comes from the Edge's tail of recent events, and from the
//! Hub's log for what is older; a resume whose id is ahead of the Edge (the
//! client came from a region further ahead) first catches the Edge up from
//! the Hub. Nothing awaits between building the preamble and opening the
//! stream, so no event applied meanwhile is missed or sent twice.

use polycache_core::config::Config;
use polycache_core::edge_api::{route, EventsPage, EventsRequest};
use polycache_core::edge_replay::{replay, tail_reaches, too_far_behind, Catchup};
use polycache_core::error_code::ErrorCode;
use polycache_core::event::InvalidationEvent;
use polycache_core::query::StreamQuery;
use polycache_core::sse;
use polycache_core::types::EntityType;
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

    /// Opens a stream (see the module docs) for the client whose address
    /// key is `addr`.
    pub(super) async fn stream(&self, url: &worker::Url, addr: &str) -> Result<Response> {
        let config = self.config()?;
        let query = match StreamQuery::parse(url.query_pairs()) {
            Ok(query) => query,
            Err(e) => return reply::error(ErrorCode::Unprocessable, &e.to_string()),
        };
        if let Some(refused) = self.refuse_stream(addr, &config)? {
            return Ok(refused);
        }
        let (after, filter) = (query.last_event_id, query.types);
        let limits = config.streams;
        self.ensure_serving().await?;
        if let Some(after) = after {
            if after > self.inner.replica.borrow().last_applied_id() {
                // Ahead of this Edge: catch up from the Hub first.
                self.renew().await?;
            }
            self.wait_forwarded(after, &config).await;
        }
        let older = match after {
            Some(id)
                if !tail_reaches(&self.inner.tail.borrow(), id)
                    && !too_far_behind(id, self.inner.forwarded.get(), limits.replay_events) =>
            {
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
            let tail = self.inner.tail.borrow();
            let replayed = match replay(after, older, &tail, last_id, limits.replay_events) {
                Catchup::Events(events) => encode_replay(&events, &filter, limits.replay_bytes),
                Catchup::Reset => None,
            };
            match replayed {
                Some(frames) => preamble.push_str(&frames),
                None => {
                    let data = json!({ "lastEventId": last_id }).to_string();
                    preamble.push_str(&sse::event(Some(last_id), Some("reset"), &data));
                }
            }
        }
        let resp = self
            .inner
            .streams
            .accept(&filter, addr, &preamble, policy(&config))?;
        self.schedule_renewal().await?;
        Ok(resp)
    }

    /// A 429 when the client at `addr`, or the Edge as a whole, holds as
    /// many streams as allowed; `None` when the stream may open.
    fn refuse_stream(&self, addr: &str, config: &Config) -> Result<Option<Response>> {
        let limits = config.streams;
        let streams = &self.inner.streams;
        let message = if streams.subscribers_at(addr) >= limits.per_address as usize {
            format!(
                "too many open streams from this address (at most {}); retry in {STREAM_RETRY_SECS} s",
                limits.per_address
            )
        } else if streams.subscribers() >= limits.per_object as usize {
            format!("this edge serves as many streams as it can; retry in {STREAM_RETRY_SECS} s")
        } else {
            return Ok(None);
        };
        let resp = reply::error(ErrorCode::TooManyRequests, &message)?;
        resp.headers()
            .set("retry-after", &STREAM_RETRY_SECS.to_string())?;
        Ok(Some(resp))
    }
}

/// The `retry-after` of a refused stream: long enough that a client which
/// retries at once does not hammer the Edge, short enough that a stream
/// freed meanwhile is soon taken.
const STREAM_RETRY_SECS: u64 = 10;

/// The replay's frames of the `events` that `filter` lets through, or
/// `None` (a reset) when they would take more than `max_bytes`.
fn encode_replay(
    events: &[InvalidationEvent],
    filter: &[EntityType],
    max_bytes: usize,
) -> Option<String> {
    let mut frames = String::new();
    for event in events.iter().filter(|e| e.concerns(filter)) {
        frames.push_str(&sse::event(
            Some(event.id),
            Some("app-update"),
            &event.to_json(),
        ));
        if frames.len() > max_bytes {
            return None;
        }
    }
    Some(frames)
}

fn policy(config: &Config) -> StreamPolicy {
    StreamPolicy {
        heartbeat_ms: u32::try_from(config.heartbeat_secs.saturating_mul(1000)).unwrap_or(u32::MAX),
        queue_bytes: config.streams.queue_bytes,
        coalesce_ms: u32::try_from(config.streams.coalesce_ms).unwrap_or(u32::MAX),
        max_writes: config.sse_max_writes,
    }
}
