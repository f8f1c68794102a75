//! The `Hub` Durable Object: dispatch of its internal routes and the
//! WebSocket callbacks of the hibernation API.

use polycache_core::config::Config;
use polycache_core::event::InvalidationEvent;
use polycache_core::event_log::Replay;
use polycache_core::generation::cache_key;
use polycache_core::hub_api::{
    InvalidateRequest, InvalidateResponse, LoginAttempt, LoginVerdict, ReadRequest, ReadResponse,
    StatusResponse, WriteRequest,
};
use polycache_core::sse;
use polycache_core::types::EntityType;
use serde::de::DeserializeOwned;
use serde_json::json;
use worker::{
    durable_object, Date, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
};

use crate::reply;
use crate::state::{event_key, HubState};
use crate::storage;
use crate::streams::{Fanout, FilterSet, Streams};

/// The Hub: one per deployment (see the crate docs).
#[durable_object]
pub struct Hub {
    state: State,
    env: Env,
    memory: HubState,
    filters: FilterSet,
}

impl DurableObject for Hub {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            memory: HubState::default(),
            filters: FilterSet::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.route(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                worker::console_error!("hub: {e}");
                reply::error(500, "hub", "the hub failed; see its log")
            }
        }
    }

    async fn websocket_message(
        &self,
        _ws: WebSocket,
        _message: worker::WebSocketIncomingMessage,
    ) -> Result<()> {
        // Streams only receive; a Worker never sends on them.
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // 1005 (no status) and 1006 (abnormal) may not be sent in a close
        // frame; answering with them throws, so close normally instead.
        let code = match code {
            1005 | 1006 => 1000,
            c => u16::try_from(c).unwrap_or(1000),
        };
        let _ = ws.close(Some(code), Some(reason));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        let _ = ws.close(Some(1011), Some("error"));
        Ok(())
    }
}

impl Hub {
    fn config(&self) -> Result<Config> {
        Config::from_vars(|name| self.env.var(name).ok().map(|v| v.to_string()))
            .map_err(|e| worker::Error::RustError(e.to_string()))
    }

    async fn load(&self, config: &Config) -> Result<()> {
        self.memory
            .ensure_loaded(&self.state.storage(), config.event_log_size)
            .await
    }

