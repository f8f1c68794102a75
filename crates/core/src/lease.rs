//! Fill leases: stampede control for the backends whose leases live in the
//! Hub (`memory` and `kv`).
//!
//! An invalidation makes every reader of a hot key miss at once; without
//! care they all read the origin together. Meta's memcache paper ("Scaling
//! Memcache at Facebook", NSDI 2013, section 3.2.1) measured 17K/s of
//! database reads on hot keys fall to 1.3K/s once leases were added. So when
//! several readers miss the same key at the same generation, the first gets
//! the lease and reads the origin; the others wait for its fill, each for at
//! most a bound, past which they read the origin themselves. A lease names
//! its generation (its key is a generation-stamped cache key), so it is void
//! as soon as the generation moves: a slow filler's value is still handed
//! to the readers that waited for it (they started before the move), but the
//! store refuses it.
//!
//! [`Leases`] is the bookkeeping, generic over the waiter (the Hub uses the
//! sending half of a channel) so that it is tested here without a runtime.
//! A lease expires after its time, so a filler that died never blocks a key
//! for longer than that; its waiters have their own, shorter, bound.

use std::collections::{BTreeMap, BTreeSet};

/// How long a filler holds a lease: a list read from D1 takes milliseconds,
/// so a fill still running after 3 s is presumed dead and the next reader
/// may fill instead.
pub const LEASE_MS: u64 = 3_000;

/// How long a reader waits for someone else's fill before reading the origin
/// itself. Long enough to cover an origin read under the load of a
/// stampede (the 200-reader test fills in well under a second on a 2-core
/// machine), short enough that a dead filler costs its waiters a visible
/// but bounded delay.
pub const WAIT_MS: u64 = 2_000;

/// What [`Leases::acquire`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// The caller holds the lease: read the origin and fill.
    Granted,
    /// Someone else is filling: wait (see [`Leases::wait`]).
    Busy,
}

#[derive(Debug)]
struct Lease<W> {
    expires_at: u64,
    waiters: Vec<W>,
}

/// The live leases, by cache key, with the readers waiting on each.
#[derive(Debug)]
pub struct Leases<W> {
    lease_ms: u64,
    by_key: BTreeMap<String, Lease<W>>,
    /// (expires_at, key), soonest first, so that expiry touches only what expired.
    by_expiry: BTreeSet<(u64, String)>,
}

impl<W> Default for Leases<W> {
    fn default() -> Self {
        Self::new(LEASE_MS)
    }
}

