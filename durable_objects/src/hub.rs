//! The `Hub` Durable Object: dispatch of its internal routes. Its part of
//! the cache (generation bumps in Upstash and their retry, failure reports)
//! is in `hub/cache.rs`, its part of the edge tier (renewals, pushes, the
//! wait for acknowledgements) in `hub/edges.rs`.

mod cache;
mod edges;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures::future::select;
use polycache_core::accounts::account_key;
use polycache_core::api::MAX_BATCH;
use polycache_core::config::Config;
use polycache_core::edge_api::route as edge_route;
use polycache_core::error_code::ErrorCode;
use polycache_core::event::InvalidationEvent;
use polycache_core::hub_api::{
    route, Ack, InvalidateBatch, InvalidateBatchResponse, InvalidateRequest, InvalidateResponse,
    LoginAttempt, LoginRelease, LoginVerdict, LogsPage, Requeued, StatusResponse,
};
use polycache_core::hub_state::{delivery_key, Delivery, QueueCollapse};
use polycache_core::log::Level;
use polycache_core::outbox::{mirror_id, Attempt, MirrorQueue, OutboxEntry};
use polycache_core::query::{LogsQuery, MirrorsQuery};
use polycache_core::rate_limit::{address_key, LoginLimiter};
use polycache_core::types::EntityType;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use worker::{durable_object, Delay, DurableObject, Env, Method, Request, Response, Result, State};

use self::edges::EdgeLink;
use crate::mirror::{self, BatchAttempt, Credentials};
use crate::platform::{self, now_ms};
use crate::reply;
use crate::state::{HubState, Reservation, Reserved};

/// How long one alarm goes on serving the mirrors that wait for their next
/// entry while another is in flight: a few mirror timeouts, well within an
/// alarm's time budget. The next alarm takes over from there.
const MAX_ALARM_MS: u64 = 30_000;

/// The Hub: one per deployment (see the crate docs).
#[durable_object]
pub struct Hub {
    state: State,
    env: Env,
    memory: Rc<HubState>,
    link: Rc<EdgeLink>,
}

impl DurableObject for Hub {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            memory: Rc::new(HubState::default()),
            link: Rc::new(EdgeLink::default()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.link.count(|c| c.requests += 1);
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
            .await?;
        self.drop_removed_mirrors(config).await
    }

    /// Drops the queues of mirrors `CACHE_MIRRORS` no longer names (at the
    /// first request or alarm after a deploy that removed them): from
    /// storage first, then from memory, and logs what went.
    async fn drop_removed_mirrors(&self, config: &Config) -> Result<()> {
        let (removed, change) = self.memory.with(|d| d.removed_mirrors(&config.mirrors))?;
        if removed.is_empty() {
            return Ok(());
        }
        self.memory.commit(&self.state.storage(), change).await?;
        self.memory.with(|d| d.forget_mirrors(&removed))?;
        for r in &removed {
            self.log(
                Level::Warn,
                "mirror removed",
                json!({ "mirror": r.url, "droppedPending": r.pending, "droppedParked": r.parked }),
            );
        }
        Ok(())
    }

    /// Logs a collapse of a mirror's list ([`polycache_core::outbox`]):
    /// one record per collapse, which happens at most once per half a
    /// `MIRROR_QUEUE_LIMIT` of entries.
    fn log_collapse(&self, collapse: &QueueCollapse) {
        let c = &collapse.collapsed;
        let widened: Vec<&str> = c.widened.iter().map(|e| e.type_name.as_str()).collect();
        self.log(
            Level::Warn,
            "mirror queue collapsed",
            json!({
                "mirror": collapse.url, "list": collapse.list, "before": c.before,
                "after": c.after, "dropped": c.removed.len(), "widenedTypes": widened,
            }),
        );
    }

