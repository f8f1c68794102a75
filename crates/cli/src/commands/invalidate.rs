//! `polycache invalidate TYPE`: `POST /api/cache/invalidate`, the manual
//! purge (and the mirror endpoint) of the Worker.

use polycache_core::api::{InvalidateAnswer, InvalidateBody};
use serde::Deserialize as _;
use serde_json::Value;

use crate::api::Api;
use crate::cli::{Global, InvalidateArgs};
use crate::error::{CliError, Result};
use crate::{output, progress, tokens};

/// Invalidates and reports the event.
pub fn run(g: &Global, args: InvalidateArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let token = tokens::resolve(&api)?;
    let body = serde_json::to_value(request_body(&args))
        .map_err(|e| CliError::Failed(format!("invalidate: {e}")))?;
    let answer = progress::with(format!("invalidating {}", args.entity_type), || {
        api.invalidate(&token, &body)
    })?;
    if g.json {
        return output::json(&answer);
    }
    output::line(&describe(&args, &answer)?)
}

/// The request: `type` as given (alias included), and only what was asked.
fn request_body(args: &InvalidateArgs) -> InvalidateBody {
    InvalidateBody {
        type_name: args.entity_type.clone(),
        id: args.id.clone().map(Value::String),
        action: Some(args.action.clone()),
        mirror: args.no_mirror.then_some(false),
        origin: None,
        event_id: None,
        epoch: None,
    }
}

/// `invalidated post 7 (update): posts, feed — event 42`.
fn describe(args: &InvalidateArgs, answer: &Value) -> Result<String> {
    let answer = InvalidateAnswer::deserialize(answer).map_err(|e| {
        CliError::Failed(format!(
            "the Worker's answer is not an invalidation's ({e}): {answer}"
        ))
    })?;
    let event_id = answer.event_id;
    let types: Vec<&str> = answer.types.iter().map(|t| t.as_str()).collect();
    let what = match &args.id {
        Some(id) => format!("{} {id}", args.entity_type),
        None => args.entity_type.clone(),
    };
    let mut line = format!(
        "invalidated {what} ({}): {} — event {event_id}",
        args.action,
        types.join(", ")
    );
    if answer.duplicate {
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
    use serde_json::json;

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
        let json = |a| serde_json::to_value(request_body(&a)).unwrap();
        assert_eq!(
            json(args(None, false)),
            json!({"type": "post", "action": "update"})
        );
        assert_eq!(json(args(Some("7"), true))["mirror"], json!(false));
        assert_eq!(json(args(Some("7"), true))["id"], json!("7"));
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
