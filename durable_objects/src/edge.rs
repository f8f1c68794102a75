//! The `Edge` Durable Object: one per region and shard
//! (`edge:<region>:<shard>`, created near its region with a location hint),
//! serving everything a visitor touches without calling the Hub:
//!
//! - a replica of the Hub's generations, held under a lease from the Hub
//!   ([`polycache_core::replica`]; the protocol and why it is safe are in
//!   [`polycache_core::edge_protocol`]);
//! - the region's cache reads: the generation (and bypass) for every
//!   backend, the `memory` backend's entries and the fill leases that keep a
//!   stampede of the region's readers off the origin (`edge/cache.rs`);
//! - the region's SSE streams, and a tail of recent events to replay to a
//!   stream that resumes (`edge/stream.rs`).
//!
//! The Hub pushes every write's event to each Edge with a live lease
//! (`POST /push`) and acknowledges the write once each has applied it or
//! its lease has run out. The Edge applies events in id order, once each,
//! and forwards an event to its streams only after applying it; a push
//! past a gap makes it renew at once, which answers what it missed.
//!
//! When the Edge renews: before it serves anything without a live lease
//! (the first read after a lapse waits for one round trip to the Hub), and,
//! while it is busy (open streams, or reads within the last lease term),
//! halfway through the lease, from its alarm, so that hits never wait. An
//! idle Edge lets its lease lapse and the Hub stops pushing to it.

mod cache;
mod stream;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use polycache_core::config::{Config, DEFAULT_EDGE_LEASE_SECS};
use polycache_core::edge_api::{route, EdgeReport, PushAck, PushBatch, CLIENT_HEADER, EDGE_HEADER};
use polycache_core::edge_name::EdgeName;
use polycache_core::edge_protocol::{RenewRequest, Renewal};
use polycache_core::error_code::ErrorCode;
use polycache_core::event::InvalidationEvent;
use polycache_core::event_log::{EventLog, Replay};
use polycache_core::hub_api::StreamClosed;
use polycache_core::lease::Leases;
use polycache_core::replica::{Forward, PushOutcome, Replica};
use polycache_core::sse;
use polycache_core::store::MemoryStore;
use polycache_core::types::EntityType;
use serde::de::DeserializeOwned;
use serde_json::json;
use worker::{durable_object, Delay, DurableObject, Env, Method, Request, Response, Result, State};

use crate::calls;
use crate::platform::{self, now_ms};
use crate::reply;
use crate::state::{
    Waiter, CACHE_MAX_BYTES, CACHE_MAX_ENTRIES, NEGATIVE_MAX_BYTES, NEGATIVE_MAX_ENTRIES,
};
use crate::streams::Streams;

/// Events an Edge keeps for streams that resume: enough for a client that
/// was away for a few seconds under a heavy write load; one that was away
/// longer is replayed from the Hub's log.
pub const TAIL_SIZE: usize = 1_000;

/// How many times a read or a stream renews in a row while the Hub
/// withholds the lease (it waits for this Edge to confirm a catch-up, which
/// the next renewal does): two suffice; three leave room for a write that
/// lands in between.
const MAX_RENEWALS_IN_A_ROW: usize = 3;

/// How long an Edge waits before it tries a failed renewal again, by
/// attempt: short, since a reader waits meanwhile.
const RETRY_MS: [u64; MAX_RENEWALS_IN_A_ROW] = [50, 250, 0];

/// The storage key of the Edge's name, its only stored value (with its
/// alarm).
const NAME_KEY: &str = "name";

/// The Edge.
#[durable_object]
pub struct Edge {
    state: State,
    env: Env,
    inner: EdgeState,
}

