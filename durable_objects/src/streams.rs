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
//! (`src/js/streams.js`), which also writes the heartbeat and bounds the
//! queue of a slow client: no per-subscriber allocation and no wasm crossing
//! on the hot path.

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
    /// Opens a stream that starts with `preamble`; returns `{id, body}`.
    #[wasm_bindgen(method)]
    fn open(
        this: &StreamRegistry,
        tag: &str,
        preamble: &[u8],
        heartbeat_ms: u32,
        queue_limit: u32,
        max_writes: u32,
    ) -> JsValue;
    /// Forgets and closes the stream with this id; false if unknown.
    #[wasm_bindgen(method)]
    fn close(this: &StreamRegistry, id: f64) -> bool;
    /// Enqueues `bytes` on every stream with one of `tags`; returns on how many.
    #[wasm_bindgen(method)]
    fn broadcast(this: &StreamRegistry, tags: Vec<String>, bytes: &[u8]) -> u32;
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

/// Fan-out of events to subscribers, behind a small trait so that spreading
/// streams over shard objects later is a change of one module (docs/architecture.md, "Why the streams look the way they do").
pub trait Fanout {
    /// Sends an encoded event to every subscriber whose filter it concerns;
    /// returns to how many.
    fn publish(&self, event: &InvalidationEvent, frame: &str) -> usize;
    /// How many subscribers are connected.
    fn subscribers(&self) -> usize;
}

/// How the streams behave: the heartbeat's period, a slow client's queue
/// bound and how many writes a stream carries before it is renewed.
#[derive(Clone, Copy, Debug)]
pub struct StreamPolicy {
    /// Milliseconds between two `: ping` comments.
    pub heartbeat_ms: u32,
    /// Chunks that may wait in one stream's queue before it is cut.
    pub queue_limit: u32,
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
        preamble: &str,
        policy: StreamPolicy,
    ) -> Result<Response> {
        let tag = tag_for(filter);
        let opened = self.registry.open(
            &tag,
            preamble.as_bytes(),
            policy.heartbeat_ms,
            policy.queue_limit,
            policy.max_writes,
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
}

impl Fanout for Streams {
    fn publish(&self, event: &InvalidationEvent, frame: &str) -> usize {
        let tags: Vec<String> = self
            .filters
            .borrow()
            .iter()
            .filter(|(_, filter)| event.concerns(filter))
            .map(|(tag, _)| tag.clone())
            .collect();
        if tags.is_empty() {
            return 0;
        }
        self.registry.broadcast(tags, frame.as_bytes()) as usize
    }

    fn subscribers(&self) -> usize {
        self.registry.count() as usize
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
