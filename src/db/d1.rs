//! The D1 calls: [`Db`] opens the `DB` binding, runs the statements of
//! [`sql`](super::sql) and reads their rows into [`Entity`]s; when the
//! guards stop a write, it asks D1 why (422 for a reference to nothing, 409
//! for a unique value taken or a delete refused by a required reference).
//!
//! The one module of `db` that touches the platform (`worker`,
//! `wasm_bindgen`), so that the others are plain Rust, tested natively.
//!
//! A failing D1 call is logged with its detail (`console_error!`) and
//! answered 503 with a generic message, never a panic.

use polycache_core::types::EntityType;
use serde_json::{Map, Value};
use wasm_bindgen::JsValue;
use worker::{console_error, D1Database, D1PreparedStatement, Env};

use super::entity::{sort_feed, CategoryRef, Entity, FeedItem};
use super::schema::{referrers, singular, table, Kind, SqlValue, Table};
use super::sql::{delete_sql, feed_sql, insert_sql, update_sql, Sql, CATEGORY_ID, CATEGORY_NAME};
use super::validate::{invalid, Changes};
use crate::error::{ApiError, ApiResult};

/// The name of the D1 binding in wrangler.toml.
pub const BINDING: &str = "DB";

/// How many referrers a 409 on delete names.
const MAX_REFERRERS_SHOWN: usize = 5;

impl SqlValue {
    fn to_js(&self) -> JsValue {
        match self {
            SqlValue::Null => JsValue::NULL,
            // Ids and timestamps stay below 2^53 (MAX_ID), so the f64 is exact.
            SqlValue::Integer(n) => JsValue::from_f64(*n as f64),
            SqlValue::Text(s) => JsValue::from_str(s),
        }
    }
}

/// Logs a D1 failure with its detail and answers 503 with a generic message.
fn unavailable(what: &str, e: &worker::Error) -> ApiError {
    console_error!("D1 {what} failed: {e}");
    ApiError::Unavailable("the database is unavailable; try again shortly".into())
}

/// A failed write: a constraint that a concurrent write broke between our
/// guards and the write is a 409 (retry), a CHECK the validation missed is a
/// bug (500), anything else is the database being unavailable (503).
fn write_failed(what: &str, e: &worker::Error) -> ApiError {
    let detail = e.to_string();
    if detail.contains("UNIQUE constraint failed") || detail.contains("FOREIGN KEY constraint") {
        console_error!("D1 {what} conflicted: {detail}");
        ApiError::Conflict("the write conflicts with a concurrent change; retry".into())
    } else if detail.contains("CHECK constraint failed") {
        ApiError::Internal(format!("D1 {what}: {detail}"))
    } else {
        unavailable(what, e)
    }
}

/// The origin database, D1.
#[derive(Debug)]
pub struct Db {
    d1: D1Database,
}

impl Db {
    /// The `DB` binding; a configuration error naming it when it is missing.
    pub fn open(env: &Env) -> ApiResult<Db> {
        env.d1(BINDING).map(|d1| Db { d1 }).map_err(|e| {
            console_error!("D1 binding {BINDING}: {e}");
            ApiError::Config(format!(
                "the D1 binding {BINDING} is missing (wrangler.toml, [[d1_databases]])"
            ))
        })
    }

    fn statement(&self, sql: &Sql) -> ApiResult<D1PreparedStatement> {
        let params: Vec<JsValue> = sql.params.iter().map(SqlValue::to_js).collect();
        self.d1
            .prepare(sql.text.as_str())
            .bind(&params)
            .map_err(|e| unavailable("bind", &e))
    }

    /// Runs a query and returns its rows as JSON objects.
    async fn rows(&self, what: &str, sql: &Sql) -> ApiResult<Vec<Map<String, Value>>> {
        self.run(what, sql, unavailable).await
    }

    /// Runs a write that returns rows; constraint failures are 409.
    async fn write_rows(&self, what: &str, sql: &Sql) -> ApiResult<Vec<Map<String, Value>>> {
        self.run(what, sql, write_failed).await
    }

