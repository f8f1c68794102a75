//! The mirror outbox: invalidations waiting to be delivered to one mirror,
//! in order, with retries and parking.
//!
//! Delivery is at least once: an entry leaves the queue only when the mirror
//! acknowledged it, or is parked (kept, shown, and retried only on an
//! operator's request) when it failed in a way retrying will not fix or ran
//! out of attempts. Only the head of a mirror's queue is ever in flight, so a
//! mirror receives its entries in the order they were made; parking the head
//! lets the ones behind it go on. Each mirror has its own queue, so a dead
//! mirror holds up nobody else.

use crate::api::InvalidateBody;
use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::event::Action;
use crate::retry::{RandomSource, RetryPolicy};

/// One invalidation waiting for a mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    /// Position in the outbox, increasing across all mirrors.
    pub seq: u64,
    /// Our event id, sent as `eventId` so the mirror can deduplicate.
    pub event_id: u64,
    /// The type as it was named.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The entity, if one.
    pub entity_id: Option<String>,
    /// What happened.
    pub action: Action,
    /// Where the change was made.
    pub origin: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time (ms since epoch).
    pub next_at: u64,
    /// When it was queued (ms since epoch).
    pub created_at: u64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl OutboxEntry {
    /// The body of `POST <mirror>/api/cache/invalidate` for this entry.
    pub fn body(&self) -> InvalidateBody {
        InvalidateBody::mirrored(
            &self.type_name,
            self.entity_id.as_deref(),
            self.action,
            &self.origin,
            self.event_id,
        )
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The mirror acknowledged it.
    Delivered,
    /// A failure that may pass (network, timeout, 5xx, 401, 408, 429).
    Retry(String),
    /// A failure retrying will not fix (another 4xx): park at once.
    Park(String),
}

/// What became of the head after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(u64),
    /// Moved to the parked list.
    Parked,
}

/// Counters of one mirror, kept durably beside its queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorStats {
    /// The mirror's base URL.
    pub url: String,
    /// Entries acknowledged.
    pub delivered: u64,
    /// When the last delivery succeeded.
    pub last_success: Option<u64>,
    /// The last error of any attempt.
    pub last_error: Option<String>,
}

/// The queue of one mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorQueue {
    /// Entries waiting, oldest first.
    pub pending: VecDeque<OutboxEntry>,
    /// Entries given up on, oldest first.
    pub parked: Vec<OutboxEntry>,
    /// Counters.
    pub stats: MirrorStats,
}

impl MirrorQueue {
    /// An empty queue for `url`.
    pub fn new(url: &str) -> Self {
        Self {
            stats: MirrorStats {
                url: url.to_owned(),
                ..MirrorStats::default()
            },
            ..Self::default()
        }
    }

    /// The head, if it is due at `now`.
    pub fn due(&self, now: u64) -> Option<&OutboxEntry> {
        self.pending.front().filter(|e| e.next_at <= now)
    }

    /// When the head is due, if there is one.
    pub fn next_due(&self) -> Option<u64> {
        self.pending.front().map(|e| e.next_at)
    }

    /// Records the outcome of an attempt at the entry with `seq`, which must
    /// be the head (anything else is ignored and answers `None`). Returns
    /// what happened to it on failure.
    pub fn record(
        &mut self,
        seq: u64,
        attempt: Attempt,
        now: u64,
        policy: &RetryPolicy,
        rng: &mut impl RandomSource,
    ) -> Option<Result<OutboxEntry, (OutboxEntry, AfterFailure)>> {
        if self.pending.front().map(|e| e.seq) != Some(seq) {
            return None;
        }
        let mut head = self.pending.pop_front()?;
        let error = match attempt {
            Attempt::Delivered => {
                self.stats.delivered += 1;
                self.stats.last_success = Some(now);
                return Some(Ok(head));
            }
            Attempt::Retry(e) => {
                head.attempts = head.attempts.saturating_add(1);
                match policy.delay_ms(head.attempts, rng) {
                    Some(delay) => {
                        head.next_at = now.saturating_add(delay);
                        head.last_error = Some(e.clone());
                        self.stats.last_error = Some(e);
                        self.pending.push_front(head.clone());
                        return Some(Err((head, AfterFailure::RetryAt(now + delay))));
                    }
                    None => e,
                }
            }
            Attempt::Park(e) => {
                head.attempts = head.attempts.saturating_add(1);
                e
            }
        };
        head.last_error = Some(error.clone());
        self.stats.last_error = Some(error);
        self.parked.push(head.clone());
        Some(Err((head, AfterFailure::Parked)))
    }

