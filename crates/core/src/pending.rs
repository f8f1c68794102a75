//! Invalidations acknowledged by the Hub but not yet recorded in the cache
//! backend, and when to try recording them again.
//!
//! With the `upstash` backend the generations live in Redis, and the Hub
//! bumps them there before it acknowledges an invalidation. When it cannot
//! (Upstash unreachable, a wrong token, a Redis error such as `OOM`), the
//! write has already happened in D1, so the invalidation is acknowledged and
//! sent to the streams all the same, and its types are kept here, durably:
//! until they are recorded, every read of them bypasses the cache (the Hub
//! answers `bypass` for them), which keeps the guarantee (docs/architecture.md). The Hub's
//! alarm bumps them again with backoff, for as long as it takes; a success
//! removes the types it covered.
//!
//! Which failures a success covers: a bump executed at time T covers every
//! write committed before T. The Hub takes [`PendingBumps::seq`] before it
//! sends a bump, and on success [`PendingBumps::recorded`] removes only the
//! types whose last failure came before that, so that a failure recorded
//! while the bump was in flight (a write the bump may have preceded) stays.
//! Bumping a type twice is harmless: it costs a miss, never a stale read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::retry::{RandomSource, RetryPolicy};
use crate::types::EntityType;

/// Retries of an unrecorded invalidation: from half a second, doubling, at
/// most 30 s apart (a type in bypass costs an origin read per request, so a
/// recovered backend should be noticed soon), and never given up.
pub const RETRY: RetryPolicy = RetryPolicy {
    base_ms: 500,
    cap_ms: 30_000,
    max_attempts: u32::MAX,
};

/// The unrecorded invalidations of a deployment (Hub storage key
/// `cache_pending`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingBumps {
    /// Each unrecorded type, with the seq of its latest failure.
    types: BTreeMap<EntityType, u64>,
    /// The seq of the next failure.
    next_seq: u64,
    /// Failed retries since the last success.
    attempts: u32,
    /// When to retry, in ms since the epoch (meaningful when not empty).
    next_at: u64,
    /// When the oldest unrecorded failure happened.
    since: Option<u64>,
    /// The last error, for logs and status.
    last_error: Option<String>,
}

impl PendingBumps {
    /// Whether reads of `t` must bypass the cache.
    pub fn contains(&self, t: EntityType) -> bool {
        self.types.contains_key(&t)
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The unrecorded types, in [`EntityType::ALL`] order.
    pub fn types(&self) -> Vec<EntityType> {
        self.types.keys().copied().collect()
    }

    /// The current seq: take it before sending a bump, pass it to
    /// [`PendingBumps::recorded`] after.
    pub fn seq(&self) -> u64 {
        self.next_seq
    }

    /// The last error.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Since when something has been pending.
    pub fn since(&self) -> Option<u64> {
        self.since
    }

    /// Records that bumping `types` failed with `error` at `now_ms`. The
    /// first failure schedules a retry soon; later ones keep the schedule.
    pub fn failed(
        &mut self,
        types: &[EntityType],
        error: &str,
        now_ms: u64,
        rng: &mut impl RandomSource,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let was_empty = self.types.is_empty();
        for t in types {
            self.types.insert(*t, seq);
        }
        self.last_error = Some(error.to_owned());
        if was_empty && !self.types.is_empty() {
            self.attempts = 0;
            self.since = Some(now_ms);
            self.next_at = now_ms + RETRY.delay_ms(1, rng).unwrap_or(RETRY.base_ms);
        }
    }

    /// Records that a retry (of [`PendingBumps::types`]) failed: the next
    /// one is further off.
    pub fn retry_failed(&mut self, error: &str, now_ms: u64, rng: &mut impl RandomSource) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_error = Some(error.to_owned());
        let delay = RETRY
            .delay_ms(self.attempts.saturating_add(1), rng)
            .unwrap_or(RETRY.cap_ms);
        self.next_at = now_ms.saturating_add(delay);
    }

