//! The SQL of the writes and of the feed, as `Sql`: text and bound values.
//!
//! SQL text is built only from the static names of the
//! [`schema`](super::schema); every value is a bound parameter. The one-line
//! reads (a list, a row, the checks after a refused write) are written where
//! [`Db`](super::d1::Db) runs them.
//!
//! References are checked by the write itself: an insert or update carries
//! `EXISTS` guards for every id it sets, in the same statement, so a
//! reference to a row deleted concurrently cannot slip in between a check and
//! the write; a write the guards stop is diagnosed afterwards, and a
//! dangling reference answers 422 naming the field. Production D1 enforces
//! foreign keys and local D1 may not, so the Worker never relies on either.
//!
//! Deleting a referenced row:
//! - through a nullable column (a post's `categoryId`, a page's
//!   `translationId`, ...): the references are set to `NULL` (and the
//!   referrers' `updatedAt` to now) in the same batch as the delete, so a
//!   post outlives its category. The dependency graph already invalidates
//!   the referrers' types (`posts` depends on `categories`).
//! - through a required column (a category's `typeId`): the delete is
//!   refused with 409 naming the referrers; reassign or delete them first.

use super::schema::{referrers, Kind, SqlValue, Table};
use super::validate::Changes;

/// One statement: SQL text from static names, and its bound values.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) params: Vec<SqlValue>,
}

/// The conditions a write of `changes` must meet, in the same statement as
/// the write: every reference set points at a row, and every unique value
/// is not held by another row (`id`: the row being updated, if any).
fn guards(table: &Table, changes: &Changes, id: Option<i64>) -> (Vec<String>, Vec<SqlValue>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    for (field, value) in changes.fields() {
        match (field.kind, value) {
            (Kind::Ref { target, .. }, SqlValue::Integer(_)) => {
                conditions.push(format!(
                    "EXISTS (SELECT 1 FROM {} WHERE id = ?)",
                    target.as_str()
                ));
                params.push(value.clone());
            }
            (Kind::Text { .. }, SqlValue::Text(_)) if field.unique => {
                let other = if id.is_some() { " AND id <> ?" } else { "" };
                conditions.push(format!(
                    "NOT EXISTS (SELECT 1 FROM {} WHERE {} = ?{other})",
                    table.name(),
                    field.column
                ));
                params.push(value.clone());
                params.extend(id.map(SqlValue::Integer));
            }
            _ => {}
        }
    }
    (conditions, params)
}

pub(super) fn insert_sql(table: &Table, changes: &Changes, now_ms: i64) -> Sql {
    let mut columns: Vec<&str> = changes.fields().iter().map(|(f, _)| f.column).collect();
    columns.extend(["created_at", "updated_at"]);
    let mut params: Vec<SqlValue> = changes.fields().iter().map(|(_, v)| v.clone()).collect();
    params.extend([SqlValue::Integer(now_ms), SqlValue::Integer(now_ms)]);
    let (conditions, guard_params) = guards(table, changes, None);
    params.extend(guard_params);
    // `WHERE 1` when there is nothing to guard: the WHERE also keeps SQLite
    // from reading RETURNING as an alias of the last selected value.
    let condition = if conditions.is_empty() {
        "1".to_owned()
    } else {
        conditions.join(" AND ")
    };
    Sql {
        text: format!(
            "INSERT INTO {} ({}) SELECT {} WHERE {condition} RETURNING {}",
            table.name(),
            columns.join(", "),
            vec!["?"; columns.len()].join(", "),
            table.select_list(None)
        ),
        params,
    }
}

pub(super) fn update_sql(table: &Table, id: i64, changes: &Changes, now_ms: i64) -> Sql {
    let mut sets: Vec<String> = changes
        .fields()
        .iter()
        .map(|(f, _)| format!("{} = ?", f.column))
        .collect();
    sets.push("updated_at = ?".into());
    let mut params: Vec<SqlValue> = changes.fields().iter().map(|(_, v)| v.clone()).collect();
    params.extend([SqlValue::Integer(now_ms), SqlValue::Integer(id)]);
    let (conditions, guard_params) = guards(table, changes, Some(id));
    params.extend(guard_params);
    let mut condition = "id = ?".to_owned();
    for c in conditions {
        condition.push_str(" AND ");
        condition.push_str(&c);
    }
    Sql {
        text: format!(
            "UPDATE {} SET {} WHERE {condition} RETURNING {}",
            table.name(),
            sets.join(", "),
            table.select_list(None)
        ),
        params,
    }
}

/// The batch that deletes row `id`: first clears every nullable reference
/// to it, then deletes it, each statement guarded by "no required reference
/// to it remains", so a refused delete changes nothing. The last statement
/// returns the deleted id, if any.
pub(super) fn delete_sql(table: &Table, id: i64, now_ms: i64) -> Vec<Sql> {
    let mut restrict = String::new();
    let mut restrict_params = Vec::new();
    for (referrer, field) in referrers(table.entity) {
        if matches!(
            field.kind,
            Kind::Ref {
                nullable: false,
                ..
            }
        ) {
            restrict.push_str(&format!(
                " AND NOT EXISTS (SELECT 1 FROM {} WHERE {} = ?)",
                referrer.name(),
                field.column
            ));
            restrict_params.push(SqlValue::Integer(id));
        }
    }
    let mut batch = Vec::new();
    for (referrer, field) in referrers(table.entity) {
        if matches!(field.kind, Kind::Ref { nullable: true, .. }) {
            let mut params = vec![SqlValue::Integer(now_ms), SqlValue::Integer(id)];
            params.extend(restrict_params.iter().cloned());
            batch.push(Sql {
                text: format!(
                    "UPDATE {} SET {col} = NULL, updated_at = ? WHERE {col} = ?{restrict}",
                    referrer.name(),
                    col = field.column
                ),
                params,
            });
        }
    }
    let mut params = vec![SqlValue::Integer(id)];
    params.extend(restrict_params);
    batch.push(Sql {
        text: format!(
            "DELETE FROM {} WHERE id = ?{restrict} RETURNING id",
            table.name()
        ),
        params,
    });
    batch
}

