//! The Hub's queue of pushes to Edges: at most one push request in flight
//! per Edge, carrying everything pending for it, and at most
//! [`MAX_IN_FLIGHT`] requests in flight at once.
//!
//! Why a cap: production lets one invocation of a Durable Object (the whole
//! object, which shares one I/O context) have at most 6 outgoing requests
//! waiting for their response headers; more wait in the runtime's own
//! queue, behind a slow one, invisibly. `wrangler dev` does not enforce it
//! (20 parallel pushes to Edges that each took 200 ms finished in 204 ms),
//! so the Hub keeps to it itself, and says in `/api/status` how close it
//! came (`pushesInFlightPeak`).
//!
//! Why one push per Edge: a push carries every event pending for its Edge,
//! in id order, so that an Edge never gets its events out of order from two
//! requests racing, and a burst of writes costs one request per Edge per
//! round trip rather than one per write. The Edge picked next is the one
//! whose oldest pending event is oldest, so that no Edge waits behind
//! others' bursts for long.
//!
//! Dropping pushes is safe: a push is an optimisation of the lease protocol
//! ([`crate::edge_protocol`]), which holds with any push lost (the Hub waits
//! for the Edge's renewal or its lease). So an Edge's pending list is
//! bounded ([`MAX_PENDING`]); past it the oldest are dropped, and the Edge
//! catches up by renewing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::edge_protocol::EdgePush;

/// Push requests in flight at once: production's cap on a Durable Object's
/// outgoing requests waiting for their response headers (Cloudflare's
/// Workers limits, "simultaneous open connections": 6).
pub const MAX_IN_FLIGHT: usize = 6;

/// Events pending for one Edge; past this the oldest are dropped (the Edge
/// catches up by renewing, which answers up to
/// [`crate::edge_lease::MAX_CATCH_UP_EVENTS`] events). One push request
/// carries at most this many.
pub const MAX_PENDING: usize = 1_000;

/// Pushes waiting per Edge, and the Edges with a push in flight.
#[derive(Debug, Default)]
pub struct PushQueue {
    pending: BTreeMap<String, VecDeque<EdgePush>>,
    /// Edges owed a request even without events: the Hub's bypass set
    /// changed ([`PushQueue::touch`]).
    touched: BTreeSet<String>,
    in_flight: BTreeSet<String>,
    peak: usize,
    sent: u64,
    dropped: u64,
}

