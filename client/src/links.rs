//! Links in messages that the app may hand to the system browser or mail program: http, https
//! and mailto only, checked here so no message can make the desktop open a file, a script or
//! another app's scheme.

use crate::error::{ClientError, Result};
use url::Url;

/// Longer than any real link a person sends; a longer one is refused rather than opened.
pub const MAX_LINK_CHARS: usize = 2048;

/// `text` as a link the system may open: `http(s)://` with a host, or `mailto:` with an
/// address. Anything else (`file:`, `javascript:`, `data:`, the app's own scheme) is refused.
pub fn external_link(text: &str) -> Result<Url> {
    let text = text.trim();
    if text.chars().count() > MAX_LINK_CHARS {
        return Err(ClientError::Invalid("this link is too long to open".into()));
    }
    let url = Url::parse(text)
        .map_err(|_| ClientError::Invalid(format!("{text:?} is not a link that can be opened")))?;
    let allowed = match url.scheme() {
        "http" | "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        "mailto" => !url.path().is_empty(),
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
        let long = format!("https://example.org/{}", "a".repeat(MAX_LINK_CHARS));
        assert!(external_link(&long).is_err());
    }
}
