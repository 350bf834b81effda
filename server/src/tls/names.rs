//! Which host names and addresses the server certificate should cover: this machine's name (and
//! its `.local` mDNS form), `localhost`, the listen address or, when listening on every
//! interface, each interface's address, plus the names IT configured (`--tls-name`).

use super::pki::Names;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The names a certificate for a server listening on `listen` should carry now.
pub fn wanted(listen: IpAddr, extra: &[String]) -> Names {
    let mut names = Names::default();
    names.dns.insert("localhost".to_owned());
    if let Some(host) = host_name() {
        names.dns.insert(format!("{host}.local"));
        names.dns.insert(host);
    }
    for name in extra {
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                names.ips.insert(ip);
            }
            Err(_) => {
                names.dns.insert(name.trim().to_ascii_lowercase());
            }
        }
    }
    names.ips.insert(IpAddr::V4(Ipv4Addr::LOCALHOST));
    names.ips.insert(IpAddr::V6(Ipv6Addr::LOCALHOST));
    if listen.is_unspecified() {
        match if_addrs::get_if_addrs() {
            Ok(interfaces) => {
                for interface in interfaces {
                    let ip = interface.ip();
                    // Link-local IPv6 addresses need a zone and change with the interface.
                    if !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()) {
                        names.ips.insert(ip);
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot list network interfaces"),
        }
    } else {
        names.ips.insert(listen);
    }
    names
}

/// This machine's host name, if it has a usable one.
fn host_name() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()?;
    let name = raw.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listen_address_are_always_covered() {
        let lan: IpAddr = "192.168.1.10"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let names = wanted(lan, &["clinic.example.org".into(), "10.0.0.5".into()]);
        assert!(names.ips.contains(&lan));
        assert!(names.ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(names.dns.contains("localhost"));
        assert!(names.dns.contains("clinic.example.org"));
        assert!(
            names
                .ips
                .contains(&"10.0.0.5".parse::<IpAddr>().unwrap_or(lan))
        );
    }
}
