//! Validation of request bodies: [`validate`] checks a JSON body against a
//! content [`Table`] and answers the [`Changes`] it makes, or a 422 naming
//! the key or field at fault.
//!
//! Validation happens before anything is written and needs no database:
//! keys, kinds, lengths and formats. Whether a reference points at a row is
//! left to the write itself (see the module docs of [`sql`](super::sql)).

use serde_json::Value;

use super::schema::{singular, Field, Kind, SqlValue, Table, MAX_ID, READ_ONLY};
use crate::error::{ApiError, ApiResult};

/// The longest quotation of a client's key in an error message, so that a
/// hostile body is not echoed back whole.
const MAX_QUOTED_CHARS: usize = 64;

/// Whether a body creates an entity (required fields must be present) or
/// updates one (every field optional, at least one present).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POST /api/{type}`.
    Create,
    /// `PATCH /api/{type}/:id`.
    Update,
}

/// A validated body: the fields it sets and their values, in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes(Vec<(&'static Field, SqlValue)>);

impl Changes {
    /// The fields set and their values.
    pub fn fields(&self) -> &[(&'static Field, SqlValue)] {
        &self.0
    }
}

/// A key from a request body, cut and escaped for an error message.
fn quote(key: &str) -> String {
    let cut: String = key.chars().take(MAX_QUOTED_CHARS).collect();
    format!("{cut:?}")
}

pub(super) fn invalid(message: String) -> ApiError {
    ApiError::Unprocessable(message)
}

/// Checks a request body against the table: a JSON object whose keys are
/// fields of the table (422 naming an unknown or read-only key), whose
/// values have the field's kind, length and format (422 naming the field),
/// with every required field on create and at least one field on update.
///
/// References are only checked for shape here; whether they point at a row
/// is checked by the write.
pub fn validate(table: &'static Table, body: &Value, mode: Mode) -> ApiResult<Changes> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid("body must be a JSON object".into()))?;
    for key in object.keys() {
        if READ_ONLY.contains(&key.as_str()) {
            return Err(invalid(format!(
                "field {} is set by the server and cannot be written",
                quote(key)
            )));
        }
        if table.field(key).is_none() {
            return Err(invalid(format!(
                "unknown field {} for {}; the fields are: {}",
                quote(key),
                table.name(),
                table.keys()
            )));
        }
    }
    let mut changes = Vec::new();
    for field in table.fields {
        match object.get(field.key) {
            Some(value) => changes.push((field, check(field, value)?)),
            None if mode == Mode::Create && field.required => {
                return Err(invalid(format!(
                    "missing required field {:?} of a {}",
                    field.key,
                    table.singular()
                )))
            }
            None => {}
        }
    }
    if changes.is_empty() {
        return Err(invalid(format!(
            "body sets no field; the fields of {} are: {}",
            table.name(),
            table.keys()
        )));
    }
    Ok(Changes(changes))
}

/// The value of one field, or a 422 naming it.
fn check(field: &Field, value: &Value) -> ApiResult<SqlValue> {
    let key = field.key;
    match field.kind {
        Kind::Text { min, max, format } => {
            let s = value
                .as_str()
                .ok_or_else(|| invalid(format!("field {key:?} must be a string")))?;
            let n = s.chars().count();
            if n < min {
                return Err(invalid(if min == 1 {
                    format!("field {key:?} must not be empty")
                } else {
                    format!("field {key:?} must be at least {min} characters (got {n})")
                }));
            }
            if n > max {
                return Err(invalid(format!(
                    "field {key:?} must be at most {max} characters (got {n})"
                )));
            }
            // SQLite's length() stops at a NUL, so such text would slip past
            // the schema's CHECKs; no content needs one.
            if s.contains('\0') {
                return Err(invalid(format!(
                    "field {key:?} must not contain NUL characters"
                )));
            }
            if !format.accepts(s) {
                return Err(invalid(format!(
                    "field {key:?} must be {}",
                    format.describe()
                )));
            }
            Ok(SqlValue::Text(s.to_owned()))
        }
        Kind::Ref { target, nullable } => {
            if value.is_null() && nullable {
                return Ok(SqlValue::Null);
            }
            match value.as_i64() {
                Some(id) if (1..=MAX_ID).contains(&id) => Ok(SqlValue::Integer(id)),
                _ => Err(invalid(format!(
                    "field {key:?} must be the id of a {} (a positive integer){}",
                    singular(target),
                    if nullable { " or null" } else { "" }
                ))),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::schema::fixtures::posts;
    use crate::db::schema::table;
    use polycache_core::types::EntityType;
    use serde_json::json;

    fn error_of(table: &'static Table, body: Value, mode: Mode) -> String {
        match validate(table, &body, mode) {
            Err(ApiError::Unprocessable(m)) => m,
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn create_requires_the_required_fields() {
        let m = error_of(posts(), json!({"title": "t"}), Mode::Create);
        assert!(m.contains("missing required field \"body\""), "{m}");
        let ok = validate(posts(), &json!({"title": "t", "body": ""}), Mode::Create).unwrap();
        assert_eq!(ok.fields().len(), 2);
        // The same body is a fine update.
        validate(posts(), &json!({"title": "t"}), Mode::Update).unwrap();
    }

    #[test]
    fn rejects_non_objects_unknown_and_read_only_keys() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            let m = error_of(posts(), body, Mode::Create);
            assert!(m.contains("JSON object"), "{m}");
        }
        let m = error_of(posts(), json!({"title": "t", "colour": 1}), Mode::Update);
        assert!(m.contains("unknown field \"colour\""), "{m}");
        assert!(m.contains("title, body, categoryId, pictureId"), "{m}");
        for key in READ_ONLY {
            let m = error_of(posts(), json!({ key: 1, "title": "t" }), Mode::Update);
            assert!(
                m.contains(&format!("field \"{key}\" is set by the server")),
                "{m}"
            );
        }
        // snake_case columns are not keys.
        let m = error_of(posts(), json!({"category_id": 1}), Mode::Update);
        assert!(m.contains("unknown field \"category_id\""), "{m}");
        let long = "k\n".repeat(500);
        let m = error_of(posts(), json!({ long: 1 }), Mode::Update);
        assert!(m.len() < 300 && !m.contains('\n'), "{m}");
    }

    #[test]
    fn update_must_set_something() {
        let m = error_of(posts(), json!({}), Mode::Update);
        assert!(m.contains("sets no field"), "{m}");
    }

    #[test]
    fn checks_types_lengths_and_formats() {
        let cases = [
            (json!({"title": 5}), "\"title\" must be a string"),
            (json!({"title": null}), "\"title\" must be a string"),
            (json!({"title": ""}), "\"title\" must not be empty"),
            (
                json!({"title": "é".repeat(201)}),
                "at most 200 characters (got 201)",
            ),
            (json!({"body": "a\0b"}), "NUL"),
            (
                json!({"categoryId": "1"}),
                "\"categoryId\" must be the id of a category",
            ),
            (json!({"categoryId": 1.5}), "positive integer) or null"),
            (json!({"categoryId": 0}), "positive integer"),
            (json!({"categoryId": -3}), "positive integer"),
            (json!({"categoryId": MAX_ID + 1}), "positive integer"),
            (json!({"categoryId": true}), "positive integer"),
        ];
        for (body, want) in cases {
            let m = error_of(posts(), body.clone(), Mode::Update);
            assert!(m.contains(want), "{body}: {m}");
        }
        let title = "é".repeat(200);
        let ok = validate(
            posts(),
            &json!({"title": title, "categoryId": null, "pictureId": MAX_ID}),
            Mode::Update,
        )
        .unwrap();
        assert_eq!(
            ok.fields()
                .iter()
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>(),
            [
                SqlValue::Text(title),
                SqlValue::Null,
                SqlValue::Integer(MAX_ID)
            ]
        );
        let categories = table(EntityType::CATEGORIES).unwrap();
        let m = error_of(categories, json!({"typeId": null}), Mode::Update);
        assert!(m.contains("the id of a type (a positive integer)"), "{m}");
        assert!(!m.contains("or null"), "{m}");
    }
}
