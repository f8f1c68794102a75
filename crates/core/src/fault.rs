//! Test faults (`TEST_FAULTS`): fault injection for tests, off by default
//! and never set in production.
//!
//! Some guarantees of the edge tier show only when something fails: an Edge
//! that misses the Hub's push of an invalidation must stop serving when its
//! lease runs out, and a write must still be acknowledged. A runtime test
//! cannot cut a link inside `wrangler dev`, so it tells the deployment to
//! misbehave instead. `TEST_FAULTS` lists the faults, comma-separated, each
//! `<kind>:<argument>`:
//!
//! | fault | effect |
//! | --- | --- |
//! | `edge-deaf:<edge name>`, e.g. `edge-deaf:edge:weur:0` | that Edge drops every push from the Hub but keeps renewing its lease |
//! | `hub-reset` | `POST /api/cache/hub/reset` (admin) makes the Hub forget all it holds in memory, as a new instance would start after the runtime reset or moved the object: its storage stays |
//!
//! An unknown kind is an error that names every unknown kind listed, so that
//! a typo never leaves a test running without its fault and passing for
//! the wrong reason. (The settings also refuse a fault that names an Edge
//! the deployment does not have, for the same reason.)

use std::fmt;

use crate::edge_name::EdgeName;
use crate::error::quote;
use crate::{Error, Result};

/// The kind of [`Fault::EdgeDeaf`], as written in `TEST_FAULTS`.
const EDGE_DEAF: &str = "edge-deaf";
/// The kind of [`Fault::HubReset`].
const HUB_RESET: &str = "hub-reset";

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `edge-deaf:<edge name>`: the Edge drops the Hub's pushes and keeps
    /// renewing its lease, as an Edge behind a lossy link would.
    EdgeDeaf(EdgeName),
    /// `hub-reset`: an admin may reset the Hub object alone
    /// (`POST /api/cache/hub/reset`), to test that a restarted Hub still
    /// knows the Edges that hold leases (its registry is stored).
    HubReset,
}

impl Fault {
    /// The Edge the fault concerns, if one.
    pub fn edge(&self) -> Option<EdgeName> {
        match self {
            Fault::EdgeDeaf(edge) => Some(*edge),
            Fault::HubReset => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::EdgeDeaf(edge) => write!(f, "{EDGE_DEAF}:{edge}"),
            Fault::HubReset => f.write_str(HUB_RESET),
        }
    }
}

/// The faults of `TEST_FAULTS`, in the order listed; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(Vec<Fault>);

