//! The unit a per-address limit counts (connections per address, login failures and checks per
//! address): one host, or for a distant IPv6 client its whole /64.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::OnceLock;

/// An IPv6 network: its address bits under its mask.
#[derive(Debug, Clone, Copy)]
struct Network {
    bits: u128,
    mask: u128,
}

impl Network {
    fn holds(self, ip: Ipv6Addr) -> bool {
        ip.to_bits() & self.mask == self.bits & self.mask
    }
}

/// The IPv6 networks of this machine's interfaces, looked up once: the clinic's own network,
/// whose computers are told apart however their prefix is shared.
fn own_networks() -> &'static [Network] {
    static OWN: OnceLock<Vec<Network>> = OnceLock::new();
    OWN.get_or_init(|| match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces
            .into_iter()
            .filter_map(|i| match i.addr {
                if_addrs::IfAddr::V6(v6) if !v6.ip.is_loopback() => Some(Network {
                    bits: v6.ip.to_bits(),
                    mask: v6.netmask.to_bits(),
                }),
                _ => None,
            })
            .collect(),
        Err(err) => {
            tracing::warn!(error = %err, "cannot list network interfaces: IPv6 neighbours count by /64");
            Vec::new()
        }
    })
}

/// What `ip` counts as for a per-address limit. A distant IPv6 network hands each home or host
/// a whole /64, so one machine there can speak from 2^64 addresses: keyed by address, it would
/// never reach a limit; it counts by its /64. A computer on this machine's own networks (and
/// on a unique-local or link-local one) counts by itself: every computer of a clinic's network
/// shares its /64, and one must not use up the others' sign-ins. An IPv4-mapped IPv6 address
/// counts as its IPv4 address. The networks are those the interfaces had when first asked (a
/// prefix that changes later makes the clinic's computers count by /64 until a restart).
pub(crate) fn scope(ip: IpAddr) -> IpAddr {
    scope_among(ip, own_networks())
}

fn scope_among(ip: IpAddr, own: &[Network]) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let nearby = v6.is_loopback()
        || v6.is_unique_local()
        || v6.is_unicast_link_local()
        || own.iter().any(|n| n.holds(v6));
    if nearby {
        return ip;
    }
    IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_distant_ipv6_client_counts_by_its_64_and_a_neighbour_by_itself() {
        let clinic = Network {
            bits: "2001:db8:c:1::10".parse::<Ipv6Addr>().unwrap().to_bits(),
            mask: !u128::from(u64::MAX),
        };
        let scope = |s: &str| scope_among(ip(s), &[clinic]);
        assert_eq!(scope("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2::"));
        assert_eq!(
            scope("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            scope("2001:db8:1:2::7")
        );
        assert_ne!(scope("2001:db8:1:3::1"), scope("2001:db8:1:2::1"));
        // The clinic's own network, a unique-local and a link-local one: each computer apart.
        assert_eq!(scope("2001:db8:c:1::21"), ip("2001:db8:c:1::21"));
        assert_ne!(scope("2001:db8:c:1::21"), scope("2001:db8:c:1::22"));
        assert_eq!(scope("fd12:3456::9"), ip("fd12:3456::9"));
        assert_eq!(scope("fe80::1:2"), ip("fe80::1:2"));
        assert_eq!(scope("::1"), ip("::1"));
        assert_eq!(scope("::ffff:10.0.0.7"), ip("10.0.0.7"));
        assert_eq!(scope("10.0.0.7"), ip("10.0.0.7"));
    }
}
