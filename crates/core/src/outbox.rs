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
//!
//! # Bounded by collapsing
//!
//! A mirror may be dead for days, so its pending list, and apart its parked
//! list, hold at most `MIRROR_QUEUE_LIMIT` entries. Nothing a mirror needs
//! is dropped to keep that bound, because invalidations of one type are
//! idempotent: once the newer of two has been applied, the older one adds
//! nothing (its refetch happens anyway). So when a list goes over the limit
//! it is collapsed ([`collapse`]) to half of it, in two steps:
//!
//! 1. *Repeats*: an entry is dropped when a newer entry of the same list
//!    has the same type (compared as the receiver reads it: `post` and
//!    `posts` are one) and the same id, or the same type and no id (a
//!    type-wide invalidation covers every id of its type).
//! 2. *Widening*, only if still over half the limit: the type with the most
//!    entries is replaced by one type-wide entry (no id, action `update`),
//!    kept at the place and seq of its newest entry, which covers all of
//!    them; then the next type, until the list is at half the limit or
//!    holds one entry per type.
//!
//! The receiver then invalidates at least what it would have, sometimes a
//! whole type where one id would have done, at the cost of a refetch. An
//! entry in flight may be collapsed away: its outcome is then ignored, and
//! the entry that covers it is delivered after it. Collapsing to half the
//! limit (not just below it) makes it rare: at most once per `limit / 2`
//! entries added, and each collapse is logged once (the Hub's `mirror queue
//! collapsed`, with counts), so the log stays bounded too.

use crate::api::InvalidateBody;
use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::event::Action;
use crate::retry::{RandomSource, RetryPolicy};
use crate::types::EntityType;

/// The most of a mirror's answer that the sender reads: its answers are a
/// token, an acknowledgement (of up to [`crate::api::MAX_BATCH`]
/// deliveries) or an error, a few hundred bytes to some 15 KiB of JSON; the
/// Worker itself accepts request bodies of at most 64 KiB, and so does the
/// sender answers.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

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
    /// The sending Hub's epoch, drawn once and kept, so that the receiver
    /// tells our event ids from those of an earlier life of this
    /// deployment (its state wiped, its ids started over). Empty for an
    /// entry queued before epochs existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub epoch: String,
}

impl OutboxEntry {
    /// The body of `POST <mirror>/api/cache/invalidate` for this entry.
    pub fn body(&self) -> InvalidateBody {
        InvalidateBody::mirrored(
            &self.type_name,
            self.entity_id.as_deref(),
            self.action,
            &self.origin,
            &self.epoch,
            self.event_id,
        )
    }