    async fn route(&self, mut req: Request) -> Result<Response> {
        let config = self.config()?;
        self.load(&config).await?;
        self.link.set_hold(config.edge_shards > 1);
        let url = req.url()?;
        match (req.method(), url.path()) {
            (Method::Post, route::INVALIDATE) => {
                let body = read_json(&mut req).await?;
                self.invalidate(&config, body).await
            }
            (Method::Post, route::INVALIDATE_BATCH) => {
                let body = read_json(&mut req).await?;
                self.invalidate_batch(&config, body).await
            }
            (Method::Post, route::CACHE_FAILURE) => self.cache_failure(read_json(&mut req).await?),
            (Method::Post, edge_route::HUB_RENEW) => {
                let lease_ms = config.edge_lease_secs.saturating_mul(1000);
                self.renew_edge(lease_ms, read_json(&mut req).await?).await
            }
            (Method::Post, edge_route::HUB_EVENTS) => self.edge_events(read_json(&mut req).await?),
            (Method::Get, route::STATUS) => self.status(),
            (Method::Post, route::LOGIN_RESERVE) => {
                let attempt: LoginAttempt = read_json(&mut req).await?;
                self.reserve_login(&config, &attempt)
            }
            (Method::Post, route::LOGIN_RELEASE) => {
                let release: LoginRelease = read_json(&mut req).await?;
                let LoginAttempt { addr, email } = &release.attempt;
                self.memory.limiter.borrow_mut().release(
                    &address_key(addr),
                    &account_key(email),
                    release.reservation,
                );
                reply::json(200, &Ack {})
            }
            (Method::Post, route::LOGIN_FAILED) => {
                let attempt: LoginAttempt = read_json(&mut req).await?;
                self.memory.failed_logins.borrow_mut().count(
                    &mut self.memory.logs.borrow_mut(),
                    &address_key(&attempt.addr),
                    now_ms(),
                );
                reply::json(200, &Ack {})
            }
            (Method::Get, route::MIRRORS) => self.mirrors(&config, &url),
            (Method::Post, route::MIRRORS_RETRY) => {
                drain(&mut req).await;
                self.retry_parked().await
            }
            (Method::Get, route::LOGS) => self.logs(&url),
            (Method::Post, route::RESET) if config.test_faults.hub_reset() => {
                drain(&mut req).await;
                self.reset();
                reply::json(200, &Ack {})
            }
            (_, path) if path.starts_with("/cache/") => {
                // A cache read (or lease, fill, release) sent to the Hub:
                // counted, so that `/api/status` shows that none comes
                // (they are the Edges'), e.g. from a Worker of an older
                // version still running during a deploy.
                self.link.count(|c| c.cache_reads += 1);
                reply::error(ErrorCode::NotFound, "cache reads are the edges' routes")
            }
            _ => reply::error(ErrorCode::NotFound, "no such hub route"),
        }
    }

    /// `POST /invalidate`: one invalidation, a batch of one.
    async fn invalidate(&self, config: &Config, req: InvalidateRequest) -> Result<Response> {
        match self.invalidate_all(config, vec![req]).await? {
            Some(mut results) if !results.is_empty() => reply::json(200, &results.remove(0)),
            _ => identical_failed(),
        }
    }

    /// `POST /invalidate/batch`: several, in order, in one go.
    async fn invalidate_batch(&self, config: &Config, batch: InvalidateBatch) -> Result<Response> {
        match self.invalidate_all(config, batch.requests).await? {
            Some(results) => reply::json(200, &InvalidateBatchResponse { results }),
            None => identical_failed(),
        }
    }

