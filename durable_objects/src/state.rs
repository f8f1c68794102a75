//! What the Hub remembers: generations, the event log, the receipts of
//! mirrored events, the invalidations the cache backend has not recorded,
//! and (not durably) the memory cache, its fill leases, and the login limiter.
//!
//! The durable parts are loaded once per life of the object (after a restart
//! or an eviction) and every change to them is written in one atomic `put`
//! before it is acknowledged or sent to any stream, so that a restart neither
//! resurrects stale entries (generations only go up) nor reuses event ids.
//!
//! Storage keys:
//! - `gen`: the [`Generations`];
//! - `last_id`: the highest event id ever assigned;
//! - `ev:<id, 20 digits>`: one logged event (the newest `EVENT_LOG_SIZE`);
//! - `dd:<origin>:<event id>`: our event id for a received mirror delivery;
//! - `ob:<mirror id>:<seq>` / `pk:<mirror id>:<seq>`: a pending / parked
//!   outbox entry of a mirror ([`polycache_core::outbox`]);
//! - `ms:<mirror id>`: a mirror's counters; `ob_seq`: the next outbox seq;
//! - `cache_pending`: the [`PendingBumps`], invalidations the cache backend
//!   has not recorded yet.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use futures::channel::oneshot;

use polycache_core::event::InvalidationEvent;
use polycache_core::event_log::EventLog;
use polycache_core::generation::Generations;
use polycache_core::hub_api::DedupeKey;
use polycache_core::lease::Leases;
use polycache_core::log::LogRing;
use polycache_core::outbox::{MirrorQueue, MirrorStats, OutboxEntry};
use polycache_core::pending::PendingBumps;
use polycache_core::rate_limit::LoginLimiter;
use polycache_core::retry::SplitMix64;
use polycache_core::store::MemoryStore;
use polycache_core::types::EntityType;
use polycache_core::upstash::Client;
use worker::{Result, Storage};

use crate::fetch_transport::FetchTransport;
use crate::storage;

/// The storage key of the [`PendingBumps`].
pub const PENDING_KEY: &str = "cache_pending";

/// A reader waiting for another reader's fill: it gets the value, or `None`
/// when the filler gave up.
pub type Waiter = oneshot::Sender<Option<String>>;

/// How many received mirror deliveries are remembered for deduplication:
/// far more than a mirror's outbox retries within the time an entry is
/// re-sent (at most `MIRROR_MAX_ATTEMPTS` tries over minutes).
pub const DEDUPE_CAPACITY: usize = 10_000;

/// Entries of the memory cache backend: a bound on count...
pub const CACHE_MAX_ENTRIES: usize = 20_000;
/// ...and on bytes, a quarter of a Durable Object's 128 MB memory.
pub const CACHE_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Records kept in the cache log ring (`GET /api/cache/logs`): enough for a
/// follower polling every second to miss nothing under heavy write load.
pub const LOG_CAPACITY: usize = 2_000;

/// The storage key of a pending outbox entry.
pub fn outbox_key(mirror: &str, seq: u64) -> String {
    format!("ob:{mirror}:{seq:020}")
}

/// The storage key of a parked outbox entry.
pub fn parked_key(mirror: &str, seq: u64) -> String {
    format!("pk:{mirror}:{seq:020}")
}

/// The storage key of a mirror's counters.
pub fn stats_key(mirror: &str) -> String {
    format!("ms:{mirror}")
}

/// The mirror id in an outbox key (`ob:<id>:<seq>`).
fn key_mirror(key: &str) -> Option<&str> {
    key.split(':').nth(1)
}

/// The storage key of an event.
pub fn event_key(id: u64) -> String {
    format!("ev:{id:020}")
}

fn dedupe_key(key: &DedupeKey) -> String {
    format!("dd:{}:{}", key.origin, key.event_id)
}

/// What became of an invalidation's bump in the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bump {
    /// The backend takes its generations from the Hub (memory, kv).
    InHub,
    /// Recorded in Redis by a request sent when the pending seq was this.
    Recorded(u64),
    /// Not recorded: the error, for the log.
    Failed(String),
}

/// The durable memory of the Hub, loaded.
pub struct Durable {
    /// Generation of every type.
    pub generations: Generations,
    /// The newest events, for replay.
    pub log: EventLog<InvalidationEvent>,
    /// Received mirror deliveries: storage key to our event id.
    seen: HashMap<String, u64>,
    /// The same keys, oldest first, for eviction.
    seen_order: VecDeque<String>,
    /// Every mirror's queue, by mirror id.
    pub outbox: BTreeMap<String, MirrorQueue>,
    /// The seq of the next outbox entry.
    pub next_seq: u64,
    /// Invalidations the cache backend has not recorded yet.
    pub pending: PendingBumps,
}

impl Durable {
    /// Applies a [`Bump`] to the pending set inside `invalidate`'s step;
    /// returns the storage entry to write with the event, if it changed.
    pub fn apply_bump(
        &mut self,
        bump: &Bump,
        types: &[EntityType],
        now: u64,
        rng: &mut SplitMix64,
    ) -> Result<Option<(String, String)>> {
        match bump {
            Bump::InHub => return Ok(None),
            Bump::Recorded(seq_before) => {
                if self.pending.recorded(types, *seq_before).is_empty() {
                    return Ok(None);
                }
            }
            Bump::Failed(error) => self.pending.failed(types, error, now, rng),
        }
        Ok(Some(storage::entry(PENDING_KEY, &self.pending)?))
    }

