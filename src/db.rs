//! D1 queries of the origin data, driven by [`TABLES`], one description per
//! content table.
//!
//! Every content type has one D1 table named after its canonical plural
//! (`migrations/0001_schema.sql`). Rather than a struct and a set of
//! hand-written queries per type, one static [`Table`] per type lists its
//! fields: the JSON key, the column, the [`Kind`] (text with its limits and
//! format, or a reference to another table) and whether create requires it.
//! That one table drives the validation of request bodies ([`validate`]),
//! the SQL of every query and the JSON of every [`Entity`], so the six types
//! cannot drift apart. SQL text is built only from these static names; every
//! value is a bound parameter.
//!
//! An entity is a JSON object with camelCase keys in column order, e.g. a post:
//! `{"id":1,"title":"…","body":"…","categoryId":3,"pictureId":null,
//! "createdAt":1788339600000,"updatedAt":1788339600000}`; timestamps are
//! milliseconds since the Unix epoch, set by the Worker.
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
//!
//! A failing D1 call is logged with its detail (`console_error!`) and
//! answered 503 with a generic message, never a panic.

use std::cmp::Reverse;

use polycache_core::types::EntityType;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::JsValue;
use worker::{console_error, D1Database, D1PreparedStatement, Env};

use crate::error::{ApiError, ApiResult};

/// The name of the D1 binding in wrangler.toml.
pub const BINDING: &str = "DB";

/// The JSON keys every entity has and the server alone sets.
pub const READ_ONLY: [&str; 3] = ["id", "createdAt", "updatedAt"];

/// The largest id a reference may hold: JavaScript's
/// `Number.MAX_SAFE_INTEGER` (2^53 - 1), since D1 passes values through JS
/// numbers and a larger one would silently round to another id.
pub const MAX_ID: i64 = (1 << 53) - 1;

/// The longest quotation of a client's key in an error message, so that a
/// hostile body is not echoed back whole.
const MAX_QUOTED_CHARS: usize = 64;

/// How many referrers a 409 on delete names.
const MAX_REFERRERS_SHOWN: usize = 5;

/// What a text field must look like, besides its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Any text (without NUL characters, like every text).
    Any,
    /// Lower-case ASCII letters and digits in words joined by single hyphens
    /// (`about-this-blog`), so that it fits a URL path unescaped.
    Slug,
    /// A BCP 47 language tag in its common shape: a 2-8 letter language,
    /// then hyphenated subtags of 1-8 letters or digits (`en`, `pt-BR`).
    LanguageTag,
    /// An absolute `http(s)://` URL or a root-relative path (`/img/a.png`),
    /// without whitespace: what an `<img src>` may hold.
    Url,
}

impl Format {
    fn accepts(self, s: &str) -> bool {
        match self {
            Format::Any => true,
            Format::Slug => s.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            }),
            Format::LanguageTag => {
                let mut parts = s.split('-');
                let language = parts.next().unwrap_or("");
                (2..=8).contains(&language.len())
                    && language.bytes().all(|b| b.is_ascii_alphabetic())
                    && parts.all(|p| {
                        (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
                    })
            }
            Format::Url => {
                let rest = s
                    .strip_prefix("https://")
                    .or_else(|| s.strip_prefix("http://"));
                let well_placed = match rest {
                    Some(rest) => !rest.is_empty() && !rest.starts_with('/'),
                    None => s.starts_with('/') && !s.starts_with("//"),
                };
                well_placed && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Format::Any => "text",
            Format::Slug => {
                "lower-case letters and digits in words joined by single hyphens, e.g. \"about-this-blog\""
            }
            Format::LanguageTag => "a language tag such as \"en\" or \"pt-BR\"",
            Format::Url => "an http(s) URL or a path starting with \"/\", without spaces",
        }
    }
}

/// What a JSON field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string of `min..=max` characters (Unicode scalar values, as
    /// SQLite's `length()` counts them) in `format`.
    Text {
        /// The fewest characters.
        min: usize,
        /// The most characters.
        max: usize,
        /// The shape beyond length.
        format: Format,
    },
    /// The id of a row of `target` (a JSON integer in `1..=MAX_ID`);
    /// `nullable` references may also be `null`.
    Ref {
        /// The referenced type, whose table has the type's name.
        target: EntityType,
        /// Whether `null` (no reference) is allowed.
        nullable: bool,
    },
}

