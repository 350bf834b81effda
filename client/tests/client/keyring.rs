//! The OS keyring round-trips a token. It must be usable here: the tests run inside
//! `scripts/headless` (a D-Bus session with an unlocked gnome-keyring and a kernel keyring), and
//! a machine without one fails this test rather than skipping it.

#![allow(clippy::unwrap_used)]

use clinic_client::{CredentialStore, KeyringStore};

#[test]
fn keyring_round_trip() {
    let store = KeyringStore::new();
    let account = format!("test-{}@http://127.0.0.1:1/", uuid::Uuid::new_v4());
    if let Err(e) = store.save(&account, "probe-token") {
        panic!("no usable keyring ({e}); run the tests through scripts/headless");
    }
    assert_eq!(
        store.load(&account).unwrap().as_deref(),
        Some("probe-token"),
        "the keyring accepted the token but did not give it back"
    );
    store.delete(&account).unwrap();
    assert_eq!(store.load(&account).unwrap(), None);
}
