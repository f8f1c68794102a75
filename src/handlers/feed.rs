//! `GET /api/feed`: posts and pages together, newest first, each with its
//! category, cached under the `feed` type (which depends on posts, pages and
//! categories, so a write to any of them invalidates it).
//!
//! JSON: `{"items":[{"kind":"post", ...the post's fields...,
//! "category":{"id":3,"name":"Edge Basics"}}, {"kind":"page", ...}]}`, with
//! `category` `null` for an item without one. Query parameters are ignored
//! (the cache key is the path alone, as for the content lists).

use polycache_core::types::EntityType;
use serde::Serialize;
use worker::Response;

use crate::cache;
use crate::ctx::Ctx;
use crate::db::{self, Db, FeedItem};
use crate::error::ApiResult;

/// The cache key of the feed.
const PATH: &str = "/api/feed";

#[derive(Serialize)]
struct Feed {
    items: Vec<FeedItem>,
}

/// Answers the feed.
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let (text, status) = cache::read_through(ctx, EntityType::FEED, PATH, || async {
        let items = Db::open(&ctx.env)?.feed().await?;
        db::to_json(&Feed { items })
    })
    .await?;
    cache::cached_response(200, text, status)
}
