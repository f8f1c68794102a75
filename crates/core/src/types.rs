//! Entity types: the names of the things a write can invalidate.
//!
//! The original API and its mirror disagreed on spelling: the API says `post`,
//! the mirror sends `posts`. So every place that takes a type accepts the
//! singular alias as well as the canonical plural, and everything we emit
//! (events, cache keys, logs) uses the plural, so that one type is never two
//! cache namespaces. Parsing lives here, once, so that the Worker, the Hub,
//! the CLI and JSON all agree on what a name means.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The longest name quoted back in an [`Error::UnknownType`]: the name may come
/// from a request body, and an error should not echo megabytes back.
const MAX_QUOTED_NAME_CHARS: usize = 64;

/// A kind of entity whose cached reads are invalidated together.
///
/// The order of the variants is the order of [`EntityType::ALL`], which is
/// also the order of `Ord`: lists of types are emitted in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    /// Blog posts (D1 table).
    Posts,
    /// Static pages (D1 table).
    Pages,
    /// Categories of posts and pages (D1 table).
    Categories,
    /// Pictures attached to posts and pages (D1 table).
    Pictures,
    /// Translations of pages (D1 table).
    Translations,
    /// Category types (D1 table).
    Types,
    /// The aggregated feed, derived from posts, pages and categories.
    Feed,
    /// Authentication state (sessions, users), with no content of its own.
    Auth,
}

impl EntityType {
    /// Every type, in declaration order.
    pub const ALL: [EntityType; 8] = [
        EntityType::Posts,
        EntityType::Pages,
        EntityType::Categories,
        EntityType::Pictures,
        EntityType::Translations,
        EntityType::Types,
        EntityType::Feed,
        EntityType::Auth,
    ];

    /// The canonical (plural) name, e.g. `"posts"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Posts => "posts",
            EntityType::Pages => "pages",
            EntityType::Categories => "categories",
            EntityType::Pictures => "pictures",
            EntityType::Translations => "translations",
            EntityType::Types => "types",
            EntityType::Feed => "feed",
            EntityType::Auth => "auth",
        }
    }

    /// The singular alias, for the types that have one (`feed` and `auth`
    /// are not countable, so they have none).
    fn alias(self) -> Option<&'static str> {
        match self {
            EntityType::Posts => Some("post"),
            EntityType::Pages => Some("page"),
            EntityType::Categories => Some("category"),
            EntityType::Pictures => Some("picture"),
            EntityType::Translations => Some("translation"),
            EntityType::Types => Some("type"),
            EntityType::Feed | EntityType::Auth => None,
        }
    }

    /// Parses a canonical name or its singular alias, ignoring ASCII case.
    ///
    /// Surrounding whitespace is not trimmed: a name with spaces comes from a
    /// bug upstream, and accepting it would hide that bug.
    ///
    /// # Errors
    /// [`Error::UnknownType`] with the name as given (cut to 64 characters);
    /// the error's message quotes it escaped, never with raw control
    /// characters.
    pub fn parse(name: &str) -> Result<EntityType> {
        EntityType::ALL
            .into_iter()
            .find(|t| {
                name.eq_ignore_ascii_case(t.as_str())
                    || t.alias().is_some_and(|a| name.eq_ignore_ascii_case(a))
            })
            .ok_or_else(|| Error::UnknownType(name.chars().take(MAX_QUOTED_NAME_CHARS).collect()))
    }

    /// Whether the type has its own D1 table (`feed` and `auth` do not).
    pub fn is_content(self) -> bool {
        !matches!(self, EntityType::Feed | EntityType::Auth)
    }
}

impl FromStr for EntityType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        EntityType::parse(s)
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Written by hand rather than derived so that JSON accepts the same names as
// every other entry point, aliases included (`{"type":"post"}`).
impl<'de> Deserialize<'de> for EntityType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct NameVisitor;

        impl Visitor<'_> for NameVisitor {
            type Value = EntityType;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entity type name such as \"posts\" or \"post\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<EntityType, E> {
                EntityType::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_round_trip() {
        for t in EntityType::ALL {
            assert_eq!(EntityType::parse(t.as_str()).unwrap(), t);
            assert_eq!(t.to_string(), t.as_str());
            assert_eq!(t.as_str().parse::<EntityType>().unwrap(), t);
        }
    }

    #[test]
    fn all_is_in_declaration_order() {
        let mut sorted = EntityType::ALL;
        sorted.sort();
        assert_eq!(sorted, EntityType::ALL);
        let names: Vec<_> = EntityType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "posts",
                "pages",
                "categories",
                "pictures",
                "translations",
                "types",
                "feed",
                "auth"
            ]
        );
    }

    #[test]
    fn singular_aliases_map_to_plural() {
        let cases = [
            ("post", EntityType::Posts),
            ("page", EntityType::Pages),
            ("category", EntityType::Categories),
            ("picture", EntityType::Pictures),
            ("translation", EntityType::Translations),
            ("type", EntityType::Types),
        ];
        for (alias, t) in cases {
            assert_eq!(EntityType::parse(alias).unwrap(), t, "{alias}");
        }
    }

    #[test]
    fn parse_ignores_ascii_case() {
        assert_eq!(EntityType::parse("POSTS").unwrap(), EntityType::Posts);
        assert_eq!(
            EntityType::parse("Category").unwrap(),
            EntityType::Categories
        );
        assert_eq!(EntityType::parse("fEeD").unwrap(), EntityType::Feed);
    }

    #[test]
    fn parse_rejects_unknown_and_padded_names() {
        for bad in [
            "",
            "postz",
            " posts",
            "posts ",
            "feeds",
            "auths",
            "categorys",
            "post\n",
        ] {
            assert_eq!(
                EntityType::parse(bad),
                Err(Error::UnknownType(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_type_message_escapes_control_characters() {
        let err = EntityType::parse("po\nst\u{7}").unwrap_err();
        let message = err.to_string();
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.contains("po\\nst"), "{message}");
    }

    #[test]
    fn unknown_type_keeps_a_bounded_prefix_of_long_names() {
        let long = "x".repeat(10_000);
        match EntityType::parse(&long) {
            Err(Error::UnknownType(name)) => assert_eq!(name.len(), MAX_QUOTED_NAME_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn is_content_is_true_for_the_six_tables() {
        let content: Vec<_> = EntityType::ALL
            .into_iter()
            .filter(|t| t.is_content())
            .collect();
        assert_eq!(
            content,
            [
                EntityType::Posts,
                EntityType::Pages,
                EntityType::Categories,
                EntityType::Pictures,
                EntityType::Translations,
                EntityType::Types
            ]
        );
    }

    #[test]
    fn serializes_as_canonical_name() {
        let json = serde_json::to_string(&[EntityType::Posts, EntityType::Feed]).unwrap();
        assert_eq!(json, r#"["posts","feed"]"#);
    }

    #[test]
    fn deserializes_aliases_and_rejects_unknown_names() {
        let types: Vec<EntityType> = serde_json::from_str(r#"["post","Pages","type"]"#).unwrap();
        assert_eq!(
            types,
            [EntityType::Posts, EntityType::Pages, EntityType::Types]
        );

        let err = serde_json::from_str::<EntityType>(r#""postz""#).unwrap_err();
        assert!(err.to_string().contains("unknown type \"postz\""), "{err}");
        assert!(serde_json::from_str::<EntityType>("3").is_err());
    }
}
