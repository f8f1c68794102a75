//! `polycache logs`: the Worker's cache log, appended to `logs/cache.json`.
//!
//! The Hub keeps the log in a bounded ring in memory, numbered by `seq`.
//! Two things can happen to it between runs, and both are detected rather
//! than silently producing a wrong file:
//! - the Hub restarted, so `seq` started again from 1: the record the file
//!   ends with is no longer the one the Worker has under that `seq` (or the
//!   Worker's last `seq` is below it). Appending starts over from the new
//!   log's first record.
//! - the ring dropped records before they were fetched: the first record
//!   returned is past the one asked for. The gap is reported.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use polycache_core::hub_api::LogsPage;
use polycache_core::log::LogRecord;
use serde::Deserialize as _;
use serde_json::{json, Value};

use crate::api::{Api, Token};
use crate::cli::{Global, LogsArgs};
use crate::error::{CliError, Result};
use crate::logfile::{self, Sink};
use crate::{output, progress, tokens};

/// Records asked for per request: well under the API's cap of 2,000, so a
/// page stays a small response.
const PAGE: usize = 500;

/// Pages fetched in one round at most (100,000 records): a bound on the loop
/// even if the Worker kept answering full pages.
const MAX_PAGES: usize = 200;

/// The least time between two logins again while following: a token that
/// is refused right after a login will be refused again, and looping on it
/// would hammer the login route (which counts failures per address).
const MIN_RENEWAL_GAP: Duration = Duration::from_secs(60);

/// One round of fetching: the records after `since`, and the Worker's last seq.
struct Batch {
    records: Vec<LogRecord>,
    last_seq: u64,
}

