//! A logout while the server is out of reach signs out here at once, and on a personal computer
//! the session it could not end there is ended at the next sign-in to that server on this
//! computer (whoever signs in): a token forgotten here would stay valid there for days. A shared
//! computer keeps no token for the next person at it to find.
#![allow(clippy::unwrap_used)]

use crate::common::*;

use clinic_client::lock::Device;
use clinic_client::{ClientError, CredentialStore, FileStore, Profile};

/// Whether the server still takes `token`.
async fn takes(url: &str, token: &str) -> bool {
    match api(url).with_token(token).me().await {
        Ok(_) => true,
        Err(ClientError::Server { status: 401, .. }) => false,
        Err(e) => panic!("the server did not answer: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_the_server_did_not_hear_is_ended_at_the_next_sign_in() {
    let data = demo_data_dir();
    let server = InProcessServer::start(data.path(), 0).await;
    let (url, port) = (server.url(), server.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let alice = login(&url, dir.path(), "alice").await;
    alice.set_lock_policy(Device::Personal, None).unwrap();
    let session = Profile::new(dir.path()).load_session().unwrap().unwrap();
    let store = FileStore::new(dir.path().join("credentials"));
    let token = store.load(&session.account()).unwrap().unwrap();

    server.stop().await;
    assert!(
        !alice.logout().await.unwrap(),
        "the server did not hear the logout"
    );
    drop(alice);
    assert!(Profile::new(dir.path()).load_session().unwrap().is_none());
    assert_eq!(
        store.load(&session.account()).unwrap(),
        None,
        "no session here"
    );

    let server = InProcessServer::start(data.path(), port).await;
    assert!(takes(&url, &token).await, "still valid there");
    // The next sign-in on this computer, as someone else, ends it.
    let bob = login(&url, dir.path(), "bob").await;
    assert!(!takes(&url, &token).await, "ended at the next sign-in");
    assert!(!dir.path().join("sessions-to-end.json").exists());
    assert!(bob.logout().await.unwrap());

    // On a shared computer nothing is kept aside: the token is forgotten here.
    let shared = tempfile::tempdir().unwrap();
    let carol = login(&url, shared.path(), "carol").await;
    carol.set_lock_policy(Device::Shared, None).unwrap();
    server.stop().await;
    assert!(!carol.logout().await.unwrap());
    assert!(!shared.path().join("sessions-to-end.json").exists());
    let kept = std::fs::read_dir(shared.path().join("credentials"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(kept, 0, "no token left in the profile");
}
