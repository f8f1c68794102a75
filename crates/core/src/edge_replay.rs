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

/// Whether a stream resuming after `after` is further behind `last_id`
/// than a replay goes (`max_events`): it gets a reset, and the Edge need
/// not ask the Hub for anything.
pub fn too_far_behind(after: u64, last_id: u64, max_events: usize) -> bool {
    last_id.saturating_sub(after) > max_events as u64
}

/// The replay after `after` through `last_id` (the Edge's last applied
/// id): the Hub's events `older` where given (`Some(None)`: the Hub no
/// longer has them all), then `tail`; a reset unless the ids run from
/// `after + 1` to `last_id` without a hole, and unless there are more than
/// `max_events` of them (a client that far behind refetches everything
/// rather than cost the Edge a replay of megabytes).
pub fn replay(
    after: u64,
    older: Option<Option<Vec<InvalidationEvent>>>,
    tail: &EventLog<InvalidationEvent>,
    last_id: u64,
    max_events: usize,
) -> Catchup {
    if after == last_id {
        return Catchup::Events(Vec::new());
    }
    if after > last_id || too_far_behind(after, last_id, max_events) {
        // Above every id this Edge has applied even after catching up from
        // the Hub: never issued by this deployment (its state was wiped).
        // Or too far below it.
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
        assert_eq!(ids(&replay(8, None, &t, 12, 100)), vec![9, 10, 11, 12]);
        assert_eq!(ids(&replay(12, None, &t, 12, 100)), Vec::<u64>::new());
    }

    #[test]
    fn from_the_hub_then_the_tail_each_event_once() {
        let t = tail(4, 9, 12);
        // The Hub answered through 10; the Edge applied through 12 meanwhile.
        let hub: Vec<_> = (3..=10).map(event).collect();
        assert_eq!(
            ids(&replay(2, Some(Some(hub)), &t, 12, 100)),
            (3..=12).collect::<Vec<_>>()
        );
        // The Hub answered further than the Edge has applied: only through ours.
        let hub: Vec<_> = (3..=14).map(event).collect();
        assert_eq!(
            ids(&replay(2, Some(Some(hub)), &t, 12, 100)),
            (3..=12).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_hole_or_a_lost_log_is_a_reset() {
        let t = tail(4, 9, 12);
        assert_eq!(replay(2, Some(None), &t, 12, 100), Catchup::Reset);
        // The Hub's page stops at 6, the tail starts at 9.
        let hub: Vec<_> = (3..=6).map(event).collect();
        assert_eq!(replay(2, Some(Some(hub)), &t, 12, 100), Catchup::Reset);
        assert_eq!(replay(2, None, &t, 12, 100), Catchup::Reset);
        assert_eq!(
            replay(13, None, &t, 12, 100),
            Catchup::Reset,
            "an id never issued"
        );
    }

    #[test]
    fn more_than_the_bound_is_a_reset() {
        let t = tail(20, 1, 20);
        assert_eq!(
            ids(&replay(10, None, &t, 20, 10)),
            (11..=20).collect::<Vec<_>>()
        );
        assert_eq!(
            replay(9, None, &t, 20, 10),
            Catchup::Reset,
            "11 events, bound 10"
        );
        assert!(too_far_behind(9, 20, 10));
        assert!(!too_far_behind(10, 20, 10));
        assert!(!too_far_behind(25, 20, 10), "ahead is not behind");
    }
}
