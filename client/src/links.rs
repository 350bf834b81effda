//! Links in messages that the app may hand to the system browser or mail program: http, https
//! and mailto only, checked here so no message can make the desktop open a file, a script or
//! another app's scheme.

use crate::error::{ClientError, Result};
use url::Url;

/// Longer than any real link a person sends; a longer one is refused rather than opened.
pub const MAX_LINK_CHARS: usize = 2048;

/// `text` as a link the system may open: `http(s)://` with a host, or `mailto:` with an
/// address. Anything else (`file:`, `javascript:`, `data:`, the app's own scheme) is refused.
///
/// Links written to hide where they lead are refused too: a user name or password before the
/// host (`https://clinic.example@elsewhere/`), a backslash (read as a slash), and a mail link to
/// more than one address or with more than a subject and a body (some mail programs attach
/// the file an `attach=` names).
pub fn external_link(text: &str) -> Result<Url> {
    let text = text.trim();
    if text.chars().count() > MAX_LINK_CHARS {
        return Err(ClientError::Invalid("this link is too long to open".into()));
    }
    let url = Url::parse(text)
        .map_err(|_| ClientError::Invalid(format!("{text:?} is not a link that can be opened")))?;
    let hiding =
        || ClientError::Invalid("this link hides where it leads, so it is not opened".into());
    if text.contains('\\') {
        return Err(hiding());
    }
    let allowed = match url.scheme() {
        "http" | "https" => {
            if !url.username().is_empty() || url.password().is_some() {
                return Err(hiding());
            }
            url.host_str().is_some_and(|h| !h.is_empty())
        }
        "mailto" => {
            let fields_ok = url
                .query_pairs()
                .all(|(k, _)| k.eq_ignore_ascii_case("subject") || k.eq_ignore_ascii_case("body"));
            // One address, decoded (`müller@praxis.de` arrives as `m%C3%BCller@...`), with
            // nothing that hides or reorders text: a second address after a comma, an escape
            // that does not decode, U+202E turning the tooltip round.
            let Ok(address) = percent_encoding::percent_decode_str(url.path()).decode_utf8() else {
                return Err(hiding());
            };
            let hides = |c: char| {
                matches!(c, ',' | '%')
                    || c.is_control()
                    || c.is_whitespace()
                    || clinic_protocol::text::is_format(c)
            };
            if !fields_ok || address.contains(hides) {
                return Err(hiding());
            }
            let Some((_, domain)) = address
                .split_once('@')
                .filter(|_| address.matches('@').count() == 1)
            else {
                return Err(ClientError::Invalid(
                    "this e-mail link has no address to write to".into(),
                ));
            };
            // A domain is a name: a path, query, port or bracket after it would let the tooltip
            // show less than is written.
            if domain.is_empty() || domain.contains(['/', '?', '#', ':', '[', ']', '\\']) {
                return Err(hiding());
            }
            true
        }
        _ => false,
    };
    if allowed {
        Ok(url)
    } else {
        Err(ClientError::Invalid(format!(
            "only web (http, https) and e-mail (mailto) links are opened, not {:?}",
            url.scheme()
        )))
    }
}

/// The question to ask before opening `url`, when where it leads is not what it looks like a
/// message's link leads to: this computer or one on its network (an admin page, a printer, a
/// router: opening it from a message could act there with the user's rights), or a name written
/// in letters of other alphabets (`xn--...`), which can imitate a familiar one. `None` for an
/// ordinary website or a mail link.
pub fn ask_before_opening(url: &Url) -> Option<String> {
    use std::net::IpAddr;
    let shown = shown(url);
    let host = match url.host()? {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty() {
                return Some(local("this computer"));
            }
            // Names only a local network resolves: a printer's `NAME.local`, a router's `.lan`.
            let local_suffix = [
                ".localhost",
                ".local",
                ".lan",
                ".home",
                ".home.arpa",
                ".internal",
                ".intranet",
                ".localdomain",
                ".corp",
                ".private",
            ]
            .iter()
            .any(|suffix| name.ends_with(suffix));
            if name == "localhost" || local_suffix || !name.contains('.') {
                return Some(local(&shown));
            }
            if name.split('.').any(|label| label.starts_with("xn--")) {
                return Some(format!(
                    "This link's address is written with letters of other alphabets, which can \
                     imitate a familiar name: it leads to {shown}. Open it anyway?"
                ));
            }
            return None;
        }
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
    };
    on_this_network(host).then(|| local(&shown))
}

/// The question to ask before opening `url`, whose name was looked up as `addresses`, when one
/// of them is this computer or on its network (a public name pointing there, `127.0.0.1.nip.io`).
/// The caller looks the name up just before opening; a name that changes its answer in between
/// is not caught.
pub fn ask_for_addresses(url: &Url, addresses: &[std::net::IpAddr]) -> Option<String> {
    let local = addresses.iter().copied().find(|ip| on_this_network(*ip))?;
    Some(format!(
        "This link leads to {}, a name that points to {local}: this computer or one on its \
         network, not a website. Open it anyway?",
        shown(url)
    ))
}

