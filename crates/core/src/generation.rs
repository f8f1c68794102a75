//! Generations: invalidation by counter, never by scanning keys.
//!
//! Every type has a generation counter. A cached read is stored under a key
//! that embeds its type's generation ([`cache_key`]); invalidating a type
//! bumps the counters of its closure in one step, after which every older
//! key is simply never read again and ages out by TTL. No backend (memory,
//! KV, Redis) ever has to list or delete keys, which KV cannot do quickly
//! and Redis should not do on a hot path.
//!
//! One generation per key is enough because dependencies are already folded
//! into the counters: a `posts` response depends on `categories`, and the
//! closure of `categories` contains `posts`, so changing a category bumps
//! the `posts` generation too.
//!
//! The race that leases solve in memcache is solved by ordering: a reader
//! takes the generation *before* it reads the origin and stores its result
//! under that generation. If a write lands in between, it has bumped the
//! counter, so the reader's (possibly stale) result goes under a key that no
//! later reader will ask for.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::types::EntityType;

/// The generation counter of every type; a type never bumped is at 0.
///
/// Serializes as a JSON object `{"posts":3,"feed":4}`, for storage by the Hub.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations(BTreeMap<EntityType, u64>);

impl Generations {
    /// The current generation of `t`, 0 when it was never bumped.
    pub fn get(&self, t: EntityType) -> u64 {
        self.0.get(&t).copied().unwrap_or(0)
    }

    /// Bumps each of `types` by one, as one step: callers pass a whole
    /// closure, so that no reader can see some of its types bumped and not
    /// others. A type listed twice is still bumped once.
    pub fn bump(&mut self, types: &[EntityType]) {
        let once: BTreeSet<EntityType> = types.iter().copied().collect();
        for t in once {
            let g = self.0.entry(t).or_insert(0);
            // 2^64 bumps are out of reach; saturating keeps this panic-free
            // in debug builds all the same.
            *g = g.saturating_add(1);
        }
    }

    /// The current generations of `types`, in registry order and each type
    /// once, so that two snapshots of the same set compare equal.
    pub fn snapshot(&self, types: &[EntityType]) -> Vec<(EntityType, u64)> {
        let once: BTreeSet<EntityType> = types.iter().copied().collect();
        once.into_iter().map(|t| (t, self.get(t))).collect()
    }

    /// Every type ever bumped, with its generation, in registry order: the
    /// whole of these counters, as [`Generations::raise`] takes them.
    pub fn entries(&self) -> Vec<(EntityType, u64)> {
        self.0.iter().map(|(t, g)| (*t, *g)).collect()
    }

    /// Whether a `snapshot` taken earlier is still current: false as soon as
    /// any of its types was bumped since.
    pub fn is_current(&self, snapshot: &[(EntityType, u64)]) -> bool {
        snapshot.iter().all(|(t, g)| self.get(*t) == *g)
    }

    /// Raises each type of `to` to at least its generation there, never
    /// lowering one: how a replica of the Hub's counters takes in what the
    /// Hub sends, so that an answer that arrives late (after a newer one)
    /// cannot take the replica back to older generations.
    pub fn raise(&mut self, to: &[(EntityType, u64)]) {
        for (t, g) in to {
            // Only a higher generation is written, so a type never bumped
            // stays absent (and out of the JSON), as in the Hub's own.
            if *g > self.get(*t) {
                self.0.insert(*t, *g);
            }
        }
    }

    /// Whether every type of `snapshot` is at its generation there or
    /// above: a replica that covers a write's snapshot serves nothing
    /// cached before that write.
    pub fn covers(&self, snapshot: &[(EntityType, u64)]) -> bool {
        snapshot.iter().all(|(t, g)| self.get(*t) >= *g)
    }
}