    /// Runs `sql`, its failure mapped by `failed`, and returns its rows.
    async fn run(
        &self,
        what: &str,
        sql: &Sql,
        failed: fn(&str, &worker::Error) -> ApiError,
    ) -> ApiResult<Vec<Map<String, Value>>> {
        let result = self
            .statement(sql)?
            .all()
            .await
            .map_err(|e| failed(what, &e))?;
        result.results().map_err(|e| unavailable(what, &e))
    }

    async fn exists(&self, t: EntityType, id: i64) -> ApiResult<bool> {
        let sql = Sql {
            text: format!("SELECT 1 AS found FROM {} WHERE id = ?", t.as_str()),
            params: vec![SqlValue::Integer(id)],
        };
        Ok(!self.rows("exists", &sql).await?.is_empty())
    }

    /// Every row of the table, ordered by id.
    pub async fn list(&self, table: &'static Table) -> ApiResult<Vec<Entity>> {
        let sql = Sql {
            text: format!(
                "SELECT {} FROM {} ORDER BY id",
                table.select_list(None),
                table.name()
            ),
            params: vec![],
        };
        self.rows("list", &sql)
            .await?
            .iter()
            .map(|row| Entity::from_row(table, row))
            .collect()
    }

    /// The row with this id, if any.
    pub async fn get(&self, table: &'static Table, id: i64) -> ApiResult<Option<Entity>> {
        let sql = Sql {
            text: format!(
                "SELECT {} FROM {} WHERE id = ?",
                table.select_list(None),
                table.name()
            ),
            params: vec![SqlValue::Integer(id)],
        };
        self.rows("get", &sql)
            .await?
            .first()
            .map(|row| Entity::from_row(table, row))
            .transpose()
    }

    /// Inserts a row and returns it; 422 for a reference to nothing, 409
    /// for a unique value already taken.
    pub async fn create(
        &self,
        table: &'static Table,
        changes: &Changes,
        now_ms: i64,
    ) -> ApiResult<Entity> {
        let rows = self
            .write_rows("insert", &insert_sql(table, changes, now_ms))
            .await?;
        match rows.first() {
            Some(row) => Entity::from_row(table, row),
            None => Err(self.why_refused(table, changes, None).await),
        }
    }

    /// Updates a row (and its `updated_at`) and returns it; `None` when
    /// there is no such row; 422 and 409 as for [`Db::create`].
    pub async fn update(
        &self,
        table: &'static Table,
        id: i64,
        changes: &Changes,
        now_ms: i64,
    ) -> ApiResult<Option<Entity>> {
        let rows = self
            .write_rows("update", &update_sql(table, id, changes, now_ms))
            .await?;
        if let Some(row) = rows.first() {
            return Entity::from_row(table, row).map(Some);
        }
        if !self.exists(table.entity, id).await? {
            return Ok(None);
        }
        Err(self.why_refused(table, changes, Some(id)).await)
    }

    /// Deletes a row, clearing nullable references to it in the same batch;
    /// `false` when there is no such row; 409 while a required reference to
    /// it remains (see the module docs of [`sql`](super::sql)).
    pub async fn delete(&self, table: &'static Table, id: i64, now_ms: i64) -> ApiResult<bool> {
        let batch = delete_sql(table, id, now_ms)
            .iter()
            .map(|sql| self.statement(sql))
            .collect::<ApiResult<Vec<_>>>()?;
        let results = self
            .d1
            .batch(batch)
            .await
            .map_err(|e| write_failed("delete", &e))?;
        let deleted = match results.last() {
            Some(last) => !last
                .results::<Map<String, Value>>()
                .map_err(|e| unavailable("delete", &e))?
                .is_empty(),
            None => false,
        };
        if deleted {
            return Ok(true);
        }
        if !self.exists(table.entity, id).await? {
            return Ok(false);
        }
        Err(self.still_referenced(table, id).await)
    }

