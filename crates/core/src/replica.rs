//! An Edge's replica of the Hub's generations, held under an edge lease.
//!
//! An Edge serves cache hits and streams without calling the Hub, from this
//! replica, and only while its lease holds ([`Replica::can_serve`]); the
//! protocol and why it is safe are in [`crate::edge_protocol`]. The replica
//! is the Edge's side of it:
//!
//! - it applies the Hub's pushes in id order, once each
//!   ([`Replica::apply_push`]): a push past a gap is refused, and the Edge
//!   renews, which answers the missing events, before it forwards anything
//!   to its streams;
//! - it applies the Hub's answers to its renewals
//!   ([`Replica::apply_renewal`]) as one step: generations, missed events
//!   and lease together, generations only ever raised, so an answer that
//!   arrives late takes nothing back;
//! - it holds its lease on its own clock, from when it *sent* the request
//!   the grant answers, ending [`MARGIN_MS`] early;
//! - it says when to renew ([`Replica::should_renew`]): while the Edge has
//!   reads or open streams, halfway through the lease, at once when the Hub
//!   asked it to confirm a catch-up or when a push revealed a gap; an idle
//!   Edge lets its lease lapse, and the Hub stops pushing to it.
//!
//! A restarted Edge starts from [`Replica::new`]: no lease, nothing
//! applied, so it serves nothing until the Hub has answered it. All times
//! are the Edge's clock (`now_ms`, epoch ms). The runtime keeps at most one
//! renewal in flight.

use crate::edge_protocol::{CatchUp, EdgePush, Renewal};
use crate::event::InvalidationEvent;
use crate::generation::Generations;
use crate::types::EntityType;

/// How much earlier than its lease an Edge stops serving: 1 s, a tenth of
/// the default 10 s lease, which lets the Edge's clock run up to 10 % slower
/// than the Hub's (see [`crate::edge_protocol`], rule 1); real clocks differ
/// by parts per million, and a renewal sent halfway through the lease has
/// the other half to come back.
pub const MARGIN_MS: u64 = 1_000;

/// What became of a push ([`Replica::apply_push`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Applied: forward the event to the streams and acknowledge
    /// [`Replica::last_applied_id`].
    Applied,
    /// Applied before (the push was repeated, or a renewal's answer carried
    /// the event first): forward nothing; acknowledging again is harmless.
    AlreadyApplied,
    /// Events `from..=to` are missing before this one: nothing was applied;
    /// renew, and the answer carries them.
    Gap {
        /// The first missing id.
        from: u64,
        /// The last missing id (the push's id minus one).
        to: u64,
    },
    /// The replica holds nothing yet: nothing was applied; renew first.
    NotSynced,
}

/// What the streams get after a renewal's answer ([`Replica::apply_renewal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// These events, new to this Edge, in id order (often none).
    Events(Vec<InvalidationEvent>),
    /// The events in between are not available: every stream gets `reset`
    /// (and refetches), resuming after this id.
    Reset {
        /// The Hub's last event id, the new last applied id.
        last_event_id: u64,
    },
}

/// An Edge's replica of the Hub's generations and its lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    generations: Generations,
    /// The id applied through; `None` until the first answer from the Hub.
    applied: Option<u64>,
    /// The end of the lease on this Edge's clock, margin not taken off; 0
    /// without one.
    lease_until: u64,
    /// The length of the last lease granted, to renew halfway through.
    term_ms: u64,
    /// Renew as soon as possible: the Hub asked for a confirmation, or a
    /// push revealed a gap.
    renew_now: bool,
}

impl Replica {
    /// A replica that holds nothing and no lease.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the Edge may serve from this replica at `now_ms`: its lease
    /// holds, margin taken off.
    pub fn can_serve(&self, now_ms: u64) -> bool {
        now_ms < self.lease_until.saturating_sub(MARGIN_MS)
    }