    /// The type as the receiver reads it (`post` and `posts` are one), or
    /// the name itself if it is no known type.
    fn canonical_type(&self) -> &str {
        match EntityType::parse(&self.type_name) {
            Ok(t) => t.as_str(),
            Err(_) => &self.type_name,
        }
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

    /// The entries due at `now` from the head on, at most `max`, in order:
    /// what one batch delivery carries. (Only the head waits for a retry;
    /// the entries behind it were due when queued.)
    pub fn due_run(&self, now: u64, max: usize) -> Vec<OutboxEntry> {
        self.pending
            .iter()
            .take(max)
            .take_while(|e| e.next_at <= now)
            .cloned()
            .collect()
    }

    /// When the head is due, if there is one.
    pub fn next_due(&self) -> Option<u64> {
        self.pending.front().map(|e| e.next_at)
    }

    /// Queues `entry` at the back; if the pending list is then over
    /// `limit`, collapses it (module docs) and answers what went.
    pub fn push(&mut self, entry: OutboxEntry, limit: usize) -> Option<Collapsed> {
        self.pending.push_back(entry);
        if self.pending.len() <= limit {
            return None;
        }
        let (kept, collapsed) = collapse(std::mem::take(&mut self.pending).into(), limit / 2);
        self.pending = kept.into();
        Some(collapsed)
    }

    /// Collapses the parked list if it is over `limit` (module docs).
    pub fn bound_parked(&mut self, limit: usize) -> Option<Collapsed> {
        if self.parked.len() <= limit {
            return None;
        }
        let (kept, collapsed) = collapse(std::mem::take(&mut self.parked), limit / 2);
        self.parked = kept;
        Some(collapsed)
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

    /// The parked entries as they go back in the queue by [`Self::unpark`]:
    /// due at `now`, their attempts reset.
    pub fn unparked(&self, now: u64) -> Vec<OutboxEntry> {
        self.parked
            .iter()
            .map(|e| OutboxEntry {
                attempts: 0,
                next_at: now,
                ..e.clone()
            })
            .collect()
    }

    /// Puts the parked entries whose seq is in `seqs` back in the queue, in
    /// seq order, due at `now`, with their attempts reset (an operator
    /// fixed the cause). Returns them.
    pub fn unpark(&mut self, seqs: &[u64], now: u64) -> Vec<OutboxEntry> {
        let (mut back, stay): (Vec<OutboxEntry>, Vec<OutboxEntry>) =
            std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|e| seqs.contains(&e.seq));
        self.parked = stay;
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

/// What one [`collapse`] did, for the log and for storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collapsed {
    /// Entries before.
    pub before: usize,
    /// Entries after.
    pub after: usize,
    /// The seqs of the entries that went.
    pub removed: Vec<u64>,
    /// The entries made type-wide (each kept its seq), oldest first.
    pub widened: Vec<OutboxEntry>,
}

/// Collapses `entries` (oldest first) toward at most `target` entries, as
/// the module docs say: repeats go, then the types with the most entries
/// are widened to one type-wide entry each. Answers the entries kept, in
/// their order, and what changed.
pub fn collapse(entries: Vec<OutboxEntry>, target: usize) -> (Vec<OutboxEntry>, Collapsed) {
    let before = entries.len();
    let mut removed = Vec::new();
    // Step 1, newest first: an entry is a repeat when a newer one has its
    // type and id, or its type and no id.
    let mut newer: std::collections::HashSet<(String, Option<String>)> = Default::default();
    let mut kept: Vec<OutboxEntry> = Vec::with_capacity(before);
    for e in entries.into_iter().rev() {
        let t = e.canonical_type().to_owned();
        let repeat =
            newer.contains(&(t.clone(), None)) || newer.contains(&(t.clone(), e.entity_id.clone()));
        if repeat {
            removed.push(e.seq);
        } else {
            newer.insert((t, e.entity_id.clone()));
            kept.push(e);
        }
    }
    kept.reverse();
    // Step 2: widen the most numerous type, while over the target.
    let mut widened = Vec::new();
    while kept.len() > target {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for e in &kept {
            *counts.entry(e.canonical_type()).or_default() += 1;
        }
        let Some(widest) = counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(t, _)| t.to_owned())
        else {
            break; // one entry per type: nothing left to collapse
        };
        let newest = kept
            .iter()
            .rposition(|e| e.canonical_type() == widest)
            .unwrap_or_default();
        kept = kept
            .into_iter()
            .enumerate()
            .filter_map(|(i, mut e)| {
                if e.canonical_type() != widest {
                    return Some(e);
                }
                if i != newest {
                    removed.push(e.seq);
                    return None;
                }
                e.entity_id = None;
                e.action = Action::Update;
                widened.push(e.clone());
                Some(e)
            })
            .collect();
    }
    removed.sort_unstable();
    let after = kept.len();
    (
        kept,
        Collapsed {
            before,
            after,
            removed,
            widened,
        },
    )
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
            epoch: String::new(),
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
        let back = q.unpark(&[1], 20);
        assert_eq!(back.len(), 1);
        let seqs: Vec<u64> = q.pending.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(q.due(20).unwrap().attempts, 0);
        assert!(q.parked.is_empty());
    }

    /// A write of `type_name` (with `id`, or type-wide) queued as `seq`.
    fn write(seq: u64, type_name: &str, id: Option<&str>) -> OutboxEntry {
        OutboxEntry {
            type_name: type_name.into(),
            entity_id: id.map(Into::into),
            ..entry(seq)
        }
    }

    /// Whether `queue` still covers the write `w`: an entry of its type
    /// with its id, or one of its type without an id.
    fn covers(queue: &[OutboxEntry], w: &OutboxEntry) -> bool {
        queue.iter().any(|e| {
            e.canonical_type() == w.canonical_type()
                && (e.entity_id.is_none() || e.entity_id == w.entity_id)
        })
    }

