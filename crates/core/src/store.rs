//! Where cached values live: the [`CacheStore`] trait and the in-memory store.
//!
//! A store is deliberately dumb: it maps a key to a string for a while. It
//! knows nothing of invalidation, because invalidation is by generation (see
//! `generation`): a key carries the generations it was read under, so bumping
//! a generation makes old keys unreachable, and the store only has to let
//! them age out. That is why the trait has no delete and no scan, and why
//! Workers KV (no atomic scan), Upstash and the Workers Cache API (no scan
//! at all; its keys are URLs, [`cache_api_url`]) fit behind it.
//!
//! [`MemoryStore`] is the `memory` backend kept inside the Hub. A Durable
//! Object has 128 MB, shared with the streams, so the store is bounded both
//! in entries and in bytes; past a bound it drops expired entries first, then
//! the least recently used ones. It takes the time as an argument (the Hub
//! passes the runtime's clock), so tests move time without sleeping.

use std::collections::{BTreeMap, BTreeSet};

/// A key-value store with expiry, implemented by each cache backend.
///
/// Futures are not `Send`: everything runs on the single thread of a Worker
/// isolate, and the runtime's own futures are not `Send` either.
#[allow(async_fn_in_trait)]
pub trait CacheStore {
    /// The value stored under `key`, unless absent or expired.
    async fn get(&self, key: &str) -> crate::Result<Option<String>>;
    /// Stores `value` under `key` for `ttl_secs` seconds. A backend may keep it
    /// shorter (eviction) or longer (KV's 60-second minimum), never serve it
    /// under another key.
    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> crate::Result<()>;
}

/// The shortest `expirationTtl` Workers KV accepts: 60 seconds
/// (Cloudflare's KV docs, "Expiring keys"; Miniflare refuses less, too).
pub const KV_MIN_TTL_SECS: u64 = 60;

/// The TTL the `kv` backend stores an entry with: `CACHE_TTL_SECS`, raised to
/// KV's minimum. Keeping an entry longer than asked is safe, because
/// freshness comes from generations, not from TTLs: a longer TTL only keeps
/// an unreachable key around longer.
pub fn kv_ttl_secs(ttl_secs: u64) -> u64 {
    ttl_secs.max(KV_MIN_TTL_SECS)
}

/// The host of every entry the `cache` backend keeps in the Workers Cache
/// API. `.invalid` is reserved (RFC 6761): no real page has this host.
pub const CACHE_API_HOST: &str = "polycache.invalid";

/// The URL under which the `cache` backend keeps the entry `key` (a
/// [`crate::generation::cache_key`]) of deployment `instance_id` in the
/// Workers Cache API, e.g.
/// `https://polycache.invalid/local-dev%2Fposts%403%3A%2Fapi%2Fposts`.
///
/// - **Host**: [`CACHE_API_HOST`], not the request's. `caches.default` is
///   shared by everything the zone caches, so a key under a real host could
///   meet a page of the site (or another Worker's entry) with that URL;
///   under `.invalid` it cannot. And a deployment reached under several
///   hostnames (two custom domains of one zone) keeps one set of entries,
///   which a visitor's `Host` cannot split or choose.
/// - **`INSTANCE_ID`**: deployments that share a zone (production and
///   staging) have their own generations, so `posts@3:/api/posts` names
///   different data in each; the instance keeps them apart.
/// - **Percent-encoding**: the key holds `@`, `:` and the request's path and
///   query (`/`, `?`, `&`, `%`, `..`). All of `<instance>/<key>` goes in one
///   path segment with every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded,
///   so that the URL parser behind `cache.put` and `cache.match` keeps it
///   as it is: no query or fragment split off, nothing re-encoded, no dot
///   segment resolved (the segment always holds the encoded `/`, so it is
///   never `.` or `..`, not even for an `INSTANCE_ID` of `.`). Two
///   different keys therefore never share a URL.
pub fn cache_api_url(instance_id: &str, key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut url = format!("https://{CACHE_API_HOST}/");
    url.reserve(3 * (instance_id.len() + 1 + key.len()));
    let name = instance_id.bytes().chain([b'/']).chain(key.bytes());
    for b in name {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(b));
        } else {
            url.push('%');
            url.push(char::from(HEX[usize::from(b >> 4)]));
            url.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    url
}

