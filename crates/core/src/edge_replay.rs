//! What a stream that resumes on an Edge is replayed: every event after the
//! id it resumes from, through the last one the Edge has applied, once and
//! in order, taken from the Edge's tail of recent events and, for what the
//! tail no longer holds, from the Hub's log; or a `reset` when they are no
//! longer all available.
//!
//! The Edge asks the Hub only when its tail does not reach back far enough
//! ([`tail_reaches`]), then builds the replay from both without awaiting
//! anything, so that no event it applies meanwhile is missed or sent twice.

use crate::event::InvalidationEvent;
use crate::event_log::{EventLog, Replay};

/// What a resuming stream gets before live events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catchup {
    /// These events, in id order (possibly none).
    Events(Vec<InvalidationEvent>),
    /// A `reset`: the events in between are not all available, or the id
    /// was never issued.
    Reset,
}

/// Whether `tail` holds every event after `after`.
pub fn tail_reaches(tail: &EventLog<InvalidationEvent>, after: u64) -> bool {
    matches!(tail.since(after), Replay::Events(_))
}

/// The replay after `after` through `last_id` (the Edge's last applied
/// id): the Hub's events `older` where given (`Some(None)`: the Hub no
/// longer has them all), then `tail`; a reset unless the ids run from
/// `after + 1` to `last_id` without a hole.
pub fn replay(
    after: u64,
    older: Option<Option<Vec<InvalidationEvent>>>,
    tail: &EventLog<InvalidationEvent>,
    last_id: u64,
) -> Catchup {
    if after == last_id {
        return Catchup::Events(Vec::new());
    }
    if after > last_id {
        // Above every id this Edge has applied even after catching up from
        // the Hub: never issued by this deployment (its state was wiped).
        return Catchup::Reset;
    }
    let mut events: Vec<InvalidationEvent> = Vec::new();
    let mut through = after;
    match older {
        Some(None) => return Catchup::Reset,
        Some(Some(from_hub)) => {
            for event in from_hub {
                if event.id == through + 1 && event.id <= last_id {
                    through = event.id;
                    events.push(event);
                }
            }
        }
        None => {}
    }
    match tail.since(through) {
        Replay::Events(recent) => {
            for (id, event) in recent {
                if id == through + 1 && id <= last_id {
                    through = id;
                    events.push(event);
                }
            }
        }
        Replay::Reset => return Catchup::Reset,
    }
    if through == last_id {
        Catchup::Events(events)
    } else {
        Catchup::Reset
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::sample as event;

    /// A tail of `size` holding events `from..=to`.
    fn tail(size: usize, from: u64, to: u64) -> EventLog<InvalidationEvent> {
        let mut log = EventLog::new(size, from - 1);
        for _ in from..=to {
            log.append(event);
        }
        log
    }

    fn ids(c: &Catchup) -> Vec<u64> {
        match c {
            Catchup::Events(events) => events.iter().map(|e| e.id).collect(),
            Catchup::Reset => vec![u64::MAX],
        }
    }

    #[test]
    fn from_the_tail_alone_when_it_reaches() {
        let t = tail(10, 5, 12);
        assert!(tail_reaches(&t, 4));
        assert!(!tail_reaches(&t, 3));
        assert_eq!(ids(&replay(8, None, &t, 12)), vec![9, 10, 11, 12]);
        assert_eq!(ids(&replay(12, None, &t, 12)), Vec::<u64>::new());
    }

    #[test]
    fn from_the_hub_then_the_tail_each_event_once() {
        let t = tail(4, 9, 12);
        // The Hub answered through 10; the Edge applied through 12 meanwhile.
        let hub: Vec<_> = (3..=10).map(event).collect();
        assert_eq!(
            ids(&replay(2, Some(Some(hub)), &t, 12)),
            (3..=12).collect::<Vec<_>>()
        );
        // The Hub answered further than the Edge has applied: only through ours.
        let hub: Vec<_> = (3..=14).map(event).collect();
        assert_eq!(
            ids(&replay(2, Some(Some(hub)), &t, 12)),
            (3..=12).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_hole_or_a_lost_log_is_a_reset() {
        let t = tail(4, 9, 12);
        assert_eq!(replay(2, Some(None), &t, 12), Catchup::Reset);
        // The Hub's page stops at 6, the tail starts at 9.
        let hub: Vec<_> = (3..=6).map(event).collect();
        assert_eq!(replay(2, Some(Some(hub)), &t, 12), Catchup::Reset);
        assert_eq!(replay(2, None, &t, 12), Catchup::Reset);
        assert_eq!(
            replay(13, None, &t, 12),
            Catchup::Reset,
            "an id never issued"
        );
    }
}
