//! Edge names, `edge:<region>:<shard>`, and the shard that serves a read or
//! a stream.
//!
//! Each Edge is a Durable Object named `edge:<region>:<shard>`
//! (`edge:weur:0`; `edge:default:0` in a deployment without
//! `EDGE_REGIONS`). The name is the object's identity: Cloudflare derives
//! the object from it, so two spellings of one Edge would be two objects
//! with two replicas of the generations, each holding its own lease.
//! [`EdgeName::parse`] therefore accepts only the one spelling that
//! [`EdgeName`]'s `Display` writes (lower case, no leading zeros).
//!
//! `EDGE_SHARDS` splits every region into that many Edges, numbered from 0.
//! A cached read goes to the shard of its key ([`shard_for_key`]), so that a
//! region keeps one copy of an entry, and one fill lease for it. The hash is
//! FNV-1a ([`crate::fnv`]) because the choice must be the same in every
//! Worker isolate, build and release: a hasher seeded per process would send
//! one key to different shards from different isolates, and each would fill
//! its own copy. A stream carries no key and goes to any shard of its region
//! ([`shard_for_stream`], the randomness passed in), which spreads a
//! region's streams over its Edges.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::quote;
use crate::fnv::fnv1a_64;
use crate::region::{EdgeRegions, Region};
use crate::{Error, Result};

/// The name of one Edge: its region and its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeName {
    /// The region the Edge serves (and was created at).
    pub region: Region,
    /// Its shard, from 0 to `EDGE_SHARDS` − 1.
    pub shard: u32,
}

impl EdgeName {
    /// What every Edge name starts with.
    pub const PREFIX: &'static str = "edge";

    /// The Edge of `region` and `shard`.
    pub fn new(region: Region, shard: u32) -> EdgeName {
        EdgeName { region, shard }
    }

    /// Parses `edge:<region>:<shard>`, as written by `Display` and nothing
    /// else.
    ///
    /// # Errors
    /// [`Error::Invalid`] quoting the name and saying what is wrong: not
    /// three parts starting with `edge`, an unknown region, a shard that is
    /// not a whole number, or another spelling of a valid name.
    pub fn parse(name: &str) -> Result<EdgeName> {
        let invalid = |what: String| Error::Invalid(format!("edge name {}: {what}", quote(name)));
        let mut parts = name.split(':');
        let (Some(Self::PREFIX), Some(region), Some(shard), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(
                "must read edge:<region>:<shard>, e.g. edge:weur:0".to_string(),
            ));
        };
        let region = Region::parse(region).map_err(|e| match e {
            Error::Invalid(message) => invalid(message),
            other => other,
        })?;
        let shard = Some(shard)
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| {
                invalid(format!(
                    "the shard must be a whole number below 2^32, got {}",
                    quote(shard)
                ))
            })?;
        let parsed = EdgeName { region, shard };
        let canonical = parsed.to_string();
        if canonical != name {
            return Err(invalid(format!("is spelled {canonical}")));
        }
        Ok(parsed)
    }

    /// Whether this Edge exists in a deployment with these regions and
    /// `shards` shards per region.
    pub fn is_in(&self, regions: &EdgeRegions, shards: u32) -> bool {
        regions.contains(self.region) && self.shard < shards.max(1)
    }
}

impl fmt::Display for EdgeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", Self::PREFIX, self.region, self.shard)
    }
}

impl FromStr for EdgeName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        EdgeName::parse(s)
    }
}

impl Serialize for EdgeName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EdgeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        EdgeName::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// The shard, below `shards`, that serves the cached reads of `key`: the
/// read's path, as given to `generation::cache_key`, without the generation
/// (the Worker picks the Edge before it knows the generation, which the
/// Edge answers; and so an entry stays on one shard across generations).
/// `shards` 0 counts as 1, so that no input divides by zero.
pub fn shard_for_key(key: &str, shards: u32) -> u32 {
    let shards = u64::from(shards.max(1));
    // The remainder is below `shards`, itself a u32.
    u32::try_from(fnv1a_64(key.as_bytes()) % shards).unwrap_or(0)
}

