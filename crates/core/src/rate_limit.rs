//! The failed-login limiter: more than 10 failed logins from one address
//! within a minute answer 429 with `retry-after` (README, "API").
//!
//! PBKDF2 makes each guess slow to check, but an attacker can still try
//! passwords as fast as the Worker answers; the limiter caps that at
//! `max_failures` guesses per window per address. Only failures count, so a
//! busy office behind one address that logs in correctly is never blocked.
//!
//! The window slides: each failure counts for exactly `window_ms` after it
//! happened, so there is no boundary at which a burst of 2 × `max_failures`
//! slips through, as there would be with fixed one-minute buckets. Per
//! address it keeps only the times of the last `max_failures` failures, which
//! is all the decision needs: the address is refused while the oldest of
//! them is still inside the window.
//!
//! Memory is bounded by `max_addresses`: when a new address would exceed it,
//! addresses whose failures have all left the window go first, then the
//! stalest (the one whose latest failure is oldest). An attacker who rotates
//! through more addresses than that can push an address out early and win
//! it a fresh allowance; the bound is what keeps a flood of addresses from
//! exhausting the Durable Object's memory, which matters more.
//!
//! Time is passed in as milliseconds, so tests need no sleeping.

use std::collections::{HashMap, VecDeque};

/// Failures allowed per address within the window: the README's promise ("429 after 10
/// failures a minute", "API").
const STANDARD_MAX_FAILURES: u32 = 10;

/// The window: "a minute" (README, "API").
const STANDARD_WINDOW_MS: u64 = 60_000;

/// Addresses tracked at most. An entry is an address (at most 45 characters,
/// an IPv4-mapped IPv6 address) plus 10 timestamps of 8 bytes and map
/// overhead, about 250 bytes, so 10,000 of them take about 2.5 MB of the
/// Durable Object's 128 MB.
const STANDARD_MAX_ADDRESSES: usize = 10_000;

/// Counts failed logins per address in a sliding window.
#[derive(Debug, Clone)]
pub struct LoginLimiter {
    max_failures: u32,
    window_ms: u64,
    max_addresses: usize,
    /// The times of each address's most recent failures, oldest first; at
    /// most `max_failures` of them, never empty.
    failures: HashMap<String, VecDeque<u64>>,
}

impl LoginLimiter {
    /// A limiter refusing an address once it has `max_failures` failures
    /// less than `window_ms` old, tracking at most `max_addresses`
    /// addresses. A `max_failures` or `max_addresses` of 0 is taken as 1,
    /// since 0 would leave nothing to count.
    pub fn new(max_failures: u32, window_ms: u64, max_addresses: usize) -> Self {
        LoginLimiter {
            max_failures: max_failures.max(1),
            window_ms,
            max_addresses: max_addresses.max(1),
            failures: HashMap::new(),
        }
    }

    /// The limiter the README promises: 10 failures per 60,000 ms, 10,000
    /// addresses.
    pub fn standard() -> Self {
        Self::new(
            STANDARD_MAX_FAILURES,
            STANDARD_WINDOW_MS,
            STANDARD_MAX_ADDRESSES,
        )
    }

    /// Whether `addr` may try to log in at `now_ms`.
    ///
    /// `Err(retry_after_secs)` when it already has `max_failures` failures
    /// inside the window: the seconds, rounded up and at least 1, until the
    /// oldest of them leaves it and the next attempt is allowed. A refused
    /// attempt is not itself a failure; the caller answers 429 without
    /// checking the password.
    pub fn check(&mut self, addr: &str, now_ms: u64) -> Result<(), u64> {
        let Some(times) = self.failures.get_mut(addr) else {
            return Ok(());
        };
        forget_expired(times, now_ms, self.window_ms);
        if times.is_empty() {
            self.failures.remove(addr);
            return Ok(());
        }
        if times.len() < self.max_failures as usize {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now_ms);
        let wait_ms = oldest.saturating_add(self.window_ms).saturating_sub(now_ms);
        Err(wait_ms.div_ceil(1000).max(1))
    }