    /// Puts every parked entry back at the front of the queue, due now, with
    /// its attempts reset (an operator fixed the cause). Returns them.
    pub fn unpark(&mut self, now: u64) -> Vec<OutboxEntry> {
        let mut back: Vec<OutboxEntry> = std::mem::take(&mut self.parked);
        for e in &mut back {
            e.attempts = 0;
            e.next_at = now;
        }
        let mut merged: Vec<OutboxEntry> =
            back.iter().cloned().chain(self.pending.drain(..)).collect();
        merged.sort_by_key(|e| e.seq);
        self.pending = merged.into();
        back
    }
}

/// The outcome of an HTTP status from a mirror, as the design classifies it:
/// 2xx delivered; 401 (token), 408, 429 and 5xx retried; other 4xx parked.
pub fn classify(status: u16, detail: &str) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        401 | 408 | 429 | 500..=599 => Attempt::Retry(format!("HTTP {status}: {detail}")),
        _ => Attempt::Park(format!("HTTP {status}: {detail}")),
    }
}

/// A service token is used until this long before it expires, so that it
/// never expires in flight.
pub const TOKEN_MARGIN_MS: u64 = 60_000;

/// The service tokens this deployment holds for its mirrors, by mirror id,
/// each with its expiry (ms since epoch, the `expiresAt` of the login).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorTokens(HashMap<String, (String, u64)>);

impl MirrorTokens {
    /// The token for `mirror`, if there is one that does not expire within
    /// [`TOKEN_MARGIN_MS`] of `now`.
    pub fn get(&self, mirror: &str, now: u64) -> Option<&str> {
        self.0
            .get(mirror)
            .filter(|(_, expires_at)| expires_at.saturating_sub(TOKEN_MARGIN_MS) > now)
            .map(|(token, _)| token.as_str())
    }

    /// Keeps the token of a login to `mirror`.
    pub fn insert(&mut self, mirror: &str, token: String, expires_at: u64) {
        self.0.insert(mirror.to_owned(), (token, expires_at));
    }

    /// Drops the token of `mirror` (the mirror refused it).
    pub fn forget(&mut self, mirror: &str) {
        self.0.remove(mirror);
    }
}