/// One writable field of a content table.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    /// The JSON key (camelCase).
    pub key: &'static str,
    /// The column (snake_case).
    pub column: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Whether create must set it (others default to `''` or `NULL`).
    pub required: bool,
    /// Whether no two rows may hold the same value (409 otherwise).
    pub unique: bool,
}

/// One content table: its type and its writable fields, in column order.
/// Every table also has `id`, `created_at` and `updated_at`.
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    /// The type; the table is named after its canonical plural.
    pub entity: EntityType,
    /// The singular, for messages ("no post with id 7").
    pub singular: &'static str,
    /// The writable fields.
    pub fields: &'static [Field],
}

const fn text(key: &'static str, column: &'static str, min: usize, max: usize) -> Field {
    Field {
        key,
        column,
        kind: Kind::Text {
            min,
            max,
            format: Format::Any,
        },
        required: true,
        unique: false,
    }
}

const fn reference(
    key: &'static str,
    column: &'static str,
    target: EntityType,
    nullable: bool,
) -> Field {
    Field {
        key,
        column,
        kind: Kind::Ref { target, nullable },
        // A reference that may be absent may also be left out.
        required: !nullable,
        unique: false,
    }
}

/// A body of a post or page: 50,000 characters, so that one fits the 64 KiB
/// request limit (`body::MAX_BODY_BYTES`) with room for the rest of the JSON
/// when it is mostly ASCII; a longer text would be refused with 413 anyway.
const MAX_BODY_CHARS: usize = 50_000;

/// Titles and names: editorial limits, long enough for any heading and short
/// enough for a list view. The CHECKs of `migrations/0001_schema.sql` repeat
/// every limit below (a test checks that they agree).
const MAX_TITLE_CHARS: usize = 200;

/// The content tables. Their order is the order of [`EntityType::ALL`].
pub static TABLES: [Table; 6] = [
    Table {
        entity: EntityType::Posts,
        singular: "post",
        fields: &[
            text("title", "title", 1, MAX_TITLE_CHARS),
            text("body", "body", 0, MAX_BODY_CHARS),
            reference("categoryId", "category_id", EntityType::Categories, true),
            reference("pictureId", "picture_id", EntityType::Pictures, true),
        ],
    },
    Table {
        entity: EntityType::Pages,
        singular: "page",
        fields: &[
            text("title", "title", 1, MAX_TITLE_CHARS),
            Field {
                kind: Kind::Text {
                    min: 1,
                    max: 100,
                    format: Format::Slug,
                },
                unique: true,
                ..text("slug", "slug", 1, 100)
            },
            text("body", "body", 0, MAX_BODY_CHARS),
            reference("categoryId", "category_id", EntityType::Categories, true),
            reference("pictureId", "picture_id", EntityType::Pictures, true),
            reference(
                "translationId",
                "translation_id",
                EntityType::Translations,
                true,
            ),
        ],
    },
    Table {
        entity: EntityType::Categories,
        singular: "category",
        fields: &[
            text("name", "name", 1, 100),
            reference("typeId", "type_id", EntityType::Types, false),
        ],
    },
    Table {
        entity: EntityType::Pictures,
        singular: "picture",
        fields: &[
            Field {
                kind: Kind::Text {
                    min: 1,
                    // The longest URL that every browser and CDN handles.
                    max: 2048,
                    format: Format::Url,
                },
                ..text("url", "url", 1, 2048)
            },
            Field {
                required: false,
                ..text("alt", "alt", 0, 300)
            },
        ],
    },
    Table {
        entity: EntityType::Translations,
        singular: "translation",
        fields: &[
            Field {
                kind: Kind::Text {
                    min: 2,
                    // RFC 5646 section 4.4.1: 35 characters hold any tag
                    // that implementations must support.
                    max: 35,
                    format: Format::LanguageTag,
                },
                ..text("lang", "lang", 2, 35)
            },
            text("key", "key", 1, 200),
            text("value", "value", 0, 10_000),
        ],
    },
    Table {
        entity: EntityType::Types,
        singular: "type",
        fields: &[text("name", "name", 1, 64)],
    },
];

