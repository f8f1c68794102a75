//! The Hub's side of the edge tier: it answers the Edges' renewals from its
//! durable registry, hands them older events for streams that resume, and
//! pushes every write's event to each Edge with a live lease before it
//! acknowledges the write ([`polycache_core::edge_protocol`]).
//!
//! Pushes go through [`PushQueue`]: one request in flight per Edge,
//! carrying everything pending for it, and at most six at once (production's
//! cap on a Durable Object's outgoing requests). They run as tasks of the
//! object (`wait_until`), not of the write that queued them, because one
//! request may carry the events of several writes: each write waits, with a
//! bound (the leases of the Edges it waits for), until the registry says it
//! is acknowledged, woken by every answer and renewal.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};
use polycache_core::edge_api::{route, EventsPage, EventsRequest, HubCounters, PushAck, PushBatch};
use polycache_core::edge_name::EdgeName;
use polycache_core::edge_protocol::{EdgePush, RenewRequest};
use polycache_core::event::InvalidationEvent;
use polycache_core::event_log::Replay;
use polycache_core::push_queue::PushQueue;
use worker::{Delay, Env, Response, Result};

use super::Hub;
use crate::calls;
use crate::platform::now_ms;
use crate::reply;
use crate::state::HubState;

/// How much longer than an Edge's lease the Hub waits for a push's answer:
/// after the lease the Edge no longer counts, so the answer no longer
/// matters, but the slot is held until then.
const PUSH_GRACE_MS: u64 = 1_000;

/// What the Hub's pushes share: the queue, the writes waiting for
/// acknowledgements, the counters.
#[derive(Default)]
pub struct EdgeLink {
    queue: RefCell<PushQueue>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// Writes pushed and not yet acknowledged, by event id.
    unacknowledged: RefCell<BTreeSet<u64>>,
    /// Whether Edges hold events back until their write is acknowledged
    /// (`EDGE_SHARDS` above 1; see [`EdgeLink::forward_through`]).
    hold: Cell<bool>,
    /// The counters of `/api/status` (`hub`), but the pushes', which the
    /// queue counts.
    pub counters: Cell<HubCounters>,
}

impl EdgeLink {
    /// Resolves at the next [`EdgeLink::wake`].
    fn wakeup(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.borrow_mut();
        waiters.retain(|w| !w.is_canceled());
        waiters.push(tx);
        rx
    }

    /// Wakes every write waiting for acknowledgements.
    fn wake(&self) {
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    /// The last event id the Edges may send to their streams, when they
    /// must hold events back: every write through it is acknowledged.
    ///
    /// Why hold: with several shards per region, the client that gets an
    /// event refetches through the shard of each key, which is not the
    /// Edge that served its stream; that shard may not have applied the
    /// event yet (a push in flight, or queued behind the cap), and the
    /// refetch would return the old data and nothing would ever correct
    /// it. Once the write is acknowledged every live Edge has applied it.
    /// With one shard per region the refetch reaches the Edge that applied
    /// the event, which forwards it at once (`None`).
    fn forward_through(&self, last_id: u64) -> Option<u64> {
        self.hold.get().then(|| {
            self.unacknowledged
                .borrow()
                .first()
                .map_or(last_id, |first| first - 1)
        })
    }

    /// Forgets the pushes queued (those in flight end on their own), the
    /// writes waiting for acknowledgements (they wake and find the state
    /// reloaded) and the counters: a reset of the Hub (`TEST_FAULTS`).
    pub fn reset(&self) {
        *self.queue.borrow_mut() = PushQueue::new();
        self.unacknowledged.borrow_mut().clear();
        self.counters.set(HubCounters::default());
        self.wake();
    }

    /// Sets whether Edges hold events back (`EDGE_SHARDS` above 1).
    pub fn set_hold(&self, hold: bool) {
        self.hold.set(hold);
    }

    /// Adds one to a counter.
    pub fn count(&self, f: impl FnOnce(&mut HubCounters)) {
        let mut counters = self.counters.get();
        f(&mut counters);
        self.counters.set(counters);
    }

    /// The counters, the queue's included.
    pub fn snapshot(&self) -> HubCounters {
        let queue = self.queue.borrow();
        HubCounters {
            pushes: queue.sent(),
            pushes_in_flight_peak: queue.peak(),
            ..self.counters.get()
        }
    }
}

impl Hub {
    /// `POST /edge/renew`: registers or renews an Edge, stores its entry,
    /// then answers.
    pub(super) async fn renew_edge(&self, lease_ms: u64, req: RenewRequest) -> Result<Response> {
        let now = now_ms();
        let answer = self
            .memory
            .with(|d| d.renew_edge(&req, now, lease_ms))?
            .map_err(|e| e.to_string());
        let (mut renewal, change) = match answer {
            Ok(answer) => answer,
            Err(message) => {
                return reply::error(polycache_core::error_code::ErrorCode::BadRequest, &message)
            }
        };
        self.memory.commit(&self.state.storage(), change).await?;
        renewal.forward_through = self.link.forward_through(renewal.last_event_id);
        self.link.count(|c| c.renewals += 1);
        // A renewal may acknowledge what a write waits for.
        self.link.wake();
        reply::json(200, &renewal)
    }

    /// `POST /edge/events`: the events after an id, for a stream that
    /// resumes from further back than its Edge's tail.
    pub(super) fn edge_events(&self, req: EventsRequest) -> Result<Response> {
        let page = self.memory.with(|d| EventsPage {
            last_event_id: d.log.last_id(),
            events: match d.log.since(req.after) {
                Replay::Events(events) => Some(events.into_iter().map(|(_, e)| e).collect()),
                Replay::Reset => None,
            },
        })?;
        reply::json(200, &page)
    }

