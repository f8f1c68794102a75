//! `polycache invalidate TYPE`: `POST /api/cache/invalidate`, the manual
//! purge (and the mirror endpoint) of the Worker.

use serde_json::{json, Value};

use crate::api::Api;
use crate::cli::{Global, InvalidateArgs};
use crate::error::{CliError, Result};
use crate::{output, progress, tokens};

/// Invalidates and reports the event.
pub fn run(g: &Global, args: InvalidateArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let token = tokens::resolve(&api)?;
    let body = request_body(&args);
    let answer = progress::with(format!("invalidating {}", args.entity_type), || {
        api.invalidate(&token, &body)
    })?;
    if g.json {
        return output::json(&answer);
    }
    output::line(&describe(&args, &answer)?)
}

/// The request: `type` as given (alias included), and only what was asked.
fn request_body(args: &InvalidateArgs) -> Value {
    let mut body = json!({ "type": args.entity_type, "action": args.action });
    if let Some(id) = &args.id {
        body["id"] = json!(id);
    }
    if args.no_mirror {
        body["mirror"] = json!(false);
    }
    body
}

/// `invalidated post 7 (update): posts, feed — event 42`.
fn describe(args: &InvalidateArgs, answer: &Value) -> Result<String> {
    let event_id = answer
        .get("eventId")
        .and_then(Value::as_u64)
        .ok_or_else(|| CliError::Failed(format!("the Worker's answer has no eventId: {answer}")))?;
    let types: Vec<&str> = answer
        .get("types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let what = match &args.id {
        Some(id) => format!("{} {id}", args.entity_type),
        None => args.entity_type.clone(),
    };
    let mut line = format!(
        "invalidated {what} ({}): {} — event {event_id}",
        args.action,
        types.join(", ")
    );
    if answer.get("duplicate").and_then(Value::as_bool) == Some(true) {
        line.push_str(" (a repeat: already applied, no new event)");
    }
    if args.no_mirror {
        line.push_str(", not mirrored");
    }
    Ok(line)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(id: Option<&str>, no_mirror: bool) -> InvalidateArgs {
        InvalidateArgs {
            entity_type: "post".into(),
            id: id.map(str::to_owned),
            action: "update".into(),
            no_mirror,
        }
    }

    #[test]
    fn the_body_says_only_what_was_asked() {
        assert_eq!(
            request_body(&args(None, false)),
            json!({"type": "post", "action": "update"})
        );
        assert_eq!(
            request_body(&args(Some("7"), true)),
            json!({"type": "post", "action": "update", "id": "7", "mirror": false})
        );
    }

    #[test]
    fn the_line_shows_event_and_types() {
        let answer =
            json!({"ok": true, "eventId": 42, "types": ["posts", "feed"], "duplicate": false});
        assert_eq!(
            describe(&args(Some("7"), false), &answer).unwrap(),
            "invalidated post 7 (update): posts, feed — event 42"
        );
    }
}
