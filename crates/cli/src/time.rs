//! Clock readings and how times are shown.
//!
//! The API speaks milliseconds since the Unix epoch (`expiresAt`, `ts`,
//! `lastSuccess`). People read UTC wall-clock times and short durations, so
//! these functions turn one into the other. They are written out (the civil
//! date from a day count) rather than pulling in a date crate for three
//! formats; the pure ones take the time as an argument so tests need no
//! clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now; 0 if the clock is before 1970.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The civil (proleptic Gregorian) date of a day count since 1970-01-01:
/// Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (see the brackets above).
    (year, month as u32, day as u32)
}

/// `2026-11-25 17:48:03 UTC`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let (y, mo, d) = civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The time of day with milliseconds, `17:48:03.120Z`: enough to read a
/// stream of events, whose date is the day you are watching.
pub fn clock(ms: u64) -> String {
    let rem = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem % 3_600_000 / 60_000,
        rem % 60_000 / 1000,
        rem % 1000
    )
}

/// A duration in its two largest units: `850 ms`, `4 s`, `2 min 5 s`,
/// `3 h 12 min`, `2 d 4 h`.
pub fn duration(ms: u64) -> String {
    const S: u64 = 1000;
    const MIN: u64 = 60 * S;
    const H: u64 = 60 * MIN;
    const D: u64 = 24 * H;
    match ms {
        m if m < S => format!("{m} ms"),
        m if m < MIN => format!("{} s", m / S),
        m if m < H => two(m / MIN, "min", m % MIN / S, "s"),
        m if m < D => two(m / H, "h", m % H / MIN, "min"),
        m => two(m / D, "d", m % D / H, "h"),
    }
}

fn two(a: u64, a_unit: &str, b: u64, b_unit: &str) -> String {
    if b == 0 {
        format!("{a} {a_unit}")
    } else {
        format!("{a} {a_unit} {b} {b_unit}")
    }
}

/// `at` seen from `now`: `in 2 h`, `5 s ago`, `now`.
pub fn relative(at: u64, now: u64) -> String {
    match at.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", duration(at - now)),
        std::cmp::Ordering::Less if now - at >= 1000 => format!("{} ago", duration(now - at)),
        _ => "now".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_of_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 (a leap day of a century divisible by 400).
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_764_000_000_000), "2025-11-24 16:00:00 UTC");
        assert_eq!(utc(4_102_444_799_999), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn clock_keeps_milliseconds() {
        assert_eq!(clock(1_764_000_000_120), "16:00:00.120Z");
    }

    #[test]
    fn durations_in_two_units() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(4_999), "4 s");
        assert_eq!(duration(125_000), "2 min 5 s");
        assert_eq!(duration(120_000), "2 min");
        assert_eq!(duration(3 * 3_600_000 + 12 * 60_000), "3 h 12 min");
        assert_eq!(duration(52 * 3_600_000), "2 d 4 h");
    }

    #[test]
    fn relative_to_now() {
        assert_eq!(relative(10_000, 5_000), "in 5 s");
        assert_eq!(relative(5_000, 10_000), "5 s ago");
        assert_eq!(relative(10_000, 10_500), "now");
    }
}