#[derive(Debug)]
struct Entry {
    value: String,
    expires_at_ms: u64,
    /// Position in the recency order; larger is more recent.
    tick: u64,
}

impl Entry {
    fn size(&self, key: &str) -> usize {
        key.len() + self.value.len()
    }
}

/// An in-memory store bounded in entries and in bytes, with TTL and LRU
/// eviction.
///
/// Bytes count the UTF-8 lengths of keys and values, not the bookkeeping
/// around them: a bound on what callers control, proportional to real use.
///
/// Ordered maps rather than a `HashMap`: keys come from request URLs, and on
/// `wasm32-unknown-unknown` std's hasher has no random seed, so a hash map
/// would be open to collision flooding; a B-tree costs `O(log n)` whatever
/// the keys.
#[derive(Debug)]
pub struct MemoryStore {
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    next_tick: u64,
    entries: BTreeMap<String, Entry>,
    /// tick -> key, oldest first: the eviction order.
    by_recency: BTreeMap<u64, String>,
    /// (expires_at_ms, tick), soonest first, so that purging expired entries
    /// touches only those.
    by_expiry: BTreeSet<(u64, u64)>,
}

impl MemoryStore {
    /// An empty store holding at most `max_entries` entries and `max_bytes`
    /// bytes of keys and values.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries,
            max_bytes,
            bytes: 0,
            next_tick: 0,
            entries: BTreeMap::new(),
            by_recency: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// The value under `key` if it has not expired at `now_ms`; marks it as
    /// recently used. An expired entry is removed.
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<&str> {
        let (expires_at_ms, old_tick) = {
            let entry = self.entries.get(key)?;
            (entry.expires_at_ms, entry.tick)
        };
        if now_ms >= expires_at_ms {
            self.remove(key);
            return None;
        }
        let tick = self.take_tick();
        let name = self.by_recency.remove(&old_tick)?;
        self.by_recency.insert(tick, name);
        self.by_expiry.remove(&(expires_at_ms, old_tick));
        self.by_expiry.insert((expires_at_ms, tick));
        let entry = self.entries.get_mut(key)?;
        entry.tick = tick;
        Some(entry.value.as_str())
    }

    /// Stores `value` under `key` until `now_ms + ttl_ms`, replacing any
    /// older value. Past a bound it evicts expired entries first, then the
    /// least recently used.
    ///
    /// An entry that could never fit (bigger than `max_bytes`, or a store of
    /// no entries) is not stored, and a `ttl_ms` of 0 means already expired;
    /// in each case the old value under `key` is removed all the same, since
    /// the caller meant to replace it.
    pub fn put(&mut self, key: String, value: String, ttl_ms: u64, now_ms: u64) {
        self.remove(&key);
        let size = key.len() + value.len();
        if size > self.max_bytes || self.max_entries == 0 || ttl_ms == 0 {
            return;
        }
        if !self.fits(size) {
            self.purge_expired(now_ms);
        }
        while !self.fits(size) {
            let Some((_, oldest)) = self.by_recency.pop_first() else {
                break;
            };
            self.remove(&oldest);
        }
        let tick = self.take_tick();
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        self.by_recency.insert(tick, key.clone());
        self.by_expiry.insert((expires_at_ms, tick));
        self.bytes += size;
        self.entries.insert(
            key,
            Entry {
                value,
                expires_at_ms,
                tick,
            },
        );
    }

    /// How many entries are held (expired ones included until they are
    /// read, purged or evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of keys and values held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Removes every entry expired at `now_ms`; returns how many.
    pub fn purge_expired(&mut self, now_ms: u64) -> usize {
        let mut purged = 0;
        while let Some(&(expires_at_ms, tick)) = self.by_expiry.first() {
            if expires_at_ms > now_ms {
                break;
            }
            match self.by_recency.get(&tick).cloned() {
                Some(key) => {
                    self.remove(&key);
                }
                // Unreachable while the indexes agree; drop the stray index
                // entry rather than loop forever.
                None => {
                    self.by_expiry.remove(&(expires_at_ms, tick));
                }
            }
            purged += 1;
        }
        purged
    }

    fn fits(&self, size: usize) -> bool {
        self.entries.len() < self.max_entries && self.bytes + size <= self.max_bytes
    }