/// What an Edge holds, all in memory: a restarted Edge starts empty and
/// registers again.
pub struct EdgeState {
    config: RefCell<Option<Rc<Config>>>,
    name: Cell<Option<EdgeName>>,
    replica: RefCell<Replica>,
    /// Types whose reads bypass the cache (the Hub's unrecorded
    /// invalidations, upstash backend), as of the last push or renewal.
    bypass: RefCell<Vec<EntityType>>,
    /// The Hub's newest `upstash-sync-token`, passed on with reads.
    sync_token: RefCell<Option<String>>,
    /// The events applied, newest [`TAIL_SIZE`], for replay, and those
    /// held back from the streams ([`EdgeState::forwarded`]).
    tail: RefCell<EventLog<InvalidationEvent>>,
    /// The last event id sent to the streams: the last applied, or less
    /// while the Hub holds events back until their write is acknowledged
    /// (several shards per region, [`PushBatch::forward_through`]).
    forwarded: Cell<u64>,
    /// How far the Hub lets this Edge forward (`u64::MAX`: no hold).
    forward_limit: Cell<u64>,
    /// Streams that wait for [`EdgeState::forwarded`] to reach their
    /// resume id.
    forward_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// The memory backend's entries of this Edge's keys.
    cache: RefCell<MemoryStore>,
    /// The memory backend's 404s, apart (see [`NEGATIVE_MAX_ENTRIES`]).
    negative: RefCell<MemoryStore>,
    /// Fill leases of the region's readers, with their waiting readers.
    leases: RefCell<Leases<Waiter>>,
    streams: Streams,
    renewing: Cell<bool>,
    renew_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// When this Edge last served a read (its clock).
    last_read_ms: Cell<u64>,
    /// When the alarm is set for (0: not set).
    alarm_at: Cell<u64>,
}

impl Default for EdgeState {
    fn default() -> Self {
        Self {
            config: RefCell::new(None),
            name: Cell::new(None),
            replica: RefCell::new(Replica::new()),
            bypass: RefCell::new(Vec::new()),
            sync_token: RefCell::new(None),
            tail: RefCell::new(EventLog::new(TAIL_SIZE, 0)),
            forwarded: Cell::new(0),
            forward_limit: Cell::new(u64::MAX),
            forward_waiters: RefCell::new(Vec::new()),
            cache: RefCell::new(MemoryStore::new(CACHE_MAX_ENTRIES, CACHE_MAX_BYTES)),
            negative: RefCell::new(MemoryStore::new(NEGATIVE_MAX_ENTRIES, NEGATIVE_MAX_BYTES)),
            leases: RefCell::new(Leases::default()),
            streams: Streams::default(),
            renewing: Cell::new(false),
            renew_waiters: RefCell::new(Vec::new()),
            last_read_ms: Cell::new(0),
            alarm_at: Cell::new(0),
        }
    }
}

impl DurableObject for Edge {
    fn new(state: State, env: Env) -> Self {
        let inner = EdgeState::default();
        // The runtime passes the name of an object made by name through to
        // it; the Worker's requests also carry it ([`EDGE_HEADER`]).
        if let Some(name) = state.id().name() {
            inner.name.set(EdgeName::parse(&name).ok());
        }
        Self { state, env, inner }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.route(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                worker::console_error!("edge: {e}");
                reply::error(ErrorCode::Unavailable, "the edge failed; see its log")
            }
        }
    }

    /// Renews the lease halfway through while the Edge is busy.
    async fn alarm(&self) -> Result<Response> {
        self.inner.alarm_at.set(0);
        // The renewal's answer names types (origin mode's, once installed).
        self.config()?;
        if self.inner.name.get().is_none() {
            // An object woken by its alarm is not always told its name.
            let stored: Option<String> = self.state.storage().get(NAME_KEY).await?;
            self.inner
                .name
                .set(stored.and_then(|n| EdgeName::parse(&n).ok()));
        }
        let now = now_ms();
        if self.busy(now) && self.inner.name.get().is_some() {
            let due = self.inner.replica.borrow().should_renew(now, true);
            if due {
                if let Err(e) = self.renew().await {
                    worker::console_error!("edge: renewal from the alarm failed: {e}");
                }
            }
            self.schedule_renewal().await?;
        }
        Response::ok("renewed")
    }
}

impl Edge {
    fn config(&self) -> Result<Rc<Config>> {
        if let Some(config) = self.inner.config.borrow().as_ref() {
            return Ok(config.clone());
        }
        let config = Rc::new(
            Config::from_vars(|name| platform::var(&self.env, name))
                .map_err(|e| worker::Error::RustError(e.to_string()))?,
        );
        *self.inner.config.borrow_mut() = Some(config.clone());
        self.inner
            .leases
            .borrow_mut()
            .set_lease_ms(config.fill_lease_ms());
        // EVENT_LOG_SIZE is the replay window a deployment promises; an
        // Edge's tail keeps no more than that (the Hub's log no less).
        let last = self.inner.tail.borrow().last_id();
        *self.inner.tail.borrow_mut() = EventLog::new(self.tail_size(), last);
        Ok(config)
    }

