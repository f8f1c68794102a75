//! The Hub's side of the cache: the memory backend's entries, the fill
//! leases of the memory and kv backends, and, for the upstash backend, the
//! generation bumps in Redis and the retry of those it could not record.
//!
//! Leases ([`polycache_core::lease`]) live here because the Hub is the one
//! place every reader of the deployment goes through. A reader that finds
//! someone else filling is held: its request waits (on a channel, with a
//! bound) for the filler's `/cache/write`, which hands it the value. Held
//! requests cost the Hub nothing but memory: a Durable Object serves other
//! requests while one awaits.
//!
//! Unrecorded invalidations ([`polycache_core::pending`]): with upstash,
//! `invalidate` bumps the closure in Redis before it acknowledges. If that
//! fails, the types go into the durable pending set in the same atomic
//! write as the event, reads of them answer `bypass`, and the alarm (shared
//! with mirror delivery) bumps them again until Redis takes it.

use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};
use polycache_core::config::{Backend, Config};
use polycache_core::generation::cache_key;
use polycache_core::hub_api::{
    Ack, FailureReport, Fill, LeaseRequest, ReadRequest, ReadResponse, ReleaseRequest, Stored,
    WriteRequest,
};
use polycache_core::hub_state::Bump;
use polycache_core::lease::{Acquire, WAIT_MS};
use polycache_core::log::Level;
use polycache_core::redis_cache::{self, RedisLayout};
use polycache_core::types::EntityType;
use polycache_core::upstash::{Client, Endpoint};
use serde_json::json;
use worker::{Delay, Response, Result};

use super::Hub;
use crate::fetch_transport::FetchTransport;
use crate::platform::{self, now_ms};
use crate::reply;
use crate::state::Waiter;

impl Hub {
    /// `POST /cache/read`.
    pub(super) async fn cache_read(&self, config: &Config, req: ReadRequest) -> Result<Response> {
        let t = req.entity_type;
        let upstash = config.backend == Backend::Upstash;
        let (generation, bypass) = self
            .memory
            .with(|d| (d.generations.get(t), upstash && d.pending.contains(t)))?;
        let mut answer = ReadResponse {
            generation,
            value: None,
            bypass,
            fill: Fill::None,
            sync_token: self.upstash_sync_token(),
        };
        if bypass || !req.with_value {
            return reply::json(200, &answer);
        }
        let key = cache_key(t, generation, &req.path);
        answer.value = self
            .memory
            .cache
            .borrow_mut()
            .get(&key, now_ms())
            .map(str::to_owned);
        if answer.value.is_none() && req.lease {
            (answer.value, answer.fill) = self.lease_or_wait(&key).await;
        }
        reply::json(200, &answer)
    }

    /// `POST /cache/lease` (kv backend, after a miss in KV).
    pub(super) async fn cache_lease(&self, req: LeaseRequest) -> Result<Response> {
        let t = req.entity_type;
        let generation = self.memory.with(|d| d.generations.get(t))?;
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
            let mut leases = self.memory.leases.borrow_mut();
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
        let bound = Delay::from(Duration::from_millis(WAIT_MS));
        match select(receiver, bound).await {
            Either::Left((Ok(Some(value)), _)) => (Some(value), Fill::None),
            // Given back without a value, or the wait bound passed.
            Either::Left(_) | Either::Right(_) => (None, Fill::Unleased),
        }
    }

    /// `POST /cache/write`: stores (memory backend) if the generation is
    /// still current, and hands the value to the readers waiting for it.
    pub(super) fn cache_write(&self, req: WriteRequest) -> Result<Response> {
        let current = self.memory.with(|d| d.generations.get(req.entity_type))?;
        let key = cache_key(req.entity_type, req.generation, &req.path);
        for waiter in self.memory.leases.borrow_mut().complete(&key) {
            let _ = waiter.send(Some(req.value.clone()));
        }
        // A write under an older generation raced an invalidation: its key
        // would never be read, so do not spend memory on it.
        let stored = req.store && req.generation == current;
        if stored {
            self.memory.cache.borrow_mut().put(
                key,
                req.value,
                req.ttl_secs.saturating_mul(1000),
                now_ms(),
            );
        }
        reply::json(200, &Stored { stored })
    }

    /// `POST /cache/release`: the filler failed; its waiters read the origin.
    pub(super) fn cache_release(&self, req: ReleaseRequest) -> Result<Response> {
        let key = cache_key(req.entity_type, req.generation, &req.path);
        let waiters: Vec<Waiter> = self.memory.leases.borrow_mut().complete(&key);
        for waiter in waiters {
            let _ = waiter.send(None);
        }
        reply::json(200, &Ack {})
    }

    /// `POST /cache/failure`: a Worker's report, into the cache log.
    pub(super) fn cache_failure(&self, req: FailureReport) -> Result<Response> {
        self.log(
            Level::Warn,
            "cache backend failed; read from the origin",
            json!({
                "backend": req.backend, "op": req.op, "kind": req.kind,
                "type": req.entity_type, "error": req.message, "suppressed": req.suppressed,
            }),
        );
        reply::json(200, &Ack {})
    }