    fn take_tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.by_recency.remove(&entry.tick);
        self.by_expiry.remove(&(entry.expires_at_ms, entry.tick));
        self.bytes -= entry.size(key);
        Some(entry)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn put(store: &mut MemoryStore, key: &str, value: &str, ttl_ms: u64, now_ms: u64) {
        store.put(key.to_owned(), value.to_owned(), ttl_ms, now_ms);
    }

    #[test]
    fn kv_ttls_are_raised_to_kv_minimum() {
        assert_eq!(kv_ttl_secs(1), 60);
        assert_eq!(kv_ttl_secs(60), 60);
        assert_eq!(kv_ttl_secs(300), 300);
    }

    #[test]
    fn cache_api_urls_encode_the_key_in_one_segment() {
        assert_eq!(
            cache_api_url("local-dev", "posts@3:/api/posts"),
            "https://polycache.invalid/local-dev%2Fposts%403%3A%2Fapi%2Fposts"
        );
        assert_eq!(
            cache_api_url("a.b_c~", "feed@0:/api/feed?page=2&q=caf\u{e9} #1%2F"),
            "https://polycache.invalid/a.b_c~%2Ffeed%400%3A%2Fapi%2Ffeed%3Fpage%3D2%26q%3Dcaf%C3%A9%20%231%252F"
        );
    }

    /// What workerd does with the key: parse it as a URL (WHATWG, as the
    /// `url` crate does). The URL must come out as it went in, so that no
    /// two keys meet: not under `.` or `..`, a query, a fragment, a
    /// backslash or a character the parser would encode.
    #[test]
    fn the_url_parser_keeps_cache_api_urls_as_they_are() {
        let keys = [
            "posts@3:/api/posts",
            "posts@3:/api/posts/../x",
            "posts@3:/api/posts/%2e%2e/x",
            "posts@3:/api/posts?a=1&b=%20#frag",
            "posts@3:/api/po\\sts\t \"<>`{}|^'",
            "feed@18446744073709551615:/api/feed?q=\u{1F600}",
            "",
            ".",
            "..",
        ];
        for instance in [".", "..", "local-dev", "A.b_c-9", "~"] {
            for key in keys {
                let ours = cache_api_url(instance, key);
                let parsed = url::Url::parse(&ours).unwrap();
                assert_eq!(parsed.as_str(), ours, "{instance:?} {key:?}");
                assert_eq!(parsed.host_str(), Some(CACHE_API_HOST));
                assert_eq!(parsed.query(), None);
                assert_eq!(parsed.fragment(), None);
                assert_eq!(parsed.path_segments().unwrap().count(), 1);
            }
        }
    }

    proptest! {
        #[test]
        fn distinct_entries_have_distinct_cache_api_urls(
            a in "[A-Za-z0-9._-]{1,8}",
            b in "[A-Za-z0-9._-]{1,8}",
            k in "\\PC{0,24}",
            l in "\\PC{0,24}",
        ) {
            let same = a == b && k == l;
            prop_assert_eq!(cache_api_url(&a, &k) == cache_api_url(&b, &l), same);
        }
    }

