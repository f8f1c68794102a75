//! The edge lease protocol: the messages between the Hub and its Edges, and
//! the rules that make them safe.
//!
//! An Edge (a Durable Object per region and shard) serves cache hits and
//! streams from a replica of the Hub's generations, without calling the Hub
//! on a hit. It may do so only while it holds a *lease* from the Hub (Gray
//! and Cheriton, "Leases: An Efficient Fault-Tolerant Mechanism for
//! Distributed File Cache Consistency", SOSP 1989): the Hub, before it
//! acknowledges a write, either hears from every Edge holding a lease that
//! it applied the write, or waits until that Edge's lease has run out.
//! So the guarantee of `docs/architecture.md` ("The guarantee") holds across
//! regions: once a write is acknowledged, no Edge serves a generation older
//! than it.
//!
//! The two sides are pure state machines: [`crate::edge_lease::EdgeRegistry`]
//! (the Hub's registry of Edges, their leases and what each owes) and
//! [`crate::replica::Replica`] (an Edge's replica). This module holds what
//! travels between them:
//!
//! - [`RenewRequest`] (Edge to Hub): register or renew, reporting the last
//!   event the Edge applied. Answered by a [`Renewal`]: the Hub's
//!   generations, its last event id, the events the Edge missed (or a
//!   snapshot) and, unless the Edge owes the Hub an acknowledgement, a new
//!   lease ([`Grant`]).
//! - [`EdgePush`] (Hub to Edge): one event and the generations of its types
//!   after it; the Edge acknowledges it with the id it has applied through.
//!
//! # The rules
//!
//! 1. **A lease is counted from when the Edge sent its request**, on the
//!    Edge's own clock, and ends a margin early
//!    ([`crate::replica::MARGIN_MS`]); the Hub counts it from when it
//!    received the request, on its own clock. The request is received after
//!    it is sent, so the Edge stops serving before the Hub thinks the lease
//!    has run out, however slow the answer, and whatever the offset between
//!    the two clocks: no instant of one clock is ever compared with the
//!    other's. What the margin covers is a difference in the clocks'
//!    *rates*: the Edge stops in time as long as its clock runs at least
//!    `1 - margin / lease` as fast as the Hub's (90 % with a 10 s lease and
//!    a 1 s margin; real clocks differ by parts per million).
//! 2. **Every answer that grants a lease carries everything the Edge lacks**
//!    (the missed events or a snapshot, and the Hub's generations), and the
//!    Edge applies the answer as one step: it never holds a lease granted at
//!    a moment without the generations the Hub had at that moment.
//! 3. **A write is pushed to every Edge whose lease is live, and
//!    acknowledged once each has applied it or its lease has run out.**
//! 4. **The Hub does not extend the lease of an Edge that owes it an
//!    acknowledgement** (a push it has not confirmed): such a renewal is
//!    answered with the missed events but no lease, and the Edge's *next*
//!    renewal, reporting that it applied them, is the confirmation that
//!    extends the lease. An Edge that missed a push (a lost message, a
//!    "deaf" Edge) therefore serves past its current lease only once it has
//!    caught up, and a write never waits on an Edge that stopped answering
//!    for longer than that Edge's lease (on one that answers but never
//!    applies, at most two). While the lease is live, pushes made *after*
//!    the answer the Edge confirms do not block the confirmation (they are
//!    in flight, and acknowledged like any other): otherwise, under a
//!    steady stream of writes, a renewal would always find a push in flight
//!    and the Edge would never be extended. Once the lease has run out, the
//!    Edge must have applied everything it owes: those writes were
//!    acknowledged without it, and it is pushed nothing new meanwhile.
//!
//! Events reach an Edge by pushes and by renewal answers, possibly out of
//! order and more than once. The replica applies each event once, in id
//! order: a push past a gap is refused (the Edge renews, which answers the
//! missing events), anything already applied is skipped, and generations
//! are only ever raised, so a late answer takes nothing back.
//!
//! The tests of this module run the Hub's registry and several replicas
//! together over random interleavings of writes, pushes (delivered, delayed,
//! reordered or lost), renewals, acknowledgements and clock steps, with
//! clocks offset and drifting, and check the invariants.

use serde::{Deserialize, Serialize};

use crate::event::InvalidationEvent;
use crate::generation::Generations;
use crate::types::EntityType;