    /// Bumps the generations of each request's closure (in the cache
    /// backend first, if it keeps its own), logs their events, writes all
    /// of it in one commit (atomic up to storage's 128 keys per call, a
    /// batch of about 60 received deliveries; see
    /// `HubDurable::invalidate_all` for the order past that), then pushes
    /// the events to the Edges (one push each carries them all, so each
    /// stream gets them in one chunk)
    /// and answers, in the requests' order, once each Edge has applied them
    /// or its lease has run out. A delivery already applied is answered
    /// with its event, as a duplicate; `None` when an identical delivery
    /// applied meanwhile by another request failed (the sender retries).
    async fn invalidate_all(
        &self,
        config: &Config,
        reqs: Vec<InvalidateRequest>,
    ) -> Result<Option<Vec<InvalidateResponse>>> {
        // Before any await: a delivery already applied, or being applied
        // by an identical request, is answered with that event.
        let receipts = reqs
            .iter()
            .map(|req| self.receipt(req))
            .collect::<Result<Vec<_>>>()?;
        let fresh: Vec<&InvalidateRequest> = reqs
            .iter()
            .zip(&receipts)
            .filter(|(_, r)| matches!(r, Receipt::New | Receipt::Mine(_)))
            .map(|(req, _)| req)
            .collect();
        let events = if fresh.is_empty() {
            Vec::new()
        } else {
            self.apply(config, &fresh).await?
        };
        let mut applied = events.iter();
        let mut results = Vec::with_capacity(reqs.len());
        for (req, receipt) in reqs.iter().zip(receipts) {
            let event_id = match receipt {
                Receipt::New | Receipt::Mine(_) => {
                    let event = applied.next().ok_or_else(|| {
                        worker::Error::RustError("an event short for the batch".into())
                    })?;
                    if let Receipt::Mine(reserved) = receipt {
                        reserved.applied(event.id);
                    }
                    results.push(InvalidateResponse {
                        event_id: event.id,
                        types: event.types.clone(),
                        duplicate: false,
                    });
                    continue;
                }
                Receipt::Seen(event_id) => event_id,
                // It failed; this one fails too, and the sender retries.
                Receipt::Theirs(first) => match first.await {
                    Ok(Some(event_id)) => event_id,
                    _ => return Ok(None),
                },
            };
            if let Some(key) = &req.dedupe {
                self.log(
                    Level::Info,
                    "duplicate delivery acknowledged",
                    json!({ "origin": key.origin, "epoch": key.epoch,
                            "remoteEventId": key.event_id, "eventId": event_id }),
                );
            }
            results.push(InvalidateResponse {
                event_id,
                types: req.types.clone(),
                duplicate: true,
            });
        }
        Ok(Some(results))
    }

    /// What the receipts say of `req`, its key reserved if it is new. No
    /// await: the check and the reservation of a batch's entries are one
    /// step against identical deliveries in flight.
    fn receipt(&self, req: &InvalidateRequest) -> Result<Receipt> {
        let Some(key) = &req.dedupe else {
            return Ok(Receipt::New);
        };
        if let Some(event_id) = self.memory.with(|d| d.seen(key))? {
            return Ok(Receipt::Seen(event_id));
        }
        Ok(match self.memory.reserve(delivery_key(key)) {
            Reservation::Mine(r) => Receipt::Mine(r),
            Reservation::Theirs(first) => Receipt::Theirs(first),
        })
    }

    /// Applies `reqs` (none a duplicate), in order: see
    /// [`Hub::invalidate_all`], which answers the identical deliveries
    /// waiting for them once this returns.
    async fn apply(
        &self,
        config: &Config,
        reqs: &[&InvalidateRequest],
    ) -> Result<Vec<InvalidationEvent>> {
        // Before the events exist: an acknowledged invalidation is either
        // recorded in the backend or pending (its types bypass the cache).
        // One bump of every type of the batch.
        let mut types: Vec<EntityType> = reqs.iter().flat_map(|r| r.types.clone()).collect();
        types.sort_unstable();
        types.dedup();
        let bump = self.record_bump(config, &types).await;
        let ts = now_ms();
        let (events, change, collapses) = self.memory.with(|d| {
            d.invalidate_all(
                reqs,
                &bump,
                &config.mirrors,
                config.mirror_queue_limit,
                ts,
                &mut platform::rng(),
            )
            .map_err(|e| worker::Error::RustError(e.to_string()))
        })??;
        let storage = self.state.storage();
        self.memory.commit(&storage, change).await?;
        for collapse in &collapses {
            self.log_collapse(collapse);
        }
        for event in &events {
            self.after_bump(&bump, event.id, &event.types).await?;
        }
        let mirrored = !config.mirrors.is_empty() && reqs.iter().any(|r| r.mirror);
        if mirrored {
            // Deliver now; the alarm reschedules itself for retries. A
            // running alarm has mirrors waiting for this entry: wake them.
            self.memory.wake_mirrors();
            storage.set_alarm(0).await?;
        }
        self.link
            .count(|c| c.writes += u64::try_from(events.len()).unwrap_or(u64::MAX));
        let edges = self.push_and_wait(&events).await?;
        for (req, event) in reqs.iter().zip(&events) {
            self.log(
                Level::Info,
                "invalidate",
                json!({
                    "eventId": event.id, "type": event.type_name, "types": event.types,
                    "entityId": event.entity_id, "action": event.action, "origin": event.origin,
                    "mirror": req.mirror && mirrored,
                }),
            );
            self.log(
                Level::Info,
                "notify",
                json!({ "eventId": event.id, "edges": edges }),
            );
        }
        Ok(events)
    }

