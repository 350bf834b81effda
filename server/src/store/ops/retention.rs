//! Retention operations the live server runs: removing the files of purged messages, and
//! reading back what a finished purge removed. (The purge steps themselves, with the policy's
//! SQL, are `retention/`'s writer commands.)

use crate::store::{Store, StoreError, retention};
use clinic_protocol::rest::Purge;
use std::path::PathBuf;

impl Store {
    /// Removes the content files purges and retractions recorded as doomed, unless an upload
    /// refers to them again; how many were recorded.
    pub(crate) async fn remove_doomed_files(&self, data_dir: PathBuf) -> Result<usize, StoreError> {
        self.writer
            .run(move |conn, _| retention::remove_doomed(conn, &data_dir))
            .await
    }

    /// What the finished purge `id` tells the participants, and how many messages it removed;
    /// `None` while it is unfinished.
    pub(crate) async fn purge_outcome(&self, id: i64) -> Result<Option<(Purge, u64)>, StoreError> {
        self.reads
            .run(move |conn| retention::finished(conn, id))
            .await
    }
}