    /// Takes `name` (from the Worker's request) as this Edge's name, and
    /// stores it for an alarm that wakes the object after a restart: such
    /// an object is not always told its name by the runtime.
    async fn learn_name(&self, name: &str) -> Result<()> {
        let Ok(parsed) = EdgeName::parse(name) else {
            return Ok(());
        };
        self.inner.name.set(Some(parsed));
        self.state.storage().put(NAME_KEY, name).await
    }

    /// How many events the tail keeps: [`TAIL_SIZE`], or fewer when
    /// `EVENT_LOG_SIZE` is smaller.
    fn tail_size(&self) -> usize {
        self.inner
            .config
            .borrow()
            .as_ref()
            .map_or(TAIL_SIZE, |c| c.event_log_size.min(TAIL_SIZE))
    }

    fn name(&self) -> Result<EdgeName> {
        self.inner
            .name
            .get()
            .ok_or_else(|| worker::Error::RustError("the edge does not know its name".into()))
    }

    async fn route(&self, mut req: Request) -> Result<Response> {
        // First: loading the settings installs origin mode's types, which
        // the requests below name.
        self.config()?;
        if self.inner.name.get().is_none() {
            if let Some(name) = req.headers().get(EDGE_HEADER)?.as_deref() {
                self.learn_name(name).await?;
            }
        }
        let url = req.url()?;
        match (req.method(), url.path()) {
            (Method::Post, route::PUSH) => self.push(read_json(&mut req).await?).await,
            (Method::Get, route::REPORT) => self.report(),
            (Method::Post, route::CACHE_READ) => self.cache_read(read_json(&mut req).await?).await,
            (Method::Post, route::CACHE_LEASE) => {
                self.cache_lease(read_json(&mut req).await?).await
            }
            (Method::Post, route::CACHE_WRITE) => self.cache_write(read_json(&mut req).await?),
            (Method::Post, route::CACHE_RELEASE) => self.cache_release(read_json(&mut req).await?),
            (Method::Get, route::STREAM) => {
                let addr = req.headers().get(CLIENT_HEADER)?.unwrap_or_default();
                self.stream(&url, &addr).await
            }
            (Method::Post, route::STREAM_CLOSE) => {
                let id = url
                    .query_pairs()
                    .find(|(k, _)| k == "id")
                    .and_then(|(_, v)| v.parse::<u64>().ok());
                match id {
                    Some(id) => reply::json(
                        200,
                        &StreamClosed {
                            closed: self.inner.streams.close(id as f64),
                        },
                    ),
                    None => reply::error(ErrorCode::BadRequest, "id must be a stream id"),
                }
            }
            _ => reply::error(ErrorCode::NotFound, "no such edge route"),
        }
    }

    /// Whether the Edge has something to keep its lease for at `now`: open
    /// streams, or a read within the last lease term.
    fn busy(&self, now: u64) -> bool {
        self.inner.streams.subscribers() > 0
            || now.saturating_sub(self.inner.last_read_ms.get()) < self.term_ms()
    }

    /// The lease term (`EDGE_LEASE_SECS`), its default before the settings
    /// are read (an Edge woken by its alarm reads them at its first request).
    fn term_ms(&self) -> u64 {
        let secs = self
            .inner
            .config
            .borrow()
            .as_ref()
            .map_or(DEFAULT_EDGE_LEASE_SECS, |c| c.edge_lease_secs);
        secs.saturating_mul(1000)
    }

