//! JSON values in Durable Object storage.
//!
//! Values are stored as JSON strings rather than structured clones, so that
//! a `list` by prefix can be read back without a second serialization layer.
//! Several `put`s given to [`put_all`] are one atomic write (Durable Object
//! storage applies a `put` of several keys all or nothing).

use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::JsValue;
use worker::{js_sys, ListOptions, Result, Storage};

/// Reads one JSON value.
pub async fn get<T: DeserializeOwned>(storage: &Storage, key: &str) -> Result<Option<T>> {
    match storage.get::<String>(key).await? {
        Some(text) => Ok(Some(serde_json::from_str(&text)?)),
        None => Ok(None),
    }
}

/// Writes several JSON values in one atomic step.
pub async fn put_all(storage: &Storage, entries: &[(String, String)]) -> Result<()> {
    let object = js_sys::Object::new();
    for (key, value) in entries {
        js_sys::Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value))?;
    }
    storage.put_multiple_raw(object).await
}

/// Serializes a value for [`put_all`].
pub fn entry<T: Serialize>(key: impl Into<String>, value: &T) -> Result<(String, String)> {
    Ok((key.into(), serde_json::to_string(value)?))
}

/// Reads every value under a prefix, in key order.
pub async fn list<T: DeserializeOwned>(
    storage: &Storage,
    prefix: &str,
) -> Result<Vec<(String, T)>> {
    let map = storage
        .list_with_options(ListOptions::new().prefix(prefix))
        .await?;
    let mut out = Vec::with_capacity(map.size() as usize);
    let mut error = None;
    map.for_each(&mut |value, key| {
        if error.is_some() {
            return;
        }
        let (Some(key), Some(text)) = (key.as_string(), value.as_string()) else {
            return;
        };
        match serde_json::from_str(&text) {
            Ok(v) => out.push((key, v)),
            Err(e) => error = Some(e),
        }
    });
    if let Some(e) = error {
        return Err(e.into());
    }
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
