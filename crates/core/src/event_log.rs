//! The event log: the last N invalidation events, for replay on reconnect.
//!
//! A stream that drops and comes back with `Last-Event-ID: k` must see every
//! event after `k`, in order and without duplicates, before any live event
//! (Mercure's "history before live"). The Hub keeps the newest events in this
//! bounded ring; memory stays fixed whatever the write rate. When the events a
//! client missed have already been evicted, replay is impossible and the
//! answer is [`Replay::Reset`]: the client refetches everything rather than
//! silently missing an invalidation.
//!
//! Ids are assigned here, one more than the highest ever assigned. The Hub
//! persists that highest id and passes it back after a restart, so an id is
//! never reused: a client holding an old id could otherwise skip an event.
//!
//! Invariant: the ids in the ring are exactly `last_id - len + 1 ..= last_id`,
//! with no gap. Replay then needs one comparison to know if it is complete.

use std::collections::VecDeque;

/// A bounded ring of `(id, event)` with increasing ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog<T> {
    capacity: usize,
    last_id: u64,
    entries: VecDeque<(u64, T)>,
}

/// What a reconnecting client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay<T> {
    /// Every event after the client's id, oldest first; empty when it is up
    /// to date.
    Events(Vec<(u64, T)>),
    /// The client's id is older than the log (or one we never issued): it
    /// must refetch everything.
    Reset,
}

impl<T: Clone> EventLog<T> {
    /// An empty log holding at most `capacity` events, whose next id is
    /// `last_id + 1`.
    pub fn new(capacity: usize, last_id: u64) -> Self {
        Self {
            capacity,
            last_id,
            entries: VecDeque::with_capacity(capacity),
        }
    }

    /// A log rebuilt from persisted entries (sorted by id), keeping the newest
    /// `capacity` of them.
    ///
    /// Only the run of consecutive ids that ends at the highest id is kept:
    /// an event missing from storage in the middle, or after the newest one
    /// stored, would otherwise be skipped by a replay that looks complete.
    /// An entry above `last_id` raises it, so that its id is not reused.
    pub fn restore(capacity: usize, last_id: u64, mut entries: Vec<(u64, T)>) -> Self {
        // Sorting is cheap insurance against a storage listing that is not in
        // id order. Of two entries with one id the later one wins: the stable
        // sort keeps them in input order, reversing puts the later first, and
        // dedup keeps the first of a run.
        entries.sort_by_key(|(id, _)| *id);
        entries.reverse();
        entries.dedup_by_key(|(id, _)| *id);
        let last_id = entries.first().map_or(last_id, |(id, _)| last_id.max(*id));
        let mut kept = VecDeque::with_capacity(capacity);
        let mut expected = last_id;
        for entry in entries {
            if kept.len() == capacity || entry.0 != expected {
                break;
            }
            kept.push_front(entry);
            expected = expected.wrapping_sub(1);
        }
        Self {
            capacity,
            last_id,
            entries: kept,
        }
    }

