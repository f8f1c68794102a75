//! `polycache mirrors`: the mirror outboxes of the Worker as a table, and
//! `--retry` to requeue what was parked.
//!
//! The Worker lists parked entries a page at a time (oldest first, across
//! all mirrors) and counts each mirror's in `parkedCount`. The table shows
//! the count; below it come the first page's entries and a line saying how
//! many more there are, or with `--all` every page's.

use polycache_core::config::MAX_MIRROR_QUEUE_LIMIT;
use polycache_core::hub_api::{MirrorStatus, MirrorsResponse, Requeued};
use polycache_core::query::{MirrorsQuery, MAX_MIRRORS_LIMIT};
use serde::Deserialize as _;
use serde_json::json;

use crate::api::{Api, Token};
use crate::cli::{Global, MirrorsArgs};
use crate::error::{CliError, Result};
use crate::table::Table;
use crate::{output, progress, time, tokens};

/// What the "more" line advises after the first page.
const SEE_ALL: &str = "`polycache mirrors --all` lists them all";

/// Shows the status, after requeueing parked entries with `--retry`.
pub fn run(g: &Global, args: MirrorsArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let token = tokens::resolve(&api)?;
    let requeued = if args.retry {
        let answer = progress::with("requeueing parked entries", || api.retry_mirrors(&token))?;
        let answer =
            Requeued::deserialize(&answer).map_err(|e| not_ours(&api, "retry answer", e))?;
        Some(answer.requeued)
    } else {
        None
    };
    let (status, more) = if args.all {
        let (status, pages) = every_page(|query| page(&api, &token, query))?;
        (status, stopped_early(pages))
    } else {
        (
            page(&api, &token, MirrorsQuery::default())?,
            SEE_ALL.to_owned(),
        )
    };
    if g.json {
        // The text ends with this line; JSON is for a program, and a
        // person running one still hears that the list was cut.
        if let Some(line) = more_line(&status, &more).filter(|_| args.all) {
            output::status(&line);
        }
        // With --all, `nextCursor` is null unless the page bound was hit.
        let mut out = serde_json::to_value(&status)
            .map_err(|e| CliError::Failed(format!("mirror status: {e}")))?;
        if let Some(n) = requeued {
            out["requeued"] = json!(n);
        }
        return output::json(&out);
    }
    if let Some(n) = requeued {
        output::line(&format!("requeued {n} parked entries"))?;
    }
    output::text(&render(&status, time::now_ms(), &more))
}

/// The error for an answer that is not what polycache's Worker sends.
fn not_ours(api: &Api, what: &str, e: serde_json::Error) -> CliError {
    CliError::Failed(format!(
        "the {what} of {} is not polycache's ({e}): is --url a polycache Worker of this version?",
        api.url()
    ))
}

/// One page of the status.
fn page(api: &Api, token: &Token, query: MirrorsQuery) -> Result<MirrorsResponse> {
    let answer = progress::with("reading the mirror status", || api.mirrors(token, &query))?;
    MirrorsResponse::deserialize(&answer).map_err(|e| not_ours(api, "mirror status", e))
}

/// Pages of [`MAX_MIRRORS_LIMIT`] parked entries that `mirrors` mirrors
/// need at most: each can have [`MAX_MIRROR_QUEUE_LIMIT`] parked (the
/// setting's largest value; the Worker does not say its own). Past that
/// the listing is not ending (entries parked faster than they are read, or
/// a Worker that does not advance its cursor), and `--all` stops.
fn page_bound(mirrors: usize) -> usize {
    let per_mirror = usize::try_from(MAX_MIRROR_QUEUE_LIMIT)
        .unwrap_or(usize::MAX)
        .div_ceil(MAX_MIRRORS_LIMIT);
    mirrors.max(1).saturating_mul(per_mirror)
}

/// Every page `fetch` answers, merged, and how many were read;
/// `next_cursor` stays set when [`page_bound`] stopped the reading, or a
/// cursor that did not advance (which would list the same page again).
fn every_page(
    mut fetch: impl FnMut(MirrorsQuery) -> Result<MirrorsResponse>,
) -> Result<(MirrorsResponse, usize)> {
    let mut query = MirrorsQuery {
        cursor: 0,
        limit: MAX_MIRRORS_LIMIT,
    };
    let mut all = fetch(query)?;
    let bound = page_bound(all.mirrors.len());
    let mut pages = 1;
    while let Some(cursor) = all.next_cursor {
        if pages >= bound || cursor <= query.cursor {
            break;
        }
        query.cursor = cursor;
        merge(&mut all, fetch(query)?);
        pages += 1;
    }
    Ok((all, pages))
}