/// The table of a content type; `feed` and `auth` have none (a 500: the
/// router only passes content types).
pub fn table(t: EntityType) -> ApiResult<&'static Table> {
    TABLES
        .iter()
        .find(|table| table.entity == t)
        .ok_or_else(|| ApiError::Internal(format!("{t} has no D1 table")))
}

/// The singular of a type, for messages.
fn singular(t: EntityType) -> &'static str {
    table(t).map_or(t.as_str(), |table| table.singular)
}

impl Table {
    /// The SQL name of the table.
    pub fn name(&self) -> &'static str {
        self.entity.as_str()
    }

    /// The field with this JSON key.
    pub fn field(&self, key: &str) -> Option<&'static Field> {
        // `fields` is 'static, so the field outlives `self`.
        let fields: &'static [Field] = self.fields;
        fields.iter().find(|f| f.key == key)
    }

    /// Every column of an entity, in JSON order: `id`, the fields,
    /// `created_at`, `updated_at`.
    fn columns(&self) -> impl Iterator<Item = &'static str> {
        let fields: &'static [Field] = self.fields;
        std::iter::once("id")
            .chain(fields.iter().map(|f| f.column))
            .chain(["created_at", "updated_at"])
    }

    /// The column list of an entity, each column qualified by `alias` and
    /// named as itself.
    fn select_list(&self, alias: Option<&str>) -> String {
        self.columns()
            .map(|c| match alias {
                Some(a) => format!("{a}.{c} AS {c}"),
                None => c.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn keys(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.key)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every column that references `t`, with its table.
fn referrers(t: EntityType) -> impl Iterator<Item = (&'static Table, &'static Field)> {
    TABLES.iter().flat_map(move |table| {
        let fields: &'static [Field] = table.fields;
        fields
            .iter()
            .filter(move |f| matches!(f.kind, Kind::Ref { target, .. } if target == t))
            .map(move |f| (table, f))
    })
}

/// A value bound to a statement parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// An integer (an id or a timestamp).
    Integer(i64),
    /// Text.
    Text(String),
}

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

fn invalid(message: String) -> ApiError {
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
                    field.key, table.singular
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

/// One statement: SQL text from static names, and its bound values.
#[derive(Debug, Clone, PartialEq)]
struct Sql {
    text: String,
    params: Vec<SqlValue>,
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

fn insert_sql(table: &Table, changes: &Changes, now_ms: i64) -> Sql {
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

fn update_sql(table: &Table, id: i64, changes: &Changes, now_ms: i64) -> Sql {
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
fn delete_sql(table: &Table, id: i64, now_ms: i64) -> Vec<Sql> {
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
    fn from_row(table: &'static Table, row: &Map<String, Value>) -> ApiResult<Entity> {
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
    kind: &'static str,
    entity: Entity,
    category: Option<CategoryRef>,
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
fn sort_feed(items: &mut [FeedItem]) {
    items.sort_by_key(|item| {
        (
            Reverse(item.entity.created_at),
            Reverse(item.entity.id),
            item.kind != "post",
        )
    });
}

/// The column aliases of a feed item's category.
const CATEGORY_ID: &str = "category__id";
const CATEGORY_NAME: &str = "category__name";

fn feed_sql(table: &Table) -> String {
    format!(
        "SELECT {}, c.id AS {CATEGORY_ID}, c.name AS {CATEGORY_NAME} \
         FROM {} AS e LEFT JOIN categories AS c ON c.id = e.category_id \
         ORDER BY e.created_at DESC, e.id DESC",
        table.select_list(Some("e")),
        table.name()
    )
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
        let result = self
            .statement(sql)?
            .all()
            .await
            .map_err(|e| unavailable(what, &e))?;
        result.results().map_err(|e| unavailable(what, &e))
    }

    /// Runs a write that returns rows; constraint failures are 409.
    async fn write_rows(&self, what: &str, sql: &Sql) -> ApiResult<Vec<Map<String, Value>>> {
        let result = self
            .statement(sql)?
            .all()
            .await
            .map_err(|e| write_failed(what, &e))?;
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
    /// it remains (see the module docs).
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
                        field.key, table.singular, field.key
                    ));
                }
                Err(e) => return e,
            }
        }
        ApiError::Conflict(format!(
            "the {} changed concurrently; retry",
            table.singular
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
                        table.singular,
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
            table.singular
        ))
    }

    /// Posts and pages with their categories, newest first. One batch, so
    /// that both lists come from one state of the database.
    pub async fn feed(&self) -> ApiResult<Vec<FeedItem>> {
        let sources = [(EntityType::Posts, "post"), (EntityType::Pages, "page")];
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

/// JSON text of a value (entities, lists, the feed).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = include_str!("../migrations/0001_schema.sql");

    fn posts() -> &'static Table {
        table(EntityType::Posts).unwrap()
    }

    fn pages() -> &'static Table {
        table(EntityType::Pages).unwrap()
    }

    fn error_of(table: &'static Table, body: Value, mode: Mode) -> String {
        match validate(table, &body, mode) {
            Err(ApiError::Unprocessable(m)) => m,
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn every_content_type_has_a_table_in_order() {
        let types: Vec<_> = TABLES.iter().map(|t| t.entity).collect();
        let content: Vec<_> = EntityType::ALL
            .into_iter()
            .filter(|t| t.is_content())
            .collect();
        assert_eq!(types, content);
        assert!(table(EntityType::Feed).is_err());
    }

    #[test]
    fn schema_sql_matches_the_tables() {
        for table in &TABLES {
            let create = format!("CREATE TABLE {} (", table.name());
            let start = SCHEMA.find(&create).unwrap();
            let end = start + SCHEMA[start..].find(");").unwrap();
            let ddl = &SCHEMA[start..end];
            for column in table.columns() {
                assert!(ddl.contains(&format!("\n  {column} ")), "{column} in {ddl}");
            }
            for field in table.fields {
                match field.kind {
                    Kind::Text { min, max, .. } => {
                        let check = format!("length({}) BETWEEN {min} AND {max}", field.column);
                        assert!(ddl.contains(&check), "{check} in {ddl}");
                        let line = ddl
                            .lines()
                            .find(|l| l.trim_start().starts_with(field.column))
                            .unwrap();
                        assert_eq!(line.contains("UNIQUE"), field.unique, "{line}");
                    }
                    Kind::Ref { target, nullable } => {
                        let line = ddl
                            .lines()
                            .find(|l| l.trim_start().starts_with(field.column))
                            .unwrap();
                        assert!(line.contains(&format!("REFERENCES {} (id)", target.as_str())));
                        assert_eq!(!line.contains("NOT NULL"), nullable, "{line}");
                    }
                }
            }
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
        let categories = table(EntityType::Categories).unwrap();
        let m = error_of(categories, json!({"typeId": null}), Mode::Update);
        assert!(m.contains("the id of a type (a positive integer)"), "{m}");
        assert!(!m.contains("or null"), "{m}");
    }

    #[test]
    fn formats() {
        for ok in ["about", "about-this-blog", "a1", "2026"] {
            assert!(Format::Slug.accepts(ok), "{ok}");
        }
        for bad in ["", "About", "a--b", "-a", "a-", "a b", "a_b", "é"] {
            assert!(!Format::Slug.accepts(bad), "{bad}");
        }
        for ok in ["en", "pt-BR", "zh-Hant-TW", "de-CH-1996"] {
            assert!(Format::LanguageTag.accepts(ok), "{ok}");
        }
        for bad in ["e", "en_US", "en-", "12", "en-toolongsubtag"] {
            assert!(!Format::LanguageTag.accepts(bad), "{bad}");
        }
        for ok in ["https://a.example/x.png", "http://a", "/img/a.png"] {
            assert!(Format::Url.accepts(ok), "{ok}");
        }
        for bad in [
            "https://",
            "https:///x",
            "//evil.example/x",
            "javascript:alert(1)",
            "img.png",
            "https://a.example/a b",
        ] {
            assert!(!Format::Url.accepts(bad), "{bad}");
        }
    }

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
        let types = table(EntityType::Types).unwrap();
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
        let categories = table(EntityType::Categories).unwrap();
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
        let types = table(EntityType::Types).unwrap();
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
