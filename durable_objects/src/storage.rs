//! JSON values in Durable Object storage.
//!
//! Values are stored as JSON strings rather than structured clones, so that
//! a `list` of every key can be read back without a second serialization layer.
//!
//! Durable Object storage takes at most [`MAX_KEYS_PER_CALL`] keys in one
//! `put` or `delete` and applies each call all or nothing. So up to that
//! many `put`s given to [`put_all`] are one atomic write (every change of an
//! invalidation or a delivery is far smaller); more (an operator's retry
//! of thousands of parked entries, a removed mirror's queue) go in calls of
//! that many, in order, and the caller orders its keys so that a failure
//! between two calls leaves a state that loads correctly.

/// The most keys Cloudflare's storage takes in one `put` or `delete` call
/// (its documented limit; `workerd` refuses more).
pub const MAX_KEYS_PER_CALL: usize = 128;

use wasm_bindgen::JsValue;
use worker::{js_sys, Result, Storage};

/// Writes several JSON values: in one atomic step up to
/// [`MAX_KEYS_PER_CALL`] keys, else in steps of that many, in order.
pub async fn put_all(storage: &Storage, entries: &[(String, String)]) -> Result<()> {
    for batch in entries.chunks(MAX_KEYS_PER_CALL) {
        let object = js_sys::Object::new();
        for (key, value) in batch {
            js_sys::Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value))?;
        }
        storage.put_multiple_raw(object).await?;
    }
    Ok(())
}

/// Reads every key with its JSON text, in key order (a Hub's whole state:
/// tens of thousands of small values at most, bounded by the event log's
/// size, the dedupe capacity and the mirrors' queues).
pub async fn list_all(storage: &Storage) -> Result<Vec<(String, String)>> {
    let map = storage.list().await?;
    let mut out = Vec::with_capacity(map.size() as usize);
    map.for_each(&mut |value, key| {
        if let (Some(key), Some(text)) = (key.as_string(), value.as_string()) {
            out.push((key, text));
        }
    });
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Deletes keys, [`MAX_KEYS_PER_CALL`] at a time.
pub async fn delete(storage: &Storage, keys: Vec<String>) -> Result<()> {
    for batch in keys.chunks(MAX_KEYS_PER_CALL) {
        storage.delete_multiple(batch.to_vec()).await?;
    }
    Ok(())
}
