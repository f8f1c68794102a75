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
use std::collections::BTreeMap;
use std::rc::Rc;

use futures::channel::oneshot;

use polycache_core::event::InvalidationEvent;
use polycache_core::event_log::EventLog;
use polycache_core::generation::Generations;
use polycache_core::hub_api::DedupeKey;
use polycache_core::lease::Leases;
use polycache_core::log::LogRing;
use polycache_core::outbox::{MirrorQueue, MirrorStats, MirrorTokens, OutboxEntry};
use polycache_core::pending::PendingBumps;
use polycache_core::rate_limit::LoginLimiter;
use polycache_core::receipts::{self, Receipts};
use polycache_core::store::MemoryStore;
use polycache_core::upstash::Client;
use worker::{Result, Storage};

use crate::fetch_transport::FetchTransport;
use crate::storage;

/// The storage key of the [`PendingBumps`].
pub const PENDING_KEY: &str = "cache_pending";

/// A reader waiting for another reader's fill: it gets the value, or `None`
/// when the filler gave up.
pub type Waiter = oneshot::Sender<Option<String>>;

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

/// The durable memory of the Hub, loaded.
pub struct Durable {
    /// Generation of every type.
    pub generations: Generations,
    /// The newest events, for replay.
    pub log: EventLog<InvalidationEvent>,
    /// Received mirror deliveries: storage key to our event id.
    seen: Receipts,
    /// Every mirror's queue, by mirror id.
    pub outbox: BTreeMap<String, MirrorQueue>,
    /// The seq of the next outbox entry.
    pub next_seq: u64,
    /// Invalidations the cache backend has not recorded yet.
    pub pending: PendingBumps,
}

impl Durable {
    /// Our event id for an already applied delivery.
    pub fn seen(&self, key: &DedupeKey) -> Option<u64> {
        self.seen.get(&dedupe_key(key))
    }

    /// Remembers a delivery; returns the storage key to write and the one
    /// forgotten to stay within [`receipts::CAPACITY`].
    pub fn remember(&mut self, key: &DedupeKey, event_id: u64) -> (String, Option<String>) {
        let k = dedupe_key(key);
        let evicted = self.seen.remember(k.clone(), event_id);
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
    /// The service token for each mirror.
    pub tokens: RefCell<MirrorTokens>,
    /// Mirror deliveries of a running alarm waiting for an entry to be due.
    mirror_waiters: RefCell<Vec<oneshot::Sender<()>>>,
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
            tokens: RefCell::new(MirrorTokens::default()),
            mirror_waiters: RefCell::new(Vec::new()),
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
            seen: Receipts::restore(receipts::CAPACITY, seen),
            outbox,
            next_seq,
            pending: unrecorded,
        };
        *self.durable.borrow_mut() = Some(durable);
        self.loaded.set(true);
        Ok(())
    }

    /// Resolves at the next [`HubState::wake_mirrors`] (or never, if none
    /// comes: whoever waits on it bounds the wait).
    pub fn mirror_wakeup(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.mirror_waiters.borrow_mut();
        // Waits that ended on their timer left their sender behind.
        waiters.retain(|w| !w.is_canceled());
        waiters.push(tx);
        rx
    }

    /// Wakes every mirror delivery waiting in [`HubState::mirror_wakeup`]:
    /// an entry was queued, or another delivery finished.
    pub fn wake_mirrors(&self) {
        for waiter in self.mirror_waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
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