impl Faults {
    /// Parses a comma-separated list of faults (spaces around an item and
    /// empty items skipped).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming every unknown kind, else the first item
    /// whose argument does not parse.
    pub fn parse(list: &str) -> Result<Faults> {
        let mut faults = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut malformed = None;
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (kind, argument) = item
                .split_once(':')
                .map_or((item, None), |(kind, rest)| (kind, Some(rest)));
            match (kind, argument) {
                (EDGE_DEAF, Some(name)) => match EdgeName::parse(name) {
                    Ok(edge) => faults.push(Fault::EdgeDeaf(edge)),
                    Err(e) => {
                        malformed.get_or_insert(e);
                    }
                },
                (HUB_RESET, None) => faults.push(Fault::HubReset),
                (HUB_RESET, Some(_)) => {
                    malformed
                        .get_or_insert(Error::Invalid(format!("{HUB_RESET} takes no argument")));
                }
                (EDGE_DEAF, None) => {
                    malformed.get_or_insert(Error::Invalid(format!(
                        "{EDGE_DEAF} needs the Edge it concerns, e.g. {EDGE_DEAF}:edge:weur:0"
                    )));
                }
                _ => {
                    let quoted = quote(kind);
                    if !unknown.contains(&quoted) {
                        unknown.push(quoted);
                    }
                }
            }
        }
        if !unknown.is_empty() {
            let plural = if unknown.len() > 1 { "s" } else { "" };
            return Err(Error::Invalid(format!(
                "unknown fault{plural} {}: the faults are {EDGE_DEAF}:<edge name> and {HUB_RESET}",
                unknown.join(", ")
            )));
        }
        match malformed {
            Some(e) => Err(e),
            None => Ok(Faults(faults)),
        }
    }

    /// Whether no fault is injected (the default, and production).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The faults, in the order listed.
    pub fn iter(&self) -> impl Iterator<Item = &Fault> + '_ {
        self.0.iter()
    }

    /// Whether an admin may reset the Hub alone.
    pub fn hub_reset(&self) -> bool {
        self.0.contains(&Fault::HubReset)
    }

    /// Whether `edge` must drop the Hub's pushes.
    pub fn is_edge_deaf(&self, edge: EdgeName) -> bool {
        self.0.contains(&Fault::EdgeDeaf(edge))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::region::{LocationHint, Region};

    fn edge(region: LocationHint, shard: u32) -> EdgeName {
        EdgeName::new(Region::Hint(region), shard)
    }

    #[test]
    fn none_by_default() {
        assert!(Faults::default().is_empty());
        assert_eq!(Faults::parse(" , ").unwrap(), Faults::default());
        assert!(!Faults::default().is_edge_deaf(edge(LocationHint::Weur, 0)));
    }

    #[test]
    fn deaf_edges_are_parsed() {
        let faults = Faults::parse(" edge-deaf:edge:weur:0 ,edge-deaf:edge:default:0,").unwrap();
        let listed: Vec<String> = faults.iter().map(Fault::to_string).collect();
        assert_eq!(
            listed,
            ["edge-deaf:edge:weur:0", "edge-deaf:edge:default:0"]
        );
        assert!(faults.is_edge_deaf(edge(LocationHint::Weur, 0)));
        assert!(faults.is_edge_deaf(EdgeName::new(Region::Default, 0)));
        assert!(!faults.is_edge_deaf(edge(LocationHint::Weur, 1)));
        assert!(!faults.is_edge_deaf(edge(LocationHint::Eeur, 0)));
        assert_eq!(
            faults.iter().filter_map(Fault::edge).collect::<Vec<_>>(),
            [
                edge(LocationHint::Weur, 0),
                EdgeName::new(Region::Default, 0)
            ]
        );
    }

    #[test]
    fn unknown_faults_are_all_named() {
        assert_eq!(
            Faults::parse("edge-mute:edge:weur:0"),
            Err(Error::Invalid(
                r#"unknown fault "edge-mute": the faults are edge-deaf:<edge name> and hub-reset"#
                    .to_string()
            ))
        );
        assert_eq!(
            Faults::parse("hub-slow, edge-deaf:edge:mars:0, EDGE-DEAF:edge:weur:0, hub-slow, x"),
            Err(Error::Invalid(
                r#"unknown faults "hub-slow", "EDGE-DEAF", "x": the faults are edge-deaf:<edge name> and hub-reset"#
                    .to_string()
            )),
            "unknown kinds come first, each once"
        );
    }

    #[test]
    fn a_deaf_edge_must_be_named_properly() {
        assert_eq!(
            Faults::parse("edge-deaf"),
            Err(Error::Invalid(
                "edge-deaf needs the Edge it concerns, e.g. edge-deaf:edge:weur:0".to_string()
            ))
        );
        assert_eq!(
            Faults::parse("edge-deaf:weur"),
            Err(Error::Invalid(
                r#"edge name "weur": must read edge:<region>:<shard>, e.g. edge:weur:0"#
                    .to_string()
            ))
        );
        assert!(Faults::parse("edge-deaf:edge:weur:01").is_err());
        assert!(Faults::parse("edge-deaf:").is_err());
    }

    #[test]
    fn hub_reset_takes_no_argument() {
        let faults = Faults::parse("hub-reset, edge-deaf:edge:weur:0").unwrap();
        assert!(faults.hub_reset());
        assert_eq!(faults.iter().next().unwrap().to_string(), "hub-reset");
        assert!(!Faults::parse("edge-deaf:edge:weur:0").unwrap().hub_reset());
        assert!(Faults::parse("hub-reset:now").is_err());
    }
}
