//! Edge leases, the Hub's side: the registry of Edges, the lease each holds,
//! the pushes each owes an acknowledgement for, and whether a write is
//! acknowledged.
//!
//! (Not to be confused with [`crate::lease`], the fill leases that keep a
//! stampede of readers off the origin.)
//!
//! The protocol and its rules are described in [`crate::edge_protocol`];
//! this is the Hub's bookkeeping of them:
//!
//! - [`EdgeRegistry::register_or_renew`] answers an Edge's
//!   [`RenewRequest`]: the report of the id it applied through counts as an
//!   acknowledgement, and the lease is extended unless the Edge still owes
//!   one for a push it should have applied by now (rule 4).
//! - A write: [`EdgeRegistry::push`] (or [`EdgeRegistry::push_targets`] then
//!   [`EdgeRegistry::record_push`] for each target) names the Edges to push
//!   to and records that each owes the event; [`EdgeRegistry::ack`] records
//!   an Edge's acknowledgement; [`EdgeRegistry::write_acknowledged`] says
//!   when the write may be acknowledged, and [`EdgeRegistry::ack_deadline`]
//!   by when at the latest, absent acknowledgements.
//! - [`EdgeRegistry::status`] is what `/api/status` lists under `edges`.
//!
//! All times are the Hub's clock (`now_ms`, epoch ms).
//!
//! # Durability
//!
//! The registry must survive a restart of the Hub: a restarted Hub that
//! forgot a live lease would acknowledge writes without telling the Edge
//! that holds it. So the Hub stores an Edge's [`EdgeEntry`] after every
//! [`EdgeRegistry::register_or_renew`] and *before* it sends the answer (one
//! small value per Edge, e.g. under `edge:<name>`, rather than the whole
//! registry on every renewal), and rebuilds the registry with
//! [`EdgeRegistry::restore`]. The whole registry also serializes, for a
//! Hub that prefers one value. What the pushes and acknowledgements change
//! need not be stored for safety: a restarted Hub that forgot that an Edge
//! owes a push still answers that Edge's renewal with everything it missed
//! (rule 2), and the writes that were waiting died with the old instance,
//! unacknowledged.
//!
//! # Bounds
//!
//! At most [`MAX_EDGES`] Edges are registered; [`EdgeRegistry::prune`]
//! drops an Edge whose lease ended more than [`RETAIN_MS`] ago (any lapsed
//! one when the registry is full). A renewal answers at most
//! [`MAX_CATCH_UP_EVENTS`] events; an Edge further behind gets a snapshot.

use std::collections::{btree_map, BTreeMap};

use serde::{Deserialize, Serialize};

use crate::edge_protocol::{CatchUp, Grant, RenewRequest, Renewal};
use crate::event::InvalidationEvent;
use crate::event_log::{EventLog, Replay};
use crate::generation::Generations;
use crate::{Error, Result};

/// The most Edges the registry holds: nine regions (Cloudflare's nine
/// location hints, `wnam enam sam weur eeur apac oc afr me`) times 64
/// shards, four times the most a deployment can configure (`EDGE_SHARDS`
/// is at most 16), so a registry of real Edges is never full, even while
/// a deployment changes its settings; the bound keeps a flood of made-up
/// names from growing the Hub's state.
pub const MAX_EDGES: usize = 9 * 64;

/// The longest Edge name or region accepted: `edge:<region>:<shard>` is
/// under 20 characters; 64 leaves room and bounds an entry's size.
pub const MAX_NAME_CHARS: usize = 64;

/// How long an Edge stays listed after its lease ended: a minute, so that
/// `/api/status` still shows an Edge that lapsed a moment ago, and so that
/// an Edge idle for a few seconds comes back to its own entry.
pub const RETAIN_MS: u64 = 60_000;

/// The most events a renewal answers; an Edge further behind gets a
/// snapshot. An event's JSON is about 200 bytes, so an answer stays around
/// 200 KB; an Edge that far behind was away for a while, and its streams
/// refetch rather than replay.
pub const MAX_CATCH_UP_EVENTS: usize = 1_000;

/// Pushes recorded for an Edge and not yet acknowledged: every id in
/// `from..=through` that the Edge has not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owed {
    /// The oldest unacknowledged push.
    pub from: u64,
    /// The newest push.
    pub through: u64,
}