    fn streams(&self) -> Streams<'_> {
        Streams::new(&self.state, &self.filters)
    }

    async fn route(&self, mut req: Request) -> Result<Response> {
        let config = self.config()?;
        self.load(&config).await?;
        let url = req.url()?;
        match (req.method(), url.path()) {
            (Method::Post, "/invalidate") => {
                let body = read_json(&mut req).await?;
                self.invalidate(&config, body).await
            }
            (Method::Post, "/cache/read") => self.cache_read(read_json(&mut req).await?),
            (Method::Post, "/cache/write") => self.cache_write(read_json(&mut req).await?),
            (Method::Get, "/stream") => self.stream(&url),
            (Method::Get, "/status") => self.status(),
            (Method::Post, "/login/check") => {
                let attempt: LoginAttempt = read_json(&mut req).await?;
                let verdict = self
                    .memory
                    .limiter
                    .borrow_mut()
                    .check(&attempt.addr, now_ms())
                    .err();
                reply::json(
                    200,
                    &LoginVerdict {
                        retry_after: verdict,
                    },
                )
            }
            (Method::Post, "/login/failure") => {
                let attempt: LoginAttempt = read_json(&mut req).await?;
                self.memory
                    .limiter
                    .borrow_mut()
                    .record_failure(&attempt.addr, now_ms());
                reply::json(200, &json!({}))
            }
            _ => reply::error(404, "not_found", "no such hub route"),
        }
    }

    /// Bumps the generations of the closure, logs the event, writes both in
    /// one atomic step, and only then sends it to the streams and answers.
    async fn invalidate(&self, config: &Config, req: InvalidateRequest) -> Result<Response> {
        if let Some(key) = &req.dedupe {
            if let Some(event_id) = self.memory.with(|d| d.seen(key))? {
                return reply::json(
                    200,
                    &InvalidateResponse {
                        event_id,
                        types: req.types,
                        duplicate: true,
                    },
                );
            }
        }
        let ts = now_ms();
        let capacity = config.event_log_size as u64;
        let (event, writes, stale) = self.memory.with(|d| -> Result<_> {
            d.generations.bump(&req.types);
            let id = d.log.append(|id| InvalidationEvent {
                id,
                type_name: req.type_name.clone(),
                types: req.types.clone(),
                entity_id: req.entity_id.clone(),
                action: req.action,
                origin: req.origin.clone(),
                ts,
            });
            let event = d
                .log
                .entries()
                .last()
                .map(|(_, e)| e.clone())
                .ok_or_else(|| worker::Error::RustError("event log is empty".into()))?;
            let mut writes = vec![
                storage::entry("gen", &d.generations)?,
                storage::entry("last_id", &id)?,
                storage::entry(event_key(id), &event)?,
            ];
            let mut stale = Vec::new();
            if id > capacity {
                stale.push(event_key(id - capacity));
            }
            if let Some(key) = &req.dedupe {
                let (k, evicted) = d.remember(key, id);
                writes.push(storage::entry(k, &id)?);
                stale.extend(evicted);
            }
            Ok((event, writes, stale))
        })??;
        let storage = self.state.storage();
        storage::put_all(&storage, &writes).await?;
        storage::delete(&storage, stale).await?;
        let frame = sse::event(Some(event.id), Some("app-update"), &event.to_json());
        self.streams().publish(&event, &frame);
        reply::json(
            200,
            &InvalidateResponse {
                event_id: event.id,
                types: event.types,
                duplicate: false,
            },
        )
    }

    fn cache_read(&self, req: ReadRequest) -> Result<Response> {
        let generation = self.memory.with(|d| d.generations.get(req.entity_type))?;
        let value = if req.with_value {
            let key = cache_key(req.entity_type, generation, &req.path);
            self.memory
                .cache
                .borrow_mut()
                .get(&key, now_ms())
                .map(str::to_owned)
        } else {
            None
        };
        reply::json(200, &ReadResponse { generation, value })
    }

    fn cache_write(&self, req: WriteRequest) -> Result<Response> {
        let current = self.memory.with(|d| d.generations.get(req.entity_type))?;
        // A write under an older generation raced an invalidation: its key
        // would never be read, so do not spend memory on it.
        let stored = req.generation == current;
        if stored {
            let key = cache_key(req.entity_type, req.generation, &req.path);
            self.memory.cache.borrow_mut().put(
                key,
                req.value,
                req.ttl_secs.saturating_mul(1000),
                now_ms(),
            );
        }
        reply::json(200, &json!({ "stored": stored }))
    }

    /// `GET /stream?after=N&types=a,b` with `Upgrade: websocket`.
    fn stream(&self, url: &worker::Url) -> Result<Response> {
        let mut after = None;
        let mut filter = Vec::new();
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "after" => after = v.parse::<u64>().ok(),
                "types" => {
                    for name in v.split(',').filter(|n| !n.is_empty()) {
                        match EntityType::parse(name) {
                            Ok(t) => filter.push(t),
                            Err(e) => return reply::error(422, "unprocessable", &e.to_string()),
                        }
                    }
                }
                _ => {}
            }
        }
        let preamble = self.memory.with(|d| {
            let last_id = d.log.last_id();
            let mut out = sse::event(
                None,
                Some("hello"),
                &json!({ "lastEventId": last_id }).to_string(),
            );
            if let Some(after) = after {
                match d.log.since(after) {
                    Replay::Events(events) => {
                        for (id, event) in events {
                            if event.concerns(&filter) {
                                out.push_str(&sse::event(
                                    Some(id),
                                    Some("app-update"),
                                    &event.to_json(),
                                ));
                            }
                        }
                    }
                    Replay::Reset => {
                        let data = json!({ "lastEventId": last_id }).to_string();
                        out.push_str(&sse::event(Some(last_id), Some("reset"), &data));
                    }
                }
            }
            out
        })?;
        self.streams().accept(&filter, &preamble)
    }

    fn status(&self) -> Result<Response> {
        let (last_event_id, event_log_len, generations) = self
            .memory
            .with(|d| (d.log.last_id(), d.log.len(), d.generations.clone()))?;
        reply::json(
            200,
            &StatusResponse {
                subscribers: self.streams().subscribers(),
                last_event_id,
                event_log_len,
                generations,
                cache_entries: self.memory.cache.borrow().len(),
            },
        )
    }
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T> {
    Ok(serde_json::from_slice(&req.bytes().await?)?)
}
