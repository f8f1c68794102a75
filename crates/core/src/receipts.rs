//! The receiving end's memory of mirror deliveries: which `(origin,
//! eventId)` pairs it has applied, and the event id it gave each, so that a
//! repeated delivery (delivery is at least once) is acknowledged with the
//! first event id and makes no second event.
//!
//! Only the newest [`CAPACITY`] are kept, oldest forgotten first: a sender
//! re-sends an entry only while it retries it (at most
//! `MIRROR_MAX_ATTEMPTS` attempts over minutes), so a pair that old is
//! never sent again.

use std::collections::{HashMap, VecDeque};

/// How many deliveries are remembered: far more than a sender's outbox
/// retries within the time it re-sends an entry.
pub const CAPACITY: usize = 10_000;

/// Applied deliveries, by key (the Hub's storage key of the pair), with our
/// event id for each; at most `capacity`, the oldest forgotten first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipts {
    capacity: usize,
    ids: HashMap<String, u64>,
    /// The keys, oldest first.
    order: VecDeque<String>,
}

impl Receipts {
    /// An empty memory of at most `capacity` deliveries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ids: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The memory as stored, `(key, our event id)` in any order: oldest is
    /// the lowest event id, and only the newest `capacity` are kept.
    pub fn restore(capacity: usize, mut stored: Vec<(String, u64)>) -> Self {
        stored.sort_by_key(|(_, id)| *id);
        let skip = stored.len().saturating_sub(capacity);
        let mut receipts = Self::new(capacity);
        for (key, id) in stored.into_iter().skip(skip) {
            receipts.remember(key, id);
        }
        receipts
    }

    /// Our event id for an applied delivery, if it is remembered.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.ids.get(key).copied()
    }

    /// Remembers a delivery under our `event_id`; returns the key forgotten
    /// to stay within the capacity, if one was.
    pub fn remember(&mut self, key: String, event_id: u64) -> Option<String> {
        if let Some(id) = self.ids.get_mut(&key) {
            *id = event_id;
            return None;
        }
        self.ids.insert(key.clone(), event_id);
        self.order.push_back(key);
        if self.order.len() <= self.capacity {
            return None;
        }
        let oldest = self.order.pop_front()?;
        self.ids.remove(&oldest);
        Some(oldest)
    }

    /// How many deliveries are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(n: u64) -> String {
        format!("dd:other:{n}")
    }

    #[test]
    fn a_remembered_delivery_answers_its_first_event_id() {
        let mut r = Receipts::new(CAPACITY);
        assert_eq!(r.get(&key(1)), None);
        assert_eq!(r.remember(key(1), 41), None);
        assert_eq!(r.get(&key(1)), Some(41));
        assert_eq!(r.get(&key(2)), None);
    }

    #[test]
    fn the_ten_thousand_newest_are_kept_and_the_oldest_forgotten_first() {
        let mut r = Receipts::new(CAPACITY);
        for n in 1..=10_000 {
            assert_eq!(r.remember(key(n), n + 100), None, "{n} fits");
        }
        assert_eq!(r.len(), 10_000);
        assert_eq!(r.get(&key(1)), Some(101), "the first is still remembered");
        assert_eq!(r.remember(key(10_001), 10_101), Some(key(1)));
        assert_eq!(r.get(&key(1)), None, "the oldest is forgotten");
        assert_eq!(r.get(&key(2)), Some(102));
        assert_eq!(r.get(&key(10_001)), Some(10_101));
        assert_eq!(r.remember(key(10_002), 10_102), Some(key(2)));
        assert_eq!(r.len(), 10_000);
    }

    #[test]
    fn remembering_a_key_twice_keeps_one_place_for_it() {
        let mut r = Receipts::new(2);
        r.remember(key(1), 1);
        r.remember(key(1), 2);
        assert_eq!(r.get(&key(1)), Some(2));
        assert_eq!(r.len(), 1);
        assert_eq!(r.remember(key(2), 3), None, "two distinct keys fit in 2");
        assert_eq!(r.remember(key(3), 4), Some(key(1)));
    }

    #[test]
    fn restored_in_event_order_and_trimmed_to_the_newest() {
        let stored = vec![(key(3), 30), (key(1), 10), (key(4), 40), (key(2), 20)];
        let mut r = Receipts::restore(3, stored);
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.get(&key(1)),
            None,
            "the oldest of four does not fit in three"
        );
        assert_eq!(r.get(&key(2)), Some(20));
        assert_eq!(
            r.remember(key(5), 50),
            Some(key(2)),
            "then the oldest of the rest"
        );
        assert_eq!(r.remember(key(6), 60), Some(key(3)));
    }
}
