//! The `Hub` Durable Object: dispatch of its internal routes. Its cache
//! routes are in `hub/cache.rs`; the class the runtime sees wraps it in
//! JavaScript (`src/js/entry.mjs`) to add the `subscribe` RPC method.

mod cache;

use std::cell::Cell;
use std::time::Duration;

use futures::future::select;
use polycache_core::config::Config;
use polycache_core::error_code::ErrorCode;
use polycache_core::event_log::Replay;
use polycache_core::hub_api::{
    route, Ack, InvalidateRequest, InvalidateResponse, LoginAttempt, LoginVerdict, LogsPage,
    Requeued, StatusResponse, StreamClosed,
};
use polycache_core::hub_state::Delivery;
use polycache_core::log::Level;
use polycache_core::outbox::{mirror_id, MirrorQueue, OutboxEntry};
use polycache_core::query::{LogsQuery, StreamQuery};
use polycache_core::sse;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use worker::{durable_object, Delay, DurableObject, Env, Method, Request, Response, Result, State};

use crate::mirror::{self, Credentials};
use crate::platform::{self, now_ms};
use crate::reply;
use crate::state::HubState;
use crate::streams::{Fanout, StreamPolicy, Streams};

/// How long one alarm goes on serving the mirrors that wait for their next
/// entry while another is in flight: a few mirror timeouts, well within an
/// alarm's time budget. The next alarm takes over from there.
const MAX_ALARM_MS: u64 = 30_000;

/// The Hub: one per deployment (see the crate docs).
#[durable_object]
pub struct Hub {
    state: State,
    env: Env,
    memory: HubState,
    streams: Streams,
}

impl DurableObject for Hub {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            memory: HubState::default(),
            streams: Streams::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.route(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                worker::console_error!("hub: {e}");
                reply::error(ErrorCode::Internal, "the hub failed; see its log")
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let config = self.config()?;
        self.load(&config).await?;
        self.retry_unrecorded(&config).await?;
        self.deliver_due(&config).await?;
        Response::ok("delivered")
    }
}

impl Hub {
    fn config(&self) -> Result<Config> {
        Config::from_vars(|name| platform::var(&self.env, name))
            .map_err(|e| worker::Error::RustError(e.to_string()))
    }

    async fn load(&self, config: &Config) -> Result<()> {
        self.memory
            .ensure_loaded(&self.state.storage(), config.event_log_size)
            .await
    }

    fn streams(&self) -> &Streams {
        &self.streams
    }