    /// Counts a failed login of `addr` at `now_ms`.
    pub fn record_failure(&mut self, addr: &str, now_ms: u64) {
        if !self.failures.contains_key(addr) && self.failures.len() >= self.max_addresses {
            self.make_room(now_ms);
        }
        let times = self.failures.entry(addr.to_owned()).or_default();
        forget_expired(times, now_ms, self.window_ms);
        times.push_back(now_ms);
        // Only the last `max_failures` matter: the address is refused
        // exactly while the oldest of them is inside the window.
        while times.len() > self.max_failures as usize {
            times.pop_front();
        }
    }

    /// How many addresses are tracked now.
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }

    /// Frees at least one place. A linear scan: it runs only when a new
    /// address fails while the map is full, and 10,000 entries take
    /// microseconds, far less than the PBKDF2 that preceded the failure.
    fn make_room(&mut self, now_ms: u64) {
        let window_ms = self.window_ms;
        self.failures
            .retain(|_, times| times.back().is_some_and(|&t| inside(t, now_ms, window_ms)));
        if self.failures.len() < self.max_addresses {
            return;
        }
        let stalest = self
            .failures
            .iter()
            .min_by_key(|(_, times)| times.back().copied().unwrap_or(0))
            .map(|(addr, _)| addr.clone());
        if let Some(stalest) = stalest {
            self.failures.remove(&stalest);
        }
    }
}

/// Whether a failure at `t` still counts at `now_ms`: for `window_ms` after
/// it. A time after `now_ms` (a clock that stepped back) counts.
fn inside(t: u64, now_ms: u64, window_ms: u64) -> bool {
    now_ms < t.saturating_add(window_ms)
}

