//! Regions: where the Edges run, and which region serves a request.
//!
//! Cloudflare starts a Durable Object near one of nine *location hints*
//! ([`LocationHint`]: `wnam enam sam weur eeur apac oc afr me`), given when
//! the object is first created; an object never moves afterwards. A
//! deployment lists the hints it uses in `EDGE_REGIONS` ([`EdgeRegions`])
//! and runs its Edges there. Left unset, it has one region,
//! [`Region::Default`], whose Edge is created without a hint.
//!
//! # From a request to a hint
//!
//! [`location_hint_for`] reads the request's `cf` data ([`CfLocation`]: the
//! continent and country codes Cloudflare derives from the client's address,
//! and its longitude). The first row that applies decides:
//!
//! | the request's `cf` data | hint |
//! | --- | --- |
//! | a Middle East country (below), whatever its continent | `me` |
//! | continent `NA` with a longitude | `wnam` or `enam`, by longitude |
//! | continent `EU` with a longitude | `weur` or `eeur`, by longitude |
//! | continent `SA`, `AS`, `OC`, `AF` | `sam`, `apac`, `oc`, `afr` |
//! | anything else: no `cf` data (`wrangler dev` offline), continent `AN` or `T1` (Tor), `NA` or `EU` without a longitude | none: the first region in use |
//!
//! The Middle East is the UN M49 sub-region "Western Asia" (Armenia,
//! Azerbaijan, Bahrain, Cyprus, Georgia, Iraq, Israel, Jordan, Kuwait,
//! Lebanon, Oman, Palestine, Qatar, Saudi Arabia, Syria, Turkey, the United
//! Arab Emirates, Yemen) with Egypt and Iran, which the usual definitions of
//! the Middle East include. Without this row they would fall under `apac`
//! (continent `AS`) or `afr` (Egypt is `AF`), thousands of kilometres
//! further away.
//!
//! Where a continent holds two hints, the visitor goes to the one whose
//! representative point (below) is nearer in longitude: North America splits
//! at 99.7°W (halfway between San Jose and Ashburn, about the 100th
//! meridian), Europe at 14.85°E (halfway between Frankfurt and Warsaw). The
//! split is computed from the points, so the two cannot disagree. Without a
//! longitude the side cannot be told, and the request is treated as one
//! without `cf` data.
//!
//! A request whose hint cannot be told goes to the first region of
//! `EDGE_REGIONS`: list the region that should take the unplaced traffic
//! first.
//!
//! # Folding to a region in use
//!
//! A hint that is not in `EDGE_REGIONS` folds to the region in use whose
//! representative point is nearest to the hint's by great-circle distance,
//! the first listed on a tie ([`EdgeRegions::fold`]). Distance stands in
//! for latency and is not a measure of it: `sam` folds to `afr` when both
//! `afr` and `enam` are in use (São Paulo is 6,400 km from Lagos and 7,700
//! km from Ashburn), although South America's traffic mostly crosses to
//! the United States. A deployment that wants otherwise lists the regions
//! its visitors need.
//!
//! # Representative points
//!
//! Cloudflare documents the hints by the name of an area ("Western North
//! America", ...), not by a place. We stand each hint at a city that has a
//! Cloudflare data centre, near the middle of the area's users, chosen by
//! us; the coordinates are the city's, rounded to a tenth of a degree:
//!
//! | hint | city | latitude, longitude |
//! | --- | --- | --- |
//! | `wnam` | San Jose | 37.3, −121.9 |
//! | `enam` | Ashburn | 39.0, −77.5 |
//! | `sam` | São Paulo | −23.5, −46.6 |
//! | `weur` | Frankfurt | 50.1, 8.7 |
//! | `eeur` | Warsaw | 52.2, 21.0 |
//! | `apac` | Singapore | 1.4, 103.8 |
//! | `oc` | Sydney | −33.9, 151.2 |
//! | `afr` | Lagos | 6.5, 3.4 |
//! | `me` | Dubai | 25.3, 55.3 |
//!
//! # The test header
//!
//! Locally every request carries the same `cf` data (or none), so tests and
//! local runs pick a region with a request header instead, named by
//! `EDGE_REGION_HEADER` ([`region_for_request`]). A value that names a
//! region in use picks it; any other value picks the first region in use,
//! so that a test asking for a region the deployment lacks still lands
//! somewhere known. Unset (the default, and production), no header is read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::quote;
use crate::{Error, Result};

