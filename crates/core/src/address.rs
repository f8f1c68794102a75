//! A client's address as the limits count it: an IPv4 address as it is,
//! an IPv6 address by its /64 (one subscriber is usually given a whole
//! /64, so counting exact IPv6 addresses would give one client 2^64
//! budgets), and an IPv4-mapped IPv6 address as its IPv4 address.

use std::net::IpAddr;

/// The longest text an unparseable address is kept as: it is a map key.
const MAX_RAW_LEN: usize = 64;

/// The key of the client at `raw` (`CF-Connecting-IP`): see the module docs.
/// Anything that is not an address (a header `wrangler dev` or a proxy set
/// oddly) is its own key, cut to 64 bytes.
pub fn address_key(raw: &str) -> String {
    let raw = raw.trim();
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => raw.chars().take(MAX_RAW_LEN).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_by_its_64_ipv4_as_it_is() {
        assert_eq!(address_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(address_key("::ffff:203.0.113.9"), "203.0.113.9");
        let a = address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2::1"), a, "same /64");
        assert_ne!(address_key("2001:db8:1:3::1"), a, "another /64");
        assert_eq!(address_key(&"x".repeat(200)).len(), 64);
    }
}