    async fn route(&self, mut req: Request) -> Result<Response> {
        let config = self.config()?;
        self.load(&config).await?;
        let url = req.url()?;
        match (req.method(), url.path()) {
            (Method::Post, route::INVALIDATE) => {
                let body = read_json(&mut req).await?;
                self.invalidate(&config, body).await
            }
            (Method::Post, route::CACHE_READ) => {
                self.cache_read(&config, read_json(&mut req).await?).await
            }
            (Method::Post, route::CACHE_LEASE) => {
                self.cache_lease(read_json(&mut req).await?).await
            }
            (Method::Post, route::CACHE_WRITE) => self.cache_write(read_json(&mut req).await?),
            (Method::Post, route::CACHE_RELEASE) => self.cache_release(read_json(&mut req).await?),
            (Method::Post, route::CACHE_FAILURE) => self.cache_failure(read_json(&mut req).await?),
            (Method::Get, route::STREAM) => self.stream(&config, &url),
            (Method::Post, route::STREAM_CLOSE) => {
                let id = url
                    .query_pairs()
                    .find(|(k, _)| k == "id")
                    .and_then(|(_, v)| v.parse::<u64>().ok());
                match id {
                    Some(id) => reply::json(
                        200,
                        &StreamClosed {
                            closed: self.streams().close(id as f64),
                        },
                    ),
                    None => reply::error(ErrorCode::BadRequest, "id must be a stream id"),
                }
            }
            (Method::Get, route::STATUS) => self.status(),
            (Method::Post, route::LOGIN_CHECK) => {
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
            (Method::Post, route::LOGIN_FAILURE) => {
                let attempt: LoginAttempt = read_json(&mut req).await?;
                self.memory
                    .limiter
                    .borrow_mut()
                    .record_failure(&attempt.addr, now_ms());
                self.log(Level::Warn, "login failed", json!({ "addr": attempt.addr }));
                reply::json(200, &Ack {})
            }
            (Method::Get, route::MIRRORS) => self.mirrors(&config),
            (Method::Post, route::MIRRORS_RETRY) => {
                drain(&mut req).await;
                self.retry_parked().await
            }
            (Method::Get, route::LOGS) => self.logs(&url),
            _ => reply::error(ErrorCode::NotFound, "no such hub route"),
        }
    }

    /// Bumps the generations of the closure (in the cache backend first, if
    /// it keeps its own), logs the event, writes both in one atomic step,
    /// and only then sends it to the streams and answers.
    async fn invalidate(&self, config: &Config, req: InvalidateRequest) -> Result<Response> {
        if let Some(key) = &req.dedupe {
            if let Some(event_id) = self.memory.with(|d| d.seen(key))? {
                self.log(
                    Level::Info,
                    "duplicate delivery acknowledged",
                    json!({ "origin": key.origin, "remoteEventId": key.event_id, "eventId": event_id }),
                );
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
        // Before the event exists: an acknowledged invalidation is either
        // recorded in the backend or pending (its types bypass the cache).
        let bump = self.record_bump(config, &req.types).await;
        let ts = now_ms();
        let (event, change) = self.memory.with(|d| {
            d.invalidate(&req, &bump, &config.mirrors, ts, &mut platform::rng())
                .map_err(|e| worker::Error::RustError(e.to_string()))
        })??;
        let storage = self.state.storage();
        self.memory.commit(&storage, change).await?;
        self.after_bump(&bump, event.id, &event.types).await?;
        let mirrored = req.mirror && !config.mirrors.is_empty();
        if mirrored {
            // Deliver now; the alarm reschedules itself for retries. A
            // running alarm has mirrors waiting for this entry: wake them.
            self.memory.wake_mirrors();
            storage.set_alarm(0).await?;
        }
        let frame = sse::event(Some(event.id), Some("app-update"), &event.to_json());
        let streams = self.streams();
        let sent = streams.publish(&event, &frame);
        self.log(
            Level::Info,
            "invalidate",
            json!({
                "eventId": event.id, "type": event.type_name, "types": event.types,
                "entityId": event.entity_id, "action": event.action, "origin": event.origin,
                "mirror": mirrored,
            }),
        );
        self.log(
            Level::Info,
            "notify",
            json!({ "eventId": event.id, "subscribers": sent }),
        );
        reply::json(
            200,
            &InvalidateResponse {
                event_id: event.id,
                types: event.types,
                duplicate: false,
            },
        )
    }

    /// `GET /stream?after=N&types=a,b`, called by the Worker through
    /// `Hub.subscribe` (RPC): answers the stream's body.
    fn stream(&self, config: &Config, url: &worker::Url) -> Result<Response> {
        let query = match StreamQuery::parse(url.query_pairs()) {
            Ok(query) => query,
            Err(e) => return reply::error(ErrorCode::Unprocessable, &e.to_string()),
        };
        let (after, filter) = (query.last_event_id, query.types);
        let preamble = self.memory.with(|d| {
            let last_id = d.log.last_id();
            let mut out = sse::retry(sse::RETRY_MS);
            // A fresh stream's hello carries the current id as its SSE id, so
            // that a plain EventSource which sees no event before the stream
            // is renewed (or cut) resumes from here, missing nothing. A
            // resumed stream's hello carries none: the replay after it does,
            // and an id on hello would skip replayed events not yet received
            // when a cut came.
            out += &sse::event(
                if after.is_none() { Some(last_id) } else { None },
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
        let policy = StreamPolicy {
            heartbeat_ms: u32::try_from(config.heartbeat_secs.saturating_mul(1000))
                .unwrap_or(u32::MAX),
            queue_limit: u32::try_from(config.sse_queue_limit).unwrap_or(u32::MAX),
            max_writes: config.sse_max_writes,
        };
        self.streams().accept(&filter, &preamble, policy)
    }

    /// Appends a record to the cache log.
    fn log(&self, level: Level, msg: &str, fields: Value) {
        let fields = match fields {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        self.memory
            .logs
            .borrow_mut()
            .push(level, now_ms(), msg, fields);
    }

    /// `GET /logs?since=N&limit=M`: records after seq N, oldest first.
    fn logs(&self, url: &worker::Url) -> Result<Response> {
        let query = match LogsQuery::parse(url.query_pairs()) {
            Ok(query) => query,
            Err(e) => return reply::error(ErrorCode::BadRequest, &e.to_string()),
        };
        let (since, limit) = (query.since, query.limit);
        let logs = self.memory.logs.borrow();
        reply::json(
            200,
            &LogsPage {
                records: logs.since(since, limit),
                last_seq: logs.last_seq(),
            },
        )
    }

    /// Delivers every mirror's due entries, mirrors side by side, then
    /// schedules the next alarm.
    ///
    /// No alarm starts before the running one ends, so while one mirror's
    /// attempt is in flight (up to [`mirror::TIMEOUT`] for one that never
    /// answers) the entries written meanwhile for every other mirror would
    /// wait for it. So a mirror with nothing due stays here, as long as
    /// another is still delivering, and goes on as soon as it has an entry
    /// due: a write wakes it ([`HubState::wake_mirrors`]), or its next retry
    /// comes. A dead mirror holds up nobody.
    async fn deliver_due(&self, config: &Config) -> Result<()> {
        let creds = Credentials::from_env(&self.env);
        let targets: Vec<(String, String)> = config
            .mirrors
            .iter()
            .map(|url| (mirror_id(url), url.clone()))
            .collect();
        let busy = Cell::new(targets.len());
        let until = now_ms().saturating_add(MAX_ALARM_MS);
        let runs = targets
            .iter()
            .map(|(id, url)| self.serve_mirror(config, id, url, creds.as_ref(), &busy, until));
        for result in futures::future::join_all(runs).await {
            if let Err(e) = result {
                worker::console_error!("hub: mirror delivery: {e}");
            }
        }
        self.schedule(config).await
    }

    /// Delivers one mirror's due entries, then, while another mirror is
    /// still delivering (`busy` counts them) and until `until`, waits for
    /// its next due entry and delivers that too.
    async fn serve_mirror(
        &self,
        config: &Config,
        id: &str,
        url: &str,
        creds: Option<&Credentials>,
        busy: &Cell<usize>,
        until: u64,
    ) -> Result<()> {
        loop {
            let delivered = self.deliver_mirror(config, id, url, creds).await;
            busy.set(busy.get().saturating_sub(1));
            // The others may be waiting for this one to finish.
            self.memory.wake_mirrors();
            delivered?;
            loop {
                let now = now_ms();
                if busy.get() == 0 || now >= until {
                    return Ok(());
                }
                let next = self
                    .memory
                    .with(|d| d.outbox.get(id).and_then(MirrorQueue::next_due))?;
                if next.is_some_and(|at| at <= now) {
                    break;
                }
                let wait = next.unwrap_or(until).min(until).saturating_sub(now);
                let woken = self.memory.mirror_wakeup();
                let timer = Delay::from(Duration::from_millis(wait));
                let _ = select(woken, timer).await;
            }
            busy.set(busy.get() + 1);
        }
    }

    /// Delivers one mirror's due entries in order, until one fails.
    async fn deliver_mirror(
        &self,
        config: &Config,
        id: &str,
        url: &str,
        creds: Option<&Credentials>,
    ) -> Result<()> {
        // Bounded so that one alarm stays within its time budget; the next
        // alarm goes on where this one stopped.
        const MAX_PER_ALARM: usize = 200;
        let policy = config.mirror_retry();
        let mut rng = platform::rng();
        let storage = self.state.storage();
        for _ in 0..MAX_PER_ALARM {
            let Some(entry) = self
                .memory
                .with(|d| d.outbox.get(id).and_then(|q| q.due(now_ms()).cloned()))?
            else {
                break;
            };
            let attempt = mirror::deliver(&self.memory, id, url, creds, &entry, now_ms()).await;
            let now = now_ms();
            let outcome = self.memory.with(|d| {
                d.record_delivery(id, entry.seq, attempt, now, &policy, &mut rng)
                    .map_err(|e| worker::Error::RustError(e.to_string()))
            })??;
            let Some((delivery, change)) = outcome else {
                break;
            };
            self.memory.commit(&storage, change).await?;
            let fields = |e: &OutboxEntry, error: Option<&str>| {
                json!({ "mirror": url, "eventId": e.event_id, "type": e.type_name,
                        "attempts": e.attempts, "error": error })
            };
            match delivery {
                Delivery::Delivered(done) => {
                    self.log(Level::Info, "mirror delivered", fields(&done, None));
                }
                Delivery::RetryAt(failed, at) => {
                    let mut f = fields(&failed, failed.last_error.as_deref());
                    f["retryInMs"] = json!(at.saturating_sub(now));
                    self.log(Level::Warn, "mirror retry", f);
                    break;
                }
                Delivery::Parked(failed) => {
                    self.log(
                        Level::Error,
                        "mirror parked",
                        fields(&failed, failed.last_error.as_deref()),
                    );
                }
            }
        }
        Ok(())
    }

    /// Sets the alarm for the earliest due entry of any configured mirror,
    /// or the retry of an unrecorded invalidation if that comes first.
    async fn schedule(&self, config: &Config) -> Result<()> {
        let ids: Vec<String> = config.mirrors.iter().map(|u| mirror_id(u)).collect();
        let next = self.memory.with(|d| {
            ids.iter()
                .filter_map(|id| d.outbox.get(id).and_then(MirrorQueue::next_due))
                .chain(d.pending.next_due())
                .min()
        })?;
        if let Some(at) = next {
            let offset = at.saturating_sub(now_ms());
            self.state
                .storage()
                .set_alarm(i64::try_from(offset).unwrap_or(i64::MAX))
                .await?;
        }
        Ok(())
    }

    /// `GET /mirrors`: per mirror, what is pending, delivered and parked.
    fn mirrors(&self, config: &Config) -> Result<Response> {
        let now = now_ms();
        let status = self
            .memory
            .with(|d| d.mirror_status(&config.mirrors, now))?;
        reply::json(200, &status)
    }

    /// `POST /mirrors/retry`: puts every parked entry back in its queue.
    async fn retry_parked(&self) -> Result<Response> {
        let now = now_ms();
        let (count, change) = self.memory.with(|d| {
            d.unpark_all(now)
                .map_err(|e| worker::Error::RustError(e.to_string()))
        })??;
        let storage = self.state.storage();
        self.memory.commit(&storage, change).await?;
        if count > 0 {
            self.memory.wake_mirrors();
            storage.set_alarm(0).await?;
        }
        self.log(
            Level::Info,
            "mirror retry requested",
            json!({ "requeued": count }),
        );
        reply::json(200, &Requeued { requeued: count })
    }

    fn status(&self) -> Result<Response> {
        let (last_event_id, event_log_len, generations, bypass_types) = self.memory.with(|d| {
            (
                d.log.last_id(),
                d.log.len(),
                d.generations.clone(),
                d.pending.types(),
            )
        })?;
        reply::json(
            200,
            &StatusResponse {
                subscribers: self.streams().subscribers(),
                last_event_id,
                event_log_len,
                generations,
                cache_entries: self.memory.cache.borrow().len(),
                bypass_types,
            },
        )
    }
}

/// Reads and drops a body nobody needs: an unread body keeps the request
/// open in the runtime.
async fn drain(req: &mut Request) {
    let _ = req.bytes().await;
}

async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T> {
    Ok(serde_json::from_slice(&req.bytes().await?)?)
}