    /// The generations to read and fill by at `now_ms`, or `None` when the
    /// Edge may not serve (then it renews first, or asks the Hub).
    pub fn serving_generations(&self, now_ms: u64) -> Option<&Generations> {
        self.can_serve(now_ms).then_some(&self.generations)
    }

    /// The generation of `t` to read and fill by at `now_ms`, as
    /// [`Replica::serving_generations`].
    pub fn generation(&self, t: EntityType, now_ms: u64) -> Option<u64> {
        self.serving_generations(now_ms).map(|g| g.get(t))
    }

    /// The replicated generations, whether or not the lease holds.
    pub fn generations(&self) -> &Generations {
        &self.generations
    }

    /// The id applied through (0 before the first answer): what the Edge
    /// acknowledges and reports.
    pub fn last_applied_id(&self) -> u64 {
        self.applied.unwrap_or(0)
    }

    /// What a renewal reports as `last_applied_id`: `None` before the first
    /// answer, so that the Hub answers a snapshot.
    pub fn reported_applied_id(&self) -> Option<u64> {
        self.applied
    }

    /// The end of the lease on this Edge's clock (0 without one); it serves
    /// until [`MARGIN_MS`] before.
    pub fn lease_until(&self) -> u64 {
        self.lease_until
    }

    /// Applies a push if it is the next event; see [`PushOutcome`].
    pub fn apply_push(&mut self, push: &EdgePush) -> PushOutcome {
        let Some(applied) = self.applied else {
            self.renew_now = true;
            return PushOutcome::NotSynced;
        };
        let id = push.event.id;
        if id <= applied {
            return PushOutcome::AlreadyApplied;
        }
        if id > applied + 1 {
            self.renew_now = true;
            return PushOutcome::Gap {
                from: applied + 1,
                to: id - 1,
            };
        }
        self.generations.raise(&push.generations);
        self.applied = Some(id);
        PushOutcome::Applied
    }

    /// Applies the Hub's answer to a renewal sent at `sent_at_ms` (this
    /// Edge's clock), as one step, and answers what the streams get.
    pub fn apply_renewal(&mut self, sent_at_ms: u64, renewal: &Renewal) -> Forward {
        self.generations.raise(&renewal.generations.entries());
        let last = renewal.last_event_id;
        let forward = match (self.applied, &renewal.catch_up) {
            // Nothing new (an answer that arrives after a newer one).
            (Some(applied), _) if last <= applied => Forward::Events(Vec::new()),
            (Some(applied), CatchUp::Events(events)) => {
                let new: Vec<InvalidationEvent> =
                    events.iter().filter(|e| e.id > applied).cloned().collect();
                // The answer lists every event after the id reported, and
                // the replica has applied at least that far: what is new
                // must be exactly the ids after ours, through the Hub's.
                let complete = new.len() as u64 == last - applied
                    && new
                        .iter()
                        .zip(applied + 1..)
                        .all(|(event, id)| event.id == id);
                if complete {
                    Forward::Events(new)
                } else {
                    Forward::Reset {
                        last_event_id: last,
                    }
                }
            }
            _ => Forward::Reset {
                last_event_id: last,
            },
        };
        self.applied = Some(self.applied.map_or(last, |a| a.max(last)));
        match &renewal.lease {
            Some(grant) => {
                self.lease_until = self
                    .lease_until
                    .max(sent_at_ms.saturating_add(grant.lease_ms));
                self.term_ms = grant.lease_ms;
                self.renew_now = false;
            }
            // The Hub waits for this Edge to confirm that it applied the
            // answer: renew again at once.
            None => self.renew_now = true,
        }
        forward
    }

    /// Whether the replica asks to renew at once rather than halfway
    /// through its lease: the Hub withheld the lease until this Edge
    /// confirms a catch-up, or a push revealed a gap.
    pub fn renew_requested(&self) -> bool {
        self.renew_now
    }