/// One registered Edge, as the Hub stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeEntry {
    /// The region, as last reported.
    pub region: String,
    /// The shard, as last reported.
    pub shard: u32,
    /// When its lease ends (Hub clock, epoch ms); 0 before the first grant.
    pub lease_until: u64,
    /// The id it has applied through, as last reported (by a renewal or an
    /// acknowledgement); never above the Hub's last id.
    pub applied_id: u64,
    /// The pushes it owes an acknowledgement for.
    pub owed: Option<Owed>,
    /// Set when a renewal was answered while the Edge owed pushes: the
    /// last event id of that answer. A later renewal reporting at least
    /// this id confirms the answer and is extended (rule 4).
    pub confirm_through: Option<u64>,
    /// Its open streams, as last reported.
    pub subscribers: usize,
}

impl EdgeEntry {
    fn new(region: &str, shard: u32) -> Self {
        Self {
            region: region.to_owned(),
            shard,
            lease_until: 0,
            applied_id: 0,
            owed: None,
            confirm_through: None,
            subscribers: 0,
        }
    }

    /// Whether the lease is live at `now_ms` on the Hub's clock.
    fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.lease_until
    }

    /// Whether the Edge owes an acknowledgement of `event_id`.
    fn owes(&self, event_id: u64) -> bool {
        self.owed
            .is_some_and(|o| o.from <= event_id && event_id <= o.through)
    }

    fn acknowledge(&mut self, applied_id: u64) {
        self.applied_id = self.applied_id.max(applied_id);
        if let Some(owed) = &mut self.owed {
            if self.applied_id >= owed.through {
                self.owed = None;
            } else {
                owed.from = owed.from.max(self.applied_id + 1);
            }
        }
    }

    fn owe(&mut self, event_id: u64) {
        if event_id <= self.applied_id {
            // Applied already (a renewal's answer carried it first).
            return;
        }
        self.owed = Some(match self.owed {
            Some(o) => Owed {
                from: o.from.min(event_id),
                through: o.through.max(event_id),
            },
            None => Owed {
                from: event_id,
                through: event_id,
            },
        });
    }
}

/// One Edge in `/api/status`'s `edges`, as it last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeStatus {
    /// The Edge's object name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its shard.
    pub shard: u32,
    /// When its lease ends (Hub clock, epoch ms).
    pub lease_until: u64,
    /// Its open streams.
    pub subscribers: usize,
    /// The event id it has applied through.
    pub last_event_id: u64,
    /// Entries of the memory backend it holds (0 in the registry; the
    /// Worker fills it in from the Edge's report).
    #[serde(default)]
    pub cache_entries: usize,
    /// Chunks of events it wrote to its streams, summed over streams (0 in
    /// the registry; from the Edge's report).
    #[serde(default)]
    pub stream_chunks: u64,
    /// Events in those chunks, summed over streams (likewise).
    #[serde(default)]
    pub stream_events: u64,
}

/// The Hub's registry of Edges, by name (at most [`MAX_EDGES`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeRegistry {
    edges: BTreeMap<String, EdgeEntry>,
}

