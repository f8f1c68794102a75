//! `polycache mirrors`: the mirror outboxes of the Worker as a table, and
//! `--retry` to requeue what was parked.

use serde_json::{json, Value};

use crate::api::Api;
use crate::cli::{Global, MirrorsArgs};
use crate::error::{CliError, Result};
use crate::table::Table;
use crate::{output, progress, time, tokens};

/// Shows the status, after requeueing parked entries with `--retry`.
pub fn run(g: &Global, args: MirrorsArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let token = tokens::resolve(&api)?;
    let requeued = if args.retry {
        let answer = progress::with("requeueing parked entries", || api.retry_mirrors(&token))?;
        Some(answer.get("requeued").and_then(Value::as_u64).unwrap_or(0))
    } else {
        None
    };
    let status = progress::with("reading the mirror status", || api.mirrors(&token))?;
    let mirrors = status
        .get("mirrors")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            CliError::Failed(format!(
                "the mirror status of {} has no mirrors list: is --url a polycache Worker?",
                api.url()
            ))
        })?;
    if g.json {
        let mut out = json!({ "mirrors": mirrors });
        if let Some(n) = requeued {
            out["requeued"] = json!(n);
        }
        return output::json(&out);
    }
    if let Some(n) = requeued {
        output::line(&format!("requeued {n} parked entries"))?;
    }
    output::text(&render(mirrors, time::now_ms()))
}

/// The table, then the parked entries of each mirror.
fn render(mirrors: &[Value], now: u64) -> String {
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
        let url = m.get("url").and_then(Value::as_str).unwrap_or("?");
        let configured = m.get("configured").and_then(Value::as_bool).unwrap_or(true);
        let name = if configured {
            url.to_owned()
        } else {
            format!("{url} (no longer configured)")
        };
        let number = |key: &str| m.get(key).and_then(Value::as_u64);
        let parked = m
            .get("parked")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        table.row(vec![
            name,
            number("pending").unwrap_or(0).to_string(),
            number("oldestPendingAgeMs").map_or("—".into(), time::duration),
            number("nextAttemptAt").map_or("—".into(), |at| time::relative(at, now)),
            number("delivered").unwrap_or(0).to_string(),
            number("lastSuccess").map_or("never".into(), |at| time::relative(at, now)),
            parked.len().to_string(),
            m.get("lastError")
                .and_then(Value::as_str)
                .map_or("—".into(), str::to_owned),
        ]);
        for p in parked {
            let entity = match p.get("id").and_then(Value::as_str) {
                Some(id) => format!(" {id}"),
                None => String::new(),
            };
            parked_lines.push(format!(
                "  {url}: event {} {}{entity}, {} attempts, created {}: {}",
                p.get("eventId").and_then(Value::as_u64).unwrap_or(0),
                p.get("type").and_then(Value::as_str).unwrap_or("?"),
                p.get("attempts").and_then(Value::as_u64).unwrap_or(0),
                p.get("createdAt")
                    .and_then(Value::as_u64)
                    .map_or("?".into(), |at| time::relative(at, now)),
                p.get("lastError").and_then(Value::as_str).unwrap_or("?"),
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
mod tests {
    use super::*;

    #[test]
    fn a_table_row_per_mirror_and_a_line_per_parked_entry() {
        let now = 1_000_000;
        let mirrors = vec![json!({
            "url": "http://127.0.0.1:9", "configured": true, "pending": 2,
            "oldestPendingAgeMs": 65_000, "nextAttemptAt": now + 3_000, "delivered": 5,
            "lastSuccess": now - 10_000, "lastError": "connection refused",
            "parked": [{"eventId": 7, "type": "post", "id": "3", "attempts": 10,
                        "lastError": "401", "createdAt": now - 60_000}]
        })];
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
