//! The content tables as data: [`TABLES`], one static [`Table`] per content
//! type, and the [`SqlValue`]s their fields hold.
//!
//! Every content type (a type declared with `content: true` in
//! [`polycache_core::types::DECLARED`]) has one D1 table named after its
//! canonical plural, created by a migration (`migrations/0001_schema.sql`
//! for the first six). Rather than a struct and a set of hand-written
//! queries per type, one static [`Table`] per type lists its fields: the
//! JSON key, the column, the [`Kind`] (text with its limits and format, or a
//! reference to another table) and whether create requires it. That one
//! table drives the validation of request bodies
//! ([`validate`](super::validate::validate)), the SQL of every query and the
//! JSON of every [`Entity`](super::entity::Entity), so the types cannot
//! drift apart; a test holds [`TABLES`] to the declared content types and
//! to the migrations.

use polycache_core::types::EntityType;

use crate::error::{ApiError, ApiResult};

/// The JSON keys every entity has and the server alone sets.
pub const READ_ONLY: [&str; 3] = ["id", "createdAt", "updatedAt"];

/// The largest id a reference may hold: JavaScript's
/// `Number.MAX_SAFE_INTEGER` (2^53 - 1), since D1 passes values through JS
/// numbers and a larger one would silently round to another id.
pub const MAX_ID: i64 = (1 << 53) - 1;

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
    pub(super) fn accepts(self, s: &str) -> bool {
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

    pub(super) fn describe(self) -> &'static str {
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
    /// The type; the table is named after its canonical plural, and messages
    /// name a row by the type's singular alias.
    pub entity: EntityType,
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

/// The content tables, one per content type of [`EntityType::ALL`], in its
/// order (a test holds them to it and to the migrations).
pub static TABLES: &[Table] = &[
    Table {
        entity: EntityType::POSTS,
        fields: &[
            text("title", "title", 1, MAX_TITLE_CHARS),
            text("body", "body", 0, MAX_BODY_CHARS),
            reference("categoryId", "category_id", EntityType::CATEGORIES, true),
            reference("pictureId", "picture_id", EntityType::PICTURES, true),
        ],
    },
    Table {
        entity: EntityType::PAGES,
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
            reference("categoryId", "category_id", EntityType::CATEGORIES, true),
            reference("pictureId", "picture_id", EntityType::PICTURES, true),
            reference(
                "translationId",
                "translation_id",
                EntityType::TRANSLATIONS,
                true,
            ),
        ],
    },
    Table {
        entity: EntityType::CATEGORIES,
        fields: &[
            text("name", "name", 1, 100),
            reference("typeId", "type_id", EntityType::TYPES, false),
        ],
    },
    Table {
        entity: EntityType::PICTURES,
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
        entity: EntityType::TRANSLATIONS,
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
        entity: EntityType::TYPES,
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

/// The singular of a type, for messages: its alias (every content type has
/// one, a test checks), else its name.
pub(super) fn singular(t: EntityType) -> &'static str {
    t.alias().unwrap_or(t.as_str())
}

impl Table {
    /// The SQL name of the table.
    pub fn name(&self) -> &'static str {
        self.entity.as_str()
    }

    /// The singular of the table's type, for messages ("no post with id 7").
    pub fn singular(&self) -> &'static str {
        singular(self.entity)
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
    pub(super) fn select_list(&self, alias: Option<&str>) -> String {
        self.columns()
            .map(|c| match alias {
                Some(a) => format!("{a}.{c} AS {c}"),
                None => c.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn keys(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.key)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every column that references `t`, with its table.
pub(super) fn referrers(t: EntityType) -> impl Iterator<Item = (&'static Table, &'static Field)> {
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

/// The tables the other modules' tests take apart.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod fixtures {
    use super::{table, Table};
    use polycache_core::types::EntityType;

    /// The `posts` table.
    pub fn posts() -> &'static Table {
        table(EntityType::POSTS).unwrap()
    }

    /// The `pages` table.
    pub fn pages() -> &'static Table {
        table(EntityType::PAGES).unwrap()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every migration, in the order D1 applies them (by file name): a
    /// content type added later brings its table in a migration of its own.
    fn schema() -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no migrations in {}", dir.display());
        files
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_content_type_has_a_table_in_order() {
        let types: Vec<_> = TABLES.iter().map(|t| t.entity).collect();
        let content: Vec<_> = EntityType::ALL
            .into_iter()
            .filter(|t| t.is_content())
            .collect();
        assert_eq!(types, content);
        assert!(table(EntityType::FEED).is_err());
    }

    #[test]
    fn every_table_names_its_rows_in_the_singular() {
        for table in TABLES {
            assert!(
                table.entity.alias().is_some(),
                "{} has no alias",
                table.name()
            );
            assert_ne!(table.singular(), table.name());
        }
        assert_eq!(TABLES[0].singular(), "post");
        assert_eq!(singular(EntityType::FEED), "feed");
    }

    #[test]
    fn schema_sql_matches_the_tables() {
        let schema = schema();
        for table in TABLES {
            let create = format!("CREATE TABLE {} (", table.name());
            let start = schema
                .find(&create)
                .unwrap_or_else(|| panic!("no migration has {create}"));
            let end = start + schema[start..].find(");").unwrap();
            let ddl = &schema[start..end];
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
}
