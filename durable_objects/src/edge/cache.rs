//! The Edge's side of the cache: the generation (and bypass) of every read
//! from the replica, the `memory` backend's entries, and the fill leases of
//! the region's readers.
//!
//! Leases ([`polycache_core::lease`]) live in the Edge because every reader
//! of a key in a region goes to the same Edge (the Worker picks the shard by
//! the key): a stampede costs one origin read per region. A reader that
//! finds someone else filling is held: its request waits (on a channel,
//! with a bound) for the filler's `/cache/write`, which hands it the value.

use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};
use polycache_core::generation::cache_key;
use polycache_core::hub_api::{
    Ack, Fill, LeaseRequest, ReadRequest, ReadResponse, ReleaseRequest, Stored, WriteRequest,
};
use polycache_core::lease::{Acquire, WAIT_MS};
use polycache_core::types::EntityType;
use worker::{Delay, Response, Result};

use super::Edge;
use crate::platform::now_ms;
use crate::reply;
use crate::state::Waiter;

impl Edge {
    /// The generation of `t` to read and fill by, and whether its reads
    /// bypass the cache, once the Edge holds a lease. Marks the Edge busy,
    /// so that it keeps its lease while reads come.
    async fn serving(&self, t: EntityType) -> Result<(u64, bool)> {
        self.config()?;
        self.inner.last_read_ms.set(now_ms());
        self.ensure_serving().await?;
        self.schedule_renewal().await?;
        let generation = self.inner.replica.borrow().generations().get(t);
        Ok((generation, self.inner.bypass.borrow().contains(&t)))
    }

    /// `POST /cache/read`.
    pub(super) async fn cache_read(&self, req: ReadRequest) -> Result<Response> {
        let t = req.entity_type;
        let (generation, bypass) = self.serving(t).await?;
        let mut answer = ReadResponse {
            generation,
            value: None,
            bypass,
            fill: Fill::None,
            sync_token: self.inner.sync_token.borrow().clone(),
        };
        if bypass || !req.with_value {
            return reply::json(200, &answer);
        }
        let key = cache_key(t, generation, &req.path);
        let now = now_ms();
        answer.value = self
            .inner
            .cache
            .borrow_mut()
            .get(&key, now)
            .map(str::to_owned)
            .or_else(|| {
                self.inner
                    .negative
                    .borrow_mut()
                    .get(&key, now)
                    .map(str::to_owned)
            });
        if answer.value.is_none() && req.lease {
            (answer.value, answer.fill) = self.lease_or_wait(&key).await;
        }
        reply::json(200, &answer)
    }

    /// `POST /cache/lease` (kv and cache backends, after a miss).
    pub(super) async fn cache_lease(&self, req: LeaseRequest) -> Result<Response> {
        let t = req.entity_type;
        let (generation, _) = self.serving(t).await?;
        let mut answer = ReadResponse {
            generation,
            value: None,
            bypass: false,
            fill: Fill::Unleased,
            sync_token: None,
        };
        // A lease of a generation that has moved is void: the reader's value
        // would be stored under a key nobody reads.
        if req.generation == generation {
            let key = cache_key(t, generation, &req.path);
            (answer.value, answer.fill) = self.lease_or_wait(&key).await;
        }
        reply::json(200, &answer)
    }

    /// Takes the lease of `key`, or waits (bounded) for its holder's fill.
    async fn lease_or_wait(&self, key: &str) -> (Option<String>, Fill) {
        let now = now_ms();
        let receiver = {
            let mut leases = self.inner.leases.borrow_mut();
            // Waiters of expired leases gave up long ago; drop their senders.
            drop(leases.expire(now));
            match leases.acquire(key, now) {
                Acquire::Granted => return (None, Fill::Granted),
                Acquire::Busy => {
                    let (sender, receiver) = oneshot::channel();
                    if leases.wait(key, sender).is_some() {
                        return (None, Fill::Unleased);
                    }
                    receiver
                }
            }
        };
        let wait_ms = self.config().map_or(WAIT_MS, |c| c.fill_wait_ms());
        let bound = Delay::from(Duration::from_millis(wait_ms));
        match select(receiver, bound).await {
            Either::Left((Ok(Some(value)), _)) => (Some(value), Fill::None),
            // Given back without a value, or the wait bound passed.
            Either::Left(_) | Either::Right(_) => (None, Fill::Unleased),
        }
    }

    /// `POST /cache/write`: stores (memory backend) if the generation is
    /// still current, and hands the value to the readers waiting for it.
    pub(super) fn cache_write(&self, req: WriteRequest) -> Result<Response> {
        let current = self
            .inner
            .replica
            .borrow()
            .generations()
            .get(req.entity_type);
        let key = cache_key(req.entity_type, req.generation, &req.path);
        for waiter in self.inner.leases.borrow_mut().complete(&key) {
            let _ = waiter.send(Some(req.value.clone()));
        }
        // A write under an older generation raced an invalidation: its key
        // would never be read, so do not spend memory on it.
        let stored = req.store && req.generation == current;
        if stored {
            let store = if req.negative {
                &self.inner.negative
            } else {
                &self.inner.cache
            };
            store
                .borrow_mut()
                .put(key, req.value, req.ttl_secs.saturating_mul(1000), now_ms());
        }
        reply::json(200, &Stored { stored })
    }

    /// `POST /cache/release`: the filler failed; its waiters read the origin.
    pub(super) fn cache_release(&self, req: ReleaseRequest) -> Result<Response> {
        let key = cache_key(req.entity_type, req.generation, &req.path);
        let waiters: Vec<Waiter> = self.inner.leases.borrow_mut().complete(&key);
        for waiter in waiters {
            let _ = waiter.send(None);
        }
        reply::json(200, &Ack {})
    }
}
