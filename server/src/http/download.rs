//! `GET /download`: a small page offering the desktop packages the server package installed
//! (`--downloads-dir`), so a clinic hands patients one address; `GET /download/{file}` serves one.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write;
use std::net::SocketAddr;

/// One package file offered for download.
#[derive(Debug, PartialEq, Eq)]
struct Package {
    name: String,
    bytes: u64,
}

/// The systems a package file is for, by extension, and how to install it there.
fn system_of(name: &str) -> Option<(&'static str, &'static str)> {
    let ext = name.rsplit_once('.')?.1;
    match ext {
        "deb" => Some(("Debian, Ubuntu", "sudo apt install ./")),
        "rpm" => Some(("Fedora, openSUSE", "sudo dnf install ./")),
        "msi" | "exe" => Some(("Windows", "open ")),
        "dmg" => Some(("macOS", "open ")),
        _ => None,
    }
}

/// Names that are safe in a URL path, a header and HTML without any escaping: nothing else is
/// listed, so nothing else can be asked for.
fn plain_name(name: &str) -> bool {
    !name.starts_with('.')
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+~-".contains(&b))
}

/// The package files in the downloads folder, sorted by name; none if it is missing.
async fn packages(state: &AppState) -> Vec<Package> {
    let Some(dir) = state.config.downloads_dir.as_deref() else {
        return Vec::new();
    };
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return Vec::new();
    };
    let mut found = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !plain_name(&name) || system_of(&name).is_none() {
            continue;
        }
        // The entry itself, never what a link points to: a link can point anywhere this
        // account can read (the database, a TLS key), and no list of places to refuse would
        // name them all. The packages are copied into the folder.
        match entry.metadata().await {
            Ok(meta) if meta.is_file() => found.push(Package {
                name,
                bytes: meta.len(),
            }),
            _ => {}
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

pub(super) async fn page(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Html<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let tls = state.config.tls.mode != crate::tls::TlsMode::Off;
    // The code itself only on the server's own computer (no network in between to vouch for),
    // where IT opens the page to print it for the front desk.
    let code = if tls && peer.ip().is_loopback() {
        pairing_code(&state).await
    } else {
        None
    };
    Html(render(&packages(&state).await, host, tls, code.as_deref()))
}

/// The pairing code of the CA the server's certificate comes from (`tls fingerprint`).
async fn pairing_code(state: &AppState) -> Option<String> {
    let data_dir = state.config.data_dir.clone();
    let own_cert = match &state.config.tls.mode {
        crate::tls::TlsMode::Files { cert, .. } => Some(cert.clone()),
        _ => None,
    };
    let found = tokio::task::spawn_blocking(move || {
        crate::tls::fingerprint(&data_dir, own_cert.as_deref())
    })
    .await;
    match found {
        // In its eight groups, as on paper and as the app shows it.
        Ok(Ok(fingerprint)) => Some(fingerprint.code.to_string()),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "no pairing code for the download page");
            None
        }
        Err(_) => None,
    }
}