    /// Makes sure the Edge may serve from its replica now, renewing first
    /// if its lease has lapsed. A renewal that fails is tried again twice,
    /// after [`RETRY_MS`]: a Hub that is starting (or restarting) answers
    /// within that.
    async fn ensure_serving(&self) -> Result<()> {
        let mut last_error = None;
        for (attempt, pause_ms) in RETRY_MS.iter().enumerate() {
            if self.inner.replica.borrow().can_serve(now_ms()) {
                return Ok(());
            }
            if let Err(e) = self.renew().await {
                worker::console_error!("edge: renewal {} failed: {e}", attempt + 1);
                last_error = Some(e);
                Delay::from(Duration::from_millis(*pause_ms)).await;
            }
        }
        if self.inner.replica.borrow().can_serve(now_ms()) {
            return Ok(());
        }
        Err(last_error.unwrap_or_else(|| {
            worker::Error::RustError("the hub did not grant this edge a lease".into())
        }))
    }

    /// Renews the lease (one renewal in flight at a time: a caller that
    /// finds one waits for it), again while the Hub asks for a confirmation,
    /// and sets the alarm for the next.
    async fn renew(&self) -> Result<()> {
        if self.inner.renewing.get() {
            let (tx, rx) = oneshot::channel();
            self.inner.renew_waiters.borrow_mut().push(tx);
            let _ = rx.await;
            return Ok(());
        }
        self.inner.renewing.set(true);
        let result = self.renew_in_a_row().await;
        self.inner.renewing.set(false);
        for waiter in self.inner.renew_waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
        result?;
        self.schedule_renewal().await
    }

    async fn renew_in_a_row(&self) -> Result<()> {
        for _ in 0..MAX_RENEWALS_IN_A_ROW {
            self.renew_once().await?;
            // The Hub withheld the lease until this Edge confirms the
            // catch-up it answered (or a push revealed a gap): again.
            if !self.inner.replica.borrow().renew_requested() {
                break;
            }
        }
        Ok(())
    }

    fn half_term(&self) -> u64 {
        self.term_ms() / 2
    }

    async fn renew_once(&self) -> Result<()> {
        let name = self.name()?;
        let req = RenewRequest {
            name: name.to_string(),
            region: name.region.as_str().to_owned(),
            shard: name.shard,
            last_applied_id: self.inner.replica.borrow().reported_applied_id(),
            subscribers: self.inner.streams.subscribers(),
        };
        let sent_at = now_ms();
        let renewal: Renewal =
            calls::post(&calls::hub(&self.env)?, "hub", route::HUB_RENEW, &req).await?;
        let forward = self
            .inner
            .replica
            .borrow_mut()
            .apply_renewal(sent_at, &renewal);
        *self.inner.bypass.borrow_mut() = renewal.bypass;
        self.forward(forward);
        self.set_forward_limit(renewal.forward_through);
        Ok(())
    }

    /// Sends what a renewal brought to the streams: the events new to this
    /// Edge, or a `reset` when they are no longer all available.
    fn forward(&self, forward: Forward) {
        match forward {
            Forward::Events(events) => {
                for event in events {
                    self.deliver(event);
                }
            }
            Forward::Reset { last_event_id } => {
                *self.inner.tail.borrow_mut() = EventLog::new(self.tail_size(), last_event_id);
                self.reset_streams(last_event_id);
            }
        }
    }

    /// Every stream gets `reset` (refetch everything) at `last_event_id`.
    fn reset_streams(&self, last_event_id: u64) {
        self.inner.forwarded.set(last_event_id);
        let data = json!({ "lastEventId": last_event_id }).to_string();
        let frame = sse::event(Some(last_event_id), Some("reset"), &data);
        self.inner.streams.reset(&frame);
        self.wake_forward_waiters();
    }

    /// An event just applied: into the tail, from which [`Edge::flush`]
    /// sends it to the streams as far as the Hub lets this Edge forward.
    fn deliver(&self, event: InvalidationEvent) {
        let mut tail = self.inner.tail.borrow_mut();
        if event.id != tail.last_id() + 1 {
            // Only after a reset that the tail missed: start it again here.
            *tail = EventLog::new(self.tail_size(), event.id - 1);
        }
        tail.append(|_| event);
    }

    /// Takes the Hub's limit on forwarding (`None`: none), then forwards.
    fn set_forward_limit(&self, through: Option<u64>) {
        self.inner.forward_limit.set(through.unwrap_or(u64::MAX));
        self.flush();
    }