    /// Why guarded write was refused: the first reference to nothing (422),
    /// else the first unique value taken (409), else a concurrent change.
    async fn why_refused(&self, table: &Table, changes: &Changes, id: Option<i64>) -> ApiError {
        for (field, value) in changes.fields() {
            if let (Kind::Ref { target, .. }, SqlValue::Integer(ref_id)) = (field.kind, value) {
                match self.exists(target, *ref_id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return invalid(format!(
                            "field {:?}: there is no {} with id {ref_id}",
                            field.key,
                            singular(target)
                        ))
                    }
                    Err(e) => return e,
                }
            }
        }
        for (field, value) in changes.fields() {
            if !field.unique {
                continue;
            }
            let sql = Sql {
                text: format!(
                    "SELECT id FROM {} WHERE {} = ? AND id <> ?",
                    table.name(),
                    field.column
                ),
                params: vec![value.clone(), SqlValue::Integer(id.unwrap_or(0))],
            };
            match self.rows("unique check", &sql).await {
                Ok(rows) if rows.is_empty() => {}
                Ok(rows) => {
                    let other = rows
                        .first()
                        .and_then(|r| r.get("id"))
                        .and_then(Value::as_i64)
                        .unwrap_or_default();
                    return ApiError::Conflict(format!(
                        "field {:?}: {} {other} already has this {}",
                        field.key,
                        table.singular(),
                        field.key
                    ));
                }
                Err(e) => return e,
            }
        }
        ApiError::Conflict(format!(
            "the {} changed concurrently; retry",
            table.singular()
        ))
    }

    /// The 409 of a delete refused by required references, naming them.
    async fn still_referenced(&self, table: &Table, id: i64) -> ApiError {
        for (referrer, field) in referrers(table.entity) {
            if !matches!(
                field.kind,
                Kind::Ref {
                    nullable: false,
                    ..
                }
            ) {
                continue;
            }
            let sql = Sql {
                text: format!(
                    "SELECT id FROM {} WHERE {} = ? ORDER BY id LIMIT {}",
                    referrer.name(),
                    field.column,
                    MAX_REFERRERS_SHOWN
                ),
                params: vec![SqlValue::Integer(id)],
            };
            match self.rows("referrers", &sql).await {
                Ok(rows) if rows.is_empty() => {}
                Ok(rows) => {
                    let ids: Vec<String> = rows
                        .iter()
                        .filter_map(|r| r.get("id").and_then(Value::as_i64))
                        .map(|id| id.to_string())
                        .collect();
                    return ApiError::Conflict(format!(
                        "{} {id} is still the {:?} of {} {}; reassign or delete them first",
                        table.singular(),
                        field.key,
                        referrer.name(),
                        ids.join(", ")
                    ));
                }
                Err(e) => return e,
            }
        }
        ApiError::Conflict(format!(
            "the {} changed concurrently; retry",
            table.singular()
        ))
    }

    /// Posts and pages with their categories, newest first. One batch, so
    /// that both lists come from one state of the database.
    pub async fn feed(&self) -> ApiResult<Vec<FeedItem>> {
        let sources = [(EntityType::POSTS, "post"), (EntityType::PAGES, "page")];
        let mut batch = Vec::new();
        for (t, _) in sources {
            let sql = Sql {
                text: feed_sql(table(t)?),
                params: vec![],
            };
            batch.push(self.statement(&sql)?);
        }
        let results = self
            .d1
            .batch(batch)
            .await
            .map_err(|e| unavailable("feed", &e))?;
        let mut items = Vec::new();
        for ((t, kind), result) in sources.into_iter().zip(&results) {
            let table = table(t)?;
            let rows: Vec<Map<String, Value>> =
                result.results().map_err(|e| unavailable("feed", &e))?;
            for row in &rows {
                let category = match (
                    row.get(CATEGORY_ID).and_then(Value::as_i64),
                    row.get(CATEGORY_NAME).and_then(Value::as_str),
                ) {
                    (Some(id), Some(name)) => Some(CategoryRef {
                        id,
                        name: name.to_owned(),
                    }),
                    _ => None,
                };
                items.push(FeedItem {
                    kind,
                    entity: Entity::from_row(table, row)?,
                    category,
                });
            }
        }
        sort_feed(&mut items);
        Ok(items)
    }
}