/// Fetches and appends, once or until stopped.
pub fn run(g: &Global, args: LogsArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let mut token = tokens::resolve(&api)?;
    let out = args.out.as_path();
    let to_stdout = out == Path::new("-");
    // The file's last record, when it has one of ours (plain pino lines have
    // no seq): where to resume, and what to compare with after an outage.
    let mut last_record = if to_stdout {
        None
    } else {
        logfile::last_record(out)?.filter(|r| r.seq > 0)
    };
    let mut since = match (args.since, &last_record) {
        (Some(s), _) => s,
        (None, Some(last)) => progress::with("checking where to resume", || {
            resume_point(&api, &token, last)
        })?,
        (None, None) => 0,
    };
    let mut sink = Sink::open(out)?;
    // Notices go to stderr whatever the sink: stdout holds the result.
    let status_to = output::status;
    let deadline = args
        .max_seconds
        .filter(|_| args.follow)
        .map(|s| Instant::now() + Duration::from_secs(s));
    if args.follow {
        status_to(&format!(
            "following the cache log of {} into {} every {} s (Ctrl-C to stop)",
            api.url(),
            shown(out),
            args.interval
        ));
    }
    let interval = Duration::from_secs_f64(args.interval);
    let mut appended = 0u64;
    let mut first_seq: Option<u64> = None;
    let mut unreachable_since: Option<Instant> = None;
    let mut renewed_at: Option<Instant> = None;
    loop {
        let round = if unreachable_since.is_some() {
            // Back after an outage: the Worker may have restarted with a new log.
            match &last_record {
                Some(last) => resume_point(&api, &token, last).and_then(|s| {
                    since = s;
                    fetch(&api, &token, since)
                }),
                None => fetch(&api, &token, since),
            }
        } else {
            progress::with("reading the cache log", || fetch(&api, &token, since))
        };
        match round {
            Ok(mut batch) => {
                if let Some(down) = unreachable_since.take() {
                    status_to(&format!(
                        "{} is back after {} s",
                        api.url(),
                        down.elapsed().as_secs()
                    ));
                }
                if batch.last_seq < since {
                    status_to(&format!(
                        "the Worker's cache log restarted (its last seq is {}, below the {since} already written): appending from its start",
                        batch.last_seq
                    ));
                    since = 0;
                    batch = fetch(&api, &token, since)?;
                }
                if let Some(first) = batch.records.first() {
                    if since > 0 && first.seq > since + 1 {
                        status_to(&format!(
                            "records {} to {} were dropped from the Worker's log before they were fetched (it keeps only the newest)",
                            since + 1,
                            first.seq - 1
                        ));
                    }
                }
                sink.append(&batch.records)?;
                if let (Some(first), Some(last)) = (batch.records.first(), batch.records.last()) {
                    first_seq.get_or_insert(first.seq);
                    since = last.seq;
                    appended += batch.records.len() as u64;
                    if args.follow {
                        status_to(&format!(
                            "appended {} records (seq {} to {})",
                            batch.records.len(),
                            first.seq,
                            last.seq
                        ));
                    }
                    last_record = Some(last.clone());
                }
            }
            Err(CliError::TokenRefused(why))
                if args.follow && renewed_at.is_none_or(|t| t.elapsed() >= MIN_RENEWAL_GAP) =>
            {
                // A follow outlives a token (they last an hour) and a Worker
                // restarted with another JWT_SECRET; log in again if that can
                // be done without a person, then go on where it stopped.
                let Some(fresh) = tokens::renew(&api, &token)? else {
                    return Err(CliError::TokenRefused(why));
                };
                status_to(&format!("{} refused the token; logged in again", api.url()));
                token = fresh;
                renewed_at = Some(Instant::now());
                continue;
            }
            Err(e) if args.follow && e.is_transient() => {
                if unreachable_since.is_none() {
                    status_to(&format!("{e}; retrying every {} s", args.interval));
                    unreachable_since = Some(Instant::now());
                }
            }
            Err(e) => return Err(e),
        }
        if !args.follow {
            break;
        }
        let wait = match deadline {
            Some(d) => interval.min(d.saturating_duration_since(Instant::now())),
            None => interval,
        };
        thread::sleep(wait);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    summary(g, &sink, out, appended, first_seq, since)
}

fn shown(out: &Path) -> String {
    if out == Path::new("-") {
        "stdout".to_owned()
    } else {
        out.display().to_string()
    }
}

/// The final report: on stdout, unless the records went there.
fn summary(
    g: &Global,
    sink: &Sink,
    out: &Path,
    appended: u64,
    first_seq: Option<u64>,
    last_seq: u64,
) -> Result<()> {
    if g.json {
        let report = json!({
            "out": shown(out),
            "appended": appended,
            "firstSeq": first_seq,
            "lastSeq": last_seq,
        });
        if sink.is_stdout() {
            output::status(&report.to_string());
            return Ok(());
        }
        return output::json(&report);
    }
    let text = match first_seq {
        Some(first) => format!(
            "appended {appended} records to {} (seq {first} to {last_seq})",
            shown(out)
        ),
        None => format!("no new records; {} is up to date", shown(out)),
    };
    if sink.is_stdout() {
        output::status(&text);
        Ok(())
    } else {
        output::line(&text)
    }
}

/// Where to resume after the file's `last` record: its seq if the Worker
/// still has that very record (or has already dropped it from its ring),
/// 0 if the Worker's log has restarted since.
fn resume_point(api: &Api, token: &Token, last: &LogRecord) -> Result<u64> {
    let page = api.logs(token, last.seq - 1, 1)?;
    let (records, last_seq) = parse_page(&page)?;
    let restarted = match records.first() {
        _ if last_seq < last.seq => true,
        Some(r) if r.seq == last.seq => r.time != last.time || r.msg != last.msg,
        // Already dropped from the ring: nothing to compare with, and a
        // restarted log would have to have outgrown the old one since.
        _ => false,
    };
    if restarted {
        output::status(&format!(
            "the Worker's cache log restarted since seq {} was written (its Hub restarted): appending from its start",
            last.seq
        ));
        return Ok(0);
    }
    Ok(last.seq)
}

/// The records after `since`, page by page, up to the Worker's last seq.
fn fetch(api: &Api, token: &Token, since: u64) -> Result<Batch> {
    let mut records = Vec::new();
    let mut after = since;
    let mut last_seq = since;
    for _ in 0..MAX_PAGES {
        let page = api.logs(token, after, PAGE)?;
        let (mut got, last) = parse_page(&page)?;
        last_seq = last;
        let full = got.len() == PAGE;
        match got.last() {
            Some(r) => after = r.seq,
            None => break,
        }
        records.append(&mut got);
        if !full || after >= last_seq {
            break;
        }
    }
    Ok(Batch { records, last_seq })
}

/// `{records, lastSeq}` as pino records.
fn parse_page(page: &Value) -> Result<(Vec<LogRecord>, u64)> {
    let page = LogsPage::deserialize(page).map_err(|e| {
        CliError::Failed(format!(
            "the Worker's cache log answer is not pino's shape, a page of records with its lastSeq ({e}): is --url a polycache Worker of this version?"
        ))
    })?;
    Ok((page.records, page.last_seq))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_into_records() {
        let page = json!({
            "records": [{"level": 30, "time": 5, "name": "cache", "msg": "invalidate", "seq": 3, "type": "posts"}],
            "lastSeq": 3
        });
        let (records, last) = parse_page(&page).unwrap();
        assert_eq!(last, 3);
        assert_eq!(records[0].seq, 3);
        assert_eq!(records[0].fields["type"], "posts");
    }

    #[test]
    fn a_page_of_another_shape_is_refused() {
        let e = parse_page(&json!({"records": [{"msg": "no level"}], "lastSeq": 1})).unwrap_err();
        assert!(e.to_string().contains("not pino's shape"), "{e}");
        assert!(parse_page(&json!({"items": []})).is_err());
    }
}
