//! The dependency graph: which cached types are built from which.
//!
//! An edge reads "X depends on Y": a cached `posts` response embeds its
//! categories and pictures, so `posts` depends on `categories` and `pictures`.
//! Invalidating Y must therefore invalidate Y and everything that depends on
//! it, transitively; that set is the *closure* of Y, and it is what the Hub
//! bumps and what an `app-update` event lists in `types`.
//!
//! The graph is validated once, when it is built (at start-up, from
//! `CACHE_DEPENDENCIES`), so that a cycle or a misspelt name fails loudly with
//! a message naming it instead of making invalidation silently incomplete.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::types::EntityType;
use crate::{Error, Result};

/// The "X depends on Y" relation between entity types, known to be acyclic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyGraph {
    /// X -> the types X depends on directly. A key with an empty set is kept,
    /// so that `"translations": []` survives a round trip through JSON.
    deps: BTreeMap<EntityType, BTreeSet<EntityType>>,
}

impl DependencyGraph {
    /// Builds a graph from `(X, [Y, ...])` entries meaning "X depends on each
    /// Y". Entries repeating a key are merged.
    ///
    /// # Errors
    /// [`Error::Graph`] for a type depending on itself (`"posts depends on
    /// itself"`) or a cycle, named by its path (`"cycle: posts -> categories
    /// -> posts"`).
    pub fn new(edges: impl IntoIterator<Item = (EntityType, Vec<EntityType>)>) -> Result<Self> {
        let mut deps: BTreeMap<EntityType, BTreeSet<EntityType>> = BTreeMap::new();
        for (x, ys) in edges {
            deps.entry(x).or_default().extend(ys);
        }
        // Reported apart from cycles because "posts -> posts" reads like a typo
        // in the graph walk, while "posts depends on itself" says what to fix.
        if let Some(x) = deps.iter().find(|(x, ys)| ys.contains(x)).map(|(x, _)| *x) {
            return Err(Error::Graph(format!("{x} depends on itself")));
        }
        if let Some(cycle) = find_cycle(&deps) {
            let path: Vec<&str> = cycle.iter().map(|t| t.as_str()).collect();
            return Err(Error::Graph(format!("cycle: {}", path.join(" -> "))));
        }
        Ok(DependencyGraph { deps })
    }

    /// Parses a JSON object such as `{"posts":["categories","pictures"]}`;
    /// keys and values may be aliases (`"post"`).
    ///
    /// # Errors
    /// [`Error::Graph`] for malformed JSON, a wrong shape, an unknown name
    /// (saying whether it was a key or in whose list), a type given twice as
    /// a key (also through an alias, which JSON parsers would otherwise
    /// silently collapse), and everything [`DependencyGraph::new`] rejects.
    pub fn from_json(json: &str) -> Result<Self> {
        let RawEntries(raw) = serde_json::from_str(json).map_err(|e| {
            Error::Graph(if e.is_data() {
                e.to_string()
            } else {
                format!("malformed JSON: {e}")
            })
        })?;

        let mut seen: BTreeMap<EntityType, String> = BTreeMap::new();
        let mut edges = Vec::with_capacity(raw.len());
        for (key, value) in raw {
            let x = EntityType::parse(&key).map_err(|e| match e {
                Error::UnknownType(name) => Error::Graph(format!("unknown type {name:?} as a key")),
                other => other,
            })?;
            if let Some(first) = seen.insert(x, key.clone()) {
                return Err(Error::Graph(format!(
                    "{x} is given twice (as {first:?} and as {key:?})"
                )));
            }
            let Value::Array(items) = value else {
                return Err(Error::Graph(format!(
                    "the dependencies of {key:?} must be a list of type names, got {}",
                    describe(&value)
                )));
            };
            let mut ys = Vec::with_capacity(items.len());
            for item in items {
                let Value::String(name) = item else {
                    return Err(Error::Graph(format!(
                        "the dependencies of {key:?} must be type names, got {}",
                        describe(&item)
                    )));
                };
                ys.push(EntityType::parse(&name).map_err(|e| match e {
                    Error::UnknownType(name) => Error::Graph(format!(
                        "unknown type {name:?} in the dependencies of {key:?}"
                    )),
                    other => other,
                })?);
            }
            edges.push((x, ys));
        }
        DependencyGraph::new(edges)
    }

    /// The types `t` depends on directly, in registry order.
    pub fn dependencies(&self, t: EntityType) -> Vec<EntityType> {
        self.deps
            .get(&t)
            .map(|ys| ys.iter().copied().collect())
            .unwrap_or_default()
    }

