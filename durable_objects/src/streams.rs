//! The streams: one SSE response body per stream, written by an Edge (the
//! Hub in the first version) and returned to the Worker over RPC
//! (`Edge.subscribe` in `src/js/entry.mjs`), and the fan-out of events to
//! them.
//!
//! Why the object writes the streams itself: the Worker then returns the
//! body as it is and the runtime pipes it, so an event costs one enqueue
//! per stream in the object and no JavaScript in the Worker. A stream fetched with
//! `stub.fetch` would do the same, but under the `wrangler dev` command its
//! inspector turns every chunk of a subrequest into a debugging event
//! (seconds at p99); an RPC stream is not a subrequest. The first shape
//! considered, a hibernatable WebSocket per stream relayed into the
//! response by the Worker, measured about twice the CPU per event and twice
//! the p99 (README, "Performance"). Its one advantage, letting the object
//! hibernate while streams are open, is given up: an Edge stays in memory
//! while any stream is open.
//!
//! Streams are grouped by their type filter's tag (`f:*` for all, or
//! `f:feed,posts`), so that publishing walks only the groups an event
//! concerns. The event is encoded once, copied into one buffer, and that same
//! buffer is enqueued on every stream by a loop in JavaScript
//! (`src/js/streams.js`), which also coalesces the events of a burst into
//! one write per stream, writes the heartbeat and bounds the queue of a
//! slow client: no per-subscriber allocation and no wasm crossing on the
//! hot path.

use std::cell::RefCell;
use std::collections::BTreeMap;

use polycache_core::event::InvalidationEvent;
use polycache_core::types::EntityType;
use wasm_bindgen::prelude::*;
use worker::{js_sys, Response, ResponseBody, Result};

#[wasm_bindgen(module = "/src/js/streams.js")]
extern "C" {
    /// One object's streams, heartbeat timer and settings
    /// (`src/js/streams.js`): one per object, since module state would be
    /// shared by every object of an isolate.
    pub type StreamRegistry;
    /// An empty registry.
    #[wasm_bindgen(constructor)]
    pub fn new() -> StreamRegistry;
    /// Opens a stream of the client at `addr` that starts with `preamble`;
    /// returns `{id, body}`.
    #[wasm_bindgen(method)]
    #[allow(clippy::too_many_arguments)] // the stream's policy, spelled out for JavaScript
    fn open(
        this: &StreamRegistry,
        tag: &str,
        addr: &str,
        preamble: &[u8],
        heartbeat_ms: u32,
        queue_bytes: f64,
        max_writes: u32,
        coalesce_ms: u32,
    ) -> JsValue;
    /// Forgets and closes the stream with this id; false if unknown.
    #[wasm_bindgen(method)]
    fn close(this: &StreamRegistry, id: f64) -> bool;
    /// Enqueues `bytes` on every stream with one of `tags` at once, after
    /// the events pending; returns on how many.
    #[wasm_bindgen(method)]
    fn broadcast(this: &StreamRegistry, tags: Vec<String>, bytes: &[u8]) -> u32;
    /// Sends an event's frame to every stream with one of `tags`, coalesced
    /// with the events of the same window.
    #[wasm_bindgen(method, js_name = publish)]
    fn publish_frame(this: &StreamRegistry, tags: Vec<String>, bytes: &[u8]);
    /// How many streams the client at `addr` holds open.
    #[wasm_bindgen(method, js_name = countFor)]
    fn count_for(this: &StreamRegistry, addr: &str) -> u32;
    /// `[chunks, events]` written to streams so far.
    #[wasm_bindgen(method, getter)]
    fn stats(this: &StreamRegistry) -> Vec<f64>;
    /// Whether an open stream has this tag.
    #[wasm_bindgen(method, js_name = hasTag)]
    fn has_tag(this: &StreamRegistry, tag: &str) -> bool;
    /// The number of open streams.
    #[wasm_bindgen(method, getter)]
    fn count(this: &StreamRegistry) -> u32;
}

/// The tag of the streams that take every event.
pub const ALL: &str = "f:*";