/// Adds a later page's parked entries under their mirrors; the counters
/// stay the first page's, so that the table is one moment's.
fn merge(all: &mut MirrorsResponse, page: MirrorsResponse) {
    for m in page.mirrors {
        match all.mirrors.iter_mut().find(|x| x.url == m.url) {
            Some(x) => x.parked.extend(m.parked),
            None => all.mirrors.push(m),
        }
    }
    all.next_cursor = page.next_cursor;
}

/// The advice of the "more" line when `--all` stopped after `pages`.
fn stopped_early(pages: usize) -> String {
    format!(
        "stopped after {pages} pages of {MAX_MIRRORS_LIMIT}, more than the mirrors can have parked \
         (is the Worker parking entries faster than they are read?)"
    )
}

/// All of a mirror's parked entries: `parkedCount`, or the list itself
/// from a deployment that does not send it (it listed them all). The count
/// is never below what was listed.
fn parked_total(m: &MirrorStatus) -> usize {
    m.parked_count.max(m.parked.len())
}

/// "N more parked entries not shown; `more`" when the listing has pages
/// left.
fn more_line(status: &MirrorsResponse, more: &str) -> Option<String> {
    status.next_cursor?;
    let total: usize = status.mirrors.iter().map(parked_total).sum();
    let shown: usize = status.mirrors.iter().map(|m| m.parked.len()).sum();
    Some(match total.saturating_sub(shown) {
        0 => format!("more parked entries not shown; {more}"),
        hidden => format!("{hidden} more parked entries not shown; {more}"),
    })
}