    /// Ten thousand writes of every shape to a mirror that never answers:
    /// the queue never holds more than the limit, and every write is still
    /// covered. The runtime test (mirror_hardening) does 1,000 writes with
    /// a limit of 400: 10,000 writes through `wrangler dev` take minutes on
    /// a loaded machine, so the 10,000 figure is measured here, on the same
    /// `push` the Hub calls.
    #[test]
    fn ten_thousand_writes_to_a_dead_mirror_stay_within_the_limit_and_lose_nothing() {
        for limit in [1_000, 10_000] {
            let mut q = MirrorQueue::new("https://dead.example");
            let types = ["post", "pages", "categories", "picture", "translations"];
            let mut written = Vec::new();
            let mut collapses = 0;
            let mut longest = 0;
            for seq in 1..=20_000u64 {
                let t = types[(seq % 5) as usize];
                let id = match seq % 7 {
                    0 => None,
                    1 | 2 => Some("7".to_owned()),
                    _ => Some(format!("n{seq}")),
                };
                let w = write(seq, t, id.as_deref());
                written.push(w.clone());
                if let Some(c) = q.push(w, limit) {
                    collapses += 1;
                    assert_eq!(c.before, limit + 1);
                    assert!(c.after <= limit / 2, "{c:?}");
                    assert_eq!(c.before - c.after, c.removed.len());
                }
                longest = longest.max(q.pending.len());
                if seq == 10_000 {
                    println!(
                        "after 10,000 writes, limit {limit}: {} pending, {collapses} collapses",
                        q.pending.len()
                    );
                    assert!(q.pending.len() <= limit);
                }
            }
            assert!(longest <= limit, "{longest}");
            assert!(collapses >= 1 || limit >= 20_000);
            let pending: Vec<OutboxEntry> = q.pending.iter().cloned().collect();
            let lost: Vec<&OutboxEntry> = written.iter().filter(|w| !covers(&pending, w)).collect();
            assert!(lost.is_empty(), "{} writes no entry covers", lost.len());
            let seqs: Vec<u64> = pending.iter().map(|e| e.seq).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "still in seq order");
        }
    }

    #[test]
    fn collapsing_drops_repeats_first_and_widens_only_when_needed() {
        let entries = vec![
            write(1, "post", Some("7")),
            write(2, "pages", Some("1")),
            write(3, "posts", Some("7")), // repeats 1 (post and posts are one)
            write(4, "pages", None),      // covers 2
            write(5, "pages", Some("9")), // newer than the type-wide 4: kept
        ];
        let (kept, c) = collapse(entries.clone(), 10);
        let seqs: Vec<u64> = kept.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(c.removed, [1, 2]);
        assert!(c.widened.is_empty(), "no widening below the target");

        let (kept, c) = collapse(entries, 2);
        let shown: Vec<(u64, &str, Option<&str>)> = kept
            .iter()
            .map(|e| (e.seq, e.type_name.as_str(), e.entity_id.as_deref()))
            .collect();
        assert_eq!(shown, [(3, "posts", Some("7")), (5, "pages", None)]);
        assert_eq!(c.widened.len(), 1);
        assert_eq!(c.widened[0].action, Action::Update);
        assert_eq!((c.before, c.after), (5, 2));
    }

    #[test]
    fn the_parked_list_is_bounded_too() {
        let mut q = MirrorQueue::new("https://b.example");
        for seq in 1..=40 {
            q.parked.push(write(seq, "posts", Some(&format!("{seq}"))));
        }
        assert!(q.bound_parked(40).is_none());
        q.parked.push(write(41, "pages", Some("1")));
        let c = q.bound_parked(40).unwrap();
        assert_eq!((c.before, c.after), (41, 2));
        assert!(q.parked.len() <= 20);
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
        let later = OutboxEntry {
            epoch: "00ff".into(),
            ..entry(1)
        };
        assert_eq!(serde_json::to_value(later.body()).unwrap()["epoch"], "00ff");
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

    #[test]
    fn a_batch_is_the_due_run_from_the_head_bounded() {
        let mut q = MirrorQueue::new("https://m.example");
        for seq in 1..=5 {
            q.push(entry(seq), 100);
        }
        let seqs = |run: Vec<OutboxEntry>| run.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(q.due_run(0, 3)), vec![1, 2, 3]);
        assert_eq!(seqs(q.due_run(0, 100)), vec![1, 2, 3, 4, 5]);
        // A head waiting for its retry holds the run back.
        q.pending[0].next_at = 50;
        assert!(q.due_run(49, 100).is_empty());
        assert_eq!(seqs(q.due_run(50, 2)), vec![1, 2]);
    }
}
