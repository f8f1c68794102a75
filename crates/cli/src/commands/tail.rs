//! `polycache tail`: the Worker's events as they happen, one line each.

use std::time::{Duration, Instant};

use polycache_core::event::InvalidationEvent;
use polycache_core::sse::Message;
use serde_json::{json, Value};

use crate::api::Api;
use crate::cli::{Global, TailArgs};
use crate::error::Result;
use crate::stream::{self, Flow, Happening};
use crate::{output, time};

/// Follows the stream and prints its events.
pub fn run(g: &Global, args: TailArgs) -> Result<()> {
    let api = Api::for_options(g)?;
    let deadline = args
        .max_seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut seen = 0u64;
    let url = api.url().to_owned();
    stream::follow(
        &api,
        &args.types,
        args.last_event_id,
        deadline,
        |happening| {
            match happening {
                Happening::Connected { after, again } => {
                    let verb = if again { "reconnected to" } else { "following" };
                    let resume = after
                        .map(|id| format!(", replaying events after {id}"))
                        .unwrap_or_default();
                    output::status(&format!("{verb} {url}/api/stream{resume}"));
                }
                Happening::Dropped {
                    reason,
                    delay,
                    after,
                } => {
                    let resume = after
                        .map(|id| format!(", to resume after event {id}"))
                        .unwrap_or_default();
                    output::status(&format!(
                        "stream dropped ({reason}); reconnecting in {}{resume}",
                        time::duration(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
                    ));
                }
                Happening::Event(message) => {
                    if let Some(line) = render(message, g.json) {
                        output::line(&line)?;
                    }
                    if message.event == "app-update" {
                        seen += 1;
                        if args.count.is_some_and(|n| seen >= n) {
                            return Ok(Flow::Stop);
                        }
                    }
                }
            }
            Ok(Flow::Continue)
        },
    )
}

/// The line printed for an event, if any: `hello`, `renew` (the Worker ends
/// the stream for renewal) and the `retry:` block are connection details,
/// shown only as status.
fn render(message: &Message, json: bool) -> Option<String> {
    match message.event.as_str() {
        "hello" => {
            let last = serde_json::from_str::<Value>(&message.data)
                .ok()
                .and_then(|v| v.get("lastEventId").and_then(Value::as_u64));
            if let Some(id) = last {
                output::status(&format!("connected; the Worker's last event is {id}"));
            }
            None
        }
        "renew" => {
            output::status("the Worker is renewing this stream; it resumes in a moment");
            None
        }
        _ if message.data.is_empty() => None,
        "app-update" => Some(
            match serde_json::from_str::<InvalidationEvent>(&message.data) {
                Ok(event) if !json => describe(&event),
                _ => envelope(message, json),
            },
        ),
        "reset" if !json => {
            let id = message.id.as_deref().unwrap_or("?");
            Some(format!(
                "reset: the events since the last one seen are gone from the Worker's log; refetch everything (now at event {id})"
            ))
        }
        _ => Some(envelope(message, json)),
    }
}

/// `#42 17:48:03.120Z update post 7 → posts, feed (origin local-dev)`.
fn describe(e: &InvalidationEvent) -> String {
    let types: Vec<&str> = e.types.iter().map(|t| t.as_str()).collect();
    let entity = match &e.entity_id {
        Some(id) => format!("{} {id}", e.type_name),
        None => e.type_name.clone(),
    };
    format!(
        "#{} {} {} {entity} → {} (origin {})",
        e.id,
        time::clock(e.ts),
        e.action,
        types.join(", "),
        e.origin
    )
}

/// The event's data with its name under `"event"` (JSON), or `name: data`.
fn envelope(message: &Message, json: bool) -> String {
    if !json {
        return format!("{}: {}", message.event, message.data);
    }
    match serde_json::from_str::<Value>(&message.data) {
        Ok(Value::Object(mut fields)) => {
            fields.insert("event".into(), json!(message.event));
            Value::Object(fields).to_string()
        }
        Ok(other) => json!({ "event": message.event, "data": other }).to_string(),
        Err(_) => json!({ "event": message.event, "data": message.data }).to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::stream::tests::message;

    const DATA: &str = r#"{"id":42,"type":"post","types":["posts","feed"],"entityId":"7","action":"update","origin":"local-dev","ts":1764000000120}"#;

    #[test]
    fn an_update_reads_as_one_line() {
        let line = render(&message("app-update", Some("42"), DATA), false).unwrap();
        assert_eq!(
            line,
            "#42 16:00:00.120Z update post 7 → posts, feed (origin local-dev)"
        );
    }

    #[test]
    fn a_renewal_is_no_line_of_output() {
        for json in [false, true] {
            assert_eq!(render(&message("renew", None, "{}"), json), None);
        }
    }

    #[test]
    fn json_lines_are_the_data_with_the_event_name() {
        let line = render(&message("app-update", Some("42"), DATA), true).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "app-update");
        assert_eq!(v["id"], 42);
        assert_eq!(v["types"], json!(["posts", "feed"]));
        let reset = render(&message("reset", Some("9"), r#"{"lastEventId":9}"#), true).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&reset).unwrap(),
            json!({"event": "reset", "lastEventId": 9})
        );
    }

    #[test]
    fn connection_details_are_not_events() {
        assert_eq!(
            render(&message("hello", None, r#"{"lastEventId":1}"#), false),
            None
        );
        let retry = Message {
            retry: Some(2000),
            ..message("message", None, "")
        };
        assert_eq!(render(&retry, true), None);
    }
}