/// A short stable id of a mirror URL for storage keys (FNV-1a, 64 bits:
/// stable across builds, so a stored queue keeps its key).
pub fn mirror_id(url: &str) -> String {
    format!("{:016x}", crate::fnv::fnv1a_64(url.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::retry::SplitMix64;

    fn entry(seq: u64) -> OutboxEntry {
        OutboxEntry {
            seq,
            event_id: seq + 100,
            type_name: "post".into(),
            entity_id: Some("7".into()),
            action: Action::Update,
            origin: "a".into(),
            attempts: 0,
            next_at: 0,
            created_at: 0,
            last_error: None,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base_ms: 100,
            cap_ms: 1_000,
            max_attempts: 3,
        }
    }

    #[test]
    fn delivered_entries_leave_in_order() {
        let mut q = MirrorQueue::new("http://b");
        q.pending.extend([entry(1), entry(2)]);
        let mut rng = SplitMix64::new(1);
        assert_eq!(q.due(0).unwrap().seq, 1);
        assert!(
            q.record(2, Attempt::Delivered, 5, &policy(), &mut rng)
                .is_none(),
            "only the head"
        );
        assert!(q
            .record(1, Attempt::Delivered, 5, &policy(), &mut rng)
            .unwrap()
            .is_ok());
        assert_eq!(q.due(0).unwrap().seq, 2);
        assert_eq!(q.stats.delivered, 1);
        assert_eq!(q.stats.last_success, Some(5));
    }

    #[test]
    fn retries_back_off_then_park_and_nothing_is_dropped() {
        let mut q = MirrorQueue::new("http://b");
        q.pending.extend([entry(1), entry(2)]);
        let mut rng = SplitMix64::new(7);
        let mut now = 1_000;
        for attempt in 1..3 {
            let (e, after) = q
                .record(1, Attempt::Retry("down".into()), now, &policy(), &mut rng)
                .unwrap()
                .unwrap_err();
            assert_eq!(e.attempts, attempt);
            let AfterFailure::RetryAt(at) = after else {
                panic!("parked too early")
            };
            assert!(at > now && at <= now + 1_000);
            assert!(q.due(now).is_none(), "not due before its time");
            now = at;
            assert_eq!(q.due(now).unwrap().seq, 1, "the head stays first");
        }
        let (_, after) = q
            .record(1, Attempt::Retry("down".into()), now, &policy(), &mut rng)
            .unwrap()
            .unwrap_err();
        assert_eq!(after, AfterFailure::Parked);
        assert_eq!(q.parked.len(), 1);
        assert_eq!(q.due(now).unwrap().seq, 2, "parking lets the next go");
        assert_eq!(q.pending.len() + q.parked.len(), 2);
    }

    #[test]
    fn a_client_error_parks_at_once_and_unpark_restores_order() {
        let mut q = MirrorQueue::new("http://b");
        q.pending.extend([entry(1), entry(2)]);
        let mut rng = SplitMix64::new(3);
        let out = q.record(1, classify(403, "forbidden"), 10, &policy(), &mut rng);
        assert_eq!(out.unwrap().unwrap_err().1, AfterFailure::Parked);
        assert_eq!(q.stats.last_error.as_deref(), Some("HTTP 403: forbidden"));
        let back = q.unpark(20);
        assert_eq!(back.len(), 1);
        let seqs: Vec<u64> = q.pending.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(q.due(20).unwrap().attempts, 0);
        assert!(q.parked.is_empty());
    }

    #[test]
    fn statuses_are_classified_as_the_design_says() {
        assert_eq!(classify(204, ""), Attempt::Delivered);
        for s in [401, 408, 429, 500, 503] {
            assert!(matches!(classify(s, ""), Attempt::Retry(_)), "{s}");
        }
        for s in [400, 403, 404, 409, 413, 422] {
            assert!(matches!(classify(s, ""), Attempt::Park(_)), "{s}");
        }
    }

    #[test]
    fn the_body_is_the_mirror_protocol() {
        let body = entry(1).body();
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"type":"post","id":"7","action":"update","mirror":false,"origin":"a","eventId":101})
        );
    }

    #[test]
    fn a_token_is_used_until_a_minute_before_it_expires() {
        let mut tokens = MirrorTokens::default();
        let expires_at = 10_000_000;
        assert_eq!(tokens.get("m", 0), None);
        tokens.insert("m", "t1".into(), expires_at);
        assert_eq!(tokens.get("m", 0), Some("t1"));
        assert_eq!(tokens.get("m", expires_at - 60_001), Some("t1"));
        assert_eq!(
            tokens.get("m", expires_at - 60_000),
            None,
            "a minute before"
        );
        assert_eq!(tokens.get("m", expires_at - 1), None);
        assert_eq!(tokens.get("m", expires_at + 1), None);
        assert_eq!(tokens.get("other", 0), None, "per mirror");
        tokens.insert("m", "t2".into(), expires_at + 120_000);
        assert_eq!(
            tokens.get("m", expires_at),
            Some("t2"),
            "a new login replaces it"
        );
        tokens.forget("m");
        assert_eq!(tokens.get("m", 0), None);
    }

    #[test]
    fn a_token_without_a_usable_expiry_is_not_kept_for_reuse() {
        let mut tokens = MirrorTokens::default();
        tokens.insert("m", "t".into(), 0);
        assert_eq!(tokens.get("m", 0), None);
        tokens.insert("m", "t".into(), 59_999);
        assert_eq!(tokens.get("m", 0), None);
    }

    #[test]
    fn mirror_ids_are_stable_and_distinct() {
        assert_eq!(mirror_id("http://b"), mirror_id("http://b"));
        assert_ne!(mirror_id("http://b"), mirror_id("http://c"));
        assert_eq!(mirror_id("x").len(), 16);
        // Pinned: stored queues are keyed by this id, so it must not change
        // between releases.
        assert_eq!(mirror_id("http://localhost:8787"), "02b311c3fa5fa482");
    }
}
