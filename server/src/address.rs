//! The unit an address-keyed limit counts (connections per address, login failures and checks
//! per address): one IPv4 address, or one IPv6 /64.

use std::net::{IpAddr, Ipv6Addr};

/// What `ip` counts as for a per-address limit. An IPv6 network hands each home or host a whole
/// /64, so one machine there can speak from 2^64 addresses: keyed by address, it would never
/// reach a limit. An IPv4-mapped IPv6 address counts as its IPv4 address.
pub(crate) fn scope(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_by_itself() {
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(scope(v6("2001:db8:1:2:aaaa::1")), v6("2001:db8:1:2::"));
        assert_eq!(
            scope(v6("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            scope(v6("2001:db8:1:2::7"))
        );
        assert_ne!(scope(v6("2001:db8:1:3::1")), scope(v6("2001:db8:1:2::1")));
        assert_eq!(scope(v6("::ffff:10.0.0.7")), v6("10.0.0.7"));
        assert_eq!(scope(v6("10.0.0.7")), v6("10.0.0.7"));
        assert_eq!(scope(v6("::1")), v6("::"), "loopback is one host anyway");
    }
}