impl PushQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `push` for `edge`.
    pub fn enqueue(&mut self, edge: &str, push: EdgePush) {
        let queue = self.pending.entry(edge.to_owned()).or_default();
        if queue.len() >= MAX_PENDING {
            queue.pop_front();
            self.dropped += 1;
        }
        queue.push_back(push);
    }

    /// Owes `edge` a request even if no event is pending for it: what
    /// the Hub sends besides events (the types whose reads bypass the
    /// cache) has changed.
    pub fn touch(&mut self, edge: &str) {
        self.touched.insert(edge.to_owned());
    }

    /// The next push request to send, if the cap allows one: the Edge
    /// without a request in flight whose oldest pending event is oldest
    /// (then those only touched), and everything pending for it. The Edge
    /// counts as in flight until [`PushQueue::done`].
    pub fn take_next(&mut self) -> Option<(String, Vec<EdgePush>)> {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return None;
        }
        let edge = self
            .pending
            .iter()
            .filter(|(name, queue)| !queue.is_empty() && !self.in_flight.contains(*name))
            .min_by_key(|(_, queue)| queue.front().map(|p| p.event.id))
            .map(|(name, _)| name.clone())
            .or_else(|| {
                self.touched
                    .iter()
                    .find(|name| !self.in_flight.contains(*name))
                    .cloned()
            })?;
        self.touched.remove(&edge);
        let pushes: Vec<EdgePush> = self.pending.remove(&edge).unwrap_or_default().into();
        self.in_flight.insert(edge.clone());
        self.peak = self.peak.max(self.in_flight.len());
        self.sent += 1;
        Some((edge, pushes))
    }

    /// The request to `edge` has ended (answered, failed or given up on).
    pub fn done(&mut self, edge: &str) {
        self.in_flight.remove(edge);
    }

    /// Drops what is pending for `edge` (it left the registry).
    pub fn forget(&mut self, edge: &str) {
        self.pending.remove(edge);
        self.touched.remove(edge);
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The most requests ever in flight at once: never above
    /// [`MAX_IN_FLIGHT`].
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Push requests sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Events dropped from full pending lists.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::generation::Generations;

    fn push(id: u64) -> EdgePush {
        EdgePush::new(crate::event::sample(id), &Generations::default())
    }

    fn ids(pushes: &[EdgePush]) -> Vec<u64> {
        pushes.iter().map(|p| p.event.id).collect()
    }

    #[test]
    fn at_most_six_in_flight_and_one_per_edge() {
        let mut q = PushQueue::new();
        let edges: Vec<String> = (0..8).map(|i| format!("edge:weur:{i}")).collect();
        for id in 1..=3 {
            for e in &edges {
                q.enqueue(e, push(id));
            }
        }
        let mut sent = Vec::new();
        while let Some((edge, pushes)) = q.take_next() {
            assert_eq!(ids(&pushes), vec![1, 2, 3], "everything pending, in order");
            sent.push(edge);
        }
        assert_eq!(sent.len(), MAX_IN_FLIGHT);
        assert_eq!(q.in_flight(), MAX_IN_FLIGHT);
        // A new event for an Edge in flight waits for its request to end.
        q.enqueue(&sent[0], push(4));
        assert!(q.take_next().is_none(), "the cap holds");
        q.done(&sent[0]);
        let (next, pushes) = q.take_next().unwrap();
        assert!(!sent.contains(&next), "the Edges waiting longest go first");
        assert_eq!(ids(&pushes), vec![1, 2, 3]);
        q.done(&next);
        let (again, pushes) = q.take_next().unwrap();
        assert_ne!(again, sent[0], "edge 7 waited since event 1");
        assert_eq!(ids(&pushes), vec![1, 2, 3]);
        q.done(&again);
        let (last, pushes) = q.take_next().unwrap();
        assert_eq!(last, sent[0]);
        assert_eq!(ids(&pushes), vec![4]);
        assert_eq!(q.peak(), MAX_IN_FLIGHT);
        assert_eq!(q.sent(), 9);
    }

    #[test]
    fn a_stuck_edge_holds_one_slot_only() {
        let mut q = PushQueue::new();
        q.enqueue("deaf", push(1));
        let (deaf, _) = q.take_next().unwrap();
        assert_eq!(deaf, "deaf");
        for id in 2..=50 {
            q.enqueue("deaf", push(id));
            q.enqueue("live", push(id));
            let (edge, pushes) = q.take_next().unwrap();
            assert_eq!(edge, "live");
            assert_eq!(ids(&pushes), vec![id]);
            q.done("live");
        }
        assert_eq!(q.peak(), 2);
    }

    #[test]
    fn a_touched_edge_gets_a_request_without_events_after_those_with() {
        let mut q = PushQueue::new();
        q.touch("a");
        q.enqueue("b", push(1));
        assert_eq!(q.take_next().unwrap().0, "b");
        let (edge, pushes) = q.take_next().unwrap();
        assert_eq!((edge.as_str(), pushes.len()), ("a", 0));
        assert!(q.take_next().is_none());
    }

    #[test]
    fn pending_lists_are_bounded() {
        let mut q = PushQueue::new();
        for id in 1..=(MAX_PENDING as u64 + 5) {
            q.enqueue("e", push(id));
        }
        let (_, pushes) = q.take_next().unwrap();
        assert_eq!(pushes.len(), MAX_PENDING);
        assert_eq!(pushes[0].event.id, 6, "the oldest were dropped");
        assert_eq!(q.dropped(), 5);
        q.forget("e");
    }
}