    /// What invalidating `t` invalidates: `t` first, then every type that
    /// depends on `t` directly or transitively, in registry order.
    pub fn closure(&self, t: EntityType) -> Vec<EntityType> {
        let mut hit = BTreeSet::from([t]);
        // A fixpoint rather than a reverse-edge walk: with a few types it is
        // a handful of passes, and it needs no second index to keep in sync.
        loop {
            let before = hit.len();
            for (x, ys) in &self.deps {
                if !hit.contains(x) && ys.iter().any(|y| hit.contains(y)) {
                    hit.insert(*x);
                }
            }
            if hit.len() == before {
                break;
            }
        }
        std::iter::once(t)
            .chain(hit.into_iter().filter(|x| *x != t))
            .collect()
    }

    /// Every type named in the graph, as a key or as a dependency, in
    /// registry order.
    pub fn types(&self) -> Vec<EntityType> {
        let named: BTreeSet<EntityType> = self
            .deps
            .iter()
            .flat_map(|(x, ys)| std::iter::once(*x).chain(ys.iter().copied()))
            .collect();
        named.into_iter().collect()
    }

    /// The graph as the JSON object [`DependencyGraph::from_json`] accepts,
    /// with canonical names and one key per type that has an entry.
    pub fn to_json(&self) -> Value {
        let object = self
            .deps
            .iter()
            .map(|(x, ys)| {
                let names = ys.iter().map(|y| Value::from(y.as_str())).collect();
                (x.as_str().to_string(), Value::Array(names))
            })
            .collect();
        Value::Object(object)
    }
}

impl Default for DependencyGraph {
    /// The graph the declarations give (`depends_on` in
    /// [`DECLARED`](crate::types::DECLARED)): the original app's
    /// `DEPENDENCIES` table (docs/architecture.md, "Where it comes from").
    fn default() -> Self {
        // Built directly: the declarations are constant (and checked when the
        // crate is compiled: every dependency is a declared name), and `new`
        // would only add an error path that cannot be taken (a test checks
        // that `new` accepts it).
        let deps = EntityType::all()
            .into_iter()
            .filter_map(|x| {
                let ys = x.declaration().depends_on?;
                Some((x, ys.iter().filter_map(|y| EntityType::named(y)).collect()))
            })
            .collect();
        DependencyGraph { deps }
    }
}

