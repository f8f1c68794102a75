//! Entity types: the names of the things a write can invalidate, declared
//! once, as data.
//!
//! The original API and its mirror disagreed on spelling: the API says `post`,
//! the mirror sends `posts`. So every place that takes a type accepts the
//! singular alias as well as the canonical plural, and everything we emit
//! (events, cache keys, logs) uses the plural, so that one type is never two
//! cache namespaces. Parsing lives here, once, so that the Worker, the Hub,
//! the CLI and JSON all agree on what a name means.
//!
//! Every type is one entry of [`DECLARED`]: its name, its singular alias,
//! whether it has a D1 table, and what it depends on in the default graph.
//! Everything else that lists types derives from that table: [`EntityType::ALL`]
//! and its order, names, aliases, [`EntityType::parse`], [`EntityType::is_content`],
//! the default [`DependencyGraph`](crate::graph::DependencyGraph), the
//! Worker's route errors and the CLI's help. What cannot derive from it is
//! checked against it by a test: the Worker's D1 tables (`TABLES` in
//! `src/db/schema.rs`, and the migrations) and the TypeScript client's alias
//! map (`clients/js/src/aliases.ts`, read against `polycache types --json`).
//! A mistake in the table itself (a misspelt dependency, a name given twice)
//! fails the build, since the table is checked when the crate is compiled.
//!
//! # A registry that can grow
//!
//! An [`EntityType`] is a small `Copy` handle, the index of its entry in the
//! registry of declarations, rather than an enum variant: the set of types is
//! data, and only [`EntityType::declaration`] reads the registry. Every
//! isolate starts with [`DECLARED`], fixed when the crate is compiled, which
//! lets [`EntityType::ALL`] and the named constants ([`EntityType::POSTS`],
//! ...) be `const`. A deployment in origin mode brings its own types (the
//! route table's, [`crate::origin`]): [`install_origin_types`] replaces the
//! registry with the declared entries first and the deployment's after them,
//! and only the deployment's are *active*: [`EntityType::parse`] (every name
//! a user gives) and [`EntityType::all`] (every type there is) see them
//! alone, so that in origin mode `posts` is an unknown type unless the route
//! table names it. Deserializing still knows the declared names, so that
//! state stored before a switch of mode (generations, events) still loads.
//! With the declared entries first, the named constants keep their indices
//! and `Ord` stays registry order.
//!
//! The registry is per thread: a Worker isolate has one thread, and each
//! native test its own, so that a test of origin mode leaves the others'
//! types alone. It is installed by [`crate::config::Config::from_vars`], which every
//! isolate (Worker, Hub, Edge) runs before it reads a type.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{Error, Result};

/// The longest name quoted back in an [`Error::UnknownType`]: the name may come
/// from a request body, and an error should not echo megabytes back.
const MAX_QUOTED_NAME_CHARS: usize = 64;

/// One entity type as declared: everything the code knows about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declaration {
    /// The canonical (plural) name: what events, cache keys, logs and JSON
    /// say, and, for a content type, the name of its D1 table. Lower-case
    /// ASCII letters, digits and `_`, starting with a letter, since it is
    /// also a URL path segment, an SQL name and the prefix of a cache key.
    pub name: &'static str,
    /// The singular, accepted wherever a type is named and used in messages
    /// ("no post with id 7"); types that are not countable have none.
    pub alias: Option<&'static str>,
    /// Whether the type has a D1 table of its own (a `Table` in the Worker's
    /// `src/db/schema.rs`, and a migration), and so routes under `/api/`.
    pub content: bool,
    /// Its entry in the default dependency graph: the canonical names of the
    /// types a cached read of it embeds. `None` leaves the type out of the
    /// default graph's keys, which differs from `Some(&[])` only in the
    /// graph's JSON (`polycache graph --json`), which lists the original
    /// app's table key for key.
    pub depends_on: Option<&'static [&'static str]>,
}

