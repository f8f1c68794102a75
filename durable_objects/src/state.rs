//! What the Hub holds: its durable state ([`HubDurable`]: generations, the
//! event log, the receipts of mirrored events, the mirror outbox, the
//! invalidations the cache backend has not recorded), loaded once per life
//! of the object, and what it keeps in memory only (the login limiter, the
//! cache log, mirror tokens).
//!
//! Every change to the durable part is decided in `polycache_core::hub_state`
//! and written in one atomic `put` before it is acknowledged or sent to any
//! stream, so that a restart neither resurrects stale entries (generations
//! only go up) nor reuses event ids. If that write fails, the state in
//! memory may be ahead of storage: [`HubState::forget`] drops it, and the
//! next request loads it again from storage.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use futures::channel::oneshot;
use polycache_core::hub_state::{Change, HubDurable};
use polycache_core::log::{FailedLogins, LogRing};
use polycache_core::outbox::MirrorTokens;
use polycache_core::rate_limit::{LoginLimiter, LoginLimits};
use polycache_core::upstash::Client;
use worker::{Result, Storage};

use crate::fetch_transport::FetchTransport;
use crate::storage;

/// A reader waiting for another reader's fill (in an Edge): it gets the value, or `None`
/// when the filler gave up.
pub type Waiter = oneshot::Sender<Option<String>>;

/// Entries of the memory cache backend in one Edge: a bound on count...
pub const CACHE_MAX_ENTRIES: usize = 20_000;
/// ...and on bytes, a quarter of a Durable Object's 128 MB memory.
pub const CACHE_MAX_BYTES: usize = 32 * 1024 * 1024;
/// 404s (ids with no row) of the memory backend in one Edge, kept apart
/// from the entries above so that a flood of reads of random ids evicts
/// only other 404s, never a hot entry: a tenth of their count (each lives
/// at most `NEGATIVE_CACHE_SECS`, so 2,000 absorb a flood of 400 ids a
/// second, more than one Edge serves under `wrangler dev`)...
pub const NEGATIVE_MAX_ENTRIES: usize = CACHE_MAX_ENTRIES / 10;
/// ...and a small share of their bytes: a 404's key is under 100 bytes.
pub const NEGATIVE_MAX_BYTES: usize = NEGATIVE_MAX_ENTRIES * 256;

/// Records kept in the cache log ring (`GET /api/cache/logs`): enough for a
/// follower polling every second to miss nothing under heavy write load.
pub const LOG_CAPACITY: usize = 2_000;

/// Everything the Hub holds in memory.
pub struct HubState {
    loaded: Cell<bool>,
    /// The durable part; `None` until loaded.
    pub durable: RefCell<Option<HubDurable>>,
    /// The Upstash client (upstash backend), made on first use.
    pub upstash: RefCell<Option<Rc<Client<FetchTransport>>>>,
    /// Failed logins per client address and per account.
    pub limiter: RefCell<LoginLimiter>,
    /// The cache log (memory only: it is for following, not for audit).
    pub logs: RefCell<LogRing>,
    /// The failed logins of the current minute, one record of `logs`.
    pub failed_logins: RefCell<FailedLogins>,
    /// The service token for each mirror.
    pub tokens: RefCell<MirrorTokens>,
    /// The mirrors (by id) that refused a batch: older versions, which get
    /// their entries singly for the rest of this object's life. At most
    /// the mirrors configured.
    pub single_mirrors: RefCell<HashSet<String>>,
    /// Mirror deliveries of a running alarm waiting for an entry to be due.
    mirror_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// Received deliveries being applied, by receipt key, each with the
    /// identical deliveries that came meanwhile and wait for its event id
    /// ([`HubState::reserve`]). An entry lives only while its delivery is
    /// applied, so there are at most as many as requests in flight.
    in_flight: RefCell<HashMap<String, Vec<oneshot::Sender<Option<u64>>>>>,
}

