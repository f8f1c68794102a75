//! The queries of the API's `GET` routes that the Worker passes on to the
//! Hub (`/api/cache/logs`, `/api/cache/mirrors`, `/api/stream`): one parser and one printer each,
//! so that the Worker (which checks a client's query) and the Hub (which
//! reads the Worker's) agree on names, defaults and limits.

use std::borrow::Cow;

use crate::types::EntityType;
use crate::{Error, Result};

/// Records a single `GET /api/cache/logs` answers at most: one round of a
/// follower, far fewer than the ring's 2,000.
pub const MAX_LOG_LIMIT: usize = 2_000;
/// Records answered when the query names no `limit`.
pub const DEFAULT_LOG_LIMIT: usize = 500;

/// `?since=<seq>&limit=<n>`: the log records after `since`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsQuery {
    /// The last seq the follower saw (0: from the start).
    pub since: u64,
    /// At most this many records, 1 to [`MAX_LOG_LIMIT`].
    pub limit: usize,
}

impl Default for LogsQuery {
    fn default() -> Self {
        Self {
            since: 0,
            limit: DEFAULT_LOG_LIMIT,
        }
    }
}

impl LogsQuery {
    /// Parses a query's pairs; other names are ignored.
    ///
    /// # Errors
    /// [`Error::Malformed`] naming the parameter.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<Self> {
        let (since, limit) = page(pairs, "since", DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT)?;
        Ok(Self { since, limit })
    }

    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        format!("since={}&limit={}", self.since, self.limit)
    }
}

/// A page of a listing: the position named `after` (a non-negative
/// integer, 0 when absent) and `limit` (1 to `max`, `default` when
/// absent); other names are ignored.
fn page<'a>(
    pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    after: &str,
    default: usize,
    max: usize,
) -> Result<(u64, usize)> {
    let (mut position, mut limit) = (0, default);
    for (k, v) in pairs {
        if k == after {
            position = v
                .parse()
                .map_err(|_| Error::Malformed(format!("{after} must be a non-negative integer")))?;
        } else if k == "limit" {
            limit = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| Error::Malformed(format!("limit must be 1 to {max}")))?;
        }
    }
    Ok((position, limit))
}

/// Parked entries one `GET /api/cache/mirrors` lists at most: a page a
/// terminal or a dashboard shows whole, tens of KB of JSON.
pub const MAX_MIRRORS_LIMIT: usize = 1_000;
/// Parked entries listed when the query names no `limit`.
pub const DEFAULT_MIRRORS_LIMIT: usize = 100;

/// `?cursor=<seq>&limit=<n>`: a page of `GET /api/cache/mirrors`, the
/// parked entries of every mirror after outbox seq `cursor` (an earlier
/// page's `nextCursor`), at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorsQuery {
    /// List parked entries after this seq (0: from the oldest).
    pub cursor: u64,
    /// At most this many parked entries, 1 to [`MAX_MIRRORS_LIMIT`].
    pub limit: usize,
}

impl Default for MirrorsQuery {
    fn default() -> Self {
        Self {
            cursor: 0,
            limit: DEFAULT_MIRRORS_LIMIT,
        }
    }
}

impl MirrorsQuery {
    /// Parses a query's pairs; other names are ignored.
    ///
    /// # Errors
    /// [`Error::Malformed`] naming the parameter.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<Self> {
        let (cursor, limit) = page(pairs, "cursor", DEFAULT_MIRRORS_LIMIT, MAX_MIRRORS_LIMIT)?;
        Ok(Self { cursor, limit })
    }

    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        format!("cursor={}&limit={}", self.cursor, self.limit)
    }
}

/// `?types=a,b&lastEventId=<id>`: a stream of the events of `types` (all
/// when empty), resumed after `last_event_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamQuery {
    /// The filter, in the order given (empty: every event).
    pub types: Vec<EntityType>,
    /// Resume after this id (the `Last-Event-ID` header, where a client can
    /// send it, wins over the query: see [`StreamQuery::resume_from_header`]).
    pub last_event_id: Option<u64>,
}

