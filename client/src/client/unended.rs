//! Sessions a logout could not end on the server (it was out of reach): the token is kept aside
//! in the credential store, not forgotten, and ended at the next sign-in to that server on this
//! computer. Forgotten, it would stay valid there until it expired (7 days unused), for anyone
//! who found a copy of it.

use crate::api::Api;
use crate::credentials::CredentialStore;
use crate::error::{ClientError, Result};
use crate::profile::Profile;
use serde::{Deserialize, Serialize};

/// Most sessions kept aside at once; past it the oldest is forgotten (it still expires).
const MOST: usize = 20;

/// One session kept aside: where its token is, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unended {
    server_url: String,
    /// The token's name in the credential store.
    name: String,
    /// Which store (`keyring` or `file`).
    credentials: String,
}

fn path(profile: &Profile) -> std::path::PathBuf {
    profile.dir().join("sessions-to-end.json")
}

fn load(profile: &Profile) -> Result<Vec<Unended>> {
    match std::fs::read(path(profile)) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("sessions-to-end.json unreadable ({e}); starting afresh");
            Vec::new()
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn save(profile: &Profile, list: &[Unended]) -> Result<()> {
    if list.is_empty() {
        return match std::fs::remove_file(path(profile)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    crate::profile::write_private(&path(profile), &serde_json::to_vec_pretty(list)?)?;
    Ok(())
}

/// Keeps `token` (of `account` on `server_url`) aside to be ended at the next sign-in there.
pub(super) fn keep(
    profile: &Profile,
    store: &dyn CredentialStore,
    server_url: &str,
    account: &str,
    token: &str,
) -> Result<()> {
    // A name of its own: an earlier one of this account still waiting is not written over.
    let name = format!(
        "{account}#to-end-{}",
        hex::encode(rand::random::<[u8; 8]>())
    );
    store.save(&name, token)?;
    let mut list = load(profile)?;
    list.push(Unended {
        server_url: server_url.to_owned(),
        name,
        credentials: store.kind().to_owned(),
    });
    while list.len() > MOST {
        let oldest = list.remove(0);
        let _ = profile
            .credential_store(&oldest.credentials)
            .delete(&oldest.name);
    }
    save(profile, &list)
}

/// Whether a session kept aside waits to be ended on `server_url`.
pub(super) fn waiting(profile: &Profile, server_url: &str) -> bool {
    load(profile).is_ok_and(|list| list.iter().any(|u| u.server_url == server_url))
}

/// Ends the sessions kept aside for the server of `api` (a tokenless handle to it, just signed
/// in to): each one the server ended or had already ended is forgotten; one it could not be
/// asked about stays for the next time. Best effort: failures are logged.
pub(super) async fn end(profile: &Profile, api: &Api) {
    let list = match load(profile) {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!("could not read the sessions left to end: {e}");
            return;
        }
    };
    let mut left = Vec::new();
    for unended in list {
        if unended.server_url != api.base().as_str() {
            left.push(unended);
            continue;
        }
        let store = profile.credential_store(&unended.credentials);
        let token = match store.load(&unended.name) {
            Ok(Some(token)) => token,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("could not read a session left to end: {e}");
                left.push(unended);
                continue;
            }
        };
        match api.clone().with_token(token).logout().await {
            // Ended now, or already (revoked, expired).
            Ok(()) | Err(ClientError::Server { status: 401, .. }) => {
                tracing::info!("ended a session a logout here had left on the server");
                if let Err(e) = store.delete(&unended.name) {
                    tracing::warn!("could not forget an ended session's token: {e}");
                }
            }
            Err(e) => {
                tracing::info!("a session left to end stays for the next sign-in: {e}");
                left.push(unended);
            }
        }
    }
    if let Err(e) = save(profile, &left) {
        tracing::warn!("could not update the sessions left to end: {e}");
    }
}
