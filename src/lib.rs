//! polycache, the Cloudflare Worker: cache invalidation and mirroring for an
//! edge application.
//!
//! Map of the crate:
//! - `lib.rs`: the `#[event(fetch)]` entry point, nothing else.
//! - [`router`]: matches method and path to a handler; built apart from the
//!   entry point so that it reads like the API table in the README.
//! - [`handlers`]: one module per resource.
//! - [`cache`]: the cache service: read-through by generation, invalidation.
//! - [`backends`]: where entries live: memory (in the Edges), Workers KV,
//!   Upstash, the Workers Cache API.
//! - [`edge_client`]: which Edge serves a request; typed calls to it, and
//!   the streams it opens.
//! - [`hub_client`]: typed calls to the Hub Durable Object.
//! - [`db`]: D1 queries of the origin data.
//! - [`auth`]: bearer tokens and roles.
//! - [`body`]: JSON request bodies with their limits.
//! - [`settings`]: the [`polycache_core::config::Config`] read from the Worker's vars.
//! - [`error`]: the one error type and its mapping to a JSON HTTP response.
//!
//! The Hub and Edge Durable Objects live in the `polycache-hub` crate
//! (`durable_objects/`) and are compiled into this Worker; they are
//! re-exported here so that their classes are part of the bundle.

pub mod auth;
pub mod backends;
pub mod body;
pub mod cache;
pub mod ctx;
pub mod db;
pub mod edge_client;
pub mod error;
pub mod handlers;
pub mod hub_client;
pub mod platform;
pub mod response;
pub mod router;
pub mod settings;

pub use polycache_hub::{Edge, Hub};

use worker::{event, Context, Env, Request, Response};

/// The Worker's fetch handler: every request goes through [`router::handle`],
/// which never fails (errors become JSON responses there).
#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    Ok(router::handle(req, env, ctx).await)
}