    /// Records that `types` were bumped by a request sent when the seq was
    /// `seq_before`: each of them whose latest failure is older is recorded
    /// now. Returns the types that left the set.
    pub fn recorded(&mut self, types: &[EntityType], seq_before: u64) -> Vec<EntityType> {
        let done: Vec<EntityType> = self
            .types
            .iter()
            .filter(|(t, seq)| types.contains(t) && **seq < seq_before)
            .map(|(t, _)| *t)
            .collect();
        for t in &done {
            self.types.remove(t);
        }
        if self.types.is_empty() {
            self.attempts = 0;
            self.since = None;
            self.last_error = None;
        }
        done
    }

    /// When to retry, if anything is pending.
    pub fn next_due(&self) -> Option<u64> {
        (!self.types.is_empty()).then_some(self.next_at)
    }

    /// Whether a retry is due at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.next_due().is_some_and(|at| at <= now_ms)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::retry::SplitMix64;
    use EntityType as T;

    #[test]
    fn a_failure_marks_the_closure_until_a_bump_records_it() {
        let mut p = PendingBumps::default();
        let mut rng = SplitMix64::new(1);
        assert!(p.is_empty());
        assert_eq!(p.next_due(), None);
        p.failed(&[T::POSTS, T::FEED], "OOM", 1_000, &mut rng);
        assert!(p.contains(T::POSTS) && p.contains(T::FEED) && !p.contains(T::PAGES));
        let due = p.next_due().unwrap();
        assert!((1_001..=1_500).contains(&due), "{due}");
        assert!(!p.is_due(1_000));
        assert!(p.is_due(due));

        let seq = p.seq();
        assert_eq!(p.recorded(&p.types(), seq), [T::POSTS, T::FEED]);
        assert!(p.is_empty());
        assert_eq!(p.since(), None);
        assert_eq!(p.last_error(), None);
    }

    #[test]
    fn a_failure_during_the_bump_stays_pending() {
        let mut p = PendingBumps::default();
        let mut rng = SplitMix64::new(1);
        p.failed(&[T::POSTS, T::FEED], "down", 0, &mut rng);
        let seq = p.seq();
        // While the retry is in flight, another write's bump fails.
        p.failed(&[T::FEED], "down", 10, &mut rng);
        assert_eq!(p.recorded(&[T::POSTS, T::FEED], seq), [T::POSTS]);
        assert_eq!(p.types(), [T::FEED]);
        assert_eq!(p.last_error(), Some("down"));
    }

    #[test]
    fn a_bump_of_other_types_records_only_those() {
        let mut p = PendingBumps::default();
        let mut rng = SplitMix64::new(1);
        p.failed(
            &[T::CATEGORIES, T::POSTS, T::PAGES, T::FEED],
            "down",
            0,
            &mut rng,
        );
        // A later invalidation of posts went through: it covers posts and feed.
        let seq = p.seq();
        assert_eq!(p.recorded(&[T::POSTS, T::FEED], seq), [T::POSTS, T::FEED]);
        assert_eq!(p.types(), [T::PAGES, T::CATEGORIES]);
    }

    #[test]
    fn retries_back_off_up_to_the_cap_and_never_stop() {
        let mut p = PendingBumps::default();
        let mut rng = SplitMix64::new(9);
        p.failed(&[T::POSTS], "down", 0, &mut rng);
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..50 {
            now = p.next_due().unwrap();
            p.retry_failed("still down", now, &mut rng);
            delays.push(p.next_due().unwrap() - now);
        }
        assert!(delays.iter().all(|d| (1..=RETRY.cap_ms).contains(d)));
        assert!(delays[40..].iter().any(|d| *d > RETRY.cap_ms / 4));
        assert!(p.contains(T::POSTS));
        assert!(now > 0);
    }

    #[test]
    fn survives_a_round_trip_through_storage() {
        let mut p = PendingBumps::default();
        p.failed(&[T::POSTS], "WRONGPASS", 5, &mut SplitMix64::new(3));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PendingBumps>(&json).unwrap(), p);
    }
}