fn forget_expired(times: &mut VecDeque<u64>, now_ms: u64, window_ms: u64) {
    while times
        .front()
        .is_some_and(|&t| !inside(t, now_ms, window_ms))
    {
        times.pop_front();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ADDR: &str = "203.0.113.7";

    /// Ten failures one second apart, from t = 0 to t = 9 s.
    fn ten_failures() -> LoginLimiter {
        let mut limiter = LoginLimiter::standard();
        for i in 0..10 {
            let now = i * 1000;
            assert_eq!(limiter.check(ADDR, now), Ok(()), "attempt {}", i + 1);
            limiter.record_failure(ADDR, now);
        }
        limiter
    }

    #[test]
    fn eleventh_attempt_within_a_minute_is_refused() {
        let mut limiter = ten_failures();
        // The oldest failure (t = 0) leaves the window at t = 60 s.
        assert_eq!(limiter.check(ADDR, 9_000), Err(51));
        assert_eq!(limiter.check(ADDR, 59_000), Err(1));
        assert_eq!(limiter.check(ADDR, 59_999), Err(1));
        assert_eq!(limiter.check(ADDR, 10_500), Err(50));
    }

    #[test]
    fn allowed_again_once_the_oldest_failure_leaves_the_window() {
        let mut limiter = ten_failures();
        assert_eq!(limiter.check(ADDR, 60_000), Ok(()));
        // One more failure makes ten inside the window again (t = 1..9 s and
        // 60 s); the oldest of those, t = 1 s, leaves at 61 s.
        limiter.record_failure(ADDR, 60_000);
        assert_eq!(limiter.check(ADDR, 60_000), Err(1));
        assert_eq!(limiter.check(ADDR, 61_000), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let mut limiter = LoginLimiter::new(1, 60_000, 10);
        limiter.record_failure(ADDR, 0);
        assert_eq!(limiter.check(ADDR, 1), Err(60));
        assert_eq!(limiter.check(ADDR, 1_000), Err(59));
        assert_eq!(limiter.check(ADDR, 1_001), Err(59));
        assert_eq!(limiter.check(ADDR, 59_001), Err(1));
        assert_eq!(limiter.check(ADDR, 60_000), Ok(()));
    }

    #[test]
    fn a_burst_is_refused_until_its_first_failure_expires() {
        let mut limiter = LoginLimiter::standard();
        for _ in 0..10 {
            limiter.record_failure(ADDR, 5_000);
        }
        assert_eq!(limiter.check(ADDR, 5_000), Err(60));
        assert_eq!(limiter.check(ADDR, 64_999), Err(1));
        assert_eq!(limiter.check(ADDR, 65_000), Ok(()));
    }

    #[test]
    fn nine_failures_do_not_limit() {
        let mut limiter = LoginLimiter::standard();
        for i in 0..9 {
            limiter.record_failure(ADDR, i);
        }
        assert_eq!(limiter.check(ADDR, 10), Ok(()));
    }

    #[test]
    fn successful_logins_do_not_count() {
        // A success is a check without a failure: any number leaves the
        // allowance untouched.
        let mut limiter = LoginLimiter::standard();
        for i in 0..1000 {
            assert_eq!(limiter.check(ADDR, i), Ok(()));
        }
        assert_eq!(limiter.tracked(), 0);
        for i in 0..9 {
            limiter.record_failure(ADDR, 1000 + i);
        }
        assert_eq!(limiter.check(ADDR, 2000), Ok(()));
    }

    #[test]
    fn addresses_are_counted_apart() {
        let mut limiter = ten_failures();
        assert!(limiter.check(ADDR, 9_500).is_err());
        assert_eq!(limiter.check("203.0.113.8", 9_500), Ok(()));
        assert_eq!(limiter.check("2001:db8::1", 9_500), Ok(()));
    }

    #[test]
    fn expired_addresses_are_forgotten() {
        let mut limiter = ten_failures();
        assert_eq!(limiter.tracked(), 1);
        assert_eq!(limiter.check(ADDR, 70_000), Ok(()));
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn full_map_drops_expired_addresses_first() {
        let mut limiter = LoginLimiter::new(2, 1_000, 3);
        limiter.record_failure("a", 0);
        limiter.record_failure("b", 0);
        limiter.record_failure("c", 900);
        limiter.record_failure("d", 1_500);
        // "a" and "b" had expired; "c" is still inside its window.
        assert_eq!(limiter.tracked(), 2);
        limiter.record_failure("c", 1_500);
        assert_eq!(limiter.check("c", 1_500), Err(1));
    }

    #[test]
    fn full_map_evicts_the_stalest_address() {
        let mut limiter = LoginLimiter::new(2, 60_000, 3);
        limiter.record_failure("a", 100);
        limiter.record_failure("b", 0);
        limiter.record_failure("c", 200);
        limiter.record_failure("a", 300);
        limiter.record_failure("d", 400);
        assert_eq!(limiter.tracked(), 3);
        // "b" had the oldest latest failure, so it went.
        assert!(!limiter.failures.contains_key("b"));
        assert_eq!(limiter.check("a", 500), Err(60));
    }

    #[test]
    fn zero_limits_are_taken_as_one() {
        let mut limiter = LoginLimiter::new(0, 1_000, 0);
        assert_eq!(limiter.check(ADDR, 0), Ok(()));
        limiter.record_failure(ADDR, 0);
        assert_eq!(limiter.check(ADDR, 0), Err(1));
        limiter.record_failure("other", 0);
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn a_clock_stepping_back_does_not_panic() {
        let mut limiter = LoginLimiter::new(1, 60_000, 10);
        limiter.record_failure(ADDR, 120_000);
        assert_eq!(limiter.check(ADDR, 1_000), Err(179));
        // Near the end of time the window saturates rather than overflows.
        limiter.record_failure(ADDR, u64::MAX - 1);
        assert_eq!(limiter.check(ADDR, u64::MAX - 1), Err(1));
    }

    proptest! {
        #[test]
        fn memory_stays_bounded(
            events in proptest::collection::vec((0u16..500, 0u64..5_000, any::<bool>()), 0..2_000),
            max_failures in 1u32..5,
            max_addresses in 1usize..50,
        ) {
            let mut limiter = LoginLimiter::new(max_failures, 1_000, max_addresses);
            let mut now = 0;
            for (addr, step, failed) in events {
                now += step;
                let addr = format!("10.0.{}.{}", addr / 256, addr % 256);
                let _ = limiter.check(&addr, now);
                if failed {
                    limiter.record_failure(&addr, now);
                }
                prop_assert!(limiter.tracked() <= max_addresses);
                prop_assert!(limiter
                    .failures
                    .values()
                    .all(|times| !times.is_empty() && times.len() <= max_failures as usize));
            }
        }
    }

    /// Checks `limiter` at `at` against the model, the failures in `times`:
    /// refused exactly when 10 of them are less than 60 s old, and then for
    /// exactly as long as the oldest of those 10 stays in the window (to the
    /// millisecond) and `retry_after` says (to the second). Returns whether
    /// it refused.
    fn matches_model(
        limiter: &mut LoginLimiter,
        times: &[u64],
        at: u64,
    ) -> Result<bool, TestCaseError> {
        let recent: Vec<u64> = times.iter().copied().filter(|&t| at < t + 60_000).collect();
        let verdict = limiter.check(ADDR, at);
        prop_assert_eq!(verdict.is_err(), recent.len() >= 10, "at {}", at);
        if let Err(retry_after) = verdict {
            // The oldest failure that still decides: the 10th newest.
            let oldest = recent[recent.len() - 10];
            let mut later = limiter.clone();
            prop_assert!(later.check(ADDR, oldest + 59_999).is_err());
            prop_assert!(retry_after >= 1);
            // Waiting that long is enough, and a second less is not.
            prop_assert!(later.check(ADDR, at + (retry_after - 1) * 1000).is_err());
            prop_assert_eq!(later.check(ADDR, oldest + 60_000), Ok(()));
            prop_assert_eq!(later.check(ADDR, at + retry_after * 1000), Ok(()));
        }
        Ok(verdict.is_err())
    }

    /// Attempts from one address as the Worker makes them (check, then count
    /// a failure unless refused), the limiter compared with the model before
    /// every attempt and, on a copy, at a random time after it.
    ///
    /// Gaps up to 10 s put ten failures within a minute in nearly every case,
    /// and 15 to 40 attempts then carry on past the window, so both the
    /// refusal and the allowance after it are reached in almost every case:
    /// counted, and required of at least 90 % of them (about 99 % do). With
    /// gaps up to 30 s and one check at the end, as this test once had, a
    /// refusal came in about one run of 256 cases in 50.
    #[test]
    fn refuses_exactly_with_max_failures_in_the_window() {
        use proptest::test_runner::{Config, TestRunner};
        use std::cell::Cell;

        const CASES: u32 = 256;
        let strategy = (
            proptest::collection::vec(0u64..10_000, 15..40),
            0u64..120_000,
        );
        let refused_cases = Cell::new(0u32);
        let allowed_again_cases = Cell::new(0u32);
        // A failure is reported with its shrunk case; there is no source
        // file to persist it to from a runner made by hand.
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |(gaps, probe)| {
                let mut limiter = LoginLimiter::standard();
                let mut times = Vec::new();
                let mut now = 0;
                let (mut refused, mut allowed_again) = (false, false);
                for gap in gaps {
                    now += gap;
                    matches_model(&mut limiter.clone(), &times, now + probe)?;
                    if matches_model(&mut limiter, &times, now)? {
                        refused = true;
                    } else {
                        allowed_again |= times.len() >= 10;
                        limiter.record_failure(ADDR, now);
                        times.push(now);
                    }
                }
                refused_cases.set(refused_cases.get() + u32::from(refused));
                allowed_again_cases.set(allowed_again_cases.get() + u32::from(allowed_again));
                Ok(())
            })
            .unwrap();
        let (refused, allowed_again) = (refused_cases.get(), allowed_again_cases.get());
        assert!(
            refused * 10 >= CASES * 9 && allowed_again * 10 >= CASES * 9,
            "of {CASES} cases, {refused} reached a refusal and {allowed_again} an allowance after ten failures; \
             the generator no longer tests the limit"
        );
    }
}
