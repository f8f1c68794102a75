//! `polycache types`: every entity type the core crate declares, with its
//! singular alias, whether it has a D1 table, and what invalidating it
//! invalidates in the default graph.
//!
//! The list is the core crate's declaration itself, so it is also what other
//! code checks its own copies against: the TypeScript client's test reads
//! `polycache types --json` to hold `clients/js/src/aliases.ts` to it.

use polycache_core::graph::DependencyGraph;
use polycache_core::types::EntityType;
use serde_json::{json, Value};

use crate::cli::Global;
use crate::error::Result;
use crate::output;
use crate::table::Table;

/// Lists the types.
pub fn run(g: &Global) -> Result<()> {
    let graph = DependencyGraph::default();
    if g.json {
        return output::json(&to_json(&graph));
    }
    output::text(&table(&graph))
}

/// `{"types":[{"name","alias","content","closure"}, ...]}`, in declaration
/// order; `alias` is `null` for a type without one.
fn to_json(graph: &DependencyGraph) -> Value {
    let types: Vec<Value> = EntityType::ALL
        .into_iter()
        .map(|t| {
            let closure: Vec<&str> = graph.closure(t).iter().map(|c| c.as_str()).collect();
            json!({
                "name": t.as_str(),
                "alias": t.alias(),
                "content": t.is_content(),
                "closure": closure,
            })
        })
        .collect();
    json!({ "types": types })
}

fn table(graph: &DependencyGraph) -> String {
    let mut t = Table::new(&["TYPE", "ALIAS", "D1 TABLE", "INVALIDATING IT INVALIDATES"]);
    for ty in EntityType::ALL {
        let closure: Vec<&str> = graph.closure(ty).iter().map(|c| c.as_str()).collect();
        t.row(vec![
            ty.as_str().to_owned(),
            ty.alias().unwrap_or("—").to_owned(),
            if ty.is_content() { "yes" } else { "no" }.to_owned(),
            closure.join(", "),
        ]);
    }
    t.render()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_lists_every_declared_type_with_its_alias_in_order() {
        let out = to_json(&DependencyGraph::default());
        let types = out["types"].as_array().unwrap();
        let names: Vec<&str> = types.iter().map(|t| t["name"].as_str().unwrap()).collect();
        let declared: Vec<&str> = EntityType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names, declared);
        // The closure is the default graph's (its own tests pin what it is).
        let closure: Vec<&str> = DependencyGraph::default()
            .closure(EntityType::POSTS)
            .iter()
            .map(|t| t.as_str())
            .collect();
        assert_eq!(
            types[0],
            json!({"name": "posts", "alias": "post", "content": true, "closure": closure})
        );
        let feed = types.iter().find(|t| t["name"] == "feed").unwrap();
        assert_eq!(feed["alias"], Value::Null);
        assert_eq!(feed["content"], false);
    }

    #[test]
    fn the_table_has_a_row_per_type() {
        let text = table(&DependencyGraph::default());
        assert_eq!(text.lines().count(), EntityType::ALL.len() + 1, "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("auth ") && l.contains(" — ") && l.contains(" no ")),
            "{text}"
        );
    }
}