fn render(packages: &[Package], host: &str, tls: bool, code: Option<&str>) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Clinic Messaging: install the app</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;\
         padding:0 1rem;line-height:1.5;color:#1f2937}h1{color:#0f766e}\
         code{background:#f1f5f9;padding:.1rem .3rem;border-radius:.25rem}\
         li{margin:.5rem 0}</style></head><body>\n\
         <h1>Clinic Messaging</h1>\n\
         <p>Install the app on your computer, start it, and enter this server's address \
         and the login your clinic gave you.</p>\n",
    );
    let scheme = if tls { "https" } else { "http" };
    // The address the page was opened with: on the server's own computer (where IT prints the
    // page) that is `localhost`, which is no address for patients.
    if plain_host(host) && !loopback_host(host) {
        let _ = writeln!(
            html,
            "<p>Server address: <code>{scheme}://{host}</code></p>"
        );
    }
    if tls {
        // Never the code itself: a page from the network cannot vouch for the network.
        html.push_str(
            "<p>The first time you sign in, the app asks for this server's <b>pairing code</b> \
             (eight groups of seven letters and digits). Use only the code your clinic gave you \
             in person or on paper (clinic IT prints it with \
             <code>clinic-server tls fingerprint</code>), never one from a web page or an \
             e-mail.</p>\n",
        );
    }
    if let Some(code) = code.filter(|c| plain_code(c)) {
        let _ = writeln!(
            html,
            "<p>This server's pairing code (shown only on the server's own computer: print it \
             for the front desk): <code data-pairing-code>{code}</code></p>"
        );
    }
    if packages.is_empty() {
        html.push_str("<p>No packages are offered here yet: ask your clinic for the app.</p>\n");
    } else {
        html.push_str("<ul>\n");
        for package in packages {
            let (system, install) = system_of(&package.name).unwrap_or(("", ""));
            let _ = writeln!(
                html,
                "<li><a href=\"/download/{name}\">{name}</a> ({system}, {size:.1} MB)<br>\
                 then, in the folder it was saved to: <code>{install}{name}</code></li>",
                name = package.name,
                size = package.bytes as f64 / 1_000_000.0,
            );
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// Letters, digits, dashes and spaces only (what a pairing code is made of): safe in HTML.
fn plain_code(code: &str) -> bool {
    code.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b' ')
}

/// Whether a Host header names this computer itself (`localhost`, 127.x, `[::1]`).
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A host name or address with an optional port (what a Host header should hold); anything else
/// is not shown, so nothing in it needs escaping.
fn plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}
pub(super) async fn file(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    // Only a file the page lists: no path tricks can reach anything else.
    let listed = packages(&state).await.into_iter().find(|p| p.name == name);
    let (Some(package), Some(dir)) = (listed, state.config.downloads_dir.as_deref()) else {
        return Err(ApiError::not_found("no such package"));
    };
    let (file, bytes) = open_plain(&dir.join(&package.name))
        .await
        .ok_or_else(|| ApiError::not_found("no such package"))?;
    let content_type = match package.name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("deb") => "application/vnd.debian.binary-package",
        Some("rpm") => "application/x-rpm",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", package.name),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}

/// Opens `path` for reading if it is a regular file and not a link, with its length: it was
/// listed as one, but may have been replaced by a link since.
async fn open_plain(path: &std::path::Path) -> Option<(tokio::fs::File, u64)> {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    options.custom_flags(
        // Fails (ELOOP) on a link, so the check and the open are one step; and a FIFO put in
        // a package's place does not hold the request open (a regular file reads the same).
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
    );
    #[cfg(not(unix))]
    if tokio::fs::symlink_metadata(path)
        .await
        .ok()?
        .file_type()
        .is_symlink()
    {
        return None;
    }
    let file = options.open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    meta.is_file().then_some((file, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_package_names_are_offered() {
        assert!(plain_name("clinic-messaging_0.1.0_amd64.deb"));
        assert!(plain_name("Clinic.Messaging-0.1.0-1.x86_64.rpm"));
        for bad in [
            "../etc/passwd",
            ".hidden.deb",
            "a b.deb",
            "x\".deb",
            "<b>.deb",
        ] {
            assert!(!plain_name(bad), "{bad}");
        }
        assert!(system_of("notes.txt").is_none());
    }

    /// A package replaced by a link after the listing is not opened through it.
    #[cfg(unix)]
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn a_link_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("a.deb");
        std::fs::write(&package, "package").unwrap();
        let (_, bytes) = open_plain(&package).await.unwrap();
        assert_eq!(bytes, 7);
        let secret = dir.path().join("clinic.db");
        std::fs::write(&secret, "the whole clinic").unwrap();
        std::fs::remove_file(&package).unwrap();
        std::os::unix::fs::symlink(&secret, &package).unwrap();
        assert!(open_plain(&package).await.is_none());
        assert!(open_plain(dir.path()).await.is_none(), "a folder");
        let fifo = dir.path().join("b.deb");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let opened = tokio::time::timeout(std::time::Duration::from_secs(5), open_plain(&fifo));
        assert!(opened.await.unwrap().is_none(), "a FIFO, at once");
    }

    #[test]
    fn the_page_lists_each_package_with_its_install_command_and_only_a_plain_host() {
        let html = render(
            &[Package {
                name: "clinic-messaging_0.1.0_amd64.deb".into(),
                bytes: 9_500_000,
            }],
            "clinic.lan:8470\"><script>",
            false,
            None,
        );
        assert!(html.contains("href=\"/download/clinic-messaging_0.1.0_amd64.deb\""));
        assert!(html.contains("sudo apt install ./clinic-messaging_0.1.0_amd64.deb"));
        assert!(html.contains("9.5 MB"));
        assert!(!html.contains("<script>") && !html.contains("Server address"));
        let plain = render(&[], "clinic.lan:8470", false, None);
        assert!(plain.contains("<code>http://clinic.lan:8470</code>"));
        assert!(!plain.contains("pairing code"));
        let tls = render(&[], "[fd00::5]:8470", true, None);
        assert!(tls.contains("https://[fd00::5]:8470"));
        assert!(
            tls.contains("clinic-server tls fingerprint"),
            "where the code comes from"
        );
        assert!(render(&[], "", false, None).contains("No packages are offered here yet"));
        let code = "ABCDEFG-HIJKLMN";
        let own = render(&[], "localhost:8470", true, Some(code));
        assert!(own.contains(code));
        for host in [
            "localhost:8470",
            "127.0.0.1:8470",
            "[::1]:8470",
            "localhost.:8470",
            "[::ffff:127.0.0.1]:8470",
            "LOCALHOST",
        ] {
            let page = render(&[], host, true, None);
            assert!(
                !page.contains("Server address"),
                "{host}: no address for patients"
            );
        }
        assert!(!render(&[], "x", true, Some("<script>")).contains("<script>"));
    }
}