/// An Edge registering or renewing its lease (Edge to Hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewRequest {
    /// The Edge's object name (`edge:<region>:<shard>`), its key in the
    /// registry; opaque here.
    pub name: String,
    /// The region (a location hint) the Edge serves, as shown in the status.
    pub region: String,
    /// The Edge's shard within its region, as shown in the status.
    pub shard: u32,
    /// The last event id the Edge has applied; `None` for a replica that
    /// holds nothing yet (a new or restarted Edge), which wants a snapshot
    /// rather than the whole event log.
    pub last_applied_id: Option<u64>,
    /// The Edge's open streams, for the status.
    pub subscribers: usize,
}

/// A lease granted by the Hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// How long the lease lasts. The Edge counts it from when it *sent* its
    /// request, on its own clock (rule 1 of the module docs).
    pub lease_ms: u64,
    /// When the lease ends on the Hub's clock (epoch ms): for logs and the
    /// status, never compared with the Edge's clock.
    pub until_ms: u64,
}

/// The events an Edge lacks, in a [`Renewal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CatchUp {
    /// Every event after the Edge's last applied id, oldest first (empty
    /// when it is up to date).
    Events(Vec<InvalidationEvent>),
    /// The events are no longer all in the Hub's log (or there are too many
    /// to send, or the Edge asked for a snapshot): the generations alone
    /// bring the replica up to date, and its streams get a `reset`.
    Snapshot,
}

/// The Hub's answer to a [`RenewRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    /// The Hub's generations when it answered: every event through
    /// `last_event_id` is in them.
    pub generations: Generations,
    /// The Hub's last event id when it answered.
    pub last_event_id: u64,
    /// What the Edge missed since the id it reported.
    pub catch_up: CatchUp,
    /// The lease, or `None` when the Edge owes the Hub an acknowledgement:
    /// it must apply this answer and renew again (rule 4 of the module
    /// docs); meanwhile it keeps whatever lease it holds.
    pub lease: Option<Grant>,
    /// The types whose reads bypass the cache now: invalidations the
    /// upstash backend has not recorded yet ([`crate::pending`]), set by the
    /// Hub after [`crate::edge_lease::EdgeRegistry::register_or_renew`].
    #[serde(default)]
    pub bypass: Vec<EntityType>,
    /// As [`crate::edge_api::PushBatch::forward_through`], set by the Hub.
    #[serde(default)]
    pub forward_through: Option<u64>,
}

/// One event pushed by the Hub to an Edge (Hub to Edge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgePush {
    /// The event, forwarded to the Edge's streams once applied.
    pub event: InvalidationEvent,
    /// The generations of the event's types just after it, which the Edge
    /// raises its own to: carried rather than recomputed by the Edge, so
    /// that a replica never has to reproduce the Hub's arithmetic.
    pub generations: Vec<(EntityType, u64)>,
}

impl EdgePush {
    /// The push of `event`, taken from the Hub's `generations` right after
    /// the event's bump (the push is built when the write is made, even if
    /// it is sent later with others).
    pub fn new(event: InvalidationEvent, generations: &Generations) -> Self {
        let generations = generations.snapshot(&event.types);
        Self { event, generations }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The Hub's registry and several replicas run together over random
    //! interleavings, with a network that delays, reorders and loses
    //! messages, Edges that are deaf to pushes, restarts of either side, and
    //! clocks that are offset and drift.
    //!
    //! Clock assumption: the Hub's clock is the reference; an Edge's clock
    //! is offset from it by any amount and runs at a rate within 9 % of it
    //! (rule 1 allows up to `MARGIN_MS / lease`, 10 %).

    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::edge_lease::{EdgeEntry, EdgeRegistry};
    use crate::event::Action;
    use crate::event_log::EventLog;
    use crate::graph::DependencyGraph;
    use crate::replica::{Forward, PushOutcome, Replica, MARGIN_MS};

    const LEASE: u64 = 10_000;
    /// The most an Edge's clock rate differs from the Hub's, in parts per
    /// million (9 %).
    const MAX_DRIFT_PPM: i64 = 90_000;

    #[derive(Debug, Clone)]
    enum Op {
        /// Real time passes.
        Advance(u64),
        /// The Hub takes a write of a type (an index into `EntityType::ALL`).
        Write(usize),
        /// An Edge sends a renewal.
        Renew(usize),
        /// The network delivers the message at this index (of those in
        /// flight, modulo their number): any order.
        Deliver(usize),
        /// The network loses the message at this index.
        Lose(usize),
        /// The Hub prunes lapsed Edges.
        Prune,
        /// The Hub restarts, its registry rebuilt from what it stored.
        RestartHub,
        /// An Edge restarts with an empty replica.
        RestartEdge(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..4_000).prop_map(Op::Advance),
            3 => (0usize..EntityType::ALL.len()).prop_map(Op::Write),
            3 => any::<usize>().prop_map(Op::Renew),
            7 => any::<usize>().prop_map(Op::Deliver),
            1 => any::<usize>().prop_map(Op::Lose),
            1 => Just(Op::Prune),
            1 => Just(Op::RestartHub),
            1 => any::<usize>().prop_map(Op::RestartEdge),
        ]
    }