/// Every entity type, in the order of [`EntityType::ALL`] (and of `Ord`):
/// lists of types are emitted in this order. To add a type, add its entry
/// here (at the end, so that lists of the others keep their order); a
/// content type also needs its `Table` in the Worker's `src/db/schema.rs`
/// and a migration, and the TypeScript client its alias.
pub const DECLARED: &[Declaration] = &[
    // Blog posts.
    Declaration {
        name: "posts",
        alias: Some("post"),
        content: true,
        depends_on: Some(&["categories", "pictures"]),
    },
    // Static pages.
    Declaration {
        name: "pages",
        alias: Some("page"),
        content: true,
        depends_on: Some(&["categories", "pictures", "translations"]),
    },
    // Categories of posts and pages.
    Declaration {
        name: "categories",
        alias: Some("category"),
        content: true,
        depends_on: Some(&["types"]),
    },
    // Pictures attached to posts and pages.
    Declaration {
        name: "pictures",
        alias: Some("picture"),
        content: true,
        depends_on: None,
    },
    // Translations of pages.
    Declaration {
        name: "translations",
        alias: Some("translation"),
        content: true,
        depends_on: Some(&[]),
    },
    // Category types.
    Declaration {
        name: "types",
        alias: Some("type"),
        content: true,
        depends_on: None,
    },
    // The aggregated feed, derived from posts, pages and categories.
    Declaration {
        name: "feed",
        alias: None,
        content: false,
        depends_on: Some(&["posts", "pages", "categories"]),
    },
    // Authentication state (sessions, users), with no content of its own.
    Declaration {
        name: "auth",
        alias: None,
        content: false,
        depends_on: Some(&[]),
    },
];

// A bad table fails the build, with the rule it breaks.
const _: () = {
    if let Some(problem) = problem(DECLARED) {
        panic!("{}", problem);
    }
};

/// How many types are declared.
const COUNT: usize = DECLARED.len();

/// The types an isolate knows: `decls[active]` are this deployment's;
/// before them the declared ones when they are not (origin mode), after
/// them the names stored state gave that no setting declares any more.
#[derive(Debug)]
struct Registry {
    decls: &'static [Declaration],
    active: (usize, usize),
}

/// The registry of D1 mode: the declared types, all active.
static DECLARED_ONLY: Registry = Registry {
    decls: DECLARED,
    active: (0, COUNT),
};

/// The most names a registry takes in from stored state without a
/// declaration (a deployment that went from origin mode back to D1 mode
/// keeps its old types' generations and events): past it, such a name is an
/// unknown type again.
const MAX_FOREIGN: usize = 64;

thread_local! {
    static REGISTRY: Cell<&'static Registry> = const { Cell::new(&DECLARED_ONLY) };
}

fn registry() -> &'static Registry {
    REGISTRY.with(Cell::get)
}

/// Makes `names` this isolate's types, in that order (origin mode), or,
/// with `None`, the declared ones (D1 mode). Installing the same names
/// again changes nothing, so that every load of the settings may call it.
///
/// The names must be unique and well formed, as [`crate::origin`] checks
/// them; the first that is not fails with [`Error::Config`] naming
/// `CACHE_ROUTES`. Each distinct table costs its names once (they are
/// leaked, to be `&'static` like the declared ones): an isolate's settings
/// do not change while it runs.
pub fn install_origin_types(names: Option<&[String]>) -> Result<()> {
    let current = registry();
    let Some(names) = names else {
        if current.active != (0, COUNT) {
            REGISTRY.with(|r| r.set(&DECLARED_ONLY));
        }
        return Ok(());
    };
    let active = (COUNT, COUNT + names.len());
    let same = current.active == active
        && current.decls[COUNT..COUNT + names.len()]
            .iter()
            .zip(names)
            .all(|(d, n)| d.name == n);
    if same {
        return Ok(());
    }
    let mut decls = DECLARED.to_vec();
    for name in names {
        decls.push(undeclared(name));
    }
    if let Some(problem) = problem(&decls[COUNT..]) {
        return Err(Error::Config {
            name: "CACHE_ROUTES".into(),
            message: problem.into(),
        });
    }
    install(decls, active);
    Ok(())
}

