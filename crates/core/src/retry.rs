//! The mirror retry policy: exponential backoff with full jitter.
//!
//! When a mirror does not take an invalidation, the Hub's outbox tries again
//! later. Waiting twice as long after each failure keeps a struggling mirror
//! from being hammered; drawing the wait uniformly between nothing and that
//! ceiling ("full jitter", from the AWS Architecture Blog post "Exponential
//! Backoff And Jitter", Marc Brooker, 2015) spreads the retries of many
//! entries, so that they do not all arrive together when the mirror comes
//! back. After the last attempt the entry is parked, visible in
//! `GET /api/cache/mirrors`, never dropped silently.
//!
//! Randomness is injected ([`RandomSource`]) so that tests are deterministic;
//! the runtime seeds a [`SplitMix64`] from crypto randomness.

/// A source of uniformly distributed 64-bit values.
pub trait RandomSource {
    /// The next value.
    fn next_u64(&mut self) -> u64;
}

/// SplitMix64 (Steele, Lea and Flood, "Fast Splittable Pseudorandom Number
/// Generators", OOPSLA 2014, in the form of Sebastiano Vigna's public-domain
/// `splitmix64.c`): tiny, fast and good enough to spread retry delays. Not
/// for secrets.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        // The constants are those of the reference implementation: the golden
        // ratio increment and the mixing multipliers of Stafford's "Mix13".
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// How long to wait before the next delivery attempt, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling after the first failure, in milliseconds.
    pub base_ms: u64,
    /// The largest ceiling, in milliseconds, however many failures.
    pub cap_ms: u64,
    /// How many attempts in all; after this many failures the entry is parked.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// Ten attempts from 1 s doubling: the nine waits have ceilings of
    /// 1, 2, 4 ... 256 s, about 8.5 minutes in all (half that on average with
    /// full jitter). That outlasts a deploy or a restart of the mirror, which
    /// is what retries are for; a mirror down longer needs a human, and the
    /// parked entry tells one. The 5-minute cap bounds a single wait when an
    /// operator raises `max_attempts`, so that a mirror that comes back is
    /// caught up within 5 minutes.
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            cap_ms: 300_000,
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The largest delay after `failed_attempts` failures:
    /// `min(cap, base * 2^(failed_attempts - 1))`, without overflow.
    /// Zero failures are treated as one.
    pub fn ceiling_ms(&self, failed_attempts: u32) -> u64 {
        let doublings = failed_attempts.saturating_sub(1);
        let grown = match 1u64.checked_shl(doublings) {
            Some(factor) => self.base_ms.saturating_mul(factor),
            // 2^64 or more: any non-zero base is past every cap.
            None if self.base_ms == 0 => 0,
            None => u64::MAX,
        };
        grown.min(self.cap_ms)
    }

    /// The delay before the next attempt after `failed_attempts` failures, or
    /// `None` once `max_attempts` have failed (park the entry).
    ///
    /// The delay is uniform in `[1, ceiling]`: full jitter, except that it is
    /// never 0, which would re-arm the alarm for "now" and retry in a tight
    /// loop. Only a policy whose ceiling is 0 gets 0.
    pub fn delay_ms(&self, failed_attempts: u32, rng: &mut impl RandomSource) -> Option<u64> {
        if failed_attempts >= self.max_attempts {
            return None;
        }
        let ceiling = self.ceiling_ms(failed_attempts);
        if ceiling == 0 {
            return Some(0);
        }
        // Lemire's multiply-shift maps 64 random bits onto [0, ceiling)
        // without the bias of `%`; the result is below `ceiling`, so the
        // conversion back cannot fail.
        let scaled = (u128::from(rng.next_u64()) * u128::from(ceiling)) >> 64;
        Some(u64::try_from(scaled).unwrap_or(ceiling - 1) + 1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference values for seed 1234567, as published with the algorithm
        // on Rosetta Code ("Pseudo-random numbers/Splitmix64").
        let mut rng = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn default_ceilings_double_from_one_second() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u64> = (1..=10).map(|n| policy.ceiling_ms(n)).collect();
        assert_eq!(
            ceilings,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000]
        );
        assert_eq!(policy.ceiling_ms(0), 1_000);
        assert_eq!(policy.ceiling_ms(u32::MAX), 300_000);
    }

    #[test]
    fn parks_after_the_last_attempt() {
        let policy = RetryPolicy::default();
        let mut rng = SplitMix64::new(7);
        assert!(policy.delay_ms(9, &mut rng).is_some());
        assert_eq!(policy.delay_ms(10, &mut rng), None);
        assert_eq!(policy.delay_ms(11, &mut rng), None);
    }

    #[test]
    fn ceiling_survives_huge_bases() {
        let policy = RetryPolicy {
            base_ms: u64::MAX / 2,
            cap_ms: u64::MAX,
            max_attempts: 100,
        };
        assert_eq!(policy.ceiling_ms(3), u64::MAX);
        assert_eq!(policy.ceiling_ms(70), u64::MAX);
        let zero = RetryPolicy {
            base_ms: 0,
            ..policy
        };
        assert_eq!(zero.ceiling_ms(70), 0);
        assert_eq!(zero.delay_ms(1, &mut SplitMix64::new(1)), Some(0));
    }

    #[test]
    fn delays_spread_over_the_whole_range() {
        let policy = RetryPolicy::default();
        let mut rng = SplitMix64::new(42);
        let delays: Vec<u64> = (0..10_000)
            .map(|_| policy.delay_ms(4, &mut rng).unwrap())
            .collect();
        let mean = delays.iter().sum::<u64>() / delays.len() as u64;
        // Uniform on [1, 8000] has mean 4000.5; 10,000 draws land within 2%.
        assert!((3_920..=4_080).contains(&mean), "mean {mean}");
        assert!(delays.iter().any(|&d| d < 400));
        assert!(delays.iter().any(|&d| d > 7_600));
    }

    /// Always returns the same value, to reach the ends of the range.
    struct Fixed(u64);
    impl RandomSource for Fixed {
        fn next_u64(&mut self) -> u64 {
            self.0
        }
    }

    #[test]
    fn extreme_random_values_stay_in_range() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_ms(1, &mut Fixed(0)), Some(1));
        assert_eq!(policy.delay_ms(1, &mut Fixed(u64::MAX)), Some(1_000));
    }

    proptest! {
        #[test]
        fn delays_respect_ceiling_cap_and_attempts(
            base_ms in 0u64..10_000_000,
            cap_ms in 0u64..10_000_000,
            max_attempts in 0u32..80,
            attempts in 0u32..100,
            seed in any::<u64>(),
        ) {
            let policy = RetryPolicy { base_ms, cap_ms, max_attempts };
            let mut rng = SplitMix64::new(seed);
            let ceiling = policy.ceiling_ms(attempts);
            prop_assert!(ceiling <= cap_ms);
            prop_assert!(policy.ceiling_ms(attempts + 1) >= ceiling);
            match policy.delay_ms(attempts, &mut rng) {
                None => prop_assert!(attempts >= max_attempts),
                Some(delay) => {
                    prop_assert!(attempts < max_attempts);
                    prop_assert!(delay <= ceiling && delay <= cap_ms);
                    prop_assert!(delay >= 1 || ceiling == 0);
                }
            }
        }
    }
}