    /// `POST /login/reserve`: counts a login attempt against its address and
    /// its account before the Worker checks the password, or refuses it.
    /// No await between the check and the count, so attempts arriving
    /// together are counted one after the other.
    fn reserve_login(&self, config: &Config, attempt: &LoginAttempt) -> Result<Response> {
        let mut limiter = self.memory.limiter.borrow_mut();
        if limiter.limits() != config.login_limits {
            *limiter = LoginLimiter::new(config.login_limits);
        }
        let verdict = limiter.reserve(
            &address_key(&attempt.addr),
            &account_key(&attempt.email),
            now_ms(),
        );
        reply::json(
            200,
            &LoginVerdict {
                retry_after: verdict.err(),
                reservation: verdict.ok(),
            },
        )
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

    /// Delivers one mirror's due entries in order, until one fails: several
    /// due go as one batch (up to [`MAX_BATCH`]), unless the mirror refused
    /// a batch before (an older version), then one by one. A batch refused
    /// for one of its entries (a type the mirror does not have, say) is
    /// sent again as the entries before that one, that one alone (it parks
    /// by itself), and batches again after it.
    async fn deliver_mirror(
        &self,
        config: &Config,
        id: &str,
        url: &str,
        creds: Option<&Credentials>,
    ) -> Result<()> {
        // Requests, bounded so that one alarm stays within its time budget;
        // the next alarm goes on where this one stopped.
        const MAX_PER_ALARM: usize = 200;
        // The size of the next run only, after a batch refused for an entry.
        let mut next_run: Option<usize> = None;
        for _ in 0..MAX_PER_ALARM {
            let max = if self.memory.single_mirrors.borrow().contains(id) {
                1
            } else {
                next_run.take().unwrap_or(MAX_BATCH)
            };
            let run = self.memory.with(|d| {
                d.outbox
                    .get(id)
                    .map(|q| q.due_run(now_ms(), max))
                    .unwrap_or_default()
            })?;
            let outcomes = match run.as_slice() {
                [] => break,
                [entry] => {
                    let attempt = mirror::deliver(&self.memory, id, url, creds, entry, now_ms());
                    vec![(entry, attempt.await)]
                }
                entries => {
                    match mirror::deliver_batch(&self.memory, id, url, creds, entries, now_ms())
                        .await
                    {
                        BatchAttempt::Delivered => {
                            entries.iter().map(|e| (e, Attempt::Delivered)).collect()
                        }
                        // The head carries the failure; the rest wait behind it.
                        BatchAttempt::Failed(attempt) => vec![(&entries[0], attempt)],
                        BatchAttempt::Refused(error) => {
                            self.memory
                                .single_mirrors
                                .borrow_mut()
                                .insert(id.to_owned());
                            self.log(
                                Level::Warn,
                                "mirror refused a batch; delivering one by one",
                                json!({ "mirror": url, "error": error }),
                            );
                            continue;
                        }
                        BatchAttempt::EntryRefused(index, error) => {
                            let entry = &entries[index];
                            self.log(
                                Level::Warn,
                                "mirror refused one entry of a batch; sending it alone",
                                json!({ "mirror": url, "eventId": entry.event_id,
                                        "type": entry.type_name, "error": error }),
                            );
                            next_run = Some(index.max(1));
                            continue;
                        }
                    }
                }
            };
            for (entry, attempt) in outcomes {
                if !self
                    .record_delivery(config, id, url, entry, attempt)
                    .await?
                {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Records the outcome of an attempt at `entry` (the head of mirror
    /// `id`'s queue) and logs it; false when the queue must wait (a retry
    /// is scheduled, or the head moved meanwhile).
    async fn record_delivery(
        &self,
        config: &Config,
        id: &str,
        url: &str,
        entry: &OutboxEntry,
        attempt: Attempt,
    ) -> Result<bool> {
        let now = now_ms();
        let outcome = self.memory.with(|d| {
            d.record_delivery(
                id,
                entry.seq,
                attempt,
                now,
                &config.mirror_retry(),
                config.mirror_queue_limit,
                &mut platform::rng(),
            )
            .map_err(|e| worker::Error::RustError(e.to_string()))
        })??;
        let Some((delivery, change, collapse)) = outcome else {
            return Ok(false);
        };
        self.memory.commit(&self.state.storage(), change).await?;
        if let Some(collapse) = &collapse {
            self.log_collapse(collapse);
        }
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
                return Ok(false);
            }
            Delivery::Parked(failed) => {
                self.log(
                    Level::Error,
                    "mirror parked",
                    fields(&failed, failed.last_error.as_deref()),
                );
            }
        }
        Ok(true)
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

    /// `GET /mirrors?cursor=&limit=`: per mirror, what is pending,
    /// delivered and parked (one page of the parked entries).
    fn mirrors(&self, config: &Config, url: &worker::Url) -> Result<Response> {
        let query = match MirrorsQuery::parse(url.query_pairs()) {
            Ok(query) => query,
            Err(e) => return reply::error(ErrorCode::BadRequest, &e.to_string()),
        };
        let now = now_ms();
        let status = self
            .memory
            .with(|d| d.mirror_status(&config.mirrors, now, &query))?;
        reply::json(200, &status)
    }

    /// `POST /mirrors/retry`: puts every parked entry back in its queue,
    /// in storage first (in batches, see `storage`), then in memory.
    async fn retry_parked(&self) -> Result<Response> {
        let now = now_ms();
        let plan = self.memory.with(|d| {
            d.unpark_plan(now)
                .map_err(|e| worker::Error::RustError(e.to_string()))
        })??;
        let storage = self.state.storage();
        self.memory.commit(&storage, plan.change.clone()).await?;
        let count = self.memory.with(|d| d.unpark(&plan, now))?;
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

    /// `TEST_FAULTS=hub-reset`: forgets what the edge tier depends on in
    /// memory, as a new instance after the runtime reset or moved the
    /// object would start without it: the durable part is loaded again from
    /// storage by the next request (the registry of Edges with it), and the
    /// pushes queued, the writes waiting for them and the counters are
    /// gone. (The login limiter, the cache log and mirror tokens stay.) (The
    /// runtime's own reset, `ctx.abort()`, left the next request to the
    /// object hung under `wrangler dev`: measured, so not used.)
    fn reset(&self) {
        self.memory.forget();
        self.link.reset();
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
                subscribers: 0,
                last_event_id,
                event_log_len,
                generations,
                cache_entries: 0,
                stream_chunks: 0,
                stream_events: 0,
                bypass_types,
                hub: self.link.snapshot(),
                edges: self.memory.with(|d| d.edges.status())?,
            },
        )
    }
}

/// What the receipts say of a delivery in a batch before it is applied.
enum Receipt {
    /// No dedupe key: an invalidation of this deployment's.
    New,
    /// Already applied as this event.
    Seen(u64),
    /// Reserved: this batch applies it.
    Mine(Reserved),
    /// Being applied by another request: its event id comes here.
    Theirs(futures::channel::oneshot::Receiver<Option<u64>>),
}

/// The answer when an identical delivery applied by another request
/// failed meanwhile.
fn identical_failed() -> Result<Response> {
    reply::error(
        ErrorCode::Unavailable,
        "an identical delivery failed meanwhile; retry",
    )
}

/// Reads and drops a body nobody needs: an unread body keeps the request
/// open in the runtime.
async fn drain(req: &mut Request) {
    let _ = req.bytes().await;
}

async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T> {
    Ok(serde_json::from_slice(&req.bytes().await?)?)
}