/// What [`HubState::reserve`] found.
pub enum Reservation {
    /// This delivery applies it; the others wait for it.
    Mine(Reserved),
    /// An identical delivery is being applied: its event id comes here
    /// (`None` if it failed).
    Theirs(oneshot::Receiver<Option<u64>>),
}

/// A received delivery being applied. Dropped without
/// [`Reserved::applied`] (it failed), the deliveries waiting for it get
/// `None`, and the key is free again.
pub struct Reserved {
    memory: Rc<HubState>,
    key: String,
}

impl Reserved {
    /// The delivery was applied as event `event_id`: the identical ones
    /// waiting are answered with it.
    pub fn applied(self, event_id: u64) {
        self.release(Some(event_id));
    }

    fn release(&self, event_id: Option<u64>) {
        let waiters = self.memory.in_flight.borrow_mut().remove(&self.key);
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(event_id);
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        // After `applied` the key is gone and this finds no waiters.
        self.release(None);
    }
}

impl Default for HubState {
    fn default() -> Self {
        Self {
            loaded: Cell::new(false),
            durable: RefCell::new(None),
            upstash: RefCell::new(None),
            limiter: RefCell::new(LoginLimiter::new(LoginLimits::default())),
            logs: RefCell::new(LogRing::new(LOG_CAPACITY)),
            failed_logins: RefCell::new(FailedLogins::default()),
            tokens: RefCell::new(MirrorTokens::default()),
            single_mirrors: RefCell::new(HashSet::new()),
            mirror_waiters: RefCell::new(Vec::new()),
            in_flight: RefCell::new(HashMap::new()),
        }
    }
}

impl HubState {
    /// Loads the durable part from storage, once per life of the object.
    /// No borrow is held across the await.
    pub async fn ensure_loaded(&self, storage: &Storage, log_size: usize) -> Result<()> {
        if self.loaded.get() {
            return Ok(());
        }
        let entries = storage::list_all(storage).await?;
        if self.loaded.get() {
            return Ok(());
        }
        let durable = HubDurable::restore(log_size, entries)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        *self.durable.borrow_mut() = Some(durable);
        self.loaded.set(true);
        Ok(())
    }

    /// Forgets the durable part (a write of it failed, so memory may be
    /// ahead of storage); the next request loads it again.
    pub fn forget(&self) {
        *self.durable.borrow_mut() = None;
        self.loaded.set(false);
    }

    /// Makes `change` durable: its puts in one atomic step, then its
    /// deletes. On failure the state in memory is forgotten (see
    /// [`HubState::forget`]), so that nothing acts on what storage lacks.
    pub async fn commit(&self, storage: &Storage, change: Change) -> Result<()> {
        let result = async {
            storage::put_all(storage, &change.puts).await?;
            storage::delete(storage, change.deletes).await
        }
        .await;
        if result.is_err() {
            self.forget();
        }
        result
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

    /// Reserves the receipt key of a received delivery before anything is
    /// awaited, so that of two identical deliveries in flight at once (the
    /// sender retried one that was slow) only one is applied: the check of
    /// the receipts and their write straddle awaits (the upstash bump, the
    /// storage write), and without this both would pass the check.
    pub fn reserve(self: &Rc<Self>, key: String) -> Reservation {
        let mut in_flight = self.in_flight.borrow_mut();
        if let Some(waiters) = in_flight.get_mut(&key) {
            let (tx, rx) = oneshot::channel();
            waiters.push(tx);
            return Reservation::Theirs(rx);
        }
        in_flight.insert(key.clone(), Vec::new());
        Reservation::Mine(Reserved {
            memory: Rc::clone(self),
            key,
        })
    }

    /// Runs `f` on the loaded durable part.
    pub fn with<R>(&self, f: impl FnOnce(&mut HubDurable) -> R) -> Result<R> {
        let mut guard = self.durable.borrow_mut();
        let durable = guard
            .as_mut()
            .ok_or_else(|| worker::Error::RustError("hub state not loaded".into()))?;
        Ok(f(durable))
    }
}