impl<W> Leases<W> {
    /// Leases that last `lease_ms`.
    pub fn new(lease_ms: u64) -> Self {
        Self {
            lease_ms,
            by_key: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Makes the leases taken from now on last `lease_ms` (the settings
    /// decide it: origin mode's origin may be slow).
    pub fn set_lease_ms(&mut self, lease_ms: u64) {
        self.lease_ms = lease_ms;
    }

    /// Takes the lease of `key` if nobody holds a live one. An expired lease
    /// is taken over, and its waiters now wait for the new filler.
    pub fn acquire(&mut self, key: &str, now_ms: u64) -> Acquire {
        let expires_at = now_ms.saturating_add(self.lease_ms);
        match self.by_key.get_mut(key) {
            Some(lease) if lease.expires_at > now_ms => Acquire::Busy,
            Some(lease) => {
                self.by_expiry.remove(&(lease.expires_at, key.to_owned()));
                lease.expires_at = expires_at;
                self.by_expiry.insert((expires_at, key.to_owned()));
                Acquire::Granted
            }
            None => {
                self.by_key.insert(
                    key.to_owned(),
                    Lease {
                        expires_at,
                        waiters: Vec::new(),
                    },
                );
                self.by_expiry.insert((expires_at, key.to_owned()));
                Acquire::Granted
            }
        }
    }

    /// Adds a waiter to the lease of `key`; returns it back when there is no
    /// such lease (it was completed meanwhile: look the value up again).
    pub fn wait(&mut self, key: &str, waiter: W) -> Option<W> {
        match self.by_key.get_mut(key) {
            Some(lease) => {
                lease.waiters.push(waiter);
                None
            }
            None => Some(waiter),
        }
    }

    /// Ends the lease of `key` (filled, or given back); returns its waiters,
    /// to be handed the value (or told to read the origin themselves).
    pub fn complete(&mut self, key: &str) -> Vec<W> {
        match self.by_key.remove(key) {
            Some(lease) => {
                self.by_expiry.remove(&(lease.expires_at, key.to_owned()));
                lease.waiters
            }
            None => Vec::new(),
        }
    }

    /// Drops every lease that expired by `now_ms`; returns their waiters
    /// (whose own bounds have passed too, since [`WAIT_MS`] < [`LEASE_MS`]).
    pub fn expire(&mut self, now_ms: u64) -> Vec<W> {
        let mut out = Vec::new();
        while let Some((at, key)) = self.by_expiry.first().cloned() {
            if at > now_ms {
                break;
            }
            self.by_expiry.remove(&(at, key.clone()));
            if let Some(lease) = self.by_key.remove(&key) {
                out.extend(lease.waiters);
            }
        }
        out
    }

    /// How many leases are live or not yet expired.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::generation::cache_key;
    use crate::types::EntityType;

    #[test]
    fn one_filler_the_others_wait_and_get_released_together() {
        let mut l: Leases<u32> = Leases::new(1_000);
        let key = cache_key(EntityType::POSTS, 3, "/api/posts");
        assert_eq!(l.acquire(&key, 0), Acquire::Granted);
        for w in 1..=199 {
            assert_eq!(l.acquire(&key, 10), Acquire::Busy);
            assert_eq!(l.wait(&key, w), None);
        }
        let waiters = l.complete(&key);
        assert_eq!(waiters.len(), 199);
        assert!(l.is_empty());
        // The next miss (say, after the entry expired) gets a new lease.
        assert_eq!(l.acquire(&key, 20), Acquire::Granted);
    }

    #[test]
    fn a_new_generation_is_a_new_lease() {
        let mut l: Leases<u32> = Leases::new(1_000);
        assert_eq!(
            l.acquire(&cache_key(EntityType::POSTS, 3, "/p"), 0),
            Acquire::Granted
        );
        assert_eq!(
            l.acquire(&cache_key(EntityType::POSTS, 4, "/p"), 0),
            Acquire::Granted
        );
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn an_expired_lease_is_taken_over_with_its_waiters() {
        let mut l: Leases<u32> = Leases::new(1_000);
        assert_eq!(l.acquire("k", 0), Acquire::Granted);
        l.wait("k", 7);
        assert_eq!(l.acquire("k", 999), Acquire::Busy);
        assert_eq!(l.acquire("k", 1_000), Acquire::Granted);
        assert_eq!(l.acquire("k", 1_500), Acquire::Busy);
        assert_eq!(l.complete("k"), [7]);
    }

    #[test]
    fn waiting_on_a_completed_lease_hands_the_waiter_back() {
        let mut l: Leases<u32> = Leases::new(1_000);
        assert_eq!(l.wait("k", 1), Some(1));
        assert!(l.complete("k").is_empty());
    }

    #[test]
    fn expiry_drops_only_expired_leases() {
        let mut l: Leases<u32> = Leases::new(100);
        l.acquire("a", 0);
        l.wait("a", 1);
        l.acquire("b", 50);
        l.wait("b", 2);
        assert_eq!(l.expire(99), Vec::<u32>::new());
        assert_eq!(l.expire(100), [1]);
        assert_eq!(l.len(), 1);
        assert_eq!(l.expire(150), [2]);
        assert!(l.is_empty());
        assert!(l.by_expiry.is_empty());
    }

    #[test]
    fn the_wait_bound_is_shorter_than_a_lease() {
        // A waiter gives up before the lease it waits on can expire, so the
        // waiters handed back by `expire` have all given up already.
        const { assert!(WAIT_MS < LEASE_MS) };
    }
}