    /// Bumps `types` in the backend, if it keeps generations of its own
    /// (upstash). Called by `invalidate` before it acknowledges.
    pub(super) async fn record_bump(&self, config: &Config, types: &[EntityType]) -> Bump {
        if config.backend != Backend::Upstash {
            return Bump::InHub;
        }
        let seq_before = match self.memory.with(|d| d.pending.seq()) {
            Ok(seq) => seq,
            Err(e) => return Bump::Failed(e.to_string()),
        };
        match self.bump_in_redis(config, types).await {
            Ok(()) => Bump::Recorded(seq_before),
            Err(message) => Bump::Failed(message),
        }
    }

    async fn bump_in_redis(
        &self,
        config: &Config,
        types: &[EntityType],
    ) -> std::result::Result<(), String> {
        let client = self.upstash_client().map_err(|e| e.to_string())?;
        let layout = RedisLayout::new(&config.instance_id);
        let answers = client
            .multi_exec(&layout.bump(types, redis_cache::first_generation(now_ms())))
            .await
            .map_err(|e| e.to_string())?;
        redis_cache::parse_bump(answers)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// After `invalidate` stored its event: logs a failed bump and makes
    /// sure the alarm will retry it.
    pub(super) async fn after_bump(
        &self,
        bump: &Bump,
        event_id: u64,
        types: &[EntityType],
    ) -> Result<()> {
        if let Bump::Failed(error) = bump {
            self.log(
                Level::Error,
                "invalidation not recorded in the cache backend; its types bypass the cache until it is",
                json!({ "eventId": event_id, "types": types, "error": error }),
            );
            if let Some(at) = self.memory.with(|d| d.pending.next_due())? {
                self.alarm_by(at).await?;
            }
        }
        Ok(())
    }

    /// The alarm's part: bumps the unrecorded types again when due. With
    /// another backend configured (the deployment switched away from
    /// upstash), the Hub's own generations are authoritative and the set is
    /// dropped.
    pub(super) async fn retry_unrecorded(&self, config: &Config) -> Result<()> {
        let now = now_ms();
        let (types, seq, due) = self
            .memory
            .with(|d| (d.pending.types(), d.pending.seq(), d.pending.is_due(now)))?;
        if types.is_empty() {
            return Ok(());
        }
        if config.backend != Backend::Upstash {
            let change = self.memory.with(|d| d.drop_pending())?;
            self.memory.commit(&self.state.storage(), change).await?;
            return Ok(());
        }
        if !due {
            if let Some(at) = self.memory.with(|d| d.pending.next_due())? {
                self.alarm_by(at).await?;
            }
            return Ok(());
        }
        let result = self.bump_in_redis(config, &types).await;
        let now = now_ms();
        let (change, next) = self.memory.with(|d| -> Result<_> {
            let change = d
                .record_retry(
                    &types,
                    seq,
                    result.as_ref().map(|_| ()).map_err(String::as_str),
                    now,
                    &mut platform::rng(),
                )
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            Ok((change, d.pending.next_due()))
        })??;
        self.memory.commit(&self.state.storage(), change).await?;
        match result {
            Ok(()) => self.log(
                Level::Info,
                "unrecorded invalidation recorded in the cache backend",
                json!({ "types": types }),
            ),
            Err(error) => self.log(
                Level::Warn,
                "cache backend still refuses an invalidation; will retry",
                json!({ "types": types, "error": error,
                        "retryInMs": next.map(|at| at.saturating_sub(now)) }),
            ),
        }
        if let Some(at) = next {
            self.alarm_by(at).await?;
        }
        Ok(())
    }

    /// Sets the alarm to `at` unless it is already set no later (the alarm
    /// is shared with mirror delivery, which must not be postponed).
    async fn alarm_by(&self, at: u64) -> Result<()> {
        let storage = self.state.storage();
        let current = storage.get_alarm().await?;
        if current.is_some_and(|c| u64::try_from(c).is_ok_and(|c| c <= at)) {
            return Ok(());
        }
        let offset = at.saturating_sub(now_ms());
        storage
            .set_alarm(i64::try_from(offset).unwrap_or(i64::MAX))
            .await
    }

    /// The Hub's Upstash client, made on first use.
    fn upstash_client(&self) -> polycache_core::Result<Rc<Client<FetchTransport>>> {
        let endpoint = Endpoint::from_vars(|name| platform::var(&self.env, name))?;
        let mut slot = self.memory.upstash.borrow_mut();
        if let Some(client) = slot.as_ref().filter(|c| *c.endpoint() == endpoint) {
            return Ok(client.clone());
        }
        let client = Rc::new(Client::new(endpoint, FetchTransport::default()));
        *slot = Some(client.clone());
        Ok(client)
    }

    fn upstash_sync_token(&self) -> Option<String> {
        self.memory
            .upstash
            .borrow()
            .as_ref()
            .and_then(|c| c.sync_token())
    }
}
