//! Bodies of the public API that more than one program reads or writes:
//! the login answer (read by the CLI and by a mirroring deployment's
//! Hub), the invalidate request (written by the CLI and by a mirroring
//! deployment's outbox, read by the Worker) and its answer. One type each,
//! so that no side reads the other's JSON back by name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Action;
use crate::jwt::Role;
use crate::types::EntityType;

/// `POST /api/auth/login`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// Its password, in clear over TLS; never logged.
    pub password: String,
}

/// `POST /api/auth/login`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// An HS256 JWT for `Authorization: Bearer`.
    pub token: String,
    /// When it expires, in milliseconds since the epoch (the token's `exp`
    /// times 1,000).
    pub expires_at: u64,
    /// The account's role (absent from the answers of deployments older
    /// than the field, which a mirroring deployment may log in to).
    #[serde(default)]
    pub role: Option<Role>,
}

/// `POST /api/cache/invalidate`'s body. Unknown fields are refused, so a
/// misspelt one is an error rather than a silent default; a field left
/// `None` is left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InvalidateBody {
    /// The type as the caller names it (`post` or `posts`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// The entity, if one: a string or a number (checked by the Worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// `create`, `update` (the default) or `delete`, checked by the Worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// False: do not mirror (every mirrored delivery says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<bool>,
    /// The deployment where the change was made (a mirror's `INSTANCE_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The event id on that deployment, for exactly-once effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<u64>,
    /// The sending Hub's epoch (drawn once, kept for its life), which tells
    /// its event ids from those of an earlier life of that deployment
    /// whose state was wiped; absent from an older sender (epoch `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

impl InvalidateBody {
    /// The body a mirroring deployment sends for its event `event_id` of
    /// its `epoch` (none sent when empty).
    pub fn mirrored(
        type_name: &str,
        entity_id: Option<&str>,
        action: Action,
        origin: &str,
        epoch: &str,
        event_id: u64,
    ) -> Self {
        Self {
            type_name: type_name.to_owned(),
            id: Some(entity_id.map_or(Value::Null, |id| Value::String(id.to_owned()))),
            action: Some(action.as_str().to_owned()),
            mirror: Some(false),
            origin: Some(origin.to_owned()),
            event_id: Some(event_id),
            epoch: (!epoch.is_empty()).then(|| epoch.to_owned()),
        }
    }
}

/// The most deliveries one `POST /api/cache/invalidate` carries as
/// `{"deliveries": [...]}`. Not a setting: sender and receiver are
/// different deployments and must agree on it. 100 keeps the largest body
/// (about 440 bytes per delivery with the longest id, origin and epoch)
/// and the largest answer (see the test below) within the Worker's 64 KiB
/// on either side.
pub const MAX_BATCH: usize = 100;

/// `POST /api/cache/invalidate`'s body for several deliveries at once (a
/// mirror catching up): each entry as a single delivery's body, applied in
/// order, all or none refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidateBatchBody {
    /// 1 to [`MAX_BATCH`] single delivery bodies.
    pub deliveries: Vec<InvalidateBody>,
}

/// The message of a batch refused for one entry: the receiver names the
/// entry's index first, so that a sender tells this refusal (it takes
/// batches; this one entry is bad) from an older receiver's refusal of the
/// batch body itself. [`refused_entry`] reads it back.
pub fn entry_refusal(index: usize, message: &str) -> String {
    format!("deliveries[{index}]: {message}")
}

/// The index named by a receiver's [`entry_refusal`], if `message` is one.
pub fn refused_entry(message: &str) -> Option<usize> {
    let rest = message.strip_prefix("deliveries[")?;
    let (digits, _) = rest.split_once("]: ")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The answer to [`InvalidateBatchBody`]: one result per delivery, in
/// their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidateBatchAnswer {
    /// What a single delivery of each would have answered.
    pub results: Vec<InvalidateAnswer>,
}

/// `POST /api/cache/invalidate`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidateAnswer {
    /// Always true on success (errors have their own body).
    pub ok: bool,
    /// The event's id (of the first delivery, for a repeat).
    pub event_id: u64,
    /// The canonical closure invalidated.
    pub types: Vec<EntityType>,
    /// True when this was a repeat of a delivery already applied.
    pub duplicate: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_mirrored_delivery_is_the_documented_body() {
        let body = InvalidateBody::mirrored("posts", None, Action::Update, "local-dev", "", 1042);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"type":"posts","id":null,"action":"update","mirror":false,"origin":"local-dev","eventId":1042})
        );
        let with_epoch =
            InvalidateBody::mirrored("posts", None, Action::Update, "local-dev", "9f2c", 1042);
        assert_eq!(
            serde_json::to_value(&with_epoch).unwrap()["epoch"],
            serde_json::json!("9f2c")
        );
        // A null id reads back as no id, which the receiver treats alike.
        let back: InvalidateBody =
            serde_json::from_value(serde_json::to_value(&body).unwrap()).unwrap();
        assert_eq!((back.id, back.event_id), (None, Some(1042)));
        assert!(
            serde_json::from_str::<InvalidateBody>(r#"{"type":"posts","colour":"red"}"#).is_err()
        );
    }

    #[test]
    fn the_login_answer_is_camel_case_with_a_lowercase_role() {
        let answer = LoginResponse {
            token: "t".into(),
            expires_at: 5_000,
            role: Some(Role::Service),
        };
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"token":"t","expiresAt":5000,"role":"service"}"#
        );
    }

    #[test]
    fn the_largest_batch_answer_fits_the_bound_on_a_mirrors_answer() {
        // Every type in every closure, event ids at their largest.
        let result = InvalidateAnswer {
            ok: true,
            event_id: u64::MAX,
            types: EntityType::ALL.to_vec(),
            duplicate: false,
        };
        let answer = InvalidateBatchAnswer {
            results: vec![result; MAX_BATCH],
        };
        let len = serde_json::to_string(&answer).unwrap().len();
        assert!(len <= crate::outbox::MAX_ANSWER_BYTES, "{len} bytes");
    }

    #[test]
    fn the_largest_batch_body_fits_the_workers_body_limit() {
        let long = "x".repeat(128);
        let one = InvalidateBody::mirrored(
            "categories",
            Some(&long),
            Action::Update,
            &long,
            &"f".repeat(64),
            u64::MAX,
        );
        let body = InvalidateBatchBody {
            deliveries: vec![one; MAX_BATCH],
        };
        let len = serde_json::to_string(&body).unwrap().len();
        // The Worker's body limit (src/body.rs), the same 64 KiB.
        assert!(len <= crate::outbox::MAX_ANSWER_BYTES, "{len} bytes");
    }

    #[test]
    fn a_refused_entrys_index_is_read_back_from_its_message() {
        let message = entry_refusal(7, r#"unknown type "pages""#);
        assert_eq!(message, r#"deliveries[7]: unknown type "pages""#);
        assert_eq!(refused_entry(&message), Some(7));
    }

    #[test]
    fn an_older_receivers_refusal_names_no_entry() {
        for message in [
            "unknown field `deliveries`, expected one of `type`, `id`",
            "deliveries must hold 1 to 100 entries, not 0",
            "deliveries[]: x",
            "deliveries[1x]: x",
            "deliveries[99999999999999999999999]: x",
            "deliveries[3]",
        ] {
            assert_eq!(refused_entry(message), None, "{message}");
        }
    }
}