    #[derive(Debug, Clone)]
    enum Msg {
        Push {
            to: usize,
            push: EdgePush,
        },
        Ack {
            from: usize,
            id: u64,
        },
        Request {
            from: usize,
            life: u32,
            sent_at: u64,
            req: RenewRequest,
        },
        Answer {
            to: usize,
            life: u32,
            sent_at: u64,
            renewal: Renewal,
        },
    }

    #[derive(Debug)]
    struct Edge {
        name: String,
        replica: Replica,
        /// Incremented by a restart: answers to an earlier life are lost.
        life: u32,
        offset: u64,
        drift_ppm: i64,
        /// Drops every push (but renews).
        deaf: bool,
        /// The last id forwarded to streams (or reset to); `None` before
        /// the first answer of this life.
        forwarded: Option<u64>,
        /// The latest end, on this Edge's clock, of the leases the Hub has
        /// granted it so far.
        granted_until: u64,
        /// Every write pushed to it, with `granted_until` at that moment.
        pushed: Vec<(u64, u64)>,
    }

    impl Edge {
        fn clock(&self, real: u64) -> u64 {
            let skew = i128::from(real) * i128::from(self.drift_ppm) / 1_000_000;
            u64::try_from(i128::from(self.offset) + i128::from(real) + skew).unwrap()
        }
    }

    struct World {
        now: u64,
        graph: DependencyGraph,
        generations: Generations,
        log: EventLog<InvalidationEvent>,
        registry: EdgeRegistry,
        /// The Hub's storage of the registry: each entry as stored after a
        /// renewal, nothing else.
        stored: BTreeMap<String, String>,
        edges: Vec<Edge>,
        net: Vec<Msg>,
        /// Every write: its id and its types' generations just after it.
        writes: Vec<(u64, Vec<(EntityType, u64)>)>,
        /// The writes the Hub acknowledged, by id.
        acknowledged: BTreeMap<u64, u64>,
        /// The writes a Hub restart abandoned before they were acknowledged.
        abandoned: Vec<u64>,
        /// The last event id when the Hub last restarted: the writes up to
        /// it were settled by an earlier life of the Hub.
        restarted_at_id: u64,
    }

    impl World {
        fn new(log_size: usize, edges: Vec<(u64, i64, bool)>) -> Self {
            let edges = edges
                .into_iter()
                .enumerate()
                .map(|(i, (offset, drift_ppm, deaf))| Edge {
                    name: format!("edge:weur:{i}"),
                    replica: Replica::new(),
                    life: 0,
                    offset,
                    drift_ppm,
                    deaf,
                    forwarded: None,
                    granted_until: 0,
                    pushed: Vec::new(),
                })
                .collect();
            Self {
                now: 0,
                graph: DependencyGraph::default(),
                generations: Generations::default(),
                log: EventLog::new(log_size, 0),
                registry: EdgeRegistry::new(),
                stored: BTreeMap::new(),
                edges,
                net: Vec::new(),
                writes: Vec::new(),
                acknowledged: BTreeMap::new(),
                abandoned: Vec::new(),
                restarted_at_id: 0,
            }
        }

        fn edge_index(&self, name: &str) -> usize {
            self.edges.iter().position(|e| e.name == name).unwrap()
        }

        fn write(&mut self, t: EntityType) -> u64 {
            let closure = self.graph.closure(t);
            self.generations.bump(&closure);
            let now = self.now;
            let id = self.log.append(|id| InvalidationEvent {
                id,
                type_name: t.as_str().to_owned(),
                types: closure.clone(),
                entity_id: None,
                action: Action::Update,
                origin: "test".into(),
                ts: now,
            });
            let event = self.log.entries().last().unwrap().1.clone();
            self.writes.push((id, self.generations.snapshot(&closure)));
            let push = EdgePush::new(event, &self.generations);
            for name in self.registry.push(id, now) {
                let to = self.edge_index(&name);
                let edge = &mut self.edges[to];
                edge.pushed.push((id, edge.granted_until));
                if !edge.deaf {
                    self.net.push(Msg::Push {
                        to,
                        push: push.clone(),
                    });
                }
            }
            id
        }