/// The column aliases of a feed item's category.
pub(super) const CATEGORY_ID: &str = "category__id";
pub(super) const CATEGORY_NAME: &str = "category__name";

pub(super) fn feed_sql(table: &Table) -> String {
    format!(
        "SELECT {}, c.id AS {CATEGORY_ID}, c.name AS {CATEGORY_NAME} \
         FROM {} AS e LEFT JOIN categories AS c ON c.id = e.category_id \
         ORDER BY e.created_at DESC, e.id DESC",
        table.select_list(Some("e")),
        table.name()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::schema::fixtures::{pages, posts};
    use crate::db::schema::table;
    use crate::db::validate::{validate, Mode};
    use polycache_core::types::EntityType;
    use serde_json::json;

    #[test]
    fn insert_binds_every_value_and_guards_references() {
        let changes = validate(
            posts(),
            &json!({"title": "t", "body": "b", "categoryId": 3, "pictureId": null}),
            Mode::Create,
        )
        .unwrap();
        let sql = insert_sql(posts(), &changes, 1000);
        assert_eq!(
            sql.text,
            "INSERT INTO posts (title, body, category_id, picture_id, created_at, updated_at) \
             SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM categories WHERE id = ?) \
             RETURNING id, title, body, category_id, picture_id, created_at, updated_at"
        );
        assert_eq!(sql.text.matches('?').count(), sql.params.len());
        assert!(!sql.text.contains('\''), "no literal values in SQL");
        assert_eq!(sql.params.last(), Some(&SqlValue::Integer(3)));
    }

    #[test]
    fn insert_without_guards_still_has_a_where() {
        let types = table(EntityType::TYPES).unwrap();
        let changes = validate(types, &json!({"name": "Topic"}), Mode::Create).unwrap();
        let sql = insert_sql(types, &changes, 1);
        assert!(
            sql.text.contains("SELECT ?, ?, ? WHERE 1 RETURNING"),
            "{}",
            sql.text
        );
    }

    #[test]
    fn update_guards_unique_values_against_other_rows() {
        let changes = validate(
            pages(),
            &json!({"slug": "about", "translationId": 2}),
            Mode::Update,
        )
        .unwrap();
        let sql = update_sql(pages(), 7, &changes, 1000);
        assert_eq!(
            sql.text,
            "UPDATE pages SET slug = ?, translation_id = ?, updated_at = ? WHERE id = ? \
             AND NOT EXISTS (SELECT 1 FROM pages WHERE slug = ? AND id <> ?) \
             AND EXISTS (SELECT 1 FROM translations WHERE id = ?) \
             RETURNING id, title, slug, body, category_id, picture_id, translation_id, created_at, updated_at"
        );
        assert_eq!(
            sql.params,
            [
                SqlValue::Text("about".into()),
                SqlValue::Integer(2),
                SqlValue::Integer(1000),
                SqlValue::Integer(7),
                SqlValue::Text("about".into()),
                SqlValue::Integer(7),
                SqlValue::Integer(2),
            ]
        );
    }

    #[test]
    fn delete_clears_nullable_references_first() {
        let categories = table(EntityType::CATEGORIES).unwrap();
        let batch = delete_sql(categories, 4, 99);
        let texts: Vec<_> = batch.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "UPDATE posts SET category_id = NULL, updated_at = ? WHERE category_id = ?",
                "UPDATE pages SET category_id = NULL, updated_at = ? WHERE category_id = ?",
                "DELETE FROM categories WHERE id = ? RETURNING id",
            ]
        );
        for sql in &batch {
            assert_eq!(sql.text.matches('?').count(), sql.params.len());
        }
    }

    #[test]
    fn delete_is_restricted_by_required_references() {
        let types = table(EntityType::TYPES).unwrap();
        let batch = delete_sql(types, 2, 99);
        assert_eq!(batch.len(), 1);
        assert_eq!(
            batch[0].text,
            "DELETE FROM types WHERE id = ? AND NOT EXISTS \
             (SELECT 1 FROM categories WHERE type_id = ?) RETURNING id"
        );
        assert_eq!(
            batch[0].params,
            [SqlValue::Integer(2), SqlValue::Integer(2)]
        );
        // Nothing references a post.
        assert_eq!(delete_sql(posts(), 1, 99).len(), 1);
    }

    #[test]
    fn feed_sql_aliases_every_column() {
        let sql = feed_sql(posts());
        assert!(
            sql.starts_with("SELECT e.id AS id, e.title AS title"),
            "{sql}"
        );
        assert!(sql.contains("LEFT JOIN categories AS c ON c.id = e.category_id"));
    }
}
