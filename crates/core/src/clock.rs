//! The injected clock.
//!
//! TTLs, retry delays, heartbeats and token expiry all depend on "now". Code
//! that reads the time takes a [`Clock`] (or a plain `now_ms` argument)
//! instead of calling the system clock itself, so that tests drive time with a
//! [`ManualClock`] and never sleep. The Worker supplies its own clock from
//! `Date.now()`, because `SystemTime::now` panics on `wasm32-unknown-unknown`;
//! [`SystemClock`] exists only for native code (the CLI, tests).

use std::cell::Cell;

/// A source of the current time in milliseconds since the Unix epoch.
pub trait Clock {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> u64;
}

/// A clock that only moves when told to; for tests.
///
/// A `Cell` rather than `&mut self` setters, so that a test can keep a shared
/// reference to the clock it lent to the code under test and still move it.
#[derive(Debug, Default)]
pub struct ManualClock(Cell<u64>);

impl ManualClock {
    /// A clock that reads `ms`.
    pub fn new(ms: u64) -> Self {
        Self(Cell::new(ms))
    }

    /// Makes the clock read `ms` (it may go backwards, to test that code copes).
    pub fn set(&self, ms: u64) {
        self.0.set(ms);
    }

    /// Moves the clock forward by `ms`, saturating rather than wrapping.
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get().saturating_add(ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// The operating system's wall clock; native targets only.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock set before 1970 reads as the epoch rather than failing:
        // every caller compares times, and 0 only makes entries look old.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(500);
        assert_eq!(clock.now_ms(), 1_500);
        clock.set(10);
        assert_eq!(clock.now_ms(), 10);
        clock.set(u64::MAX - 1);
        clock.advance(10);
        assert_eq!(clock.now_ms(), u64::MAX);
    }

    #[test]
    fn a_reference_is_a_clock() {
        fn read(c: impl Clock) -> u64 {
            c.now_ms()
        }
        let clock = ManualClock::new(42);
        assert_eq!(read(&clock), 42);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn system_clock_is_after_2020() {
        // 2020-01-01T00:00:00Z in milliseconds.
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
