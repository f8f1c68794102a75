//! `polycache mirrors`: the mirror outboxes of the Worker as a table, and
//! `--retry` to requeue what was parked.

use polycache_core::hub_api::{MirrorStatus, MirrorsResponse, Requeued};
use serde::Deserialize as _;
use serde_json::json;

use crate::api::Api;
use crate::cli::{Global, MirrorsArgs};
use crate::error::{CliError, Result};
use crate::table::Table;
use crate::{output, progress, time, tokens};

/// Shows the status, after requeueing parked entries with `--retry`.
pub fn run(g: &Global, args: MirrorsArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let token = tokens::resolve(&api)?;
    let not_ours = |what: &str, e: serde_json::Error| {
        CliError::Failed(format!(
            "the {what} of {} is not polycache's ({e}): is --url a polycache Worker of this version?",
            api.url()
        ))
    };
    let requeued = if args.retry {
        let answer = progress::with("requeueing parked entries", || api.retry_mirrors(&token))?;
        let answer = Requeued::deserialize(&answer).map_err(|e| not_ours("retry answer", e))?;
        Some(answer.requeued)
    } else {
        None
    };
    let status = progress::with("reading the mirror status", || api.mirrors(&token))?;
    let status = MirrorsResponse::deserialize(&status).map_err(|e| not_ours("mirror status", e))?;
    if g.json {
        let mut out = json!({ "mirrors": status.mirrors });
        if let Some(n) = requeued {
            out["requeued"] = json!(n);
        }
        return output::json(&out);
    }
    if let Some(n) = requeued {
        output::line(&format!("requeued {n} parked entries"))?;
    }
    output::text(&render(&status.mirrors, time::now_ms()))
}

/// The table, then the parked entries of each mirror.
fn render(mirrors: &[MirrorStatus], now: u64) -> String {
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
            m.parked.len().to_string(),
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
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_table_row_per_mirror_and_a_line_per_parked_entry() {
        let now = 1_000_000;
        let mirrors: Vec<MirrorStatus> = serde_json::from_value(json!([{
            "url": "http://127.0.0.1:9", "configured": true, "pending": 2,
            "oldestPendingAgeMs": 65_000, "nextAttemptAt": now + 3_000, "delivered": 5,
            "lastSuccess": now - 10_000, "lastError": "connection refused",
            "parked": [{"eventId": 7, "type": "post", "id": "3", "attempts": 10,
                        "lastError": "401", "createdAt": now - 60_000}]
        }]))
        .unwrap();
        let text = render(&mirrors, now);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("MIRROR"), "{text}");
        assert!(lines[1].contains("http://127.0.0.1:9"), "{text}");
        for cell in ["1 min 5 s", "in 3 s", "10 s ago", "connection refused"] {
            assert!(lines[1].contains(cell), "{cell} in {text}");
        }
        assert!(text.contains("event 7 post 3, 10 attempts"), "{text}");
    }

    #[test]
    fn no_mirrors_says_so() {
        assert!(render(&[], 0).contains("CACHE_MIRRORS is empty"));
    }
}