    /// Sends the streams every applied event they have not had, up to the
    /// Hub's limit, in id order.
    fn flush(&self) {
        let applied = self.inner.replica.borrow().last_applied_id();
        let upto = applied.min(self.inner.forward_limit.get());
        let from = self.inner.forwarded.get();
        if upto <= from {
            return;
        }
        let events = match self.inner.tail.borrow().since(from) {
            Replay::Events(events) => events,
            // More were held back than the tail keeps.
            Replay::Reset => Vec::new(),
        };
        if events.first().is_none_or(|(id, _)| *id != from + 1) {
            self.reset_streams(upto);
            return;
        }
        for (id, event) in events.into_iter().take_while(|(id, _)| *id <= upto) {
            let frame = sse::event(Some(id), Some("app-update"), &event.to_json());
            self.inner.streams.publish(&event, &frame);
            self.inner.forwarded.set(id);
        }
        self.wake_forward_waiters();
    }

    /// Resolves at the next forward (or reset).
    fn forward_wakeup(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.inner.forward_waiters.borrow_mut();
        waiters.retain(|w| !w.is_canceled());
        waiters.push(tx);
        rx
    }

    fn wake_forward_waiters(&self) {
        for waiter in self.inner.forward_waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Sets the alarm for the next renewal while the Edge is busy.
    async fn schedule_renewal(&self) -> Result<()> {
        let now = now_ms();
        if !self.busy(now) {
            return Ok(());
        }
        let (lease_until, half) = (self.inner.replica.borrow().lease_until(), self.half_term());
        let at = lease_until.saturating_sub(half).max(now + 100);
        let set = self.inner.alarm_at.get();
        if set != 0 && set <= at {
            return Ok(());
        }
        self.inner.alarm_at.set(at);
        self.state
            .storage()
            .set_alarm(i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX))
            .await
    }

    /// `POST /push`: applies the Hub's events in order, forwards them,
    /// renews at once past a gap, and answers the id applied through.
    async fn push(&self, batch: PushBatch) -> Result<Response> {
        let config = self.config()?;
        let name = self.name()?;
        if config.test_faults.is_edge_deaf(name) {
            return self.drop_push().await;
        }
        *self.inner.bypass.borrow_mut() = batch.bypass;
        if batch.sync_token.is_some() {
            *self.inner.sync_token.borrow_mut() = batch.sync_token;
        }
        self.inner
            .forward_limit
            .set(batch.forward_through.unwrap_or(u64::MAX));
        let mut gap = false;
        for push in &batch.pushes {
            let outcome = self.inner.replica.borrow_mut().apply_push(push);
            match outcome {
                PushOutcome::Applied => self.deliver(push.event.clone()),
                PushOutcome::AlreadyApplied => {}
                PushOutcome::Gap { .. } | PushOutcome::NotSynced => {
                    gap = true;
                    break;
                }
            }
        }
        if gap {
            self.renew().await?;
        }
        self.flush();
        reply::json(
            200,
            &PushAck {
                applied_id: self.inner.replica.borrow().last_applied_id(),
            },
        )
    }

    /// `TEST_FAULTS=edge-deaf:<this edge>`: the push is lost. The request
    /// is held as a lost one would be until it times out (here: until this
    /// Edge's lease would have run out), then answered with nothing
    /// applied.
    async fn drop_push(&self) -> Result<Response> {
        let until = self.inner.replica.borrow().lease_until();
        let wait = until.saturating_sub(now_ms()).min(60_000);
        Delay::from(Duration::from_millis(wait)).await;
        reply::json(
            200,
            &PushAck {
                applied_id: self.inner.replica.borrow().last_applied_id(),
            },
        )
    }

    /// `GET /report`: what `/api/status` lists of this Edge.
    fn report(&self) -> Result<Response> {
        let replica = self.inner.replica.borrow();
        let (stream_chunks, stream_events) = self.inner.streams.written();
        reply::json(
            200,
            &EdgeReport {
                name: self
                    .inner
                    .name
                    .get()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                subscribers: self.inner.streams.subscribers(),
                cache_entries: self.inner.cache.borrow().len() + self.inner.negative.borrow().len(),
                last_event_id: replica.last_applied_id(),
                serving: replica.can_serve(now_ms()),
                stream_chunks,
                stream_events,
            },
        )
    }
}

async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T> {
    Ok(serde_json::from_slice(&req.bytes().await?)?)
}
