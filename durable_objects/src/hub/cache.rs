//! The Hub's side of the cache: for the upstash backend, the generation
//! bumps in Redis and the retry of those it could not record; and the
//! Workers' reports of backend failures, into the cache log. (Entries, fill
//! leases and the generations reads go by live in the Edges: `edge/cache.rs`.)
//!
//! Unrecorded invalidations ([`polycache_core::pending`]): with upstash,
//! `invalidate` bumps the closure in Redis before it acknowledges. If that
//! fails, the types go into the durable pending set in the same atomic
//! write as the event, reads of them answer `bypass`, and the alarm (shared
//! with mirror delivery) bumps them again until Redis takes it.

use std::rc::Rc;

use polycache_core::config::{Backend, Config};
use polycache_core::hub_api::{Ack, FailureReport};
use polycache_core::hub_state::Bump;
use polycache_core::log::Level;
use polycache_core::redis_cache::{self, RedisLayout};
use polycache_core::types::EntityType;
use polycache_core::upstash::{Client, Endpoint};
use serde_json::json;
use worker::{Response, Result};

use super::Hub;
use crate::fetch_transport::FetchTransport;
use crate::platform::{self, now_ms};
use crate::reply;

impl Hub {
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
            return self.push_bypass();
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
            Ok(()) => {
                self.log(
                    Level::Info,
                    "unrecorded invalidation recorded in the cache backend",
                    json!({ "types": types }),
                );
                self.push_bypass()?;
            }
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
}
