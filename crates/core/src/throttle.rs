//! A throttle for repeated log records.
//!
//! When a cache backend is down, every read fails the same way. Each read
//! still answers (from the origin, `x-cache: bypass`), but logging each one
//! would flood the Hub's log ring (it keeps the newest 2,000 records) with
//! copies and push out everything else. So each kind of failure is logged
//! at once the first time, then at most once per window, with the number of
//! copies left out in between.

use std::collections::BTreeMap;

/// The window: a failure that lasts gets one log record every 10 s, enough
/// to see that it lasts without flooding the ring (2,000 records hold more
/// than five hours of one failure).
pub const WINDOW_MS: u64 = 10_000;

/// Per key, when the last record was let through and how many were held back since.
#[derive(Debug, Default)]
pub struct Throttle {
    window_ms: u64,
    last: BTreeMap<String, (u64, u64)>,
}

impl Throttle {
    /// A throttle letting one record per key through per `window_ms`.
    pub fn new(window_ms: u64) -> Self {
        Self {
            window_ms,
            last: BTreeMap::new(),
        }
    }

    /// Whether to log a record of `key` at `now_ms`: `Some(n)`, where `n`
    /// records of that key were held back since the last one, or `None` to
    /// hold this one back.
    pub fn admit(&mut self, key: &str, now_ms: u64) -> Option<u64> {
        match self.last.get_mut(key) {
            Some((at, held)) if now_ms < at.saturating_add(self.window_ms) => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                *at = now_ms;
                Some(std::mem::take(held))
            }
            None => {
                // Keys are failure kinds times operations, a few dozen at
                // most; the bound only guards against a caller's mistake.
                if self.last.len() >= 256 {
                    self.last.clear();
                }
                self.last.insert(key.to_owned(), (now_ms, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_then_once_per_window_with_the_count_held_back() {
        let mut t = Throttle::new(1_000);
        assert_eq!(t.admit("read:unreachable", 0), Some(0));
        assert_eq!(t.admit("read:unreachable", 10), None);
        assert_eq!(t.admit("read:unreachable", 999), None);
        // Another kind is not held back by the first.
        assert_eq!(t.admit("read:unauthorized", 500), Some(0));
        assert_eq!(t.admit("read:unreachable", 1_000), Some(2));
        assert_eq!(t.admit("read:unreachable", 1_001), None);
        assert_eq!(t.admit("read:unreachable", 5_000), Some(1));
    }
}
