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
    /// Mirror deliveries of a running alarm waiting for an entry to be due.
    mirror_waiters: RefCell<Vec<oneshot::Sender<()>>>,
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
            mirror_waiters: RefCell::new(Vec::new()),
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

    /// Runs `f` on the loaded durable part.
    pub fn with<R>(&self, f: impl FnOnce(&mut HubDurable) -> R) -> Result<R> {
        let mut guard = self.durable.borrow_mut();
        let durable = guard
            .as_mut()
            .ok_or_else(|| worker::Error::RustError("hub state not loaded".into()))?;
        Ok(f(durable))
    }
}