        fn renew(&mut self, i: usize) {
            let edge = &self.edges[i];
            let req = RenewRequest {
                name: edge.name.clone(),
                region: "weur".into(),
                shard: u32::try_from(i).unwrap(),
                last_applied_id: edge.replica.reported_applied_id(),
                subscribers: 1,
            };
            self.net.push(Msg::Request {
                from: i,
                life: edge.life,
                sent_at: edge.clock(self.now),
                req,
            });
        }

        fn deliver(&mut self, msg: Msg) {
            match msg {
                Msg::Push { to, push } => {
                    let outcome = self.edges[to].replica.apply_push(&push);
                    match outcome {
                        PushOutcome::Applied => {
                            self.forward(to, std::slice::from_ref(&push.event));
                            let id = self.edges[to].replica.last_applied_id();
                            self.net.push(Msg::Ack { from: to, id });
                        }
                        PushOutcome::AlreadyApplied => {
                            let id = self.edges[to].replica.last_applied_id();
                            self.net.push(Msg::Ack { from: to, id });
                        }
                        // The Edge asks the Hub for what it lacks.
                        PushOutcome::Gap { .. } | PushOutcome::NotSynced => self.renew(to),
                    }
                }
                Msg::Ack { from, id } => {
                    let name = self.edges[from].name.clone();
                    self.registry.ack(&name, id);
                }
                Msg::Request {
                    from,
                    life,
                    sent_at,
                    req,
                } => {
                    let renewal = self
                        .registry
                        .register_or_renew(&req, self.now, LEASE, &self.log, &self.generations)
                        .unwrap();
                    // Stored before the answer leaves.
                    let entry: &EdgeEntry = self.registry.entry(&req.name).unwrap();
                    self.stored
                        .insert(req.name.clone(), serde_json::to_string(entry).unwrap());
                    if let Some(grant) = &renewal.lease {
                        assert!(grant.until_ms >= self.now + LEASE, "a grant ends early");
                        let edge = &mut self.edges[from];
                        edge.granted_until = edge.granted_until.max(sent_at + grant.lease_ms);
                    }
                    self.net.push(Msg::Answer {
                        to: from,
                        life,
                        sent_at,
                        renewal,
                    });
                }
                Msg::Answer {
                    to,
                    life,
                    sent_at,
                    renewal,
                } => {
                    if self.edges[to].life != life {
                        return; // The request came from an earlier life.
                    }
                    match self.edges[to].replica.apply_renewal(sent_at, &renewal) {
                        Forward::Events(events) => self.forward(to, &events),
                        Forward::Reset { last_event_id } => {
                            let edge = &mut self.edges[to];
                            assert!(
                                edge.forwarded.is_none_or(|f| last_event_id > f),
                                "a reset to {last_event_id} after forwarding {:?}",
                                edge.forwarded
                            );
                            edge.forwarded = Some(last_event_id);
                        }
                    }
                }
            }
            self.check_forwarding();
        }

        /// Streams see each event once, in order, with no hole.
        fn forward(&mut self, to: usize, events: &[InvalidationEvent]) {
            let edge = &mut self.edges[to];
            for event in events {
                let last = edge.forwarded.expect("forwarded before the first answer");
                assert_eq!(event.id, last + 1, "{} forwarded out of order", edge.name);
                edge.forwarded = Some(event.id);
            }
        }

        fn check_forwarding(&self) {
            for edge in &self.edges {
                if let Some(f) = edge.forwarded {
                    assert_eq!(f, edge.replica.last_applied_id(), "{}", edge.name);
                }
            }
        }

        fn restart_hub(&mut self) {
            self.registry = EdgeRegistry::restore(
                self.stored
                    .iter()
                    .map(|(name, json)| (name.clone(), serde_json::from_str(json).unwrap())),
            );
            // Writes waiting for their acknowledgement die with the Hub, and
            // the new life waits only for its own writes (what it restored
            // may still count an acknowledged push as owed).
            self.restarted_at_id = self.log.last_id();
            for (id, _) in &self.writes {
                if !self.acknowledged.contains_key(id) && !self.abandoned.contains(id) {
                    self.abandoned.push(*id);
                }
            }
        }

        fn restart_edge(&mut self, i: usize) {
            let edge = &mut self.edges[i];
            edge.replica = Replica::new();
            edge.life += 1;
            edge.forwarded = None;
        }

