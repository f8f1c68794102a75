//! The streams: one hibernatable WebSocket per SSE response, held by the
//! Worker that serves the response, and the fan-out of events to them.
//!
//! Why WebSockets and not the Hub's own streamed responses: measured on this
//! kind of machine (DESIGN.md, "How to serve the streams"), relaying over a
//! socket per stream was the only shape under 300 ms p99 at 2,000 streams
//! under `wrangler dev`, and in production it lets the Hub hibernate between
//! events instead of being pinned by open responses.
//!
//! Each socket is tagged with its stream's type filter (`f:*` for all, or
//! `f:feed,posts`), so that publishing asks the runtime for the sockets of
//! each matching filter instead of reading an attachment per socket. The
//! event is encoded once, copied into one `ArrayBuffer`, and that same buffer
//! is sent to every socket by a loop in JavaScript (`src/js/fanout.js`): no
//! per-subscriber allocation and no wasm crossing on the hot path.
//!
//! Why not one socket per Worker isolate, shared by its streams: workerd
//! binds a WebSocket to the request that opened it, so another request's
//! stream cannot be fed from it, and it closes when that request ends
//! (tried and measured: streams ended as soon as their feed's request did).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use polycache_core::event::InvalidationEvent;
use polycache_core::types::EntityType;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{js_sys, Response, Result, State, WebSocketPair};

#[wasm_bindgen(module = "/src/js/fanout.js")]
extern "C" {
    /// Sends `bytes` to every socket with one of `tags`; returns how many.
    fn broadcast(state: &JsValue, tags: Vec<String>, bytes: &[u8]) -> u32;
    /// The number of sockets the Hub holds.
    #[wasm_bindgen(js_name = countSockets)]
    fn count_sockets(state: &JsValue) -> u32;
}

/// The tag of the sockets that take every event.
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

fn filter_of(tag: &str) -> Option<Vec<EntityType>> {
    let list = tag.strip_prefix("f:")?;
    if list == "*" {
        return Some(Vec::new());
    }
    list.split(',').map(|n| EntityType::parse(n).ok()).collect()
}

/// Fan-out of events to subscribers, behind a small trait so that spreading
/// streams over shard objects later is a change of one module (DESIGN.md,
/// "Scaling past one object").
pub trait Fanout {
    /// Sends an encoded event to every subscriber whose filter it concerns;
    /// returns to how many.
    fn publish(&self, event: &InvalidationEvent, frame: &str) -> usize;
    /// How many subscribers are connected.
    fn subscribers(&self) -> usize;
}

/// The sockets of this Hub, known by their filter tags.
pub struct Streams<'a> {
    state: &'a State,
    filters: &'a FilterSet,
}

/// The distinct filter tags in use. Rebuilt from the sockets' tags when the
/// object wakes from hibernation (its memory is gone, its sockets are not).
#[derive(Default)]
pub struct FilterSet {
    known: RefCell<BTreeMap<String, Vec<EntityType>>>,
    scanned: Cell<bool>,
}

impl<'a> Streams<'a> {
    /// The streams of the Hub with this state.
    pub fn new(state: &'a State, filters: &'a FilterSet) -> Self {
        Self { state, filters }
    }

    fn ensure_scanned(&self) {
        if self.filters.scanned.replace(true) {
            return;
        }
        let mut known = self.filters.known.borrow_mut();
        for ws in self.state.get_websockets() {
            for tag in self.state.get_tags(&ws) {
                if let Some(filter) = filter_of(&tag) {
                    known.insert(tag, filter);
                }
            }
        }
    }

    /// Accepts a new stream: a socket pair whose server end the Hub keeps
    /// (hibernatable) and whose client end goes back to the Worker. The
    /// `preamble` (hello, then the replay or a reset) is sent before any
    /// live event: the object is single-threaded and nothing awaits between
    /// here and the return, so no event can slip in between.
    pub fn accept(&self, filter: &[EntityType], preamble: &str) -> Result<Response> {
        self.ensure_scanned();
        let pair = WebSocketPair::new()?;
        let tag = tag_for(filter);
        self.state.accept_websocket_with_tags(&pair.server, &[&tag]);
        self.filters.known.borrow_mut().insert(tag, filter.to_vec());
        if !preamble.is_empty() {
            let raw: &web_sys::WebSocket = pair.server.as_ref();
            raw.send_with_array_buffer(&buffer(preamble))?;
        }
        Response::from_websocket(pair.client)
    }
}

impl Fanout for Streams<'_> {
    fn publish(&self, event: &InvalidationEvent, frame: &str) -> usize {
        self.ensure_scanned();
        let tags: Vec<String> = self
            .filters
            .known
            .borrow()
            .iter()
            .filter(|(_, filter)| event.concerns(filter))
            .map(|(tag, _)| tag.clone())
            .collect();
        if tags.is_empty() {
            return 0;
        }
        broadcast(self.state.as_raw(), tags, frame.as_bytes()) as usize
    }

    fn subscribers(&self) -> usize {
        count_sockets(self.state.as_raw()) as usize
    }
}

/// One `ArrayBuffer` holding the text, shared by every send of an event.
fn buffer(text: &str) -> js_sys::ArrayBuffer {
    js_sys::Uint8Array::from(text.as_bytes())
        .buffer()
        .unchecked_into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_canonical_and_parse_back() {
        assert_eq!(tag_for(&[]), "f:*");
        let tag = tag_for(&[EntityType::Posts, EntityType::Feed, EntityType::Posts]);
        assert_eq!(tag, "f:feed,posts");
        assert_eq!(
            filter_of(&tag),
            Some(vec![EntityType::Feed, EntityType::Posts])
        );
        assert_eq!(filter_of("f:*"), Some(vec![]));
        assert_eq!(filter_of("other"), None);
    }
}