    /// Pushes `events` (just made durable) to every Edge with a live lease,
    /// all of them queued before any push starts, so that one request per
    /// Edge carries them all, and returns once the writes may be
    /// acknowledged: each Edge has applied them, or its lease has run out.
    /// Answers how many Edges they were pushed to.
    ///
    /// When Edges hold events back (several shards per region), they send
    /// the events to their streams only once acknowledged: the Hub tells
    /// them so by one more request each ([`EdgeLink::forward_through`]).
    pub(super) async fn push_and_wait(&self, events: &[InvalidationEvent]) -> Result<usize> {
        let now = now_ms();
        let (targets, pushes) = self.memory.with(|d| {
            let mut targets = Vec::new();
            let mut pushes = Vec::with_capacity(events.len());
            // Each push carries the generations after the whole batch: no
            // one saw those in between (the batch was bumped in one step).
            for event in events {
                targets = d.edges.push(event.id, now);
                pushes.push(EdgePush::new(event.clone(), &d.generations));
            }
            (targets, pushes)
        })?;
        if targets.is_empty() {
            return Ok(0);
        }
        let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
        self.link.unacknowledged.borrow_mut().extend(&ids);
        {
            let mut queue = self.link.queue.borrow_mut();
            for push in pushes {
                for target in &targets {
                    queue.enqueue(target, push.clone());
                }
            }
        }
        self.start_pushes();
        let mut waited = Ok(());
        for id in &ids {
            waited = self.wait_for_acknowledgements(*id).await;
            if waited.is_err() {
                break;
            }
        }
        {
            let mut unacknowledged = self.link.unacknowledged.borrow_mut();
            for id in &ids {
                unacknowledged.remove(id);
            }
        }
        if self.link.hold.get() {
            // Tell the Edges that they may forward them.
            self.touch_edges()?;
        }
        waited.map(|()| targets.len())
    }

    async fn wait_for_acknowledgements(&self, event_id: u64) -> Result<()> {
        loop {
            let now = now_ms();
            let deadline = self.memory.with(|d| d.edges.ack_deadline(event_id, now))?;
            let Some(deadline) = deadline else {
                return Ok(());
            };
            let woken = self.link.wakeup();
            let wait = deadline.saturating_sub(now).max(1);
            let _ = select(woken, Delay::from(Duration::from_millis(wait))).await;
        }
    }

    /// Tells every Edge with a live lease the Hub's bypass set, which has
    /// changed (an unrecorded invalidation was recorded): without this,
    /// they would bypass the cache until their next renewal.
    pub(super) fn push_bypass(&self) -> Result<()> {
        self.touch_edges()
    }

    /// Owes every Edge with a live lease a request, events or not.
    fn touch_edges(&self) -> Result<()> {
        let targets = self.memory.with(|d| d.edges.push_targets(now_ms()))?;
        {
            let mut queue = self.link.queue.borrow_mut();
            for target in &targets {
                queue.touch(target);
            }
        }
        self.start_pushes();
        Ok(())
    }

    /// Starts a task for every push request the queue allows now.
    pub(super) fn start_pushes(&self) {
        loop {
            let Some(batch) = self.link.queue.borrow_mut().take_next() else {
                return;
            };
            let (env, memory, link) = (self.env.clone(), self.memory.clone(), self.link.clone());
            self.state.wait_until(async move {
                push_until_idle(env, memory, link, batch).await;
            });
        }
    }
}

/// Sends `batch`, then whatever the queue allows next, until it allows
/// nothing: a task keeps its slot busy rather than ending and starting anew.
async fn push_until_idle(
    env: Env,
    memory: Rc<HubState>,
    link: Rc<EdgeLink>,
    mut batch: (String, Vec<EdgePush>),
) {
    loop {
        let (edge, pushes) = batch;
        let applied = send(&env, &memory, &link, &edge, pushes).await;
        link.queue.borrow_mut().done(&edge);
        match applied {
            Ok(applied) => {
                let _ = memory.with(|d| d.edges.ack(&edge, applied));
            }
            Err(e) => worker::console_error!("hub: push to {edge}: {e}"),
        }
        link.wake();
        let Some(next) = link.queue.borrow_mut().take_next() else {
            return;
        };
        batch = next;
    }
}

/// One push request to `edge`, given up on once its lease has run out.
async fn send(
    env: &Env,
    memory: &HubState,
    link: &EdgeLink,
    edge: &str,
    pushes: Vec<EdgePush>,
) -> Result<u64> {
    let name = EdgeName::parse(edge).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let (lease_until, bypass, last_id) = memory.with(|d| {
        (
            d.edges.entry(edge).map_or(0, |e| e.lease_until),
            d.pending.types(),
            d.log.last_id(),
        )
    })?;
    let batch = PushBatch {
        forward_through: link.forward_through(last_id),
        pushes,
        bypass,
        sync_token: memory
            .upstash
            .borrow()
            .as_ref()
            .and_then(|c| c.sync_token()),
    };
    let stub = calls::edge(env, name)?;
    let call = calls::post::<_, PushAck>(&stub, "edge", route::PUSH, &batch);
    let wait = lease_until
        .saturating_add(PUSH_GRACE_MS)
        .saturating_sub(now_ms());
    let timer = Delay::from(Duration::from_millis(wait));
    futures::pin_mut!(call);
    match select(call, timer).await {
        Either::Left((answer, _)) => Ok(answer?.applied_id),
        Either::Right(_) => Err(worker::Error::RustError(
            "no answer within its lease; it no longer counts".into(),
        )),
    }
}
