//! `polycache graph`: the dependency graph with each type's closure, a check
//! of a `CACHE_DEPENDENCIES` file, or Graphviz DOT.
//!
//! Parsing and validation are the core crate's [`DependencyGraph`], the very
//! code the Worker runs at start-up, so a file that passes here is one the
//! Worker accepts, and the message for one that fails is the Worker's.

use std::io::Read as _;
use std::path::Path;

use polycache_core::graph::DependencyGraph;
use polycache_core::types::EntityType;
use serde_json::{json, Map, Value};

use crate::cli::{Global, GraphArgs};
use crate::error::{CliError, Result};
use crate::output;
use crate::table::Table;

/// Shows, checks or draws the graph.
pub fn run(g: &Global, args: GraphArgs) -> Result<()> {
    let (graph, source) = match &args.check {
        None => (DependencyGraph::default(), None),
        Some(path) => (load(path)?, Some(shown(path))),
    };
    if args.dot {
        return output::text(&dot(&graph));
    }
    if g.json {
        let mut out = json!({ "graph": graph.to_json(), "closures": closures(&graph) });
        if let Some(source) = &source {
            out["file"] = json!(source);
            out["valid"] = json!(true);
        }
        return output::json(&out);
    }
    let heading = match &source {
        Some(s) => format!("{s}: a valid dependency graph"),
        None => "the default dependency graph (used when CACHE_DEPENDENCIES is unset)".to_owned(),
    };
    output::line(&heading)?;
    output::text(&table(&graph))
}

fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads and validates a graph file.
fn load(path: &Path) -> Result<DependencyGraph> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::io("cannot read stdin", e))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?
    };
    DependencyGraph::from_json(text.trim()).map_err(|e| {
        CliError::Failed(format!(
            "{}: {e}; fix it before setting it as CACHE_DEPENDENCIES",
            shown(path)
        ))
    })
}

/// Every type with what it depends on and what invalidating it invalidates.
fn table(graph: &DependencyGraph) -> String {
    let mut t = Table::new(&["TYPE", "DEPENDS ON", "INVALIDATING IT INVALIDATES"]);
    for ty in EntityType::ALL {
        let deps = names(&graph.dependencies(ty));
        t.row(vec![
            ty.as_str().to_owned(),
            if deps.is_empty() { "—".into() } else { deps },
            names(&graph.closure(ty)),
        ]);
    }
    t.render()
}

fn names(types: &[EntityType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn closures(graph: &DependencyGraph) -> Value {
    let map: Map<String, Value> = EntityType::ALL
        .into_iter()
        .map(|t| {
            let closure: Vec<&str> = graph.closure(t).iter().map(|c| c.as_str()).collect();
            (t.as_str().to_owned(), json!(closure))
        })
        .collect();
    Value::Object(map)
}

/// Graphviz DOT: an edge from each type to each type it depends on, every
/// type a node (leaves and unrelated types too).
fn dot(graph: &DependencyGraph) -> String {
    let mut out = String::from(
        "// polycache dependency graph: an edge X -> Y reads \"X depends on Y\";\n\
         // invalidating Y invalidates every X that reaches it.\n\
         digraph polycache {\n  rankdir=LR;\n  node [shape=box];\n",
    );
    for t in EntityType::ALL {
        out.push_str(&format!("  \"{t}\";\n"));
    }
    for t in EntityType::ALL {
        for dep in graph.dependencies(t) {
            out.push_str(&format!("  \"{t}\" -> \"{dep}\";\n"));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_shows_the_designed_closures() {
        let text = table(&DependencyGraph::default());
        let row = |ty: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{ty} ")))
                .unwrap()
                .to_owned()
        };
        assert!(
            row("types").ends_with("types, posts, pages, categories, feed"),
            "{text}"
        );
        assert!(
            row("pictures").ends_with("pictures, posts, pages, feed"),
            "{text}"
        );
        assert!(row("posts").ends_with("posts, feed"), "{text}");
    }

    #[test]
    fn dot_has_every_edge_and_node() {
        let d = dot(&DependencyGraph::default());
        assert!(d.contains("\"posts\" -> \"categories\";"));
        assert!(d.contains("\"feed\" -> \"pages\";"));
        assert!(d.contains("\"auth\";"));
        assert_eq!(d.matches("\" -> \"").count(), 9, "{d}");
        assert!(d.trim_end().ends_with('}'));
    }

    #[test]
    fn a_bad_file_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deps.json");
        std::fs::write(&path, r#"{"posts":["categories"],"categories":["posts"]}"#).unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("cycle: "), "{e}");
        std::fs::write(&path, r#"{"posts":["kittens"]}"#).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("\"kittens\""));
        std::fs::write(&path, "{not json").unwrap();
        assert!(load(&path)
            .unwrap_err()
            .to_string()
            .contains("malformed JSON"));
        let missing = load(&dir.path().join("nope.json")).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
    }
}
