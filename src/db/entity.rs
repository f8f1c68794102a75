//! Entities as JSON: an [`Entity`] is one row of a content table, a
//! [`FeedItem`] a post or page of the feed with its category, and
//! [`to_json`] writes either (or a list of them) as text.
//!
//! An entity is a JSON object with camelCase keys in column order, e.g. a post:
//! `{"id":1,"title":"…","body":"…","categoryId":3,"pictureId":null,
//! "createdAt":1788339600000,"updatedAt":1788339600000}`; timestamps are
//! milliseconds since the Unix epoch, set by the Worker.

use std::cmp::Reverse;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::schema::Table;
use crate::error::{ApiError, ApiResult};

/// One row of a content table, serialized as a JSON object with its keys in
/// column order (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    table: &'static Table,
    id: i64,
    created_at: i64,
    /// One value per field of the table, in order.
    fields: Vec<Value>,
    updated_at: i64,
}

impl Entity {
    /// Reads an entity from a D1 row object with the columns of
    /// [`Table::select_list`].
    pub(super) fn from_row(table: &'static Table, row: &Map<String, Value>) -> ApiResult<Entity> {
        let integer = |column: &str| {
            row.get(column).and_then(Value::as_i64).ok_or_else(|| {
                ApiError::Internal(format!("a row of {} has no integer {column}", table.name()))
            })
        };
        let fields = table
            .fields
            .iter()
            .map(|f| {
                row.get(f.column).cloned().ok_or_else(|| {
                    ApiError::Internal(format!("a row of {} lacks {}", table.name(), f.column))
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(Entity {
            table,
            id: integer("id")?,
            created_at: integer("created_at")?,
            fields,
            updated_at: integer("updated_at")?,
        })
    }

    /// The id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// When it was created, in milliseconds since the Unix epoch.
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    fn serialize_entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("id", &self.id)?;
        for (field, value) in self.table.fields.iter().zip(&self.fields) {
            map.serialize_entry(field.key, value)?;
        }
        map.serialize_entry("createdAt", &self.created_at)?;
        map.serialize_entry("updatedAt", &self.updated_at)
    }
}

impl Serialize for Entity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.serialize_entries(&mut map)?;
        map.end()
    }
}

/// A category as the feed shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryRef {
    /// The category's id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// One item of the feed: a post or a page, its fields, and its category.
///
/// JSON: `{"kind":"post", ...the entity's fields..., "category":{"id":3,
/// "name":"Edge Basics"}}` (`category` is `null` when there is none).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub(super) kind: &'static str,
    pub(super) entity: Entity,
    pub(super) category: Option<CategoryRef>,
}

impl Serialize for FeedItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", self.kind)?;
        self.entity.serialize_entries(&mut map)?;
        map.serialize_entry("category", &self.category)?;
        map.end()
    }
}

/// The feed's order: newest first by `createdAt`, then by id (larger
/// first), posts before pages at a full tie; stable for equal keys.
pub(super) fn sort_feed(items: &mut [FeedItem]) {
    items.sort_by_key(|item| {
        (
            Reverse(item.entity.created_at),
            Reverse(item.entity.id),
            item.kind != "post",
        )
    });
}

/// JSON text of a value (entities, lists, the feed).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::schema::fixtures::{pages, posts};
    use serde_json::json;

    fn entity(table: &'static Table, id: i64, created_at: i64, extra: Value) -> Entity {
        let mut row = json!({"id": id, "created_at": created_at, "updated_at": created_at + 1});
        for f in table.fields {
            row[f.column] = Value::Null;
        }
        for (k, v) in extra.as_object().unwrap() {
            row[k.as_str()] = v.clone();
        }
        Entity::from_row(table, row.as_object().unwrap()).unwrap()
    }

    #[test]
    fn entities_serialize_camel_case_in_column_order() {
        let e = entity(
            posts(),
            7,
            1000,
            json!({"title": "T", "body": "B", "category_id": 3}),
        );
        assert_eq!(
            to_json(&e).unwrap(),
            r#"{"id":7,"title":"T","body":"B","categoryId":3,"pictureId":null,"createdAt":1000,"updatedAt":1001}"#
        );
        let missing = json!({"id": 1, "created_at": 1, "updated_at": 1});
        assert!(Entity::from_row(posts(), missing.as_object().unwrap()).is_err());
    }

    #[test]
    fn feed_items_are_newest_first_with_their_category() {
        let mut items = vec![
            FeedItem {
                kind: "post",
                entity: entity(posts(), 1, 100, json!({})),
                category: None,
            },
            FeedItem {
                kind: "page",
                entity: entity(pages(), 1, 300, json!({})),
                category: Some(CategoryRef {
                    id: 4,
                    name: "About".into(),
                }),
            },
            FeedItem {
                kind: "post",
                entity: entity(posts(), 2, 300, json!({})),
                category: None,
            },
        ];
        sort_feed(&mut items);
        let order: Vec<_> = items.iter().map(|i| (i.kind, i.entity.id)).collect();
        assert_eq!(order, [("post", 2), ("page", 1), ("post", 1)]);
        let json: Value = serde_json::from_str(&to_json(&items[1]).unwrap()).unwrap();
        assert_eq!(json["kind"], "page");
        assert_eq!(json["category"], json!({"id": 4, "name": "About"}));
        assert_eq!(json["slug"], Value::Null);
        let text = to_json(&items[1]).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"page","id":1,"title""#),
            "{text}"
        );
        assert!(
            text.ends_with(r#""category":{"id":4,"name":"About"}}"#),
            "{text}"
        );
    }
}
