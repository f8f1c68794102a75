//! The `upstash` backend: entries, generations and fill leases in Upstash
//! Redis, reached over its REST API with our own client
//! ([`polycache_core::upstash`] over the Hub crate's `worker::Fetch`
//! transport), laid out as [`polycache_core::redis_cache`] describes.
//!
//! A read is one round trip to Redis (the read script), run side by side
//! with one call to the region's Edge that says whether the type has an
//! invalidation Redis has not recorded yet (then the read bypasses the
//! cache; see [`polycache_core::pending`]). The Edge call costs no extra latency, since
//! the two run together, and it is what keeps the guarantee (docs/architecture.md) when
//! Redis refused a bump but still answers reads (an `OOM`, a blip).
//!
//! A reader that misses while another holds the lease polls the read script
//! (10 ms, doubling to 100 ms) until the entry appears, the lease expires
//! (then it takes it), or the wait bound passes (`Config::fill_wait_ms`:
//! [`polycache_core::lease::WAIT_MS`], or the origin's timeout in origin
//! mode; then it reads the origin).
//!
//! The client lives as long as the isolate, so that the SHA-1s of the
//! scripts and the newest `upstash-sync-token` carry from one request to
//! the next; the Hub's sync token (which the Edge has from the Hub's
//! pushes) is adopted from the Edge's answer, so that a read also waits for
//! the Hub's latest bump on a replicated database.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use polycache_core::redis_cache::{self, RedisLayout, FILL, READ, RELEASE};
use polycache_core::types::EntityType;
use polycache_core::upstash::{Client, Endpoint};
use polycache_hub::fetch_transport::FetchTransport;
use worker::Delay;

use super::outcome::{edge_read, EdgeRead, Failure, Lease, Lookup, Ticket};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::platform::{self, now_ms};

/// The first pause of a reader waiting for another's fill; it doubles up
/// to [`MAX_POLL_MS`]. An origin read of a list takes a few ms, so most
/// waiters find the entry on their first or second look.
const FIRST_POLL_MS: u64 = 10;
/// The longest pause between two looks.
const MAX_POLL_MS: u64 = 100;

thread_local! {
    /// This isolate's client (see the module docs).
    static CLIENT: RefCell<Option<Rc<Client<FetchTransport>>>> = const { RefCell::new(None) };
}

/// This isolate's client of the configured database.
fn client(ctx: &Ctx) -> Result<Rc<Client<FetchTransport>>, Failure> {
    let endpoint = Endpoint::from_vars(|name| platform::var(&ctx.env, name))
        .map_err(|e| Failure::Config(ApiError::from(e)))?;
    Ok(CLIENT.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some(c) if *c.endpoint() == endpoint => c.clone(),
            _ => {
                let c = Rc::new(Client::new(endpoint, FetchTransport::default()));
                *slot = Some(c.clone());
                c
            }
        }
    }))
}

/// A token naming this reader's lease; not a secret, only distinct.
fn lease_token() -> String {
    format!("{:013x}", platform::random_u53() >> 1)
}

/// The read script and the Edge's bypass check, side by side; then, if
/// another reader fills, polls until its entry appears.
pub async fn lookup(ctx: &Ctx, t: EntityType, path: &str) -> Result<Lookup, Failure> {
    let client = client(ctx)?;
    let layout = RedisLayout::new(&ctx.config.instance_id);
    let keys = layout.keys(t, path);
    let token = lease_token();
    let args = redis_cache::read_args(
        t,
        &token,
        ctx.config.fill_lease_ms(),
        redis_cache::first_generation(now_ms()),
    );
    let edge = edge_read(ctx, t, path, EdgeRead::GenerationOnly);
    let (edge, first) = futures::join!(edge, client.eval(&READ, &keys, &args));
    let edge = edge?;
    if let Some(sync) = &edge.sync_token {
        client.adopt_sync_token(sync);
    }
    if edge.bypass {
        // Give back a lease the script may have taken, so that readers after
        // the recovery do not wait for a fill that will not come.
        if let Ok(redis_cache::Lookup::Miss {
            generation,
            leased: true,
        }) = first
            .as_ref()
            .map_err(drop)
            .and_then(|a| redis_cache::parse_read(a).map_err(drop))
        {
            let ticket = ticket(t, path, generation, Lease::Redis(token));
            let _ = release(ctx, &ticket).await;
        }
        return Ok(Lookup::Bypass);
    }
    let mut answer = first;
    let deadline = now_ms() + ctx.config.fill_wait_ms();
    let mut pause = FIRST_POLL_MS;
    loop {
        let found = redis_cache::parse_read(&answer.map_err(Failure::Backend)?)
            .map_err(Failure::Backend)?;
        let (generation, leased) = match found {
            redis_cache::Lookup::Hit(value) => return Ok(Lookup::Hit(value)),
            redis_cache::Lookup::Miss { generation, leased } => (generation, leased),
        };
        if leased {
            return Ok(Lookup::Miss(ticket(
                t,
                path,
                generation,
                Lease::Redis(token),
            )));
        }
        if now_ms() >= deadline {
            return Ok(Lookup::Miss(ticket(t, path, generation, Lease::None)));
        }
        Delay::from(Duration::from_millis(pause)).await;
        pause = (pause * 2).min(MAX_POLL_MS);
        answer = client.eval(&READ, &keys, &args).await;
    }
}

/// Stores the value if its generation is still current, and gives the
/// lease back, in one script.
pub async fn fill(ctx: &Ctx, ticket: &Ticket, value: &str) -> Result<(), Failure> {
    let client = client(ctx)?;
    let layout = RedisLayout::new(&ctx.config.instance_id);
    let token = match &ticket.lease {
        Lease::Redis(token) => Some(token.as_str()),
        _ => None,
    };
    let args = redis_cache::fill_args(
        ticket.entity_type,
        ticket.generation,
        value,
        ctx.config.cache_ttl_secs,
        token,
    );
    let answer = client
        .eval(&FILL, &layout.keys(ticket.entity_type, &ticket.path), &args)
        .await
        .map_err(Failure::Backend)?;
    redis_cache::parse_fill(&answer).map_err(Failure::Backend)?;
    Ok(())
}

/// Gives a Redis lease back.
pub async fn release(ctx: &Ctx, ticket: &Ticket) -> Result<(), Failure> {
    let Lease::Redis(token) = &ticket.lease else {
        return Ok(());
    };
    let client = client(ctx)?;
    let layout = RedisLayout::new(&ctx.config.instance_id);
    client
        .eval(
            &RELEASE,
            &[layout.lease(ticket.entity_type, &ticket.path)],
            &redis_cache::release_args(ticket.generation, token),
        )
        .await
        .map_err(Failure::Backend)?;
    Ok(())
}

fn ticket(t: EntityType, path: &str, generation: u64, lease: Lease) -> Ticket {
    Ticket {
        entity_type: t,
        path: path.to_owned(),
        generation,
        lease,
    }
}