/// The entry of a type no declaration names: a name and nothing else.
fn undeclared(name: &str) -> Declaration {
    Declaration {
        name: Box::leak(name.to_owned().into_boxed_str()),
        alias: None,
        content: false,
        depends_on: None,
    }
}

fn install(decls: Vec<Declaration>, active: (usize, usize)) {
    let registry = Box::leak(Box::new(Registry {
        decls: Box::leak(decls.into_boxed_slice()),
        active,
    }));
    REGISTRY.with(|r| r.set(registry));
}

/// A kind of entity whose cached reads are invalidated together: a handle on
/// its [`Declaration`].
///
/// `Ord` is registry order, the order of [`EntityType::ALL`] for the
/// declared types. Serializes as its canonical name; deserializes from the
/// names [`EntityType::parse`] accepts, and the other names stored state
/// may hold (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityType(u16);

impl EntityType {
    /// Blog posts (D1 table).
    pub const POSTS: EntityType = EntityType::declared("posts");
    /// Static pages (D1 table).
    pub const PAGES: EntityType = EntityType::declared("pages");
    /// Categories of posts and pages (D1 table).
    pub const CATEGORIES: EntityType = EntityType::declared("categories");
    /// Pictures attached to posts and pages (D1 table).
    pub const PICTURES: EntityType = EntityType::declared("pictures");
    /// Translations of pages (D1 table).
    pub const TRANSLATIONS: EntityType = EntityType::declared("translations");
    /// Category types (D1 table).
    pub const TYPES: EntityType = EntityType::declared("types");
    /// The aggregated feed, derived from posts, pages and categories.
    pub const FEED: EntityType = EntityType::declared("feed");
    /// Authentication state (sessions, users), with no content of its own.
    pub const AUTH: EntityType = EntityType::declared("auth");

    /// Every type, in declaration order.
    pub const ALL: [EntityType; COUNT] = {
        let mut all = [EntityType(0); COUNT];
        let mut i = 0;
        while i < COUNT {
            // `problem` bounds COUNT to u16::MAX, so the index fits.
            all[i] = EntityType(i as u16);
            i += 1;
        }
        all
    };

    /// The declared type of this canonical name; fails the build when no
    /// type has it, so that a named constant cannot outlive its entry.
    const fn declared(name: &str) -> EntityType {
        match EntityType::named(name) {
            Some(t) => t,
            None => panic!("no declared type has this name"),
        }
    }

    /// The type whose canonical name is exactly `name` (no alias, no other
    /// case): how declarations name each other.
    pub(crate) const fn named(name: &str) -> Option<EntityType> {
        let mut i = 0;
        while i < COUNT {
            if equal(DECLARED[i].name, name, false) {
                return Some(EntityType(i as u16));
            }
            i += 1;
        }
        None
    }

