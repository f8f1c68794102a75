//! The `cache` backend: entries in the Workers Cache API (`caches.default`)
//! under generation-stamped keys, generations and fill leases in the
//! region's Edge, as the `kv` backend does. This module is the store; the reads and fills,
//! shared with `kv`, are [`super::stamped`]'s.
//!
//! The Cache API costs nothing and needs no binding, and it is per data
//! centre: an entry filled in one is not seen in another, where the first
//! reader misses and fills again (under the same lease rules). That
//! costs hit rate, never freshness: the generation comes from the Edge.
//!
//! It works only on a custom domain. On `*.workers.dev`, in the dashboard's
//! editor and previews, and behind Cloudflare Access, `caches.default`
//! takes every put and matches nothing, so every read is a miss: correct,
//! but every read goes to the origin (one reader at a time per key, thanks
//! to the leases). The README says so for operators. Under `wrangler dev`
//! Miniflare keeps a local cache that misses, then hits, as production
//! does on a custom domain.
//!
//! An entry is a `200` response whose body is the value, stored with
//! `Cache-Control: max-age=<CACHE_TTL_SECS>` (the Cache API keeps nothing
//! without a lifetime), under the URL [`cache_api_url`] builds from the
//! deployment's `INSTANCE_ID` and the generation-stamped key.

use polycache_core::error::BackendFailure;
use polycache_core::store::{cache_api_url, CacheStore};
use worker::{Cache, Headers, Response};

use super::stamped::StampedStore;
use crate::ctx::Ctx;
use crate::error::ApiError;

/// The Workers Cache API's default cache, as a [`CacheStore`] of one
/// deployment's entries.
pub struct CacheApi {
    cache: Cache,
    instance_id: String,
}

impl StampedStore for CacheApi {
    /// `caches.default`. There is nothing to configure, so never an error;
    /// and `caches` is a global of the Workers runtime (present even where
    /// it is a no-op), so `Cache::default`'s `unwrap` cannot fire there.
    fn open(ctx: &Ctx) -> Result<Self, ApiError> {
        Ok(CacheApi {
            cache: Cache::default(),
            instance_id: ctx.config.instance_id.clone(),
        })
    }
}

impl CacheStore for CacheApi {
    async fn get(&self, key: &str) -> polycache_core::Result<Option<String>> {
        let url = cache_api_url(&self.instance_id, key);
        let Some(mut response) = self.cache.get(url, false).await.map_err(failure)? else {
            return Ok(None);
        };
        response.text().await.map(Some).map_err(failure)
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> polycache_core::Result<()> {
        let headers = Headers::new();
        headers
            .set("cache-control", &format!("max-age={ttl_secs}"))
            .map_err(failure)?;
        let response = Response::ok(value).map_err(failure)?.with_headers(headers);
        self.cache
            .put(cache_api_url(&self.instance_id, key), response)
            .await
            .map_err(failure)
    }
}

/// A Cache API error as a backend failure (the read goes to the origin and
/// the failure to the cache log).
fn failure(e: worker::Error) -> polycache_core::Error {
    polycache_core::Error::backend(BackendFailure::Unreachable, format!("Cache API: {e}"))
}