/// The tag for a stream's type filter (empty: every event).
pub fn tag_for(filter: &[EntityType]) -> String {
    if filter.is_empty() {
        return ALL.to_owned();
    }
    let mut names: Vec<&str> = filter.iter().map(|t| t.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    format!("f:{}", names.join(","))
}

/// How the streams behave: the heartbeat's period, a slow client's queue
/// bound, how many writes a stream carries before it is renewed and the
/// coalescing window.
#[derive(Clone, Copy, Debug)]
pub struct StreamPolicy {
    /// Milliseconds between two `: ping` comments.
    pub heartbeat_ms: u32,
    /// Bytes that may wait in one stream's queue before it is cut.
    pub queue_bytes: u64,
    /// Milliseconds events wait to go out together (0: each at once).
    pub coalesce_ms: u32,
    /// Writes after which the Hub ends a stream, at a random count between
    /// half of this and this, and the client reconnects with
    /// `Last-Event-ID`: workerd retains about 96 bytes per write of a
    /// stream until it ends (`src/js/streams.js`).
    pub max_writes: u32,
}

/// The streams of one object, known by their filter tags.
pub struct Streams {
    registry: StreamRegistry,
    /// The filter of each tag that had a stream when last looked at; a tag
    /// whose streams are all gone is dropped when the next stream opens.
    filters: RefCell<BTreeMap<String, Vec<EntityType>>>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            registry: StreamRegistry::new(),
            filters: RefCell::new(BTreeMap::new()),
        }
    }
}

impl Streams {
    /// Opens a new stream and answers its body, with its id in
    /// `x-stream-id` (for [`Streams::close`]). The `preamble` (retry, hello,
    /// then the replay or a reset) is written before any live event: the
    /// object is single-threaded and nothing awaits between here and the
    /// return, so no event can slip in between.
    pub fn accept(
        &self,
        filter: &[EntityType],
        addr: &str,
        preamble: &str,
        policy: StreamPolicy,
    ) -> Result<Response> {
        let tag = tag_for(filter);
        let opened = self.registry.open(
            &tag,
            addr,
            preamble.as_bytes(),
            policy.heartbeat_ms,
            policy.queue_bytes as f64,
            policy.max_writes,
            policy.coalesce_ms,
        );
        let mut filters = self.filters.borrow_mut();
        filters.retain(|t, _| self.registry.has_tag(t));
        filters.insert(tag, filter.to_vec());
        let id = js_sys::Reflect::get(&opened, &"id".into())?
            .as_f64()
            .unwrap_or_default();
        let body: web_sys::ReadableStream = js_sys::Reflect::get(&opened, &"body".into())?.into();
        let resp = Response::from_body(ResponseBody::Stream(body))?;
        resp.headers().set("x-stream-id", &id.to_string())?;
        Ok(resp)
    }

    /// Sends `frame` to every open stream, whatever its filter (a `reset`).
    pub fn reset(&self, frame: &str) -> usize {
        let tags: Vec<String> = self.filters.borrow().keys().cloned().collect();
        if tags.is_empty() {
            return 0;
        }
        self.registry.broadcast(tags, frame.as_bytes()) as usize
    }

    /// Forgets the stream with this id and closes it: its client went away
    /// (the Worker saw its request's signal abort). False if unknown.
    pub fn close(&self, id: f64) -> bool {
        self.registry.close(id)
    }

    /// Sends an encoded event to every stream whose filter it concerns,
    /// in one write with the other events of its coalescing window.
    pub fn publish(&self, event: &InvalidationEvent, frame: &str) {
        let tags: Vec<String> = self
            .filters
            .borrow()
            .iter()
            .filter(|(_, filter)| event.concerns(filter))
            .map(|(tag, _)| tag.clone())
            .collect();
        if !tags.is_empty() {
            self.registry.publish_frame(tags, frame.as_bytes());
        }
    }

    /// How many streams are open.
    pub fn subscribers(&self) -> usize {
        self.registry.count() as usize
    }

    /// How many streams the client at `addr` holds open.
    pub fn subscribers_at(&self, addr: &str) -> usize {
        self.registry.count_for(addr) as usize
    }

    /// Chunks of events written to the streams so far and the events in
    /// them, each summed over streams (heartbeats and preambles aside).
    pub fn written(&self) -> (u64, u64) {
        let stats = self.registry.stats();
        let at = |i: usize| stats.get(i).copied().unwrap_or_default() as u64;
        (at(0), at(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_canonical() {
        assert_eq!(tag_for(&[]), "f:*");
        let tag = tag_for(&[EntityType::POSTS, EntityType::FEED, EntityType::POSTS]);
        assert_eq!(tag, "f:feed,posts");
    }
}