    /// Everything declared about this type.
    pub fn declaration(self) -> &'static Declaration {
        let decls = registry().decls;
        // A handle from another registry (a test that switched modes on its
        // thread) names a declared type or none; never panic on it.
        decls.get(self.index()).unwrap_or(&DECLARED[0])
    }

    /// Every type of this deployment, in registry order: the declared ones
    /// in D1 mode (as [`EntityType::ALL`]), the route table's in origin mode.
    pub fn all() -> Vec<EntityType> {
        let (start, end) = registry().active;
        // `problem` and MAX_FOREIGN bound the registry to u16 indices.
        (start..end).map(|i| EntityType(i as u16)).collect()
    }

    /// Whether this type is one of [`EntityType::all`] (a declared type is
    /// not, in origin mode).
    pub fn is_active(self) -> bool {
        let (start, end) = registry().active;
        (start..end).contains(&self.index())
    }

    /// The position of this type in [`EntityType::ALL`], for tables indexed
    /// by type.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The canonical (plural) name, e.g. `"posts"`.
    pub fn as_str(self) -> &'static str {
        self.declaration().name
    }

    /// The singular alias, for the types that have one (`feed` and `auth`
    /// are not countable, so they have none).
    pub fn alias(self) -> Option<&'static str> {
        self.declaration().alias
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
        EntityType::all()
            .into_iter()
            .find(|t| t.is_named(name))
            .ok_or_else(|| Error::UnknownType(name.chars().take(MAX_QUOTED_NAME_CHARS).collect()))
    }

    /// [`EntityType::parse`], then the declared types that are not active
    /// (origin mode): how stored state and the messages between isolates are
    /// read, so that what was stored in D1 mode still loads.
    ///
    /// A well-formed name that no entry has (the type of a route table that
    /// is no longer set) is taken in as a type of no deployment, up to
    /// [`MAX_FOREIGN`] of them, so that the Hub's stored generations and
    /// events still load after a switch of mode.
    fn parse_stored(name: &str) -> Result<EntityType> {
        EntityType::parse(name).or_else(|e| {
            let r = registry();
            if let Some(i) = (0..r.decls.len()).find(|i| EntityType(*i as u16).is_named(name)) {
                return Ok(EntityType(i as u16));
            }
            let foreign = r.decls.len() - r.active.1.max(COUNT);
            if foreign >= MAX_FOREIGN || !is_type_name(name) {
                return Err(e);
            }
            let mut decls = r.decls.to_vec();
            decls.push(undeclared(name));
            install(decls, r.active);
            Ok(EntityType((r.decls.len()) as u16))
        })
    }

    /// Whether `name` is this type's name or alias, ignoring ASCII case.
    fn is_named(self, name: &str) -> bool {
        name.eq_ignore_ascii_case(self.as_str())
            || self.alias().is_some_and(|a| name.eq_ignore_ascii_case(a))
    }

    /// Whether the type has its own D1 table (`feed` and `auth` do not).
    pub fn is_content(self) -> bool {
        self.declaration().content
    }
}