/// The cache key of `path` read as type `t` at `generation`, e.g.
/// `"posts@3:/api/posts"`.
///
/// The generation is part of the key, so an entry stored under an older
/// generation is never read again (see the module docs for why a racing
/// read cannot re-fill the cache with stale data). The type comes first and
/// is canonical, so `/api/post` and `/api/posts` of the same type share a
/// generation.
pub fn cache_key(t: EntityType, generation: u64, path: &str) -> String {
    format!("{}@{}:{}", t.as_str(), generation, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::DependencyGraph;
    use EntityType as T;

    #[test]
    fn never_bumped_is_zero() {
        let g = Generations::default();
        for t in EntityType::ALL {
            assert_eq!(g.get(t), 0);
        }
    }

    #[test]
    fn cache_key_format() {
        assert_eq!(cache_key(T::POSTS, 3, "/api/posts"), "posts@3:/api/posts");
        assert_eq!(
            cache_key(T::FEED, 0, "/api/feed?page=2"),
            "feed@0:/api/feed?page=2"
        );
    }

    #[test]
    fn a_key_taken_before_a_bump_differs_from_the_key_after() {
        let mut g = Generations::default();
        let before = cache_key(T::POSTS, g.get(T::POSTS), "/api/posts/7");
        g.bump(&[T::POSTS]);
        let after = cache_key(T::POSTS, g.get(T::POSTS), "/api/posts/7");
        assert_ne!(before, after);
    }

    #[test]
    fn bumping_a_closure_affects_only_its_types() {
        let graph = DependencyGraph::default();
        let closure = graph.closure(T::PICTURES);
        let mut g = Generations::default();
        g.bump(&[T::AUTH]);
        let before = g.clone();
        g.bump(&closure);
        for t in EntityType::ALL {
            let expected = before.get(t) + u64::from(closure.contains(&t));
            assert_eq!(g.get(t), expected, "{t}");
        }
        assert_eq!(g.get(T::CATEGORIES), 0);
        assert_eq!(g.get(T::AUTH), 1);
    }

    #[test]
    fn a_type_listed_twice_is_bumped_once() {
        let mut g = Generations::default();
        g.bump(&[T::POSTS, T::FEED, T::POSTS]);
        assert_eq!(g.get(T::POSTS), 1);
        assert_eq!(g.get(T::FEED), 1);
    }

    #[test]
    fn snapshot_is_canonical_and_detects_bumps() {
        let mut g = Generations::default();
        g.bump(&[T::FEED]);
        let snap = g.snapshot(&[T::FEED, T::POSTS, T::FEED]);
        assert_eq!(snap, [(T::POSTS, 0), (T::FEED, 1)]);
        assert_eq!(snap, g.snapshot(&[T::POSTS, T::FEED]));
        assert!(g.is_current(&snap));
        g.bump(&[T::PAGES]);
        assert!(g.is_current(&snap));
        g.bump(&[T::POSTS]);
        assert!(!g.is_current(&snap));
    }

    #[test]
    fn raise_never_lowers_and_covers_compares_each_type() {
        let mut hub = Generations::default();
        hub.bump(&[T::POSTS, T::FEED]);
        hub.bump(&[T::FEED]);
        let mut replica = Generations::default();
        replica.bump(&[T::PAGES]);
        assert!(!replica.covers(&hub.snapshot(&EntityType::ALL)));
        replica.raise(&hub.snapshot(&EntityType::ALL));
        assert!(replica.covers(&hub.snapshot(&EntityType::ALL)));
        assert_eq!(replica.get(T::FEED), 2);
        // The replica's own newer generation of pages stays.
        assert_eq!(replica.get(T::PAGES), 1);
        // An older snapshot, arriving late, takes nothing back.
        let old = [(T::FEED, 1), (T::POSTS, 0)];
        replica.raise(&old);
        assert_eq!(replica.get(T::FEED), 2);
        assert_eq!(replica.get(T::POSTS), 1);
        assert!(replica.covers(&old));
        assert!(!Generations::default().covers(&[(T::FEED, 1)]));
        // Raised to the Hub's, a replica equals it, zeros and all.
        let mut fresh = Generations::default();
        fresh.raise(&hub.snapshot(&EntityType::ALL));
        assert_eq!(fresh, hub);
    }

    #[test]
    fn serializes_as_an_object_of_canonical_names() {
        let mut g = Generations::default();
        g.bump(&[T::POSTS, T::FEED]);
        g.bump(&[T::FEED]);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, r#"{"posts":1,"feed":2}"#);
        assert_eq!(serde_json::from_str::<Generations>(&json).unwrap(), g);
    }
}