impl EdgeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry stored as one entry per Edge; past [`MAX_EDGES`], the
    /// entries whose leases end last are kept.
    pub fn restore(entries: impl IntoIterator<Item = (String, EdgeEntry)>) -> Self {
        let mut all: Vec<(String, EdgeEntry)> = entries.into_iter().collect();
        all.sort_by_key(|(_, e)| std::cmp::Reverse(e.lease_until));
        all.truncate(MAX_EDGES);
        Self {
            edges: all.into_iter().collect(),
        }
    }

    /// The stored entry of `name`, to be written after a change.
    pub fn entry(&self, name: &str) -> Option<&EdgeEntry> {
        self.edges.get(name)
    }

    /// How many Edges are registered.
    pub fn len(&self) -> usize {
        self.edges.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// Registers `req.name` (or renews it) at `now_ms`, and answers it: the
    /// Hub's `generations` and last event id, the events of `log` the Edge
    /// missed since the id it reported (or a snapshot), and a lease of
    /// `lease_ms` unless the Edge owes an acknowledgement (see the module
    /// docs of [`crate::edge_protocol`], rule 4).
    ///
    /// The reported id counts as an acknowledgement of every push through
    /// it. Store [`EdgeRegistry::entry`] before sending the answer.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty or over-long name or region, or when
    /// a new Edge finds [`MAX_EDGES`] registered ([`EdgeRegistry::prune`]
    /// makes room from the lapsed ones).
    pub fn register_or_renew(
        &mut self,
        req: &RenewRequest,
        now_ms: u64,
        lease_ms: u64,
        log: &EventLog<InvalidationEvent>,
        generations: &Generations,
    ) -> Result<Renewal> {
        check_name("edge name", &req.name)?;
        check_name("edge region", &req.region)?;
        let full = self.edges.len() >= MAX_EDGES;
        let entry = match self.edges.entry(req.name.clone()) {
            btree_map::Entry::Occupied(known) => known.into_mut(),
            btree_map::Entry::Vacant(_) if full => {
                return Err(Error::Invalid(format!(
                    "the edge registry is full ({MAX_EDGES} edges): prune it first"
                )));
            }
            btree_map::Entry::Vacant(new) => new.insert(EdgeEntry::new(&req.region, req.shard)),
        };
        let last_id = log.last_id();
        entry.region.clone_from(&req.region);
        entry.shard = req.shard;
        entry.subscribers = req.subscribers;
        if let Some(applied) = req.last_applied_id {
            // An id above ours was never issued by us: acknowledge only
            // what exists.
            entry.acknowledge(applied.min(last_id));
        }
        let extend = match entry.owed {
            None => true,
            // The confirmation of an answer given while it owed pushes:
            // what it still owes was pushed after that answer, and is in
            // flight. Only while the lease is live: a lapsed Edge is pushed
            // nothing new, so it can catch up with all it owes, and must,
            // since the writes it owes have been acknowledged without it.
            Some(_) => {
                entry.is_live(now_ms)
                    && entry
                        .confirm_through
                        .is_some_and(|through| entry.applied_id >= through)
            }
        };
        // Whatever is still owed now was pushed before this answer, which
        // carries it: the next renewal confirms this answer.
        entry.confirm_through = entry.owed.map(|_| last_id);
        let lease = extend.then(|| {
            entry.lease_until = entry.lease_until.max(now_ms.saturating_add(lease_ms));
            Grant {
                lease_ms,
                until_ms: entry.lease_until,
            }
        });
        Ok(Renewal {
            generations: generations.clone(),
            last_event_id: last_id,
            catch_up: catch_up(log, req.last_applied_id),
            lease,
            bypass: Vec::new(),
            forward_through: None,
        })
    }

    /// Records that `name` applied every event through `event_id` (its
    /// answer to a push); false when `name` is not registered.
    pub fn ack(&mut self, name: &str, event_id: u64) -> bool {
        match self.edges.get_mut(name) {
            Some(entry) => {
                entry.acknowledge(event_id);
                true
            }
            None => false,
        }
    }

    /// Records how many streams `name` has open; false when `name` is not
    /// registered.
    pub fn report_subscribers(&mut self, name: &str, subscribers: usize) -> bool {
        match self.edges.get_mut(name) {
            Some(entry) => {
                entry.subscribers = subscribers;
                true
            }
            None => false,
        }
    }

    /// Every Edge whose lease is live at `now_ms`: the Edges a write made
    /// now must be pushed to.
    pub fn push_targets(&self, now_ms: u64) -> Vec<String> {
        self.edges
            .iter()
            .filter(|(_, e)| e.is_live(now_ms))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Records that `name` owes an acknowledgement of `event_id`. Call it
    /// for every target when the write is made, before the write can be
    /// acknowledged, even when the push itself goes out later (batched
    /// behind one in flight): the write must wait for this Edge from the
    /// moment it became a target. False when `name` is not registered.
    pub fn record_push(&mut self, name: &str, event_id: u64) -> bool {
        match self.edges.get_mut(name) {
            Some(entry) => {
                entry.owe(event_id);
                true
            }
            None => false,
        }
    }

    /// [`EdgeRegistry::push_targets`] and [`EdgeRegistry::record_push`] of
    /// each, in one step: the Edges to push `event_id` to.
    pub fn push(&mut self, event_id: u64, now_ms: u64) -> Vec<String> {
        let targets = self.push_targets(now_ms);
        for name in &targets {
            self.record_push(name, event_id);
        }
        targets
    }

    /// Whether the write of `event_id` may be acknowledged at `now_ms`:
    /// every Edge it was pushed to has applied it or no longer holds a live
    /// lease. Once true it stays true (rule 4 extends no lapsed Edge that
    /// owes anything), as long as the Hub does not restart: a registry
    /// restored from storage may count a push acknowledged since the entry
    /// was stored as owed again, which only makes the Hub wait for more.
    pub fn write_acknowledged(&self, event_id: u64, now_ms: u64) -> bool {
        self.edges
            .values()
            .all(|e| !e.is_live(now_ms) || !e.owes(event_id))
    }

    /// When the write of `event_id` will be acknowledged at the latest if no
    /// Edge acknowledges it (the last lease among those it waits for, a
    /// time to check again); `None` when it is acknowledged already.
    pub fn ack_deadline(&self, event_id: u64, now_ms: u64) -> Option<u64> {
        self.edges
            .values()
            .filter(|e| e.is_live(now_ms) && e.owes(event_id))
            .map(|e| e.lease_until)
            .max()
    }

    /// Drops the Edges whose lease ended more than [`RETAIN_MS`] before
    /// `now_ms`, and every lapsed one when the registry is full; answers
    /// their names, whose stored entries the Hub deletes. A scan of at most
    /// [`MAX_EDGES`] entries, cheap enough to run before every
    /// registration.
    pub fn prune(&mut self, now_ms: u64) -> Vec<String> {
        let retain_ms = if self.edges.len() >= MAX_EDGES {
            0
        } else {
            RETAIN_MS
        };
        let gone: Vec<String> = self
            .edges
            .iter()
            .filter(|(_, e)| e.lease_until.saturating_add(retain_ms) <= now_ms)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &gone {
            self.edges.remove(name);
        }
        gone
    }

    /// Every registered Edge as `/api/status` lists it, by name.
    pub fn status(&self) -> Vec<EdgeStatus> {
        self.edges
            .iter()
            .map(|(name, e)| EdgeStatus {
                name: name.clone(),
                region: e.region.clone(),
                shard: e.shard,
                lease_until: e.lease_until,
                subscribers: e.subscribers,
                last_event_id: e.applied_id,
                cache_entries: 0,
                stream_chunks: 0,
                stream_events: 0,
            })
            .collect()
    }
}

/// What an Edge that applied through `applied` lacks.
fn catch_up(log: &EventLog<InvalidationEvent>, applied: Option<u64>) -> CatchUp {
    let Some(applied) = applied else {
        return CatchUp::Snapshot;
    };
    if log.last_id().saturating_sub(applied) > MAX_CATCH_UP_EVENTS as u64 {
        return CatchUp::Snapshot;
    }
    match log.since(applied) {
        Replay::Events(events) => CatchUp::Events(events.into_iter().map(|(_, e)| e).collect()),
        Replay::Reset => CatchUp::Snapshot,
    }
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::Invalid(format!(
            "{what} must have 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::Action;
    use crate::types::EntityType;

    const LEASE: u64 = 10_000;

    struct Hub {
        log: EventLog<InvalidationEvent>,
        generations: Generations,
        registry: EdgeRegistry,
    }

    impl Hub {
        fn new(log_size: usize) -> Self {
            Self {
                log: EventLog::new(log_size, 0),
                generations: Generations::default(),
                registry: EdgeRegistry::new(),
            }
        }

        fn write(&mut self, now: u64) -> (u64, Vec<String>) {
            self.generations
                .bump(&[EntityType::POSTS, EntityType::FEED]);
            let id = self.log.append(|id| InvalidationEvent {
                id,
                type_name: "post".into(),
                types: vec![EntityType::POSTS, EntityType::FEED],
                entity_id: None,
                action: Action::Update,
                origin: "test".into(),
                ts: now,
            });
            let targets = self.registry.push(id, now);
            (id, targets)
        }

        fn renew(&mut self, name: &str, applied: Option<u64>, now: u64) -> Renewal {
            self.registry
                .register_or_renew(
                    &request(name, applied),
                    now,
                    LEASE,
                    &self.log,
                    &self.generations,
                )
                .unwrap()
        }
    }

    fn request(name: &str, applied: Option<u64>) -> RenewRequest {
        RenewRequest {
            name: name.into(),
            region: "weur".into(),
            shard: 0,
            last_applied_id: applied,
            subscribers: 3,
        }
    }

    fn ids(catch_up: &CatchUp) -> Option<Vec<u64>> {
        match catch_up {
            CatchUp::Events(events) => Some(events.iter().map(|e| e.id).collect()),
            CatchUp::Snapshot => None,
        }
    }

    #[test]
    fn a_new_edge_gets_a_snapshot_and_a_lease_counted_from_the_hubs_receipt() {
        let mut hub = Hub::new(10);
        hub.write(0);
        let r = hub.renew("edge:weur:0", None, 1_000);
        assert_eq!(r.catch_up, CatchUp::Snapshot);
        assert_eq!(r.last_event_id, 1);
        assert_eq!(r.generations, hub.generations);
        assert_eq!(
            r.lease,
            Some(Grant {
                lease_ms: LEASE,
                until_ms: 1_000 + LEASE
            })
        );
        assert_eq!(
            hub.registry.push_targets(1_000 + LEASE - 1),
            ["edge:weur:0"]
        );
        assert!(hub.registry.push_targets(1_000 + LEASE).is_empty());
    }

    #[test]
    fn a_renewal_answers_the_missed_events_or_a_snapshot_past_the_log() {
        let mut hub = Hub::new(3);
        for t in 0..5 {
            hub.write(t);
        }
        assert_eq!(ids(&hub.renew("e", Some(5), 10).catch_up), Some(vec![]));
        assert_eq!(ids(&hub.renew("e", Some(3), 10).catch_up), Some(vec![4, 5]));
        assert_eq!(ids(&hub.renew("e", Some(1), 10).catch_up), None);
        // An id we never issued: a snapshot, and no acknowledgement of the
        // future.
        assert_eq!(ids(&hub.renew("f", Some(9), 10).catch_up), None);
        assert_eq!(hub.registry.entry("f").unwrap().applied_id, 5);
    }

    #[test]
    fn an_edge_far_behind_gets_a_snapshot_rather_than_a_huge_answer() {
        let mut hub = Hub::new(MAX_CATCH_UP_EVENTS + 10);
        for t in 0..=MAX_CATCH_UP_EVENTS as u64 {
            hub.write(t);
        }
        assert_eq!(hub.renew("e", Some(0), 0).catch_up, CatchUp::Snapshot);
        let r = hub.renew("e", Some(1), 0);
        assert_eq!(ids(&r.catch_up).unwrap().len(), MAX_CATCH_UP_EVENTS);
    }

    #[test]
    fn a_write_waits_for_each_live_edge_until_it_acks_or_its_lease_ends() {
        let mut hub = Hub::new(10);
        hub.renew("a", Some(0), 0);
        hub.renew("b", Some(0), 2_000);
        let (id, targets) = hub.write(3_000);
        assert_eq!(targets, ["a", "b"]);
        assert!(!hub.registry.write_acknowledged(id, 3_000));
        assert_eq!(hub.registry.ack_deadline(id, 3_000), Some(2_000 + LEASE));
        assert!(hub.registry.ack("a", id));
        assert!(!hub.registry.write_acknowledged(id, 3_000));
        assert_eq!(hub.registry.ack_deadline(id, 3_000), Some(2_000 + LEASE));
        // b never answers: its lease running out acknowledges the write.
        assert!(!hub.registry.write_acknowledged(id, 2_000 + LEASE - 1));
        assert!(hub.registry.write_acknowledged(id, 2_000 + LEASE));
        assert_eq!(hub.registry.ack_deadline(id, 2_000 + LEASE), None);
        // Or b acknowledges, and the write is acknowledged at once.
        assert!(hub.registry.ack("b", id));
        assert!(hub.registry.write_acknowledged(id, 3_000));
        assert!(!hub.registry.ack("nobody", id));
        assert!(!hub.registry.record_push("nobody", id));
    }

    #[test]
    fn an_edge_that_was_not_live_when_the_write_was_pushed_is_not_waited_for() {
        let mut hub = Hub::new(10);
        hub.renew("a", Some(0), 0);
        let (first, _) = hub.write(1_000);
        // b registers after the first write (its answer carries it), then
        // misses the second.
        hub.renew("b", Some(0), 2_000);
        let (second, targets) = hub.write(3_000);
        assert_eq!(targets, ["a", "b"]);
        hub.registry.ack("a", second);
        assert!(hub.registry.write_acknowledged(first, 3_000));
        assert!(!hub.registry.write_acknowledged(second, 3_000));
        // Acknowledging through an id acknowledges each push before it.
        hub.registry.record_push("a", 7);
        hub.registry.record_push("a", 9);
        hub.registry.ack("a", 8);
        assert_eq!(
            hub.registry.entry("a").unwrap().owed,
            Some(Owed {
                from: 9,
                through: 9
            })
        );
    }

    #[test]
    fn an_edge_that_owes_a_push_is_not_extended_until_it_confirms_the_catch_up() {
        let mut hub = Hub::new(10);
        hub.renew("deaf", Some(0), 0);
        let (id, _) = hub.write(1_000);
        // The Edge missed the push and renews: it is told what it missed,
        // without a lease.
        let r = hub.renew("deaf", Some(0), 5_000);
        assert_eq!(ids(&r.catch_up), Some(vec![id]));
        assert_eq!(r.lease, None);
        assert_eq!(hub.registry.entry("deaf").unwrap().lease_until, LEASE);
        // Renewing again without applying it changes nothing.
        assert_eq!(hub.renew("deaf", Some(0), 6_000).lease, None);
        assert!(!hub.registry.write_acknowledged(id, 6_000));
        // Its next renewal reports the event applied: acknowledged, and
        // extended.
        let r = hub.renew("deaf", Some(id), 7_000);
        assert_eq!(r.lease.unwrap().until_ms, 7_000 + LEASE);
        assert!(hub.registry.write_acknowledged(id, 7_000));
    }

    #[test]
    fn a_confirmation_is_not_held_up_by_a_push_made_after_the_answer_it_confirms() {
        let mut hub = Hub::new(10);
        hub.renew("e", Some(0), 0);
        let (first, _) = hub.write(1_000);
        assert_eq!(hub.renew("e", Some(0), 2_000).lease, None);
        // A second write is pushed while the Edge applies the first answer.
        let (second, _) = hub.write(2_500);
        let r = hub.renew("e", Some(first), 3_000);
        assert_eq!(r.lease.unwrap().until_ms, 3_000 + LEASE);
        assert_eq!(ids(&r.catch_up), Some(vec![second]));
        assert!(hub.registry.write_acknowledged(first, 3_000));
        assert!(!hub.registry.write_acknowledged(second, 3_000));
        // This answer carried the second write: the next renewal must
        // report it to be extended.
        assert_eq!(hub.renew("e", Some(first), 4_000).lease, None);
        assert!(hub.renew("e", Some(second), 5_000).lease.is_some());
        assert!(hub.registry.write_acknowledged(second, 5_000));
    }

    #[test]
    fn a_lease_is_never_shortened() {
        let mut hub = Hub::new(10);
        hub.registry
            .register_or_renew(
                &request("e", Some(0)),
                0,
                30_000,
                &hub.log,
                &hub.generations,
            )
            .unwrap();
        let r = hub.renew("e", Some(0), 1_000);
        assert_eq!(r.lease.unwrap().until_ms, 30_000);
    }

    #[test]
    fn lapsed_edges_are_pruned_after_a_while_and_status_lists_the_rest() {
        let mut hub = Hub::new(10);
        hub.renew("edge:weur:0", Some(0), 0);
        hub.renew("edge:apac:1", Some(0), 50_000);
        hub.registry.report_subscribers("edge:apac:1", 7);
        assert!(!hub.registry.report_subscribers("nobody", 7));
        assert!(hub.registry.prune(LEASE + RETAIN_MS - 1).is_empty());
        assert_eq!(hub.registry.prune(LEASE + RETAIN_MS), ["edge:weur:0"]);
        assert_eq!(
            hub.registry.status(),
            [EdgeStatus {
                name: "edge:apac:1".into(),
                region: "weur".into(),
                shard: 0,
                lease_until: 50_000 + LEASE,
                subscribers: 7,
                last_event_id: 0,
                cache_entries: 0,
                stream_chunks: 0,
                stream_events: 0,
            }]
        );
        let json = serde_json::to_string(&hub.registry.status()).unwrap();
        assert_eq!(
            json,
            r#"[{"name":"edge:apac:1","region":"weur","shard":0,"leaseUntil":60000,"subscribers":7,"lastEventId":0,"cacheEntries":0,"streamChunks":0,"streamEvents":0}]"#
        );
    }

    #[test]
    fn a_full_registry_makes_room_from_lapsed_edges_only() {
        let mut hub = Hub::new(10);
        for i in 0..MAX_EDGES {
            hub.renew(&format!("e{i}"), Some(0), i as u64);
        }
        let late = |hub: &mut Hub, now| {
            let req = request("late", Some(0));
            hub.registry
                .register_or_renew(&req, now, LEASE, &hub.log, &hub.generations)
        };
        let err = late(&mut hub, 100).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        // An Edge already registered still renews.
        assert!(hub.renew("e0", Some(0), 100).lease.is_some());
        // Nobody has lapsed: pruning makes no room.
        assert!(hub.registry.prune(100).is_empty());
        // Once some leases ran out, pruning a full registry drops them at
        // once, and a newcomer takes their room.
        let now = LEASE + 10;
        let gone = hub.registry.prune(now);
        assert_eq!(gone.len(), 10, "{gone:?}");
        assert!(hub.registry.entry("e5").is_none());
        assert!(hub.registry.entry("e0").is_some());
        assert!(late(&mut hub, now).unwrap().lease.is_some());
        assert_eq!(hub.registry.len(), MAX_EDGES - 9);
    }

    #[test]
    fn names_are_checked() {
        let mut hub = Hub::new(10);
        for bad in [String::new(), "x".repeat(MAX_NAME_CHARS + 1)] {
            let req = RenewRequest {
                name: bad,
                ..request("e", None)
            };
            assert!(hub
                .registry
                .register_or_renew(&req, 0, LEASE, &hub.log, &hub.generations)
                .is_err());
        }
        let req = RenewRequest {
            region: String::new(),
            ..request("e", None)
        };
        assert!(hub
            .registry
            .register_or_renew(&req, 0, LEASE, &hub.log, &hub.generations)
            .is_err());
        assert!(hub.registry.is_empty());
    }

    #[test]
    fn the_registry_survives_storage_whole_or_entry_by_entry() {
        let mut hub = Hub::new(10);
        hub.renew("a", Some(0), 0);
        hub.renew("b", Some(0), 0);
        hub.write(1);
        let json = serde_json::to_string(&hub.registry).unwrap();
        assert_eq!(
            serde_json::from_str::<EdgeRegistry>(&json).unwrap(),
            hub.registry
        );
        let stored: Vec<(String, String)> = ["a", "b"]
            .iter()
            .map(|n| {
                let entry = hub.registry.entry(n).unwrap();
                (n.to_string(), serde_json::to_string(entry).unwrap())
            })
            .collect();
        let restored = EdgeRegistry::restore(
            stored
                .iter()
                .map(|(n, j)| (n.clone(), serde_json::from_str(j).unwrap())),
        );
        assert_eq!(restored, hub.registry);
    }

    #[test]
    fn restore_keeps_the_newest_leases_past_the_bound() {
        let entries = (0..MAX_EDGES as u64 + 2).map(|i| {
            let mut e = EdgeEntry::new("weur", 0);
            e.lease_until = i;
            (format!("e{i}"), e)
        });
        let r = EdgeRegistry::restore(entries);
        assert_eq!(r.len(), MAX_EDGES);
        assert!(r.entry("e0").is_none() && r.entry("e1").is_none());
        assert!(r.entry("e2").is_some());
    }

    #[test]
    fn a_stored_entry_is_small() {
        // One value per Edge is written per renewal; keep it a few hundred
        // bytes even with every number at its widest.
        let entry = EdgeEntry {
            region: "apac".into(),
            shard: 63,
            lease_until: u64::MAX,
            applied_id: u64::MAX,
            owed: Some(Owed {
                from: u64::MAX,
                through: u64::MAX,
            }),
            confirm_through: Some(u64::MAX),
            subscribers: usize::MAX,
        };
        assert!(serde_json::to_string(&entry).unwrap().len() < 300);
    }
}