/// The countries of the Middle East as ISO 3166-1 alpha-2 codes: UN M49
/// "Western Asia" (code 145) with Egypt (`EG`) and Iran (`IR`).
const MIDDLE_EAST: [&str; 20] = [
    "AE", "AM", "AZ", "BH", "CY", "EG", "GE", "IL", "IQ", "IR", "JO", "KW", "LB", "OM", "PS", "QA",
    "SA", "SY", "TR", "YE",
];

/// One of Cloudflare's nine location hints for Durable Objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationHint {
    /// `wnam`: Western North America.
    Wnam,
    /// `enam`: Eastern North America.
    Enam,
    /// `sam`: South America.
    Sam,
    /// `weur`: Western Europe.
    Weur,
    /// `eeur`: Eastern Europe.
    Eeur,
    /// `apac`: Asia-Pacific.
    Apac,
    /// `oc`: Oceania.
    Oc,
    /// `afr`: Africa.
    Afr,
    /// `me`: Middle East.
    Me,
}

impl LocationHint {
    /// Every hint, in the order of Cloudflare's documentation.
    pub const ALL: [LocationHint; 9] = [
        LocationHint::Wnam,
        LocationHint::Enam,
        LocationHint::Sam,
        LocationHint::Weur,
        LocationHint::Eeur,
        LocationHint::Apac,
        LocationHint::Oc,
        LocationHint::Afr,
        LocationHint::Me,
    ];

    /// The wire name, as given to Cloudflare and written in `EDGE_REGIONS`.
    pub fn as_str(self) -> &'static str {
        match self {
            LocationHint::Wnam => "wnam",
            LocationHint::Enam => "enam",
            LocationHint::Sam => "sam",
            LocationHint::Weur => "weur",
            LocationHint::Eeur => "eeur",
            LocationHint::Apac => "apac",
            LocationHint::Oc => "oc",
            LocationHint::Afr => "afr",
            LocationHint::Me => "me",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the (quoted) value and the nine names.
    pub fn parse(name: &str) -> Result<LocationHint> {
        LocationHint::ALL
            .into_iter()
            .find(|h| name.eq_ignore_ascii_case(h.as_str()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown region {}: expected wnam, enam, sam, weur, eeur, apac, oc, afr or me",
                    quote(name)
                ))
            })
    }

    /// The point that stands for the hint's area (module docs,
    /// "Representative points").
    pub fn point(self) -> Point {
        let (latitude, longitude) = match self {
            LocationHint::Wnam => (37.3, -121.9),
            LocationHint::Enam => (39.0, -77.5),
            LocationHint::Sam => (-23.5, -46.6),
            LocationHint::Weur => (50.1, 8.7),
            LocationHint::Eeur => (52.2, 21.0),
            LocationHint::Apac => (1.4, 103.8),
            LocationHint::Oc => (-33.9, 151.2),
            LocationHint::Afr => (6.5, 3.4),
            LocationHint::Me => (25.3, 55.3),
        };
        Point {
            latitude,
            longitude,
        }
    }
}

impl fmt::Display for LocationHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LocationHint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        LocationHint::parse(s)
    }
}

/// A place on the globe, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Degrees north of the equator (south is negative).
    pub latitude: f64,
    /// Degrees east of Greenwich (west is negative).
    pub longitude: f64,
}

impl Point {
    /// The great-circle angle between two points, in radians (the haversine
    /// formula). The distance is this times the Earth's radius, which no
    /// comparison needs.
    pub fn angle_to(self, other: Point) -> f64 {
        let (phi1, phi2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let half_dphi = (phi2 - phi1) / 2.0;
        let half_dlambda = (other.longitude - self.longitude).to_radians() / 2.0;
        let h = half_dphi.sin().powi(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().powi(2);
        // Rounding can push h a hair past 1 for antipodes; asin would be NaN.
        2.0 * h.sqrt().min(1.0).asin()
    }
}

/// The region of an Edge: one of the hints in use, or `default` when
/// `EDGE_REGIONS` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    /// The one region of a deployment without `EDGE_REGIONS`; its Edge is
    /// created without a location hint.
    Default,
    /// A region at a location hint.
    Hint(LocationHint),
}

impl Region {
    /// The wire name of [`Region::Default`].
    pub const DEFAULT_NAME: &'static str = "default";