/// Whether `ip` is this computer or on its network (loopback, private, link-local, ...).
fn on_this_network(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(ip) => v4_on_this_network(ip),
        std::net::IpAddr::V6(ip) => {
            let [a, b, ..] = ip.segments();
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_unique_local()
                || ip.is_unicast_link_local()
                // An IPv4 address inside: mapped, compatible (::a.b.c.d) or NAT64 (64:ff9b::/96).
                || ip.to_ipv4_mapped().is_some()
                || ip.to_ipv4().is_some_and(v4_on_this_network)
                || (a == 0x64 && b == 0xff9b)
        }
    }
}

fn v4_on_this_network(ip: std::net::Ipv4Addr) -> bool {
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        // 0.0.0.0/8: "this network".
        || ip.octets()[0] == 0
        // Carrier-grade NAT, 100.64.0.0/10: some clinic VPNs.
        || (ip.octets()[0] == 100 && ip.octets()[1] & 0xc0 == 64)
}

/// Where `url` leads, as the dialog says it: host, port and path (no query), at most 80
/// characters.
fn shown(url: &Url) -> String {
    let mut shown = url.host_str().unwrap_or_default().to_owned();
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    if url.path() != "/" {
        shown.push_str(url.path());
    }
    if shown.chars().count() > 80 {
        shown = shown.chars().take(79).collect::<String>() + "…";
    }
    shown
}

fn local(host: &str) -> String {
    format!(
        "This link leads to {host}, this computer or one on its network, not a website. Open it \
         anyway?"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn opens_web_and_mail_links_only() {
        for ok in [
            "https://example.org/a?b=c#d",
            " http://192.168.1.10:8080/x ",
            "mailto:dr.patel@clinic.example",
            "HTTPS://EXAMPLE.ORG",
            "mailto:dr.patel@clinic.example?subject=Hi&BODY=x",
            "mailto:müller@praxis.de",
            "mailto:m%C3%BCller@praxis.de",
            "mailto:a+b@clinic.example?subject=Hello%20there",
        ] {
            assert!(external_link(ok).is_ok(), "{ok}");
        }
        for refused in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,<script>x</script>",
            "tauri://localhost/",
            "ftp://example.org",
            "smb://server/share",
            "https://",
            "mailto:",
            "example.org",
            "",
        ] {
            assert!(external_link(refused).is_err(), "{refused}");
        }
        for hiding in [
            "https://clinic.example.org@evil.example/login",
            "https://user:pw@evil.example/",
            "https://evil.example\\@clinic.example.org",
            "mailto:dr.patel@clinic.example?attach=/home/u/.ssh/id_rsa",
            "mailto:a@b.c,evil@x.y",
            "mailto:a@b.c%2Cevil@x.y",
            "mailto:a@b.c,postmaster",
            "mailto:a@b.c%2Cpostmaster",
            "mailto:%E2%80%AEmoc.live@b.c",
            "mailto:nobody",
            "mailto:?to=a@b.c",
            "mailto:a@b.c%",
            // A domain is a name: nothing after it that a tooltip would not show.
            "mailto:u@clinic.example%2F.evil.com",
            "mailto:u@clinic.example%3F.evil.com",
            "mailto:u@evil.com:80",
            "mailto:u@",
        ] {
            assert!(external_link(hiding).is_err(), "{hiding}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_LINK_CHARS));
        assert!(external_link(&long).is_err());
    }

    #[test]
    fn links_to_this_network_or_in_other_alphabets_are_asked_about() {
        let ask = |text: &str| ask_before_opening(&external_link(text).unwrap());
        for local in [
            "http://127.0.0.1:631/admin?x",
            "http://[::1]:8470/",
            "http://localhost/",
            "http://printer/",
            "http://printer.local/",
            "http://router.lan/",
            "https://nas.home.arpa/",
            "https://wiki.internal/",
            "http://192.168.1.1/",
            "https://10.0.0.5/",
            "http://169.254.1.1/",
            "http://100.64.0.1/",
            "http://[fd00::5]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::7f00:1]/",
            "http://[64:ff9b::c0a8:101]/",
            "http://0.1.2.3/",
            "http://2130706433/",
            "http://PRINTER.LOCAL./",
        ] {
            let question = ask(local).unwrap_or_default();
            assert!(question.contains("on its network"), "{local}: {question}");
        }
        let question = ask("http://127.0.0.1:631/admin?x=1").unwrap_or_default();
        assert!(question.contains("127.0.0.1:631/admin,"), "{question}");
        // A public name that points here.
        let named = external_link("http://127.0.0.1.nip.io:631/").unwrap();
        assert_eq!(ask_before_opening(&named), None, "not by how it is written");
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let public: std::net::IpAddr = "93.184.216.34".parse().unwrap();
        let question = ask_for_addresses(&named, &[public, local]).unwrap_or_default();
        assert!(question.contains("points to 127.0.0.1"), "{question}");
        assert_eq!(ask_for_addresses(&named, &[public]), None);
        let imitation = ask("https://clínic.example/login").unwrap_or_default();
        assert!(imitation.contains("xn--"), "{imitation}");
        for ordinary in [
            "https://clinic.example/forms/intake",
            "https://8.8.8.8/",
            "mailto:dr@clinic.example",
        ] {
            assert_eq!(ask(ordinary), None, "{ordinary}");
        }
    }
}
