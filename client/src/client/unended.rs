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

/// Changes the list as it is on disk now, holding `sessions-to-end.lock`: the app and the
/// CLI on one profile, or a client's minute task and a sign-in, each change what the other left,
/// and none writes over a session another kept aside meanwhile (its token would then stay valid
/// on the server until it expired). Never held across a call to the server.
fn update<T>(profile: &Profile, change: impl FnOnce(&mut Vec<Unended>) -> T) -> Result<T> {
    let held = crate::profile::private_file(&profile.dir().join("sessions-to-end.lock"))?;
    match held.lock() {
        Ok(()) => {}
        // A file system without locks (NFS without its lock service, some network shares): as
        // before there were any, rather than no list at all.
        Err(e) if keeps_no_locks(&e) => {
            tracing::debug!("sessions-to-end.lock cannot be locked here: {e}");
        }
        Err(e) => return Err(e.into()),
    }
    let mut list = load(profile)?;
    let out = change(&mut list);
    save(profile, &list)?;
    Ok(out)
}

/// Whether a lock's failure says the file system keeps none.
fn keeps_no_locks(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    if [rustix::io::Errno::NOLCK, rustix::io::Errno::OPNOTSUPP]
        .iter()
        .any(|no| e.raw_os_error() == Some(no.raw_os_error()))
    {
        return true;
    }
    e.kind() == std::io::ErrorKind::Unsupported
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
    let kept = update(profile, |list| {
        list.push(Unended {
            server_url: server_url.to_owned(),
            name: name.clone(),
            credentials: store.kind().to_owned(),
        });
        let over = list.len().saturating_sub(MOST);
        list.drain(..over).collect::<Vec<_>>()
    });
    let forgotten = match kept {
        Ok(forgotten) => forgotten,
        Err(e) => {
            // Not on the list, the token would lie in the store for nobody to end.
            let _ = store.delete(&name);
            return Err(e);
        }
    };
    for oldest in forgotten {
        let _ = profile
            .credential_store(&oldest.credentials)
            .delete(&oldest.name);
    }
    Ok(())
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
    // The ones done with, by name: the list is changed once the server has answered, as it is
    // then (another client may have kept a session aside meanwhile).
    let mut done = Vec::new();
    for unended in list {
        if unended.server_url != api.base().as_str() {
            continue;
        }
        let store = profile.credential_store(&unended.credentials);
        let token = match store.load(&unended.name) {
            Ok(Some(token)) => token,
            Ok(None) => {
                done.push(unended.name);
                continue;
            }
            Err(e) => {
                tracing::warn!("could not read a session left to end: {e}");
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
                done.push(unended.name);
            }
            Err(e) => tracing::info!("a session left to end stays for the next sign-in: {e}"),
        }
    }
    if done.is_empty() {
        return;
    }
    if let Err(e) = forget(profile, &done) {
        tracing::warn!("could not update the sessions left to end: {e}");
    }
}

/// Takes the sessions named `done` off the list, leaving any other.
fn forget(profile: &Profile, done: &[String]) -> Result<()> {
    update(profile, |list| list.retain(|u| !done.contains(&u.name)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn profile_in(dir: &std::path::Path) -> (Profile, crate::credentials::FileStore) {
        let profile = Profile::new(dir.join("profile"));
        crate::profile::private_dir(profile.dir()).unwrap();
        let store = profile.file_store();
        (profile, store)
    }

    fn names(profile: &Profile) -> Vec<String> {
        load(profile).unwrap().into_iter().map(|u| u.name).collect()
    }

    #[test]
    fn sessions_kept_aside_at_once_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (profile, store) = profile_in(dir.path());
        std::thread::scope(|s| {
            for who in ["a", "b", "c", "d"] {
                let (profile, store) = (&profile, &store);
                s.spawn(move || {
                    for n in 0..5 {
                        let account = format!("{who}{n}");
                        keep(profile, store, "https://clinic:8443/", &account, "token").unwrap();
                    }
                });
            }
        });
        assert_eq!(names(&profile).len(), 20, "none written over");
    }

    #[test]
    fn ending_some_leaves_one_kept_aside_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let (profile, store) = profile_in(dir.path());
        keep(&profile, &store, "https://clinic:8443/", "alice", "t1").unwrap();
        let ended = names(&profile);
        // While the server was asked about the first, a logout kept another aside.
        keep(&profile, &store, "https://clinic:8443/", "bob", "t2").unwrap();
        forget(&profile, &ended).unwrap();
        let left = names(&profile);
        assert_eq!(left.len(), 1);
        assert!(left[0].starts_with("bob#to-end-"), "{left:?}");
        forget(&profile, &left).unwrap();
        assert!(!path(&profile).exists(), "an empty list leaves no file");
    }
}