        /// The Hub acknowledges what it may, and the invariants hold.
        fn settle(&mut self) {
            for (id, _) in &self.writes {
                let acknowledged = self.registry.write_acknowledged(*id, self.now);
                if self.acknowledged.contains_key(id) {
                    assert!(
                        acknowledged || *id <= self.restarted_at_id,
                        "write {id} was acknowledged and no longer is"
                    );
                } else if acknowledged && !self.abandoned.contains(id) {
                    self.acknowledged.insert(*id, self.now);
                }
            }
            for edge in &self.edges {
                let now = edge.clock(self.now);
                if !edge.replica.can_serve(now) {
                    continue;
                }
                // No acknowledged write is missing from a serving Edge.
                for (id, snapshot) in &self.writes {
                    if self.acknowledged.contains_key(id) {
                        assert!(
                            edge.replica.generations().covers(snapshot),
                            "{} serves at {} without acknowledged write {id}",
                            edge.name,
                            self.now
                        );
                    }
                }
                // Past the leases it held when a write was pushed to it, it
                // serves only having applied the write.
                for (id, held) in &edge.pushed {
                    if now + MARGIN_MS >= *held {
                        assert!(
                            edge.replica.last_applied_id() >= *id,
                            "{} serves past its lease without write {id}",
                            edge.name
                        );
                    }
                }
            }
        }

        fn step(&mut self, op: &Op) {
            let n = self.edges.len();
            match *op {
                Op::Advance(ms) => self.now += ms,
                Op::Write(t) => {
                    self.write(EntityType::ALL[t]);
                }
                Op::Renew(i) => self.renew(i % n),
                Op::Deliver(k) if !self.net.is_empty() => {
                    let msg = self.net.remove(k % self.net.len());
                    self.deliver(msg);
                }
                Op::Lose(k) if !self.net.is_empty() => {
                    self.net.remove(k % self.net.len());
                }
                Op::Deliver(_) | Op::Lose(_) => {}
                Op::Prune => {
                    for name in self.registry.prune(self.now) {
                        self.stored.remove(&name);
                    }
                }
                Op::RestartHub => self.restart_hub(),
                Op::RestartEdge(i) => self.restart_edge(i % n),
            }
            self.settle();
        }

        /// Delivers everything in flight, in order, until nothing is.
        fn drain(&mut self) {
            let mut budget = 10_000;
            while !self.net.is_empty() {
                let msg = self.net.remove(0);
                self.deliver(msg);
                self.settle();
                budget -= 1;
                assert!(budget > 0, "the messages never stop");
            }
        }
    }

    fn edges() -> impl Strategy<Value = Vec<(u64, i64, bool)>> {
        proptest::collection::vec(
            (
                0u64..1_000_000,
                -MAX_DRIFT_PPM..=MAX_DRIFT_PPM,
                proptest::bool::weighted(0.3),
            ),
            1..=4,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Safety over any interleaving: a serving Edge holds every
        /// acknowledged write, serves past the lease it held when a push
        /// was made only once it applied the push, and forwards each event
        /// once, in order; an acknowledged write stays acknowledged.
        /// Liveness once the network heals: every Edge that renews serves
        /// again, up to date, and a new write is acknowledged without
        /// waiting for any lease to run out.
        #[test]
        fn a_serving_edge_never_misses_an_acknowledged_write(
            log_size in 1usize..6,
            edges in edges(),
            ops in proptest::collection::vec(op(), 0..150),
        ) {
            let mut world = World::new(log_size, edges);
            for op in &ops {
                world.step(op);
            }

            // Heal: nobody is deaf any more, everything in flight arrives,
            // and every Edge renews until the Hub has nothing to wait for.
            for edge in &mut world.edges {
                edge.deaf = false;
            }
            world.drain();
            for _ in 0..3 {
                for i in 0..world.edges.len() {
                    world.renew(i);
                }
                world.drain();
            }
            for edge in &world.edges {
                let now = edge.clock(world.now);
                prop_assert!(edge.replica.can_serve(now), "{} cannot serve", edge.name);
                prop_assert!(
                    edge.replica.generations().covers(&world.generations.snapshot(&EntityType::ALL)),
                    "{} is behind", edge.name
                );
                prop_assert!(!edge.replica.should_renew(now, true));
            }
            let id = world.write(EntityType::POSTS);
            prop_assert!(!world.registry.write_acknowledged(id, world.now));
            world.drain();
            prop_assert!(world.registry.write_acknowledged(id, world.now));

            // And an Edge that stops answering holds a write up for one
            // lease at most.
            for edge in &mut world.edges {
                edge.deaf = true;
            }
            let id = world.write(EntityType::CATEGORIES);
            let deadline = world.registry.ack_deadline(id, world.now);
            prop_assert!(deadline.is_some_and(|d| d <= world.now + LEASE));
            world.now += LEASE;
            prop_assert!(world.registry.write_acknowledged(id, world.now));
        }
    }
}