/// A path `[a, b, ..., a]` through the first cycle found, if any, where each
/// step goes from a type to one it depends on.
fn find_cycle(deps: &BTreeMap<EntityType, BTreeSet<EntityType>>) -> Option<Vec<EntityType>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }

    fn visit(
        t: EntityType,
        deps: &BTreeMap<EntityType, BTreeSet<EntityType>>,
        marks: &mut BTreeMap<EntityType, Mark>,
        path: &mut Vec<EntityType>,
    ) -> Option<Vec<EntityType>> {
        match marks.get(&t).copied().unwrap_or(Mark::Unvisited) {
            Mark::Done => return None,
            Mark::OnPath => {
                let start = path.iter().position(|p| *p == t)?;
                let mut cycle = path[start..].to_vec();
                cycle.push(t);
                return Some(cycle);
            }
            Mark::Unvisited => {}
        }
        marks.insert(t, Mark::OnPath);
        path.push(t);
        for y in deps.get(&t).into_iter().flatten() {
            if let Some(cycle) = visit(*y, deps, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(t, Mark::Done);
        None
    }

    let mut marks = BTreeMap::new();
    let mut path = Vec::new();
    deps.keys()
        .find_map(|t| visit(*t, deps, &mut marks, &mut path))
}

/// A short description of a JSON value's kind, for error messages that must
/// not echo a whole (possibly large) value back.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The entries of a JSON object in order, duplicates included: a map type
/// would keep only the last of `{"posts":[..],"posts":[..]}`, hiding the
/// mistake.
struct RawEntries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for RawEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = RawEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a JSON object mapping each type to the list of types it depends on, \
                     e.g. {\"posts\":[\"categories\"]}",
                )
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawEntries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(RawEntries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use EntityType as T;

    fn set(types: &[EntityType]) -> BTreeSet<EntityType> {
        types.iter().copied().collect()
    }

    fn graph_error(result: Result<DependencyGraph>) -> String {
        match result {
            Err(Error::Graph(message)) => message,
            other => panic!("expected Error::Graph, got {other:?}"),
        }
    }

    #[test]
    fn default_is_the_seed_graph_and_valid() {
        let g = DependencyGraph::default();
        let built = DependencyGraph::new([
            (T::POSTS, vec![T::CATEGORIES, T::PICTURES]),
            (T::PAGES, vec![T::CATEGORIES, T::PICTURES, T::TRANSLATIONS]),
            (T::CATEGORIES, vec![T::TYPES]),
            (T::TRANSLATIONS, vec![]),
            (T::FEED, vec![T::POSTS, T::PAGES, T::CATEGORIES]),
            (T::AUTH, vec![]),
        ])
        .unwrap();
        assert_eq!(g, built);
        assert_eq!(
            g.dependencies(T::PAGES),
            [T::CATEGORIES, T::PICTURES, T::TRANSLATIONS]
        );
        assert_eq!(g.dependencies(T::PICTURES), []);
    }

    #[test]
    fn the_declared_graph_passes_the_checks_of_new() {
        // `default` skips `new`'s checks (cycles are not checked when the
        // declarations are compiled): they must hold all the same.
        let g = DependencyGraph::default();
        let edges = g
            .deps
            .iter()
            .map(|(x, ys)| (*x, ys.iter().copied().collect()));
        assert_eq!(DependencyGraph::new(edges).unwrap(), g);
        for t in EntityType::ALL {
            let declared = t.declaration().depends_on;
            let names: Vec<&str> = g.dependencies(t).iter().map(|y| y.as_str()).collect();
            assert_eq!(names, declared.unwrap_or(&[]), "{t}");
            assert_eq!(
                g.to_json().get(t.as_str()).is_some(),
                declared.is_some(),
                "{t}"
            );
        }
    }

    #[test]
    fn default_closures_match_the_design() {
        let g = DependencyGraph::default();
        let cases: [(EntityType, &[EntityType]); 8] = [
            (
                T::TYPES,
                &[T::TYPES, T::POSTS, T::PAGES, T::CATEGORIES, T::FEED],
            ),
            (T::PICTURES, &[T::PICTURES, T::POSTS, T::PAGES, T::FEED]),
            (T::POSTS, &[T::POSTS, T::FEED]),
            (T::AUTH, &[T::AUTH]),
            (T::TRANSLATIONS, &[T::TRANSLATIONS, T::PAGES, T::FEED]),
            (T::CATEGORIES, &[T::CATEGORIES, T::POSTS, T::PAGES, T::FEED]),
            (T::PAGES, &[T::PAGES, T::FEED]),
            (T::FEED, &[T::FEED]),
        ];
        for (t, expected) in cases {
            assert_eq!(g.closure(t), expected, "closure({t})");
        }
    }

    #[test]
    fn closure_puts_t_first_then_all_order() {
        let g = DependencyGraph::new([(T::POSTS, vec![T::FEED])]).unwrap();
        assert_eq!(g.closure(T::FEED), [T::FEED, T::POSTS]);
    }

    #[test]
    fn types_lists_keys_and_leaves_in_all_order() {
        assert_eq!(DependencyGraph::default().types(), EntityType::ALL);
        let g = DependencyGraph::new([(T::FEED, vec![T::PICTURES])]).unwrap();
        assert_eq!(g.types(), [T::PICTURES, T::FEED]);
    }

    #[test]
    fn new_merges_repeated_keys() {
        let g = DependencyGraph::new([
            (T::POSTS, vec![T::CATEGORIES]),
            (T::POSTS, vec![T::PICTURES]),
        ])
        .unwrap();
        assert_eq!(g.dependencies(T::POSTS), [T::CATEGORIES, T::PICTURES]);
    }

    #[test]
    fn self_dependency_is_rejected() {
        let message = graph_error(DependencyGraph::new([(
            T::POSTS,
            vec![T::CATEGORIES, T::POSTS],
        )]));
        assert_eq!(message, "posts depends on itself");
    }

    #[test]
    fn cycle_is_rejected_with_its_path() {
        let message = graph_error(DependencyGraph::new([
            (T::POSTS, vec![T::CATEGORIES]),
            (T::CATEGORIES, vec![T::POSTS]),
        ]));
        assert_eq!(message, "cycle: posts -> categories -> posts");

        let message = graph_error(DependencyGraph::from_json(
            r#"{"feed":["post"],"post":["category"],"category":["type"],"type":["feed"]}"#,
        ));
        assert_eq!(
            message,
            "cycle: posts -> categories -> types -> feed -> posts"
        );
    }

    #[test]
    fn from_json_accepts_aliases_anywhere() {
        let g = DependencyGraph::from_json(r#"{"post":["Category","pictures"],"FEED":["post"]}"#)
            .unwrap();
        assert_eq!(
            g,
            DependencyGraph::new([
                (T::POSTS, vec![T::CATEGORIES, T::PICTURES]),
                (T::FEED, vec![T::POSTS])
            ])
            .unwrap()
        );
    }

    #[test]
    fn from_json_of_the_default_json_is_the_default() {
        let json = r#"{"posts":["categories","pictures"],"pages":["categories","pictures","translations"],
            "categories":["types"],"translations":[],"feed":["posts","pages","categories"],"auth":[]}"#;
        assert_eq!(
            DependencyGraph::from_json(json).unwrap(),
            DependencyGraph::default()
        );
        assert_eq!(DependencyGraph::from_json("{}").unwrap().types(), []);
    }

    #[test]
    fn from_json_names_unknown_types_and_where_they_are() {
        let message = graph_error(DependencyGraph::from_json(r#"{"postz":[]}"#));
        assert_eq!(message, r#"unknown type "postz" as a key"#);

        let message = graph_error(DependencyGraph::from_json(r#"{"post":["categoryz"]}"#));
        assert_eq!(
            message,
            r#"unknown type "categoryz" in the dependencies of "post""#
        );

        let message = graph_error(DependencyGraph::from_json("{\"po\\nst\":[]}"));
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }

    #[test]
    fn from_json_rejects_a_type_given_twice() {
        let message = graph_error(DependencyGraph::from_json(
            r#"{"post":[],"posts":["feed"]}"#,
        ));
        assert_eq!(
            message,
            r#"posts is given twice (as "post" and as "posts")"#
        );

        let message = graph_error(DependencyGraph::from_json(
            r#"{"feed":[],"feed":["posts"]}"#,
        ));
        assert_eq!(message, r#"feed is given twice (as "feed" and as "feed")"#);
    }

    #[test]
    fn from_json_explains_malformed_json_and_wrong_shapes() {
        let message = graph_error(DependencyGraph::from_json(r#"{"posts":["#));
        assert!(message.starts_with("malformed JSON: "), "{message}");
        let message = graph_error(DependencyGraph::from_json(""));
        assert!(message.starts_with("malformed JSON: "), "{message}");

        let message = graph_error(DependencyGraph::from_json(r#"["posts"]"#));
        assert!(
            message.contains("expected a JSON object mapping each type"),
            "{message}"
        );

        let message = graph_error(DependencyGraph::from_json(r#"{"posts":"feed"}"#));
        assert_eq!(
            message,
            r#"the dependencies of "posts" must be a list of type names, got a string"#
        );

        let message = graph_error(DependencyGraph::from_json(r#"{"posts":[1]}"#));
        assert_eq!(
            message,
            r#"the dependencies of "posts" must be type names, got a number"#
        );
    }

    #[test]
    fn to_json_has_canonical_names_and_keeps_empty_entries() {
        let g = DependencyGraph::from_json(r#"{"post":["picture"],"auth":[]}"#).unwrap();
        assert_eq!(
            g.to_json(),
            serde_json::json!({"posts": ["pictures"], "auth": []})
        );
    }

    /// How many types there are: the size of the graphs below.
    const N: usize = EntityType::ALL.len();

    /// `reach[x][y]`: x depends on y directly or transitively (brute force).
    fn reach(edges: &[(EntityType, Vec<EntityType>)]) -> [[bool; N]; N] {
        let mut r = [[false; N]; N];
        for (x, ys) in edges {
            for y in ys {
                r[x.index()][y.index()] = true;
            }
        }
        for k in 0..N {
            for i in 0..N {
                for j in 0..N {
                    r[i][j] |= r[i][k] && r[k][j];
                }
            }
        }
        r
    }

    /// Random acyclic graphs: edges only go from later to earlier types in a
    /// random order, and some types get an empty entry.
    fn acyclic_edges() -> impl Strategy<Value = Vec<(EntityType, Vec<EntityType>)>> {
        (
            Just(EntityType::ALL.to_vec()).prop_shuffle(),
            proptest::collection::vec(any::<bool>(), N * (N - 1) / 2),
            proptest::collection::vec(any::<bool>(), N),
        )
            .prop_map(|(order, bits, keep_empty)| {
                let mut bits = bits.into_iter();
                let mut edges = Vec::new();
                for j in 0..order.len() {
                    let ys: Vec<_> = (0..j)
                        .filter(|_| bits.next().unwrap_or(false))
                        .map(|i| order[i])
                        .collect();
                    if !ys.is_empty() || keep_empty[j] {
                        edges.push((order[j], ys));
                    }
                }
                edges
            })
    }

    /// Any graph at all, self dependencies and cycles included.
    fn any_edges() -> impl Strategy<Value = Vec<(EntityType, Vec<EntityType>)>> {
        proptest::collection::vec(any::<bool>(), N * N).prop_map(|bits| {
            EntityType::ALL
                .into_iter()
                .map(|x| {
                    let ys = EntityType::ALL
                        .into_iter()
                        .filter(|y| bits[x.index() * N + y.index()])
                        .collect();
                    (x, ys)
                })
                .collect()
        })
    }

    /// Checks that an error names a real cycle of `edges`, or a real self
    /// dependency.
    fn assert_names_a_real_cycle(message: &str, edges: &[(EntityType, Vec<EntityType>)]) {
        let depends =
            |x: EntityType, y: EntityType| edges.iter().any(|(k, ys)| *k == x && ys.contains(&y));
        if let Some(name) = message.strip_suffix(" depends on itself") {
            let t = EntityType::parse(name).unwrap();
            assert!(depends(t, t), "{message}");
            return;
        }
        let path = message
            .strip_prefix("cycle: ")
            .unwrap_or_else(|| panic!("{message}"));
        let path: Vec<EntityType> = path
            .split(" -> ")
            .map(|n| EntityType::parse(n).unwrap())
            .collect();
        assert!(path.len() >= 3, "{message}");
        assert_eq!(path.first(), path.last(), "{message}");
        for step in path.windows(2) {
            assert!(
                depends(step[0], step[1]),
                "{message}: no edge {} -> {}",
                step[0],
                step[1]
            );
        }
    }

    proptest! {
        #[test]
        fn closure_contains_t_first_without_duplicates(edges in acyclic_edges()) {
            let g = DependencyGraph::new(edges).unwrap();
            for t in EntityType::ALL {
                let c = g.closure(t);
                prop_assert_eq!(c[0], t);
                prop_assert!(c[1..].windows(2).all(|w| w[0] < w[1]));
                prop_assert!(!c[1..].contains(&t));
            }
        }

        #[test]
        fn closure_is_t_and_its_transitive_dependents(edges in acyclic_edges()) {
            let r = reach(&edges);
            let g = DependencyGraph::new(edges).unwrap();
            for t in EntityType::ALL {
                let expected: BTreeSet<_> = EntityType::ALL
                    .into_iter()
                    .filter(|x| *x == t || r[x.index()][t.index()])
                    .collect();
                prop_assert_eq!(set(&g.closure(t)), expected);
            }
        }

        #[test]
        fn dependents_closure_is_contained(edges in acyclic_edges()) {
            let r = reach(&edges);
            let g = DependencyGraph::new(edges).unwrap();
            for a in EntityType::ALL {
                for b in EntityType::ALL {
                    if r[a.index()][b.index()] {
                        // a depends on b: invalidating b must invalidate all
                        // that invalidating a does.
                        prop_assert!(set(&g.closure(b)).is_superset(&set(&g.closure(a))));
                    }
                }
            }
        }

        #[test]
        fn json_round_trip(edges in acyclic_edges()) {
            let g = DependencyGraph::new(edges).unwrap();
            let json = g.to_json().to_string();
            prop_assert_eq!(DependencyGraph::from_json(&json).unwrap(), g);
        }

        #[test]
        fn a_forced_cycle_is_always_rejected(
            edges in acyclic_edges(),
            order in Just(EntityType::ALL.to_vec()).prop_shuffle(),
            len in 1usize..=N,
        ) {
            let mut edges = edges;
            let cycle = &order[..len];
            for (i, x) in cycle.iter().enumerate() {
                edges.push((*x, vec![cycle[(i + 1) % len]]));
            }
            match DependencyGraph::new(edges.clone()) {
                Err(Error::Graph(message)) => assert_names_a_real_cycle(&message, &edges),
                other => prop_assert!(false, "accepted a cycle: {:?}", other),
            }
        }

        #[test]
        fn new_accepts_exactly_the_acyclic_graphs(edges in any_edges()) {
            let r = reach(&edges);
            let cyclic = (0..N).any(|i| r[i][i]);
            match DependencyGraph::new(edges.clone()) {
                Ok(_) => prop_assert!(!cyclic),
                Err(Error::Graph(message)) => {
                    prop_assert!(cyclic);
                    assert_names_a_real_cycle(&message, &edges);
                }
                Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            }
        }
    }
}
