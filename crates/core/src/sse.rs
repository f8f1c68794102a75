//! Server-Sent Events: the `text/event-stream` wire format.
//!
//! The format is defined by the WHATWG HTML standard, section "Server-sent
//! events" (<https://html.spec.whatwg.org/multipage/server-sent-events.html>).
//! A stream is a sequence of lines; a blank line ends an event. Lines may end
//! with CRLF, LF or CR, so a raw CR or LF inside a field value would silently
//! cut the field in two. The encoders here therefore never let one through:
//! `data` is split into one `data:` line per line of the payload (which the
//! receiver joins back with LF), and names and comments lose their line
//! breaks.
//!
//! [`Decoder`] is the parsing half of the same algorithm, written for our CLI
//! (`polycache tail`) and for tests that read a stream the way a browser's
//! `EventSource` does. It is incremental: a network chunk may end anywhere,
//! even between the CR and LF of one line ending.

use std::fmt::Write as _;

/// Encodes one event: an optional `id:`, an optional `event:` and the `data:`
/// lines, ended by the blank line that dispatches it.
///
/// `data` may contain CR, LF or CRLF: each line becomes its own `data:` line,
/// and a decoder hands the payload back with every line ending turned into LF.
/// CR and LF are removed from `name`, since the spec gives no way to carry them.
pub fn event(id: Option<u64>, name: Option<&str>, data: &str) -> String {
    // 32 bytes of headroom hold "id: " with the 20 digits of u64::MAX and
    // the field prefixes of a short payload; it only saves a reallocation.
    let mut out = String::with_capacity(data.len() + name.map_or(0, str::len) + 32);
    if let Some(id) = id {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "id: {id}");
    }
    if let Some(name) = name {
        let name = without_line_breaks(name);
        // An empty `event:` field would mean "message" anyway; leave it out.
        if !name.is_empty() {
            out.push_str("event: ");
            out.push_str(&name);
            out.push('\n');
        }
    }
    let mut rest = data;
    loop {
        out.push_str("data: ");
        match rest.find(['\r', '\n']) {
            None => {
                out.push_str(rest);
                out.push('\n');
                break;
            }
            Some(i) => {
                out.push_str(&rest[..i]);
                out.push('\n');
                let ending = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + ending..];
            }
        }
    }
    out.push('\n');
    out
}

/// Encodes a comment, which receivers ignore: our heartbeat (`: ping`), whose
/// only job is to make a write that fails when the client has gone and that
/// keeps idle-timeout proxies from cutting a quiet stream.
pub fn comment(text: &str) -> String {
    format!(": {}\n\n", without_line_breaks(text))
}

/// How long a browser waits before reconnecting a dropped stream (the SSE
/// `retry:` field): short enough that a restart is barely noticed, long
/// enough not to hammer a struggling deployment.
pub const RETRY_MS: u64 = 2_000;

/// Encodes a `retry:` field: how long, in milliseconds, a client waits before
/// reconnecting after the stream drops.
pub fn retry(ms: u64) -> String {
    format!("retry: {ms}\n\n")
}

fn without_line_breaks(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect()
}

/// One event as an `EventSource` would dispatch it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The last event id at dispatch, as `MessageEvent.lastEventId` reports
    /// it: it persists from earlier events until the server sets another, and
    /// is `None` while it is empty.
    pub id: Option<String>,
    /// The event type; `"message"` when the event had no `event:` field.
    pub event: String,
    /// The `data:` lines joined with LF.
    pub data: String,
    /// The reconnection time set by a `retry:` field in this event's block.
    pub retry: Option<u64>,
}

/// An incremental parser of `text/event-stream`, following the WHATWG
/// algorithm ("Interpreting an event stream").
///
/// One difference from a browser, on purpose: a block that sets `retry:` but
/// has no data (what [`retry`] encodes) is reported as a [`Message`] with
/// empty data and `retry` set, where a browser would apply it silently. The
/// CLI needs the value to honour it, and tests need to see that the stream
/// opens with it. [`Decoder::retry`] also keeps the latest value.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The unfinished line carried over from the previous chunk.
    line: String,
    /// The previous chunk ended with CR: an LF opening the next chunk belongs
    /// to the same line ending and must not count as a blank line.
    after_cr: bool,
    /// Some input has been seen, so a U+FEFF is content, not a byte order mark.
    started: bool,
    data: String,
    event_type: String,
    id_buffer: String,
    last_event_id: String,
    block_retry: Option<u64>,
    retry: Option<u64>,
}

