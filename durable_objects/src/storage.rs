//! JSON values in Durable Object storage.
//!
//! Values are stored as JSON strings rather than structured clones, so that
//! a `list` of every key can be read back without a second serialization layer.
//! Several `put`s given to [`put_all`] are one atomic write (Durable Object
//! storage applies a `put` of several keys all or nothing).

use wasm_bindgen::JsValue;
use worker::{js_sys, Result, Storage};

/// Writes several JSON values in one atomic step.
pub async fn put_all(storage: &Storage, entries: &[(String, String)]) -> Result<()> {
    let object = js_sys::Object::new();
    for (key, value) in entries {
        js_sys::Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value))?;
    }
    storage.put_multiple_raw(object).await
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

/// Deletes keys.
pub async fn delete(storage: &Storage, keys: Vec<String>) -> Result<()> {
    if !keys.is_empty() {
        storage.delete_multiple(keys).await?;
    }
    Ok(())
}