/// The table, then the parked entries listed, then the "more" line with
/// the advice `more` if not all were.
fn render(status: &MirrorsResponse, now: u64, more: &str) -> String {
    let mirrors = &status.mirrors;
    if mirrors.is_empty() {
        return "no mirrors: the Worker's CACHE_MIRRORS is empty\n".to_owned();
    }
    let mut table = Table::new(&[
        "MIRROR",
        "PENDING",
        "OLDEST",
        "NEXT TRY",
        "DELIVERED",
        "LAST SUCCESS",
        "PARKED",
        "LAST ERROR",
    ]);
    let mut parked_lines = Vec::new();
    for m in mirrors {
        let name = if m.configured {
            m.url.clone()
        } else {
            format!("{} (no longer configured)", m.url)
        };
        table.row(vec![
            name,
            m.pending.to_string(),
            m.oldest_pending_age_ms.map_or("—".into(), time::duration),
            m.next_attempt_at
                .map_or("—".into(), |at| time::relative(at, now)),
            m.delivered.to_string(),
            m.last_success
                .map_or("never".into(), |at| time::relative(at, now)),
            parked_total(m).to_string(),
            m.last_error.clone().unwrap_or_else(|| "—".into()),
        ]);
        for p in &m.parked {
            let entity = match &p.id {
                Some(id) => format!(" {id}"),
                None => String::new(),
            };
            parked_lines.push(format!(
                "  {}: event {} {}{entity}, {} attempts, created {}: {}",
                m.url,
                p.event_id,
                p.type_name,
                p.attempts,
                time::relative(p.created_at, now),
                p.last_error.as_deref().unwrap_or("?"),
            ));
        }
    }
    let mut out = table.render();
    if !parked_lines.is_empty() {
        out.push_str(
            "\nparked (every attempt failed; fix the cause, then `polycache mirrors --retry`):\n",
        );
        for line in parked_lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if let Some(line) = more_line(status, more) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A status of one mirror at a dead address; `parked` extra fields.
    fn one_mirror(parked: serde_json::Value, next_cursor: Option<u64>) -> MirrorsResponse {
        let mut m = json!({
            "url": "http://127.0.0.1:9", "configured": true, "pending": 0,
            "oldestPendingAgeMs": null, "nextAttemptAt": null, "delivered": 0,
            "lastSuccess": null, "lastError": null,
        });
        for (k, v) in parked.as_object().unwrap() {
            m[k] = v.clone();
        }
        serde_json::from_value(json!({ "mirrors": [m], "nextCursor": next_cursor })).unwrap()
    }

    /// `n` parked entries with event ids and seqs from `first`.
    fn entries(first: u64, n: u64) -> serde_json::Value {
        (first..first + n)
            .map(|i| {
                json!({"seq": i, "eventId": i, "type": "posts", "id": null, "attempts": 1,
                       "lastError": "403", "createdAt": 0})
            })
            .collect()
    }

    /// The PARKED cell of the first mirror's row (no cell before it has a
    /// space in these statuses).
    fn parked_cell(text: &str) -> &str {
        text.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .nth(6)
            .unwrap()
    }

    #[test]
    fn a_table_row_per_mirror_and_a_line_per_parked_entry() {
        let now = 1_000_000;
        let status: MirrorsResponse = serde_json::from_value(json!({"mirrors": [{
            "url": "http://127.0.0.1:9", "configured": true, "pending": 2,
            "oldestPendingAgeMs": 65_000, "nextAttemptAt": now + 3_000, "delivered": 5,
            "lastSuccess": now - 10_000, "lastError": "connection refused",
            "parked": [{"eventId": 7, "type": "post", "id": "3", "attempts": 10,
                        "lastError": "401", "createdAt": now - 60_000}],
            "parkedCount": 1
        }]}))
        .unwrap();
        let text = render(&status, now, SEE_ALL);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("MIRROR"), "{text}");
        assert!(lines[1].contains("http://127.0.0.1:9"), "{text}");
        for cell in ["1 min 5 s", "in 3 s", "10 s ago", "connection refused"] {
            assert!(lines[1].contains(cell), "{cell} in {text}");
        }
        assert!(text.contains("event 7 post 3, 10 attempts"), "{text}");
        assert!(!text.contains("not shown"), "{text}");
    }

    // The runtime test (tests/runtime/cli.test.mjs) shows these against a
    // Worker; these pin the figures where a Worker cannot be made to send
    // them: a count apart from the page, and an older Worker's answer.
    #[test]
    fn parked_shows_the_count_and_the_last_line_says_how_many_more() {
        let status = one_mirror(
            json!({"parked": entries(1, 100), "parkedCount": 139}),
            Some(100),
        );
        let text = render(&status, 0, SEE_ALL);
        assert_eq!(parked_cell(&text), "139", "{text}");
        assert_eq!(text.matches(": event ").count(), 100, "{text}");
        assert_eq!(
            text.lines().last().unwrap(),
            "39 more parked entries not shown; `polycache mirrors --all` lists them all"
        );
    }

    #[test]
    fn an_older_worker_without_parked_count_shows_its_list_length() {
        let status = one_mirror(json!({"parked": entries(1, 3)}), None);
        let text = render(&status, 0, SEE_ALL);
        assert_eq!(parked_cell(&text), "3", "{text}");
        assert!(!text.contains("not shown"), "{text}");
    }

    #[test]
    fn pages_merge_under_their_mirrors_and_the_last_one_ends_the_listing() {
        let mut all = one_mirror(json!({"parked": entries(1, 2), "parkedCount": 5}), Some(2));
        merge(
            &mut all,
            one_mirror(json!({"parked": entries(3, 3), "parkedCount": 5}), None),
        );
        let ids: Vec<u64> = all.mirrors[0].parked.iter().map(|p| p.event_id).collect();
        assert_eq!((all.mirrors.len(), ids), (1, vec![1, 2, 3, 4, 5]));
        assert_eq!(more_line(&all, SEE_ALL), None);
    }

    #[test]
    fn the_page_bound_covers_the_most_every_mirror_can_park() {
        let per_mirror = 100_000_usize.div_ceil(MAX_MIRRORS_LIMIT);
        assert_eq!(page_bound(0), per_mirror);
        assert_eq!(page_bound(3), 3 * per_mirror);
        let cut = one_mirror(
            json!({"parked": entries(1, 10), "parkedCount": 25}),
            Some(10),
        );
        assert_eq!(
            more_line(&cut, &stopped_early(7)).unwrap(),
            format!("15 more parked entries not shown; {}", stopped_early(7))
        );
    }

    // A Worker cannot be made to park more than the bound (100,000 per
    // mirror) in a test's time: a fake one that never ends its listing.
    #[test]
    fn all_stops_at_the_page_bound_and_at_a_cursor_that_does_not_advance() {
        let endless = |q: MirrorsQuery| {
            let entry = entries(q.cursor + 1, 1);
            Ok(one_mirror(
                json!({"parked": entry, "parkedCount": 1_000_000}),
                Some(q.cursor + 1),
            ))
        };
        let (all, pages) = every_page(endless).unwrap();
        assert_eq!(pages, page_bound(1));
        assert_eq!(all.mirrors[0].parked.len(), pages);
        let line = more_line(&all, &stopped_early(pages)).unwrap();
        assert!(
            line.starts_with("999900 more parked entries not shown; stopped after 100 pages"),
            "{line}"
        );

        let stuck = |_| {
            Ok(one_mirror(
                json!({"parked": entries(1, 1), "parkedCount": 2}),
                Some(1),
            ))
        };
        let (all, pages) = every_page(stuck).unwrap();
        assert_eq!((pages, all.next_cursor), (2, Some(1)));
    }

    #[test]
    fn no_mirrors_says_so() {
        let none = MirrorsResponse {
            mirrors: Vec::new(),
            next_cursor: None,
        };
        assert!(render(&none, 0, SEE_ALL).contains("CACHE_MIRRORS is empty"));
    }
}