impl Decoder {
    /// Feeds the next chunk of the stream and returns the events it completed.
    pub fn push(&mut self, chunk: &str) -> Vec<Message> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if rest.is_empty() {
            return out;
        }
        if !self.started {
            self.started = true;
            // The spec strips one leading byte order mark from the stream.
            rest = rest.strip_prefix('\u{feff}').unwrap_or(rest);
        }
        if self.after_cr {
            self.after_cr = false;
            rest = rest.strip_prefix('\n').unwrap_or(rest);
        }
        while let Some(i) = rest.find(['\r', '\n']) {
            self.line.push_str(&rest[..i]);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
            let tail = &rest[i..];
            rest = if let Some(after) = tail.strip_prefix("\r\n") {
                after
            } else if tail == "\r" {
                self.after_cr = true;
                ""
            } else {
                &tail[1..]
            };
        }
        self.line.push_str(rest);
        out
    }

    /// The last event id committed by a dispatched block: what a client sends
    /// as `Last-Event-ID` when it reconnects. `None` while it is empty.
    pub fn last_event_id(&self) -> Option<&str> {
        (!self.last_event_id.is_empty()).then_some(self.last_event_id.as_str())
    }

    /// The reconnection time last set by the server, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    fn process_line(&mut self, line: &str, out: &mut Vec<Message>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            // The spec ignores an id containing NULL, so that a client never
            // sends one back in a header.
            "id" if !value.contains('\0') => value.clone_into(&mut self.id_buffer),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Only a value too large for u64 fails; ignore it like any
                // other malformed retry.
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                    self.block_retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Message>) {
        self.last_event_id.clone_from(&self.id_buffer);
        let event_type = std::mem::take(&mut self.event_type);
        let retry = self.block_retry.take();
        if self.data.is_empty() {
            if retry.is_some() {
                out.push(Message {
                    id: self.last_event_id().map(str::to_owned),
                    event: "message".to_owned(),
                    data: String::new(),
                    retry,
                });
            }
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        out.push(Message {
            id: self.last_event_id().map(str::to_owned),
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            retry,
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(text: &str) -> Vec<Message> {
        Decoder::default().push(text)
    }

    #[test]
    fn encodes_the_documented_shape() {
        assert_eq!(
            event(Some(7), Some("app-update"), r#"{"id":7}"#),
            "id: 7\nevent: app-update\ndata: {\"id\":7}\n\n"
        );
        assert_eq!(event(None, None, "x"), "data: x\n\n");
        assert_eq!(comment("ping"), ": ping\n\n");
        assert_eq!(retry(3000), "retry: 3000\n\n");
    }

    #[test]
    fn splits_data_on_every_kind_of_line_ending() {
        assert_eq!(
            event(None, None, "a\r\nb\rc\nd"),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(event(None, None, ""), "data: \n\n");
        assert_eq!(event(None, None, "a\n"), "data: a\ndata: \n\n");
        assert_eq!(event(None, None, "\r\r\n"), "data: \ndata: \ndata: \n\n");
    }

    #[test]
    fn strips_line_breaks_from_names_and_comments() {
        assert_eq!(
            event(None, Some("a\r\nb\nc"), "x"),
            "event: abc\ndata: x\n\n"
        );
        assert_eq!(event(None, Some("\n"), "x"), "data: x\n\n");
        assert_eq!(comment("pi\r\nng"), ": ping\n\n");
    }

    #[test]
    fn decodes_the_spec_examples() {
        // The examples of the WHATWG section "Examples" (event stream).
        let got = decode_all("data: YHOO\ndata: +2\ndata: 10\n\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "YHOO\n+2\n10");
        assert_eq!(got[0].event, "message");

        let got = decode_all(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n");
        assert_eq!(
            got,
            vec![
                Message {
                    id: Some("1".into()),
                    event: "message".into(),
                    data: "first event".into(),
                    retry: None
                },
                Message {
                    id: None,
                    event: "message".into(),
                    data: "second event".into(),
                    retry: None
                },
                Message {
                    id: None,
                    event: "message".into(),
                    data: " third event".into(),
                    retry: None
                },
            ]
        );

        // "data\n\ndata\ndata\n\ndata:" : two events, the last one unfinished.
        let got = decode_all("data\n\ndata\ndata\n\ndata:");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, "");
        assert_eq!(got[1].data, "\n");
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert!(decode_all("event: x\nid: 3\n\n").is_empty());
        let mut d = Decoder::default();
        d.push("id: 3\n\n");
        assert_eq!(d.last_event_id(), Some("3"));
    }

    #[test]
    fn the_last_event_id_is_committed_only_by_a_blank_line() {
        let mut d = Decoder::default();
        d.push("id: 5\ndata: x\n");
        assert_eq!(d.last_event_id(), None);
        let got = d.push("\n");
        assert_eq!(got[0].id.as_deref(), Some("5"));
        assert_eq!(d.last_event_id(), Some("5"));
        // It persists into later events without an id ...
        let got = d.push("data: y\n\n");
        assert_eq!(got[0].id.as_deref(), Some("5"));
        // ... an empty id clears it, and an id with NULL is ignored.
        d.push("id\ndata: z\n\n");
        assert_eq!(d.last_event_id(), None);
        d.push("id: 6\n\nid: 7\0\n\n");
        assert_eq!(d.last_event_id(), Some("6"));
    }

    #[test]
    fn retry_is_reported_and_malformed_retry_ignored() {
        let mut d = Decoder::default();
        let got = d.push(&retry(3000));
        assert_eq!(
            got,
            vec![Message {
                id: None,
                event: "message".into(),
                data: String::new(),
                retry: Some(3000)
            }]
        );
        assert_eq!(d.retry(), Some(3000));
        assert!(d.push("retry: 12a\n\nretry: -1\n\nretry:\n\n").is_empty());
        assert_eq!(d.retry(), Some(3000));
        let got = d.push("retry: 10\nevent: hello\ndata: {}\n\n");
        assert_eq!(got[0].retry, Some(10));
        assert_eq!(got[0].event, "hello");
        assert!(d.push(&comment("ping")).is_empty());
    }

    #[test]
    fn handles_cr_lf_split_across_chunks() {
        let mut d = Decoder::default();
        assert!(d.push("data: a\r").is_empty());
        // The LF completes the CR ending; it is not a blank line.
        assert!(d.push("\n").is_empty());
        let got = d.push("\r");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "a");
        // A lone CR followed by something else is a line ending of its own.
        let mut d = Decoder::default();
        d.push("data: a\r");
        let got = d.push("\rdata: b\r\r");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].data, "b");
    }

    #[test]
    fn strips_one_leading_byte_order_mark() {
        let mut d = Decoder::default();
        assert!(d.push("").is_empty());
        let got = d.push("\u{feff}data: a\n\n");
        assert_eq!(got[0].data, "a");
        // A second one is part of a field name, which is then unknown.
        let got = Decoder::default().push("\u{feff}\u{feff}data: a\n\n");
        assert!(got.is_empty());
    }

    #[test]
    fn ignores_unknown_fields_and_comments() {
        let got = decode_all(": hi\nfoo: bar\ndata:x\n\n");
        assert_eq!(got[0].data, "x");
    }

    /// Splits `s` at the given char-boundary-rounded fractions.
    fn chunks(s: &str, cuts: &[usize]) -> Vec<String> {
        let mut bounds: Vec<usize> = cuts
            .iter()
            .map(|c| {
                let mut i = c % (s.len() + 1);
                while !s.is_char_boundary(i) {
                    i -= 1;
                }
                i
            })
            .collect();
        bounds.push(0);
        bounds.push(s.len());
        bounds.sort_unstable();
        bounds
            .windows(2)
            .map(|w| s[w[0]..w[1]].to_owned())
            .collect()
    }

    fn data_strategy() -> impl Strategy<Value = String> {
        // Weighted towards the characters that matter: line endings, the
        // field separator, spaces, NULL and non-ASCII.
        proptest::collection::vec(
            prop_oneof![
                Just("\r".to_owned()),
                Just("\n".to_owned()),
                Just("\r\n".to_owned()),
                Just(":".to_owned()),
                Just(" ".to_owned()),
                Just("\0".to_owned()),
                Just("é€😀".to_owned()),
                Just("\u{feff}".to_owned()),
                "[a-z]{1,4}",
                any::<String>(),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn round_trips_through_any_chunking(
            id in proptest::option::of(any::<u64>()),
            name in proptest::option::of("[^\r\n]{1,12}"),
            data in data_strategy(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let text = event(id, name.as_deref(), &data);
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in chunks(&text, &cuts) {
                got.extend(d.push(&chunk));
            }
            prop_assert_eq!(got.len(), 1);
            let expected = data.replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(&got[0].data, &expected);
            prop_assert_eq!(got[0].id.clone(), id.map(|i| i.to_string()));
            prop_assert_eq!(&got[0].event, name.as_deref().unwrap_or("message"));
            prop_assert_eq!(d.last_event_id().map(str::to_owned), id.map(|i| i.to_string()));
        }

        #[test]
        fn encoded_data_never_carries_a_bare_cr(data in data_strategy(), name in proptest::option::of(any::<String>())) {
            let text = event(Some(1), name.as_deref(), &data);
            prop_assert!(!text.contains('\r'));
            // Every line is a field of ours, so no payload line escaped.
            for line in text.split('\n').filter(|l| !l.is_empty()) {
                prop_assert!(
                    line.starts_with("id: ") || line.starts_with("event: ") || line.starts_with("data: "),
                    "stray line {:?}", line
                );
            }
        }

        #[test]
        fn several_events_in_a_row_decode_in_order(
            items in proptest::collection::vec((any::<u64>(), data_strategy()), 1..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..10),
        ) {
            let mut text = retry(1000);
            for (id, data) in &items {
                text.push_str(&comment("ping"));
                text.push_str(&event(Some(*id), Some("app-update"), data));
            }
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in chunks(&text, &cuts) {
                got.extend(d.push(&chunk));
            }
            prop_assert_eq!(got.len(), items.len() + 1);
            prop_assert_eq!(got[0].retry, Some(1000));
            for ((id, data), m) in items.iter().zip(&got[1..]) {
                prop_assert_eq!(m.id.clone(), Some(id.to_string()));
                prop_assert_eq!(&m.event, "app-update");
                prop_assert_eq!(&m.data, &data.replace("\r\n", "\n").replace('\r', "\n"));
            }
        }
    }
}