impl StreamQuery {
    /// Parses a query's pairs; other names are ignored.
    ///
    /// # Errors
    /// [`Error::UnknownType`] for a filter naming no type;
    /// [`Error::Malformed`] for an id that is not a non-negative integer.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<Self> {
        let mut query = Self::default();
        for (k, v) in pairs {
            match k.as_ref() {
                "types" => {
                    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        query.types.push(EntityType::parse(name)?);
                    }
                }
                "lastEventId" => query.last_event_id = Some(parse_event_id(&v)?),
                _ => {}
            }
        }
        Ok(query)
    }

    /// Takes a `Last-Event-ID` header's value, if not blank: it is what a
    /// reconnecting `EventSource` sends, so it wins over the query.
    ///
    /// # Errors
    /// [`Error::Malformed`] for an id that is not a non-negative integer.
    pub fn resume_from_header(&mut self, value: &str) -> Result<()> {
        if !value.trim().is_empty() {
            self.last_event_id = Some(parse_event_id(value)?);
        }
        Ok(())
    }

    /// The query string (without `?`), canonical names.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = self.last_event_id {
            parts.push(format!("lastEventId={id}"));
        }
        if !self.types.is_empty() {
            let names: Vec<&str> = self.types.iter().map(|t| t.as_str()).collect();
            parts.push(format!("types={}", names.join(",")));
        }
        parts.join("&")
    }
}

fn parse_event_id(s: &str) -> Result<u64> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| Error::Malformed("last event id must be a non-negative integer".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (Cow::Borrowed(k), Cow::Borrowed(v))
            })
            .collect()
    }

    #[test]
    fn logs_query_defaults_limits_and_round_trips() {
        assert_eq!(LogsQuery::parse(pairs("")).unwrap(), LogsQuery::default());
        let q = LogsQuery::parse(pairs("since=41&limit=2000&x=1")).unwrap();
        assert_eq!((q.since, q.limit), (41, 2_000));
        assert_eq!(LogsQuery::parse(pairs(&q.to_query())).unwrap(), q);
        for bad in ["since=-1", "since=x", "limit=0", "limit=2001", "limit=many"] {
            assert!(
                matches!(LogsQuery::parse(pairs(bad)), Err(Error::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn mirrors_query_defaults_limits_and_round_trips() {
        assert_eq!(
            MirrorsQuery::parse(pairs("")).unwrap(),
            MirrorsQuery::default()
        );
        let q = MirrorsQuery::parse(pairs("cursor=41&limit=1000")).unwrap();
        assert_eq!((q.cursor, q.limit), (41, 1_000));
        assert_eq!(MirrorsQuery::parse(pairs(&q.to_query())).unwrap(), q);
        for bad in ["cursor=-1", "cursor=x", "limit=0", "limit=1001"] {
            assert!(
                matches!(MirrorsQuery::parse(pairs(bad)), Err(Error::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn stream_query_takes_aliases_and_the_header_wins() {
        let mut q = StreamQuery::parse(pairs("types=post, ,pages&lastEventId=5")).unwrap();
        assert_eq!(q.types, [EntityType::POSTS, EntityType::PAGES]);
        assert_eq!(q.last_event_id, Some(5));
        q.resume_from_header("  ").unwrap();
        assert_eq!(q.last_event_id, Some(5), "a blank header is no header");
        q.resume_from_header("9").unwrap();
        assert_eq!(q.last_event_id, Some(9));
        assert_eq!(q.to_query(), "lastEventId=9&types=posts,pages");
        assert_eq!(StreamQuery::parse(pairs(&q.to_query())).unwrap(), q);
        assert!(matches!(
            StreamQuery::parse(pairs("types=posts,widgets")),
            Err(Error::UnknownType(_))
        ));
        assert!(matches!(
            StreamQuery::parse(pairs("lastEventId=-3")),
            Err(Error::Malformed(_))
        ));
        assert_eq!(StreamQuery::default().to_query(), "");
    }
}
