//! The invalidation event: what a write tells every browser and mirror.
//!
//! One event is produced per acknowledged invalidation and sent as the data
//! of an SSE `app-update`. Its JSON is a wire format shared with the
//! TypeScript client and with other deployments, so the field names are
//! fixed here, once: `type` keeps the name the caller used (`"post"`, for
//! clients keyed on the original singular names (docs/architecture.md, "Where it comes from")) while `types` lists the
//! canonical closure that was actually invalidated.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::types::EntityType;
use crate::{Error, Result};

/// What the write did to the entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new entity.
    Create,
    /// A changed entity; the default, since an invalidation without a
    /// stated action means "this may have changed".
    #[default]
    Update,
    /// A removed entity.
    Delete,
}

impl Action {
    /// The wire name: `"create"`, `"update"` or `"delete"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the (escaped) value and the accepted ones.
    pub fn parse(name: &str) -> Result<Action> {
        [Action::Create, Action::Update, Action::Delete]
            .into_iter()
            .find(|a| name.eq_ignore_ascii_case(a.as_str()))
            .ok_or_else(|| {
                // Cut so that a hostile body is not echoed back whole.
                let shown: String = name.chars().take(64).collect();
                Error::Invalid(format!(
                    "unknown action {shown:?}: expected create, update or delete"
                ))
            })
    }
}

impl FromStr for Action {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Action::parse(s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One acknowledged invalidation, as sent in an SSE `app-update`.
///
/// JSON: `{"id":1042,"type":"post","types":["posts","feed"],"entityId":"7",
/// "action":"update","origin":"local-dev","ts":1764000000000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidationEvent {
    /// The event id: increasing per deployment, never reused; also the SSE
    /// `id:` and the write's `x-invalidation-event` header.
    pub id: u64,
    /// The type's name as the caller gave it (`"post"`), alias included.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The canonical closure that was invalidated, `type` first.
    pub types: Vec<EntityType>,
    /// The entity's id when the write concerned one; `null` otherwise.
    pub entity_id: Option<String>,
    /// What the write did.
    pub action: Action,
    /// The `INSTANCE_ID` of the deployment where the write happened; mirrors
    /// keep it, so a mirror can tell (and not re-mirror) foreign events.
    pub origin: String,
    /// When the invalidation was acknowledged, in milliseconds since the
    /// Unix epoch.
    pub ts: u64,
}

impl InvalidationEvent {
    /// The event as one line of JSON, fit for an SSE `data:` field: JSON
    /// escapes every control character, so it never holds a raw newline.
    pub fn to_json(&self) -> String {
        // Serializing strings, integers and unit enums into a String cannot
        // fail; serde_json only reports map keys that are not strings and
        // errors raised by custom `Serialize` impls, and there are neither.
        serde_json::to_string(self).expect("an InvalidationEvent always serializes")
    }

    /// Whether a subscriber filtering on `filter` should receive this event:
    /// an empty filter receives everything, otherwise any overlap counts.
    pub fn concerns(&self, filter: &[EntityType]) -> bool {
        filter.is_empty() || self.types.iter().any(|t| filter.contains(t))
    }
}

/// An update of posts with id `id` (and timestamp `id`): the event the
/// tests of the edge tier pass around.
#[cfg(test)]
pub(crate) fn sample(id: u64) -> InvalidationEvent {
    InvalidationEvent {
        id,
        type_name: "posts".into(),
        types: vec![EntityType::POSTS],
        entity_id: None,
        action: Action::Update,
        origin: "test".into(),
        ts: id,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn example() -> InvalidationEvent {
        InvalidationEvent {
            id: 1042,
            type_name: "post".to_string(),
            types: vec![EntityType::POSTS, EntityType::FEED],
            entity_id: Some("7".to_string()),
            action: Action::Update,
            origin: "local-dev".to_string(),
            ts: 1_764_000_000_000,
        }
    }

    const EXAMPLE_JSON: &str = r#"{"id":1042,"type":"post","types":["posts","feed"],"entityId":"7","action":"update","origin":"local-dev","ts":1764000000000}"#;

    #[test]
    fn json_matches_the_design_example_exactly() {
        assert_eq!(example().to_json(), EXAMPLE_JSON);
    }

    #[test]
    fn json_round_trips() {
        let parsed: InvalidationEvent = serde_json::from_str(EXAMPLE_JSON).unwrap();
        assert_eq!(parsed, example());
    }

    #[test]
    fn missing_entity_id_is_null() {
        let event = InvalidationEvent {
            entity_id: None,
            ..example()
        };
        let json = event.to_json();
        assert!(json.contains(r#""entityId":null"#), "{json}");
        assert_eq!(
            serde_json::from_str::<InvalidationEvent>(&json).unwrap(),
            event
        );
    }

    #[test]
    fn json_never_contains_a_raw_newline() {
        let event = InvalidationEvent {
            entity_id: Some("7\r\n\ndata: forged".to_string()),
            type_name: "post\n".to_string(),
            origin: "a\u{2028}b".to_string(),
            ..example()
        };
        let json = event.to_json();
        assert!(!json.contains('\n') && !json.contains('\r'), "{json}");
        assert_eq!(
            serde_json::from_str::<InvalidationEvent>(&json).unwrap(),
            event
        );
    }

    #[test]
    fn types_accept_aliases_when_read() {
        let json = EXAMPLE_JSON.replace(r#"["posts","feed"]"#, r#"["post","feed"]"#);
        let parsed: InvalidationEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.types, [EntityType::POSTS, EntityType::FEED]);
    }

    #[test]
    fn concerns_empty_filter_or_any_overlap() {
        let event = example();
        assert!(event.concerns(&[]));
        assert!(event.concerns(&[EntityType::FEED]));
        assert!(event.concerns(&[EntityType::PAGES, EntityType::POSTS]));
        assert!(!event.concerns(&[EntityType::PAGES, EntityType::AUTH]));
    }

    #[test]
    fn action_names_and_default() {
        assert_eq!(Action::default(), Action::Update);
        for a in [Action::Create, Action::Update, Action::Delete] {
            assert_eq!(Action::parse(a.as_str()).unwrap(), a);
            assert_eq!(a.to_string().parse::<Action>().unwrap(), a);
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        }
        assert_eq!(Action::parse("DELETE").unwrap(), Action::Delete);
    }

    #[test]
    fn action_parse_names_the_bad_value() {
        let err = Action::parse("remove\n").unwrap_err();
        assert_eq!(
            err,
            Error::Invalid(
                r#"unknown action "remove\n": expected create, update or delete"#.into()
            )
        );
        assert!(Action::parse("").is_err());
        assert!(Action::parse(" update").is_err());
    }
}