/// Whether two names are equal, exactly or ignoring ASCII case (the
/// comparisons of `str` are not `const`).
const fn equal(a: &str, b: &str, ignore_case: bool) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        let (x, y) = if ignore_case {
            (a[i].to_ascii_lowercase(), b[i].to_ascii_lowercase())
        } else {
            (a[i], b[i])
        };
        if x != y {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether two names are the same name to [`EntityType::parse`].
const fn same(a: &str, b: &str) -> bool {
    equal(a, b, true)
}

/// The longest name a type may have: it is also a URL path segment, a
/// cache key's prefix and an entry of an event's `types`.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `s` may name a type: 1 to [`MAX_NAME_LEN`] lower-case ASCII
/// letters, digits and `_`, starting with a letter. What a route table's
/// types (origin mode) and the CLI's arguments are checked against.
pub fn is_type_name(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN && is_name(s)
}

/// Whether `s` may be a name or an alias: lower-case ASCII letters, digits
/// and `_`, starting with a letter.
const fn is_name(s: &str) -> bool {
    let s = s.as_bytes();
    if s.is_empty() || !s[0].is_ascii_lowercase() {
        return false;
    }
    let mut i = 1;
    while i < s.len() {
        if !(s[i].is_ascii_lowercase() || s[i].is_ascii_digit() || s[i] == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `s` is the name or the alias of a declaration other than `skip`
/// (ignoring case, as parsing does).
const fn taken(decls: &[Declaration], s: &str, skip: usize) -> bool {
    let mut i = 0;
    while i < decls.len() {
        if i != skip {
            if same(decls[i].name, s) {
                return true;
            }
            if let Some(alias) = decls[i].alias {
                if same(alias, s) {
                    return true;
                }
            }
        }
        i += 1;
    }
    false
}

/// The first rule a table of declarations breaks, if any: every name and
/// alias well formed and naming one type only, and every dependency the
/// canonical name of another declared type, listed once. (Cycles are the
/// graph's to reject; a test builds the default graph through its checks.)
const fn problem(decls: &[Declaration]) -> Option<&'static str> {
    if decls.len() > u16::MAX as usize {
        return Some("more types are declared than an EntityType can index");
    }
    // Names first, so that a dependency on a malformed name is reported as
    // the malformed name.
    let mut i = 0;
    while i < decls.len() {
        let d = &decls[i];
        if !is_name(d.name) {
            return Some(
                "a type's name must be lower-case ASCII letters, digits or '_', from a letter",
            );
        }
        if taken(decls, d.name, i) {
            return Some("a type's name is also the name or alias of another type");
        }
        if let Some(alias) = d.alias {
            if !is_name(alias) {
                return Some(
                    "an alias must be lower-case ASCII letters, digits or '_', from a letter",
                );
            }
            if same(alias, d.name) || taken(decls, alias, i) {
                return Some("an alias is also a type's name, or another type's alias");
            }
        }
        i += 1;
    }
    let mut i = 0;
    while i < decls.len() {
        let deps = match decls[i].depends_on {
            Some(deps) => deps,
            None => &[],
        };
        let mut j = 0;
        while j < deps.len() {
            let mut found = false;
            let mut k = 0;
            while k < decls.len() {
                // Exact: the table spells a dependency as its name.
                if k != i && equal(decls[k].name, deps[j], false) {
                    found = true;
                }
                k += 1;
            }
            if !found {
                return Some("a dependency is not the canonical name of another declared type");
            }
            let mut k = 0;
            while k < j {
                if equal(deps[k], deps[j], false) {
                    return Some("a dependency is listed twice");
                }
                k += 1;
            }
            j += 1;
        }
        i += 1;
    }
    None
}

impl fmt::Debug for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

impl Serialize for EntityType {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

// Accepts the same names as every other entry point, aliases included
// (`{"type":"post"}`).
impl<'de> Deserialize<'de> for EntityType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct NameVisitor;

        impl Visitor<'_> for NameVisitor {
            type Value = EntityType;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entity type name such as \"posts\" or \"post\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<EntityType, E> {
                EntityType::parse_stored(v).map_err(E::custom)
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
    fn stored_state_of_another_mode_still_loads() {
        install_origin_types(Some(&["products".to_string()])).unwrap();
        let products: EntityType = serde_json::from_str("\"products\"").unwrap();
        assert!(products.is_active());
        // Back to D1 mode, as a developer who unsets ORIGIN_URL with the
        // same local state: the Hub's generations still name `products`.
        install_origin_types(None).unwrap();
        assert!(
            EntityType::parse("products").is_err(),
            "not a type users may name"
        );
        let stored: crate::generation::Generations =
            serde_json::from_str(r#"{"posts":3,"products":7}"#).unwrap();
        let foreign: EntityType = serde_json::from_str("\"products\"").unwrap();
        assert!(!foreign.is_active());
        assert_eq!((stored.get(EntityType::POSTS), stored.get(foreign)), (3, 7));
        assert_eq!(EntityType::all(), EntityType::ALL.to_vec());
        // A malformed name is still refused, and the foreign ones are bounded.
        assert!(serde_json::from_str::<EntityType>("\"Not A Name\"").is_err());
        for i in 0..MAX_FOREIGN {
            let _ = serde_json::from_str::<EntityType>(&format!("\"gone_{i}\""));
        }
        assert!(serde_json::from_str::<EntityType>("\"one_too_many\"").is_err());
    }

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
    fn all_is_the_declaration_table() {
        assert_eq!(EntityType::ALL.len(), DECLARED.len());
        for (i, (t, d)) in EntityType::ALL.into_iter().zip(DECLARED).enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(t.declaration(), d);
            assert_eq!(t.as_str(), d.name);
            assert_eq!(t.alias(), d.alias);
            assert_eq!(t.is_content(), d.content);
            assert_eq!(EntityType::named(d.name), Some(t));
            assert_eq!(format!("{t:?}"), d.name);
        }
        assert_eq!(EntityType::named("Posts"), None, "named is exact");
        assert_eq!(EntityType::named("post"), None, "named takes no alias");
    }

    #[test]
    fn the_declarations_break_no_rule_and_a_bad_table_is_named() {
        assert_eq!(problem(DECLARED), None);
        let ok = Declaration {
            name: "posts",
            alias: Some("post"),
            content: true,
            depends_on: Some(&["feed"]),
        };
        let feed = Declaration {
            name: "feed",
            alias: None,
            content: false,
            depends_on: None,
        };
        assert_eq!(problem(&[ok, feed]), None);
        let cases: [(&[Declaration], &str); 8] = [
            (
                &[
                    Declaration {
                        depends_on: Some(&["feeds"]),
                        ..ok
                    },
                    feed,
                ],
                "a dependency is not the canonical name of another declared type",
            ),
            (
                &[
                    Declaration {
                        depends_on: Some(&["Feed"]),
                        ..ok
                    },
                    feed,
                ],
                "a dependency is not the canonical name of another declared type",
            ),
            (
                &[
                    Declaration {
                        depends_on: Some(&["posts"]),
                        ..ok
                    },
                    feed,
                ],
                "a dependency is not the canonical name of another declared type",
            ),
            (
                &[
                    Declaration {
                        depends_on: Some(&["feed", "feed"]),
                        ..ok
                    },
                    feed,
                ],
                "a dependency is listed twice",
            ),
            (
                &[
                    ok,
                    Declaration {
                        name: "Feed",
                        ..feed
                    },
                ],
                "a type's name must be lower-case ASCII letters, digits or '_', from a letter",
            ),
            (
                &[
                    ok,
                    Declaration {
                        name: "1feed",
                        ..feed
                    },
                ],
                "a type's name must be lower-case ASCII letters, digits or '_', from a letter",
            ),
            (
                &[
                    Declaration {
                        name: "post",
                        ..feed
                    },
                    ok,
                ],
                "a type's name is also the name or alias of another type",
            ),
            (
                &[
                    ok,
                    Declaration {
                        alias: Some("post"),
                        ..feed
                    },
                ],
                "an alias is also a type's name, or another type's alias",
            ),
        ];
        for (table, expected) in cases {
            assert_eq!(problem(table), Some(expected), "{table:?}");
        }
    }

    #[test]
    fn singular_aliases_map_to_plural() {
        let cases = [
            ("post", EntityType::POSTS),
            ("page", EntityType::PAGES),
            ("category", EntityType::CATEGORIES),
            ("picture", EntityType::PICTURES),
            ("translation", EntityType::TRANSLATIONS),
            ("type", EntityType::TYPES),
        ];
        for (alias, t) in cases {
            assert_eq!(EntityType::parse(alias).unwrap(), t, "{alias}");
        }
    }

    #[test]
    fn parse_ignores_ascii_case() {
        assert_eq!(EntityType::parse("POSTS").unwrap(), EntityType::POSTS);
        assert_eq!(
            EntityType::parse("Category").unwrap(),
            EntityType::CATEGORIES
        );
        assert_eq!(EntityType::parse("fEeD").unwrap(), EntityType::FEED);
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
                EntityType::POSTS,
                EntityType::PAGES,
                EntityType::CATEGORIES,
                EntityType::PICTURES,
                EntityType::TRANSLATIONS,
                EntityType::TYPES
            ]
        );
    }

    #[test]
    fn serializes_as_canonical_name() {
        let json = serde_json::to_string(&[EntityType::POSTS, EntityType::FEED]).unwrap();
        assert_eq!(json, r#"["posts","feed"]"#);
    }

    #[test]
    fn deserializes_aliases_and_rejects_malformed_names() {
        let types: Vec<EntityType> = serde_json::from_str(r#"["post","Pages","type"]"#).unwrap();
        assert_eq!(
            types,
            [EntityType::POSTS, EntityType::PAGES, EntityType::TYPES]
        );

        // A well-formed name no one declares is read (it may be stored
        // state of another mode), as a type no user may name.
        let postz = serde_json::from_str::<EntityType>(r#""postz""#).unwrap();
        assert!(!postz.is_active() && EntityType::parse("postz").is_err());
        let err = serde_json::from_str::<EntityType>(r#""post z""#).unwrap_err();
        assert!(err.to_string().contains("unknown type \"post z\""), "{err}");
        assert!(serde_json::from_str::<EntityType>("3").is_err());
    }
}