    /// The highest id ever assigned (0 before the first event).
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Assigns the next id, builds the event with it (so the id can live in
    /// the event's payload too) and appends it, evicting the oldest event
    /// past capacity. Returns the id.
    pub fn append(&mut self, make: impl FnOnce(u64) -> T) -> u64 {
        // u64 ids at a million events a second last 584,000 years; overflow
        // is not a case to handle.
        let id = self.last_id + 1;
        self.last_id = id;
        if self.capacity == 0 {
            // Build nothing: the event would be evicted at once.
            return id;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((id, make(id)));
        id
    }

    /// The events after `after`, or [`Replay::Reset`] when some of them are
    /// no longer held or `after` is an id this log never issued.
    pub fn since(&self, after: u64) -> Replay<T> {
        if after > self.last_id {
            return Replay::Reset;
        }
        if after == self.last_id {
            return Replay::Events(Vec::new());
        }
        // By the invariant the ring holds oldest..=last_id with no gap.
        let oldest = self.last_id + 1 - self.entries.len() as u64;
        if after + 1 < oldest {
            return Replay::Reset;
        }
        let skip = usize::try_from(after + 1 - oldest).unwrap_or(usize::MAX);
        Replay::Events(self.entries.iter().skip(skip).cloned().collect())
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most events held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The events held, oldest first; what the Hub persists.
    pub fn entries(&self) -> impl Iterator<Item = &(u64, T)> {
        self.entries.iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(replay: Replay<String>) -> Option<Vec<u64>> {
        match replay {
            Replay::Events(events) => {
                for (id, payload) in &events {
                    assert_eq!(payload, &format!("e{id}"));
                }
                Some(events.into_iter().map(|(id, _)| id).collect())
            }
            Replay::Reset => None,
        }
    }

    fn log_with(capacity: usize, last_id: u64, appends: u64) -> EventLog<String> {
        let mut log = EventLog::new(capacity, last_id);
        for _ in 0..appends {
            log.append(|id| format!("e{id}"));
        }
        log
    }

    #[test]
    fn assigns_increasing_ids_from_last_id() {
        let mut log = EventLog::new(3, 41);
        assert_eq!(log.append(|id| format!("e{id}")), 42);
        assert_eq!(log.append(|id| format!("e{id}")), 43);
        assert_eq!(log.last_id(), 43);
        assert_eq!(log.len(), 2);
        assert_eq!(log.capacity(), 3);
    }

    #[test]
    fn replays_after_an_id_and_resets_past_the_ring() {
        let log = log_with(3, 0, 5); // holds 3, 4, 5
        assert_eq!(ids(log.since(5)), Some(vec![]));
        assert_eq!(ids(log.since(4)), Some(vec![5]));
        assert_eq!(ids(log.since(2)), Some(vec![3, 4, 5]));
        assert_eq!(ids(log.since(1)), None);
        assert_eq!(ids(log.since(0)), None);
        assert_eq!(ids(log.since(6)), None);
    }

    #[test]
    fn a_fresh_log_after_restart_resets_older_clients() {
        let log: EventLog<String> = EventLog::new(10, 100);
        assert!(log.is_empty());
        assert_eq!(ids(log.since(100)), Some(vec![]));
        assert_eq!(ids(log.since(99)), None);
    }

    #[test]
    fn zero_capacity_holds_nothing_and_never_builds_an_event() {
        let mut log = EventLog::new(0, 0);
        assert_eq!(log.append(|_| -> String { panic!("built") }), 1);
        assert!(log.is_empty());
        assert_eq!(ids(log.since(1)), Some(vec![]));
        assert_eq!(ids(log.since(0)), None);
    }

    #[test]
    fn restore_keeps_the_newest_consecutive_run() {
        let e = |id: u64| (id, format!("e{id}"));
        let log = EventLog::restore(3, 5, vec![e(1), e(2), e(3), e(4), e(5)]);
        assert_eq!(
            log.entries().map(|(id, _)| *id).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(ids(log.since(2)), Some(vec![3, 4, 5]));

        // A gap: 3 is missing, so only 4 and 5 can be replayed.
        let log = EventLog::restore(10, 5, vec![e(1), e(2), e(4), e(5)]);
        assert_eq!(ids(log.since(3)), Some(vec![4, 5]));
        assert_eq!(ids(log.since(2)), None);

        // The newest assigned id (7) was never stored: nothing is safe.
        let log = EventLog::restore(10, 7, vec![e(4), e(5)]);
        assert!(log.is_empty());
        assert_eq!(ids(log.since(5)), None);
        assert_eq!(ids(log.since(7)), Some(vec![]));

        // An entry above last_id raises it; unsorted input is sorted.
        let mut log = EventLog::restore(10, 3, vec![e(5), e(4)]);
        assert_eq!(log.last_id(), 5);
        assert_eq!(ids(log.since(3)), Some(vec![4, 5]));
        assert_eq!(log.append(|id| format!("e{id}")), 6);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append,
        RestoreFromEntries,
    }

    proptest! {
        #[test]
        fn since_is_exact_or_reset(
            capacity in 0usize..8,
            start in 0u64..5,
            ops in proptest::collection::vec(
                prop_oneof![4 => Just(Op::Append), 1 => Just(Op::RestoreFromEntries)],
                0..40,
            ),
        ) {
            let mut log = EventLog::new(capacity, start);
            for op in ops {
                match op {
                    Op::Append => { log.append(|id| format!("e{id}")); }
                    Op::RestoreFromEntries => {
                        let entries: Vec<_> = log.entries().cloned().collect();
                        log = EventLog::restore(capacity, log.last_id(), entries);
                    }
                }
                prop_assert!(log.len() <= capacity);
            }
            let last = log.last_id();
            let oldest = log.entries().next().map(|(id, _)| *id);
            for k in 0..=last + 2 {
                let got = ids(log.since(k));
                let must_reset = k > last || (k < last && oldest.is_none_or(|o| k + 1 < o));
                if must_reset {
                    prop_assert_eq!(got, None, "k={}", k);
                } else {
                    let expected: Vec<u64> = (k + 1..=last).collect();
                    prop_assert_eq!(got, Some(expected), "k={}", k);
                }
            }
        }
    }
}