    /// Whether to send a renewal at `now_ms`, given whether the Edge is
    /// `busy` (it has reads or open streams): an idle Edge never renews.
    pub fn should_renew(&self, now_ms: u64, busy: bool) -> bool {
        busy && (self.renew_now || now_ms >= self.lease_until.saturating_sub(self.term_ms / 2))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::edge_protocol::Grant;
    use crate::event::Action;
    use EntityType as T;

    const LEASE: u64 = 10_000;

    fn event(id: u64) -> InvalidationEvent {
        InvalidationEvent {
            id,
            type_name: "post".into(),
            types: vec![T::POSTS, T::FEED],
            entity_id: Some(id.to_string()),
            action: Action::Update,
            origin: "test".into(),
            ts: id,
        }
    }

    /// The Hub's generations after `n` events, each bumping posts and feed.
    fn hub_generations(n: u64) -> Generations {
        let mut g = Generations::default();
        for _ in 0..n {
            g.bump(&[T::POSTS, T::FEED]);
        }
        g
    }

    fn push(id: u64) -> EdgePush {
        EdgePush::new(event(id), &hub_generations(id))
    }

    fn renewal(last: u64, catch_up: CatchUp, lease: bool) -> Renewal {
        Renewal {
            generations: hub_generations(last),
            last_event_id: last,
            catch_up,
            lease: lease.then_some(Grant {
                lease_ms: LEASE,
                until_ms: 0,
            }),
            bypass: Vec::new(),
            forward_through: None,
        }
    }

    fn events(ids: std::ops::RangeInclusive<u64>) -> CatchUp {
        CatchUp::Events(ids.map(event).collect())
    }

    fn synced_at(last: u64, sent_at: u64) -> Replica {
        let mut r = Replica::new();
        r.apply_renewal(sent_at, &renewal(last, CatchUp::Snapshot, true));
        r
    }

    #[test]
    fn a_new_replica_serves_nothing_until_the_hub_answers() {
        let mut r = Replica::new();
        assert!(!r.can_serve(0));
        assert_eq!(r.reported_applied_id(), None);
        assert_eq!(r.apply_push(&push(1)), PushOutcome::NotSynced);
        assert!(r.should_renew(0, true));
        assert!(!r.should_renew(0, false));
        let forward = r.apply_renewal(100, &renewal(4, CatchUp::Snapshot, true));
        assert_eq!(forward, Forward::Reset { last_event_id: 4 });
        assert_eq!(r.last_applied_id(), 4);
        assert_eq!(r.generation(T::POSTS, 100), Some(4));
    }

    #[test]
    fn the_lease_counts_from_when_the_request_was_sent_and_ends_a_margin_early() {
        // Sent at 1 000, answered (slowly) at 4 000: the lease still ends
        // at 1 000 + LEASE, and serving stops MARGIN_MS before.
        let r = synced_at(0, 1_000);
        assert_eq!(r.lease_until(), 1_000 + LEASE);
        assert!(r.can_serve(1_000 + LEASE - MARGIN_MS - 1));
        assert!(!r.can_serve(1_000 + LEASE - MARGIN_MS));
        assert_eq!(r.serving_generations(1_000 + LEASE - MARGIN_MS), None);
        assert_eq!(r.generations(), &Generations::default());
    }

    #[test]
    fn pushes_apply_once_in_order_and_a_gap_asks_for_a_renewal() {
        let mut r = synced_at(2, 0);
        assert_eq!(r.apply_push(&push(3)), PushOutcome::Applied);
        assert_eq!(r.generations(), &hub_generations(3));
        assert_eq!(r.apply_push(&push(3)), PushOutcome::AlreadyApplied);
        assert_eq!(r.apply_push(&push(1)), PushOutcome::AlreadyApplied);
        assert!(!r.should_renew(1_000, true));
        assert_eq!(r.apply_push(&push(6)), PushOutcome::Gap { from: 4, to: 5 });
        assert_eq!(r.last_applied_id(), 3);
        assert_eq!(r.generations(), &hub_generations(3));
        assert!(r.should_renew(1_000, true));
        // The renewal answers 4..=6 (the Edge reported 3).
        let forward = r.apply_renewal(1_000, &renewal(6, events(4..=6), true));
        assert_eq!(forward, Forward::Events(vec![event(4), event(5), event(6)]));
        assert!(!r.should_renew(1_000, true));
        assert_eq!(r.apply_push(&push(6)), PushOutcome::AlreadyApplied);
        assert_eq!(r.apply_push(&push(7)), PushOutcome::Applied);
    }

    #[test]
    fn a_renewal_forwards_only_what_pushes_did_not_bring_already() {
        let mut r = synced_at(2, 0);
        // The Edge reported 2, then the push of 3 overtook the answer.
        assert_eq!(r.apply_push(&push(3)), PushOutcome::Applied);
        let forward = r.apply_renewal(0, &renewal(4, events(3..=4), true));
        assert_eq!(forward, Forward::Events(vec![event(4)]));
        assert_eq!(r.last_applied_id(), 4);
        // An older answer arriving late takes nothing back.
        let forward = r.apply_renewal(0, &renewal(3, events(3..=3), true));
        assert_eq!(forward, Forward::Events(vec![]));
        assert_eq!(r.last_applied_id(), 4);
        assert_eq!(r.generations(), &hub_generations(4));
        // Nor does a late snapshot.
        let forward = r.apply_renewal(0, &renewal(1, CatchUp::Snapshot, true));
        assert_eq!(forward, Forward::Events(vec![]));
        assert_eq!(r.generations(), &hub_generations(4));
    }

    #[test]
    fn a_snapshot_or_an_incomplete_catch_up_resets_the_streams() {
        let mut r = synced_at(2, 0);
        let forward = r.apply_renewal(0, &renewal(9, CatchUp::Snapshot, true));
        assert_eq!(forward, Forward::Reset { last_event_id: 9 });
        assert_eq!(r.last_applied_id(), 9);
        assert_eq!(r.generations(), &hub_generations(9));
        // Events with a hole, or short of the Hub's last id.
        let forward = r.apply_renewal(
            0,
            &renewal(12, CatchUp::Events(vec![event(10), event(12)]), true),
        );
        assert_eq!(forward, Forward::Reset { last_event_id: 12 });
        let forward = r.apply_renewal(0, &renewal(14, events(13..=13), true));
        assert_eq!(forward, Forward::Reset { last_event_id: 14 });
        assert_eq!(r.last_applied_id(), 14);
    }

    #[test]
    fn an_answer_without_a_lease_is_applied_and_asks_for_a_confirmation() {
        let mut r = synced_at(0, 0);
        let forward = r.apply_renewal(5_000, &renewal(1, events(1..=1), false));
        assert_eq!(forward, Forward::Events(vec![event(1)]));
        // The old lease holds, not a day longer; the Edge renews at once.
        assert_eq!(r.lease_until(), LEASE);
        assert!(r.should_renew(5_000, true));
        r.apply_renewal(5_100, &renewal(1, CatchUp::Events(vec![]), true));
        assert_eq!(r.lease_until(), 5_100 + LEASE);
        assert!(!r.should_renew(5_100, true));
    }

    #[test]
    fn a_lease_is_renewed_halfway_and_only_while_busy() {
        let mut r = synced_at(0, 0);
        assert!(!r.should_renew(LEASE / 2 - 1, true));
        assert!(r.should_renew(LEASE / 2, true));
        assert!(!r.should_renew(LEASE / 2, false));
        // A late grant never shortens the lease.
        r.apply_renewal(4_000, &renewal(0, CatchUp::Events(vec![]), true));
        r.apply_renewal(1_000, &renewal(0, CatchUp::Events(vec![]), true));
        assert_eq!(r.lease_until(), 4_000 + LEASE);
    }
}