    /// The wire name: `default` or the hint's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Default => Region::DEFAULT_NAME,
            Region::Hint(hint) => hint.as_str(),
        }
    }

    /// The hint to create this region's Edges with, if any.
    pub fn location_hint(self) -> Option<LocationHint> {
        match self {
            Region::Default => None,
            Region::Hint(hint) => Some(hint),
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the (quoted) value and the names expected.
    pub fn parse(name: &str) -> Result<Region> {
        if name.eq_ignore_ascii_case(Region::DEFAULT_NAME) {
            return Ok(Region::Default);
        }
        LocationHint::parse(name).map(Region::Hint).map_err(|_| {
            Error::Invalid(format!(
                "unknown region {}: expected default, wnam, enam, sam, weur, eeur, apac, oc, afr or me",
                quote(name)
            ))
        })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Region {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Region::parse(s)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Region::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// The regions in use (`EDGE_REGIONS`): the hints listed, in order, each
/// once; none listed means the one region `default`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeRegions {
    /// Empty: `EDGE_REGIONS` unset.
    hints: Vec<LocationHint>,
}

impl EdgeRegions {
    /// The regions at `hints`, in that order; no hints: `default` alone.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming a hint listed twice: each region has one
    /// set of Edges, and a repeat is a typo for another region.
    pub fn new(hints: Vec<LocationHint>) -> Result<EdgeRegions> {
        for (i, hint) in hints.iter().enumerate() {
            if hints[..i].contains(hint) {
                return Err(Error::Invalid(format!("lists {hint} twice")));
            }
        }
        Ok(EdgeRegions { hints })
    }

    /// Parses a comma-separated list of hints (ASCII case ignored, spaces
    /// and empty items skipped, so that `" , "` is the same as unset).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming an unknown hint or one listed twice.
    pub fn parse(list: &str) -> Result<EdgeRegions> {
        let hints = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(LocationHint::parse)
            .collect::<Result<Vec<_>>>()?;
        EdgeRegions::new(hints)
    }

    /// The hints listed, in order (empty when `EDGE_REGIONS` is unset).
    pub fn hints(&self) -> &[LocationHint] {
        &self.hints
    }

    /// The first region: it takes the requests whose hint cannot be told.
    pub fn first(&self) -> Region {
        self.hints
            .first()
            .map_or(Region::Default, |&h| Region::Hint(h))
    }

    /// Every region in use, in order: `default` alone, or each hint listed.
    pub fn iter(&self) -> impl Iterator<Item = Region> + '_ {
        let default = self.hints.is_empty().then_some(Region::Default);
        default
            .into_iter()
            .chain(self.hints.iter().map(|&h| Region::Hint(h)))
    }

    /// Whether `region` is in use.
    pub fn contains(&self, region: Region) -> bool {
        match region {
            Region::Default => self.hints.is_empty(),
            Region::Hint(hint) => self.hints.contains(&hint),
        }
    }

    /// The region in use that serves `hint`: the hint itself when it is in
    /// use, else the one whose point is nearest to the hint's (module docs,
    /// "Folding to a region in use"); `default` when none is listed.
    pub fn fold(&self, hint: LocationHint) -> Region {
        if self.hints.contains(&hint) {
            return Region::Hint(hint);
        }
        nearest(hint.point(), &self.hints, LocationHint::point)
            .map_or(Region::Default, Region::Hint)
    }
}

/// Of `hints`, the one whose point (by `point`) is nearest to `from`, the
/// first listed on a tie; `None` when `hints` is empty.
fn nearest(
    from: Point,
    hints: &[LocationHint],
    point: impl Fn(LocationHint) -> Point,
) -> Option<LocationHint> {
    hints
        .iter()
        .copied()
        // `min_by` keeps the first of equal elements.
        .min_by(|&a, &b| from.angle_to(point(a)).total_cmp(&from.angle_to(point(b))))
}

/// What a request's `cf` object says about where it comes from. Every field
/// may be missing: `wrangler dev` offline has no `cf` data, and Cloudflare
/// leaves out what it cannot tell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CfLocation {
    /// `cf.continent`: `AF AN AS EU NA OC SA`, or `T1` for Tor.
    pub continent: Option<String>,
    /// `cf.country`: ISO 3166-1 alpha-2, or `T1` for Tor.
    pub country: Option<String>,
    /// `cf.longitude`, in degrees east; a value that is not a number
    /// between −180 and 180 counts as missing.
    pub longitude: Option<f64>,
}

/// The hint the request's location maps to, or `None` when it cannot be
/// told (module docs, "From a request to a hint").
pub fn location_hint_for(cf: &CfLocation) -> Option<LocationHint> {
    let country = cf.country.as_deref().unwrap_or_default();
    if MIDDLE_EAST
        .iter()
        .any(|me| me.eq_ignore_ascii_case(country))
    {
        return Some(LocationHint::Me);
    }
    let longitude = cf
        .longitude
        .filter(|lon| lon.is_finite() && (-180.0..=180.0).contains(lon));
    let continent = cf.continent.as_deref().unwrap_or_default();
    match continent.to_ascii_uppercase().as_str() {
        "NA" => {
            longitude.map(|lon| nearer_in_longitude(lon, LocationHint::Wnam, LocationHint::Enam))
        }
        "EU" => {
            longitude.map(|lon| nearer_in_longitude(lon, LocationHint::Weur, LocationHint::Eeur))
        }
        "SA" => Some(LocationHint::Sam),
        "AS" => Some(LocationHint::Apac),
        "OC" => Some(LocationHint::Oc),
        "AF" => Some(LocationHint::Afr),
        _ => None,
    }
}

/// Of two hints, the one whose point is nearer to `longitude` in longitude
/// alone, measured around the globe (the Aleutians, past 180°, are nearer
/// to San Jose than to Ashburn); `west` on a tie.
fn nearer_in_longitude(longitude: f64, west: LocationHint, east: LocationHint) -> LocationHint {
    let gap = |hint: LocationHint| {
        let d = (longitude - hint.point().longitude).abs() % 360.0;
        d.min(360.0 - d)
    };
    if gap(east) < gap(west) {
        east
    } else {
        west
    }
}

/// The region in use that serves a request from `cf`: its hint folded to
/// the regions in use, or the first region when the hint cannot be told.
pub fn region_for(cf: &CfLocation, in_use: &EdgeRegions) -> Region {
    location_hint_for(cf).map_or_else(|| in_use.first(), |hint| in_use.fold(hint))
}

/// The region that serves a request, given the value of the test header
/// (`EDGE_REGION_HEADER`) when the deployment names one and the request
/// carries it, else `None`: a value naming a region in use (ASCII case and
/// surrounding spaces ignored) picks it, any other value the first region;
/// without a value, [`region_for`] decides.
pub fn region_for_request(header: Option<&str>, cf: &CfLocation, in_use: &EdgeRegions) -> Region {
    match header {
        None => region_for(cf, in_use),
        Some(value) => Region::parse(value.trim())
            .ok()
            .filter(|&region| in_use.contains(region))
            .unwrap_or_else(|| in_use.first()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use LocationHint::*;

    fn cf(continent: &str, country: &str, longitude: f64) -> CfLocation {
        CfLocation {
            continent: Some(continent.to_string()),
            country: Some(country.to_string()),
            longitude: Some(longitude),
        }
    }

    fn regions(hints: &[LocationHint]) -> EdgeRegions {
        EdgeRegions::new(hints.to_vec()).unwrap()
    }

    /// Real places, as Cloudflare would describe them (continent, country,
    /// longitude), with the hint each maps to: every hint at least once.
    const PLACES: [(&str, &str, &str, f64, LocationHint); 33] = [
        ("San Francisco", "NA", "US", -122.4, Wnam),
        ("Los Angeles", "NA", "US", -118.2, Wnam),
        ("Vancouver", "NA", "CA", -123.1, Wnam),
        ("Denver", "NA", "US", -105.0, Wnam),
        ("Honolulu", "NA", "US", -157.9, Wnam),
        ("Mexico City", "NA", "MX", -99.1, Enam),
        ("New York", "NA", "US", -74.0, Enam),
        ("Toronto", "NA", "CA", -79.4, Enam),
        ("Miami", "NA", "US", -80.2, Enam),
        ("São Paulo", "SA", "BR", -46.6, Sam),
        ("Buenos Aires", "SA", "AR", -58.4, Sam),
        ("Bogotá", "SA", "CO", -74.1, Sam),
        ("London", "EU", "GB", -0.1, Weur),
        ("Paris", "EU", "FR", 2.4, Weur),
        ("Madrid", "EU", "ES", -3.7, Weur),
        ("Berlin", "EU", "DE", 13.4, Weur),
        ("Warsaw", "EU", "PL", 21.0, Eeur),
        ("Moscow", "EU", "RU", 37.6, Eeur),
        ("Kyiv", "EU", "UA", 30.5, Eeur),
        ("Athens", "EU", "GR", 23.7, Eeur),
        ("Tokyo", "AS", "JP", 139.7, Apac),
        ("Mumbai", "AS", "IN", 72.9, Apac),
        ("Singapore", "AS", "SG", 103.8, Apac),
        ("Sydney", "OC", "AU", 151.2, Oc),
        ("Auckland", "OC", "NZ", 174.8, Oc),
        ("Lagos", "AF", "NG", 3.4, Afr),
        ("Johannesburg", "AF", "ZA", 28.0, Afr),
        ("Nairobi", "AF", "KE", 36.8, Afr),
        ("Cairo", "AF", "EG", 31.2, Me),
        ("Dubai", "AS", "AE", 55.3, Me),
        ("Tel Aviv", "AS", "IL", 34.8, Me),
        ("Istanbul", "AS", "TR", 29.0, Me),
        ("Tehran", "AS", "IR", 51.4, Me),
    ];

    fn place(i: usize) -> CfLocation {
        let (_, continent, country, longitude, _) = PLACES[i];
        cf(continent, country, longitude)
    }

    #[test]
    fn hints_have_their_wire_names() {
        let names: Vec<&str> = LocationHint::ALL.iter().map(|h| h.as_str()).collect();
        assert_eq!(
            names,
            ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"]
        );
        for hint in LocationHint::ALL {
            assert_eq!(hint.to_string().parse::<LocationHint>().unwrap(), hint);
            assert_eq!(
                LocationHint::parse(&hint.as_str().to_uppercase()).unwrap(),
                hint
            );
            assert_eq!(serde_json::to_string(&hint).unwrap(), format!("\"{hint}\""));
            let region = Region::Hint(hint);
            assert_eq!(region.as_str(), hint.as_str());
            assert_eq!(region.location_hint(), Some(hint));
            assert_eq!(Region::parse(hint.as_str()).unwrap(), region);
            assert_eq!(
                serde_json::from_str::<Region>(&format!("\"{hint}\"")).unwrap(),
                region
            );
        }
        assert_eq!(Region::Default.as_str(), "default");
        assert_eq!(Region::Default.location_hint(), None);
        assert_eq!(Region::parse("default").unwrap(), Region::Default);
        assert_eq!(
            serde_json::to_string(&Region::Default).unwrap(),
            "\"default\""
        );
    }

    #[test]
    fn unknown_hints_and_regions_are_named() {
        assert_eq!(
            LocationHint::parse("eu").unwrap_err().to_string(),
            r#"invalid input: unknown region "eu": expected wnam, enam, sam, weur, eeur, apac, oc, afr or me"#
        );
        assert!(LocationHint::parse("default").is_err());
        assert_eq!(
            Region::parse("us-east").unwrap_err().to_string(),
            r#"invalid input: unknown region "us-east": expected default, wnam, enam, sam, weur, eeur, apac, oc, afr or me"#
        );
        assert!(serde_json::from_str::<Region>("\"mars\"").is_err());
    }

    #[test]
    fn every_place_maps_to_its_hint() {
        for (i, (name, _, _, _, hint)) in PLACES.iter().enumerate() {
            assert_eq!(location_hint_for(&place(i)), Some(*hint), "{name}");
        }
        for hint in LocationHint::ALL {
            assert!(PLACES.iter().any(|p| p.4 == hint), "no place for {hint}");
        }
    }

    #[test]
    fn north_america_splits_halfway_between_san_jose_and_ashburn() {
        let split = (Wnam.point().longitude + Enam.point().longitude) / 2.0;
        assert!((split - -99.7).abs() < 1e-9, "{split}");
        assert_eq!(location_hint_for(&cf("NA", "US", -99.8)), Some(Wnam));
        assert_eq!(location_hint_for(&cf("NA", "US", -99.6)), Some(Enam));
        // Around the globe: the Aleutians past 180° are western, Greenland eastern.
        assert_eq!(location_hint_for(&cf("NA", "US", 173.0)), Some(Wnam));
        assert_eq!(location_hint_for(&cf("NA", "GL", -40.0)), Some(Enam));
    }

    #[test]
    fn europe_splits_halfway_between_frankfurt_and_warsaw() {
        let split = (Weur.point().longitude + Eeur.point().longitude) / 2.0;
        assert!((split - 14.85).abs() < 1e-9, "{split}");
        assert_eq!(location_hint_for(&cf("EU", "AT", 14.8)), Some(Weur));
        assert_eq!(location_hint_for(&cf("EU", "AT", 14.9)), Some(Eeur));
        // Far-eastern Russia is still Europe's continent code: eastern.
        assert_eq!(location_hint_for(&cf("EU", "RU", 131.9)), Some(Eeur));
        assert_eq!(location_hint_for(&cf("EU", "PT", -9.1)), Some(Weur));
    }

    #[test]
    fn middle_east_countries_go_to_me_whatever_their_continent() {
        assert_eq!(MIDDLE_EAST.len(), 20);
        for country in MIDDLE_EAST {
            for continent in ["AS", "EU", "AF", ""] {
                let mut location = cf(continent, country, 40.0);
                location.longitude = None;
                assert_eq!(location_hint_for(&location), Some(Me), "{country}");
            }
        }
        // Neighbours that are not: Asia-Pacific, Africa, Europe.
        assert_eq!(location_hint_for(&cf("AS", "PK", 67.0)), Some(Apac));
        assert_eq!(location_hint_for(&cf("AF", "LY", 13.2)), Some(Afr));
        assert_eq!(location_hint_for(&cf("EU", "GR", 23.7)), Some(Eeur));
    }

    #[test]
    fn continents_with_one_hint() {
        for (continent, hint) in [("SA", Sam), ("AS", Apac), ("OC", Oc), ("AF", Afr)] {
            let without_longitude = CfLocation {
                continent: Some(continent.to_string()),
                country: None,
                longitude: None,
            };
            assert_eq!(location_hint_for(&without_longitude), Some(hint));
            assert_eq!(
                location_hint_for(&cf(&continent.to_lowercase(), "XX", 0.0)),
                Some(hint)
            );
        }
    }

    #[test]
    fn what_cannot_be_placed_has_no_hint() {
        let missing = [
            CfLocation::default(),
            cf("AN", "AQ", 166.7),
            cf("T1", "T1", 0.0),
            cf("", "", 0.0),
            // A split continent without a usable longitude.
            CfLocation {
                longitude: None,
                ..cf("NA", "US", 0.0)
            },
            cf("EU", "DE", f64::NAN),
            cf("NA", "US", f64::INFINITY),
            cf("NA", "US", -200.0),
            // A country alone, outside the Middle East, says nothing.
            CfLocation {
                country: Some("FR".to_string()),
                ..CfLocation::default()
            },
        ];
        for location in missing {
            assert_eq!(location_hint_for(&location), None, "{location:?}");
            assert_eq!(
                region_for(&location, &regions(&[Apac, Weur])),
                Region::Hint(Apac),
                "the first region takes it"
            );
            assert_eq!(
                region_for(&location, &EdgeRegions::default()),
                Region::Default
            );
        }
    }

    #[test]
    fn unset_regions_mean_one_default_region() {
        let unset = EdgeRegions::default();
        assert_eq!(unset.first(), Region::Default);
        assert_eq!(unset.iter().collect::<Vec<_>>(), [Region::Default]);
        assert!(unset.contains(Region::Default));
        assert!(!unset.contains(Region::Hint(Weur)));
        for i in 0..PLACES.len() {
            assert_eq!(region_for(&place(i), &unset), Region::Default);
        }
        assert_eq!(EdgeRegions::parse(" , ,").unwrap(), unset);
    }

    #[test]
    fn regions_in_use_parse_in_order_without_duplicates() {
        let parsed = EdgeRegions::parse(" weur, APAC ,,enam ").unwrap();
        assert_eq!(parsed.hints(), [Weur, Apac, Enam]);
        assert_eq!(parsed.first(), Region::Hint(Weur));
        assert_eq!(
            parsed.iter().collect::<Vec<_>>(),
            [Region::Hint(Weur), Region::Hint(Apac), Region::Hint(Enam)]
        );
        assert!(!parsed.contains(Region::Default));
        assert_eq!(
            EdgeRegions::parse("weur,apac,Weur").unwrap_err(),
            Error::Invalid("lists weur twice".to_string())
        );
        assert!(EdgeRegions::parse("weur,europe").is_err());
    }

    #[test]
    fn a_hint_in_use_is_its_own_region() {
        let all = regions(&LocationHint::ALL);
        for hint in LocationHint::ALL {
            assert_eq!(all.fold(hint), Region::Hint(hint));
        }
    }

    #[test]
    fn each_hint_folds_to_its_nearest_neighbour() {
        // With every other hint in use: the nearest point (module docs).
        let expected = [
            (Wnam, Enam),
            (Enam, Wnam),
            (Sam, Afr),
            (Weur, Eeur),
            (Eeur, Weur),
            (Apac, Me),
            (Oc, Apac),
            (Afr, Weur),
            (Me, Eeur),
        ];
        for (hint, nearest) in expected {
            let others: Vec<LocationHint> = LocationHint::ALL
                .into_iter()
                .filter(|&h| h != hint)
                .collect();
            assert_eq!(regions(&others).fold(hint), Region::Hint(nearest), "{hint}");
        }
        // The cases the module docs name.
        assert_eq!(regions(&[Enam, Afr]).fold(Sam), Region::Hint(Afr));
        assert_eq!(regions(&[Enam, Weur]).fold(Sam), Region::Hint(Enam));
        assert_eq!(regions(&[Apac, Weur]).fold(Oc), Region::Hint(Apac));
    }

    #[test]
    fn folding_ties_go_to_the_region_listed_first() {
        // No two hints share a point, so the tie is made with points of our own.
        let at = |latitude: f64, longitude: f64| Point {
            latitude,
            longitude,
        };
        let mirrored = |hint: LocationHint| match hint {
            Weur => at(0.0, -10.0),
            Eeur => at(0.0, 10.0),
            _ => at(60.0, 0.0),
        };
        let origin = at(0.0, 0.0);
        assert_eq!(nearest(origin, &[Eeur, Weur], mirrored), Some(Eeur));
        assert_eq!(nearest(origin, &[Weur, Eeur], mirrored), Some(Weur));
        assert_eq!(nearest(origin, &[Oc, Weur], mirrored), Some(Weur));
        assert_eq!(nearest(origin, &[], mirrored), None);
    }

    #[test]
    fn great_circle_angles() {
        let london = Point {
            latitude: 51.5,
            longitude: -0.1,
        };
        let new_york = Point {
            latitude: 40.7,
            longitude: -74.0,
        };
        // 5,570 km on a sphere of the Earth's mean radius (6,371 km, IUGG).
        let km = london.angle_to(new_york) * 6_371.0;
        assert!((km - 5_570.0).abs() < 10.0, "{km}");
        let north = Point {
            latitude: 90.0,
            longitude: 0.0,
        };
        let south = Point {
            latitude: -90.0,
            longitude: 0.0,
        };
        assert!((north.angle_to(south) - std::f64::consts::PI).abs() < 1e-12);
        assert_eq!(london.angle_to(london), 0.0);
    }

    #[test]
    fn the_test_header_picks_a_region_in_use_or_the_first() {
        let in_use = regions(&[Weur, Apac]);
        let tokyo = cf("AS", "JP", 139.7);
        assert_eq!(
            region_for_request(None, &tokyo, &in_use),
            Region::Hint(Apac),
            "no header: the cf data decides"
        );
        assert_eq!(
            region_for_request(Some(" APAC "), &CfLocation::default(), &in_use),
            Region::Hint(Apac)
        );
        assert_eq!(
            region_for_request(Some("weur"), &tokyo, &in_use),
            Region::Hint(Weur),
            "the header wins over the cf data"
        );
        for other in ["enam", "default", "", "mars"] {
            assert_eq!(
                region_for_request(Some(other), &tokyo, &in_use),
                Region::Hint(Weur),
                "{other:?} is not in use: the first region"
            );
        }
        let unset = EdgeRegions::default();
        for value in ["weur", "default", "x"] {
            assert_eq!(
                region_for_request(Some(value), &tokyo, &unset),
                Region::Default
            );
        }
    }

    /// A list of distinct hints, at least two, in any order.
    fn several_in_use() -> impl Strategy<Value = Vec<LocationHint>> {
        Just(LocationHint::ALL.to_vec())
            .prop_shuffle()
            .prop_flat_map(|all| (2..=all.len()).prop_map(move |n| all[..n].to_vec()))
    }

    fn any_in_use() -> impl Strategy<Value = Vec<LocationHint>> {
        Just(LocationHint::ALL.to_vec())
            .prop_shuffle()
            .prop_flat_map(|all| (0..=all.len()).prop_map(move |n| all[..n].to_vec()))
    }

    fn any_hint() -> impl Strategy<Value = LocationHint> {
        prop::sample::select(LocationHint::ALL.to_vec())
    }

    fn any_cf() -> impl Strategy<Value = CfLocation> {
        let code = prop::option::of(prop_oneof![
            prop::sample::select(vec!["NA", "SA", "EU", "AS", "OC", "AF", "AN", "T1"])
                .prop_map(str::to_string),
            prop::sample::select(MIDDLE_EAST.to_vec()).prop_map(str::to_string),
            ".{0,3}",
        ]);
        let longitude =
            prop::option::of(prop_oneof![-180.0..=180.0f64, any::<f64>(), Just(f64::NAN),]);
        (code.clone(), code, longitude).prop_map(|(continent, country, longitude)| CfLocation {
            continent,
            country,
            longitude,
        })
    }

    proptest! {
        #[test]
        fn every_region_in_use_serves_some_place(hints in several_in_use()) {
            let in_use = regions(&hints);
            let served: Vec<Region> =
                (0..PLACES.len()).map(|i| region_for(&place(i), &in_use)).collect();
            for region in in_use.iter() {
                prop_assert!(served.contains(&region), "{region} serves no place");
            }
        }

        #[test]
        fn a_request_always_lands_in_a_region_in_use(
            hints in any_in_use(),
            location in any_cf(),
            header in prop::option::of(prop_oneof![
                prop::sample::select(vec![
                    "wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me", "default",
                ])
                .prop_map(str::to_string),
                ".{0,6}",
            ]),
        ) {
            let in_use = regions(&hints);
            prop_assert!(in_use.contains(region_for(&location, &in_use)));
            prop_assert!(
                in_use.contains(region_for_request(header.as_deref(), &location, &in_use))
            );
        }

        #[test]
        fn folding_returns_the_nearest_region_in_use(
            hints in any_in_use(),
            hint in any_hint(),
        ) {
            let in_use = regions(&hints);
            let folded = in_use.fold(hint);
            prop_assert!(in_use.contains(folded));
            if hints.contains(&hint) {
                prop_assert_eq!(folded, Region::Hint(hint));
            }
            if let Some(chosen) = folded.location_hint() {
                let distance = |h: LocationHint| hint.point().angle_to(h.point());
                for &other in &hints {
                    prop_assert!(distance(chosen) <= distance(other), "{other} is nearer");
                }
            }
        }
    }
}