    #[test]
    fn entries_expire_at_their_ttl() {
        let mut s = MemoryStore::new(10, 1_000);
        put(&mut s, "k", "v", 100, 1_000);
        assert_eq!(s.get("k", 1_099), Some("v"));
        assert_eq!(s.get("k", 1_100), None);
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn replacing_a_value_keeps_the_byte_count_right() {
        let mut s = MemoryStore::new(10, 1_000);
        put(&mut s, "k", "12345", 100, 0);
        put(&mut s, "k", "1", 100, 0);
        assert_eq!(s.len(), 1);
        assert_eq!(s.bytes(), 2);
        assert_eq!(s.get("k", 0), Some("1"));
    }

    #[test]
    fn an_entry_that_cannot_fit_is_not_stored_and_drops_the_old_value() {
        let mut s = MemoryStore::new(10, 10);
        put(&mut s, "k", "old", 100, 0);
        put(&mut s, "k", "a value far too long", 100, 0);
        assert_eq!(s.get("k", 0), None);
        assert_eq!(s.bytes(), 0);
        // Exactly max_bytes fits.
        put(&mut s, "k", "123456789", 100, 0);
        assert_eq!(s.get("k", 0), Some("123456789"));
    }

    #[test]
    fn zero_ttl_and_zero_capacity_store_nothing() {
        let mut s = MemoryStore::new(10, 100);
        put(&mut s, "k", "v", 0, 0);
        assert!(s.is_empty());
        let mut s = MemoryStore::new(0, 100);
        put(&mut s, "k", "v", 10, 0);
        assert!(s.is_empty());
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut s = MemoryStore::new(3, 1_000);
        put(&mut s, "a", "1", 1_000, 0);
        put(&mut s, "b", "2", 1_000, 0);
        put(&mut s, "c", "3", 1_000, 0);
        // Reading "a" makes "b" the least recently used.
        assert_eq!(s.get("a", 1), Some("1"));
        put(&mut s, "d", "4", 1_000, 2);
        assert_eq!(s.get("b", 3), None);
        assert_eq!(s.get("a", 3), Some("1"));
        assert_eq!(s.get("c", 3), Some("3"));
        assert_eq!(s.get("d", 3), Some("4"));
    }

    #[test]
    fn evicts_by_bytes_too() {
        let mut s = MemoryStore::new(100, 10);
        put(&mut s, "a", "1234", 1_000, 0); // 5 bytes
        put(&mut s, "b", "1234", 1_000, 0); // 10 bytes
        put(&mut s, "c", "12", 1_000, 0); // needs "a" out
        assert_eq!(s.bytes(), 8);
        assert_eq!(s.get("a", 0), None);
        assert_eq!(s.get("b", 0), Some("1234"));
    }

    #[test]
    fn expired_entries_go_before_recent_ones() {
        let mut s = MemoryStore::new(2, 1_000);
        put(&mut s, "fresh", "1", 10_000, 0);
        put(&mut s, "short", "2", 10, 0);
        // "fresh" is the least recently used, but "short" has expired.
        put(&mut s, "new", "3", 10_000, 100);
        assert_eq!(s.get("fresh", 100), Some("1"));
        assert_eq!(s.get("new", 100), Some("3"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn purge_removes_only_expired_entries() {
        let mut s = MemoryStore::new(10, 1_000);
        put(&mut s, "a", "1", 10, 0);
        put(&mut s, "b", "1", 20, 0);
        put(&mut s, "c", "1", 30, 0);
        assert_eq!(s.purge_expired(20), 2);
        assert_eq!(s.len(), 1);
        assert_eq!(s.get("c", 20), Some("1"));
        assert_eq!(s.purge_expired(20), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, usize, u64),
        Get(u8),
        Tick(u64),
        Purge,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..20, 0usize..40, 0u64..50).prop_map(|(k, n, t)| Op::Put(k, n, t)),
            2 => (0u8..20).prop_map(Op::Get),
            1 => (0u64..30).prop_map(Op::Tick),
            1 => Just(Op::Purge),
        ]
    }

    proptest! {
        #[test]
        fn bounds_hold_after_any_sequence(
            max_entries in 0usize..8,
            max_bytes in 0usize..100,
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let mut s = MemoryStore::new(max_entries, max_bytes);
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Put(k, n, ttl) => {
                        let key = format!("k{k}");
                        let value = "v".repeat(n);
                        let fits = key.len() + n <= max_bytes && max_entries > 0 && ttl > 0;
                        s.put(key.clone(), value.clone(), ttl, now);
                        // The newest entry is always kept when it can fit.
                        prop_assert_eq!(s.get(&key, now).map(str::to_owned), fits.then_some(value));
                    }
                    Op::Get(k) => {
                        let _ = s.get(&format!("k{k}"), now);
                    }
                    Op::Tick(t) => now += t,
                    Op::Purge => {
                        s.purge_expired(now);
                    }
                }
                prop_assert!(s.len() <= max_entries);
                prop_assert!(s.bytes() <= max_bytes);
                let counted: usize = s.entries.iter().map(|(k, e)| e.size(k)).sum();
                prop_assert_eq!(s.bytes(), counted);
                prop_assert_eq!(s.by_recency.len(), s.len());
                prop_assert_eq!(s.by_expiry.len(), s.len());
            }
        }
    }
}