    /// Our event id for an already applied delivery.
    pub fn seen(&self, key: &DedupeKey) -> Option<u64> {
        self.seen.get(&dedupe_key(key)).copied()
    }

    /// Remembers a delivery; returns the storage entry to write and the key
    /// evicted to stay within [`DEDUPE_CAPACITY`].
    pub fn remember(&mut self, key: &DedupeKey, event_id: u64) -> (String, Option<String>) {
        let k = dedupe_key(key);
        self.seen.insert(k.clone(), event_id);
        self.seen_order.push_back(k.clone());
        let evicted = if self.seen_order.len() > DEDUPE_CAPACITY {
            self.seen_order.pop_front().inspect(|old| {
                self.seen.remove(old);
            })
        } else {
            None
        };
        (k, evicted)
    }
}

/// Everything the Hub holds in memory.
pub struct HubState {
    loaded: Cell<bool>,
    /// The durable part; `None` until loaded.
    pub durable: RefCell<Option<Durable>>,
    /// The memory cache backend: entries under generation-stamped keys.
    pub cache: RefCell<MemoryStore>,
    /// Fill leases of the memory and kv backends, with their waiting readers.
    pub leases: RefCell<Leases<Waiter>>,
    /// The Upstash client (upstash backend), made on first use.
    pub upstash: RefCell<Option<Rc<Client<FetchTransport>>>>,
    /// Failed logins per client address.
    pub limiter: RefCell<LoginLimiter>,
    /// The cache log (memory only: it is for following, not for audit).
    pub logs: RefCell<LogRing>,
    /// Tokens for each mirror: mirror id to (token, expiry in ms).
    pub tokens: RefCell<HashMap<String, (String, u64)>>,
}

impl Default for HubState {
    fn default() -> Self {
        Self {
            loaded: Cell::new(false),
            durable: RefCell::new(None),
            cache: RefCell::new(MemoryStore::new(CACHE_MAX_ENTRIES, CACHE_MAX_BYTES)),
            leases: RefCell::new(Leases::default()),
            upstash: RefCell::new(None),
            limiter: RefCell::new(LoginLimiter::standard()),
            logs: RefCell::new(LogRing::new(LOG_CAPACITY)),
            tokens: RefCell::new(HashMap::new()),
        }
    }
}

impl HubState {
    /// Loads the durable part from storage, once per life of the object.
    /// No borrow is held across the awaits.
    pub async fn ensure_loaded(&self, storage: &Storage, log_size: usize) -> Result<()> {
        if self.loaded.get() {
            return Ok(());
        }
        let generations: Generations = storage::get(storage, "gen").await?.unwrap_or_default();
        let last_id: u64 = storage::get(storage, "last_id").await?.unwrap_or(0);
        let events: Vec<(String, InvalidationEvent)> = storage::list(storage, "ev:").await?;
        let seen: Vec<(String, u64)> = storage::list(storage, "dd:").await?;
        let pending: Vec<(String, OutboxEntry)> = storage::list(storage, "ob:").await?;
        let parked: Vec<(String, OutboxEntry)> = storage::list(storage, "pk:").await?;
        let stats: Vec<(String, MirrorStats)> = storage::list(storage, "ms:").await?;
        let next_seq: u64 = storage::get(storage, "ob_seq").await?.unwrap_or(1);
        let unrecorded: PendingBumps = storage::get(storage, PENDING_KEY)
            .await?
            .unwrap_or_default();
        if self.loaded.get() {
            return Ok(());
        }
        let entries = events.into_iter().map(|(_, e)| (e.id, e)).collect();
        let mut seen_sorted = seen;
        seen_sorted.sort_by_key(|(_, id)| *id);
        let mut outbox: BTreeMap<String, MirrorQueue> = BTreeMap::new();
        for (key, stats) in stats {
            if let Some(id) = key.strip_prefix("ms:") {
                outbox.entry(id.to_owned()).or_default().stats = stats;
            }
        }
        for (key, entry) in pending {
            if let Some(id) = key_mirror(&key) {
                outbox
                    .entry(id.to_owned())
                    .or_default()
                    .pending
                    .push_back(entry);
            }
        }
        for (key, entry) in parked {
            if let Some(id) = key_mirror(&key) {
                outbox.entry(id.to_owned()).or_default().parked.push(entry);
            }
        }
        let durable = Durable {
            generations,
            log: EventLog::restore(log_size, last_id, entries),
            seen: seen_sorted.iter().cloned().collect(),
            seen_order: seen_sorted.into_iter().map(|(k, _)| k).collect(),
            outbox,
            next_seq,
            pending: unrecorded,
        };
        *self.durable.borrow_mut() = Some(durable);
        self.loaded.set(true);
        Ok(())
    }

    /// Runs `f` on the loaded durable part.
    pub fn with<R>(&self, f: impl FnOnce(&mut Durable) -> R) -> Result<R> {
        let mut guard = self.durable.borrow_mut();
        let durable = guard
            .as_mut()
            .ok_or_else(|| worker::Error::RustError("hub state not loaded".into()))?;
        Ok(f(durable))
    }
}