/// The shard, below `shards`, that serves a new stream, from `random` (any
/// random number, e.g. the platform's 53 random bits). `shards` 0 counts as
/// 1.
pub fn shard_for_stream(random: u64, shards: u32) -> u32 {
    let shards = u64::from(shards.max(1));
    u32::try_from(random % shards).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::region::LocationHint;
    use proptest::prelude::*;

    fn name(region: Region, shard: u32) -> EdgeName {
        EdgeName::new(region, shard)
    }

    #[test]
    fn names_are_written_and_read_back() {
        let weur = Region::Hint(LocationHint::Weur);
        assert_eq!(name(weur, 0).to_string(), "edge:weur:0");
        assert_eq!(name(Region::Default, 0).to_string(), "edge:default:0");
        assert_eq!(
            name(Region::Hint(LocationHint::Apac), 15).to_string(),
            "edge:apac:15"
        );
        assert_eq!(EdgeName::parse("edge:weur:0").unwrap(), name(weur, 0));
        assert_eq!(
            "edge:default:0".parse::<EdgeName>().unwrap(),
            name(Region::Default, 0)
        );
        assert_eq!(
            serde_json::to_string(&name(weur, 3)).unwrap(),
            "\"edge:weur:3\""
        );
        assert_eq!(
            serde_json::from_str::<EdgeName>("\"edge:me:2\"").unwrap(),
            name(Region::Hint(LocationHint::Me), 2)
        );
        assert!(serde_json::from_str::<EdgeName>("\"edge:me\"").is_err());
    }

    #[test]
    fn malformed_names_are_refused_with_the_reason() {
        let cases = [
            (
                "",
                r#"edge name "": must read edge:<region>:<shard>, e.g. edge:weur:0"#,
            ),
            (
                "weur:0",
                r#"edge name "weur:0": must read edge:<region>:<shard>, e.g. edge:weur:0"#,
            ),
            (
                "hub:weur:0",
                r#"edge name "hub:weur:0": must read edge:<region>:<shard>, e.g. edge:weur:0"#,
            ),
            (
                "edge:weur:0:1",
                r#"edge name "edge:weur:0:1": must read edge:<region>:<shard>, e.g. edge:weur:0"#,
            ),
            (
                "EDGE:weur:0",
                r#"edge name "EDGE:weur:0": must read edge:<region>:<shard>, e.g. edge:weur:0"#,
            ),
            (
                "edge:mars:0",
                r#"edge name "edge:mars:0": unknown region "mars": expected default, wnam, enam, sam, weur, eeur, apac, oc, afr or me"#,
            ),
            (
                "edge:weur:",
                r#"edge name "edge:weur:": the shard must be a whole number below 2^32, got """#,
            ),
            (
                "edge:weur:-1",
                r#"edge name "edge:weur:-1": the shard must be a whole number below 2^32, got "-1""#,
            ),
            (
                "edge:weur:+1",
                r#"edge name "edge:weur:+1": the shard must be a whole number below 2^32, got "+1""#,
            ),
            (
                "edge:weur:4294967296",
                r#"edge name "edge:weur:4294967296": the shard must be a whole number below 2^32, got "4294967296""#,
            ),
            (
                "edge:weur:01",
                r#"edge name "edge:weur:01": is spelled edge:weur:1"#,
            ),
            (
                "edge:WEUR:0",
                r#"edge name "edge:WEUR:0": is spelled edge:weur:0"#,
            ),
            (
                "edge:Default:0",
                r#"edge name "edge:Default:0": is spelled edge:default:0"#,
            ),
        ];
        for (bad, message) in cases {
            assert_eq!(
                EdgeName::parse(bad),
                Err(Error::Invalid(message.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_edge_exists_in_its_regions_below_the_shard_count() {
        let weur = Region::Hint(LocationHint::Weur);
        let in_use = EdgeRegions::new(vec![LocationHint::Weur, LocationHint::Apac]).unwrap();
        assert!(name(weur, 0).is_in(&in_use, 2));
        assert!(name(weur, 1).is_in(&in_use, 2));
        assert!(!name(weur, 2).is_in(&in_use, 2));
        assert!(!name(Region::Hint(LocationHint::Enam), 0).is_in(&in_use, 2));
        assert!(!name(Region::Default, 0).is_in(&in_use, 2));
        let unset = EdgeRegions::default();
        assert!(name(Region::Default, 0).is_in(&unset, 1));
        assert!(
            name(Region::Default, 0).is_in(&unset, 0),
            "0 shards count as 1"
        );
        assert!(!name(weur, 0).is_in(&unset, 1));
    }

    #[test]
    fn a_key_keeps_its_shard_across_releases() {
        // Pinned: a change of hash would move every entry to another shard
        // (FNV-1a of the path, modulo the shard count).
        assert_eq!(shard_for_key("/api/posts", 16), 6);
        assert_eq!(shard_for_key("/api/posts", 1), 0);
        assert_eq!(shard_for_key("/api/posts", 0), 0);
        assert_eq!(shard_for_stream(17, 16), 1);
        assert_eq!(shard_for_stream(u64::MAX, 0), 0);
    }

    #[test]
    fn keys_spread_over_every_shard() {
        // 1,000 paths over 16 shards: 62.5 each on average; each shard gets
        // more than half of that, so none is starved and none is doubled.
        let mut counts = [0u32; 16];
        for id in 0..1_000 {
            counts[shard_for_key(&format!("/api/posts/{id}"), 16) as usize] += 1;
        }
        assert!(counts.iter().all(|&n| (32..=94).contains(&n)), "{counts:?}");
    }

    fn any_region() -> impl Strategy<Value = Region> {
        prop_oneof![
            Just(Region::Default),
            prop::sample::select(LocationHint::ALL.to_vec()).prop_map(Region::Hint),
        ]
    }

    proptest! {
        #[test]
        fn every_name_reads_back_as_itself(region in any_region(), shard in any::<u32>()) {
            let edge = name(region, shard);
            prop_assert_eq!(EdgeName::parse(&edge.to_string()), Ok(edge));
        }

        #[test]
        fn a_name_that_parses_is_written_the_same(
            text in "edge:(?i:default|wnam|enam|sam|weur|eeur|apac|oc|afr|me|x):[0-9+-]{0,4}",
        ) {
            if let Ok(edge) = EdgeName::parse(&text) {
                prop_assert_eq!(edge.to_string(), text);
            }
        }

        #[test]
        fn shards_stay_below_the_count(key in ".*", random in any::<u64>(), shards in 0u32..100) {
            let bound = shards.max(1);
            prop_assert!(shard_for_key(&key, shards) < bound);
            prop_assert_eq!(shard_for_key(&key, shards), shard_for_key(&key.clone(), shards));
            prop_assert!(shard_for_stream(random, shards) < bound);
        }
    }
}
