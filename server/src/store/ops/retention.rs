//! Retention operations the live server runs: the nightly pass's reading of what is due and its
//! steps (the policy's logic is `retention/`'s, its SQL `store::retention`'s), removing the files
//! of purged messages, and reading back what a finished purge removed.

use crate::retention::{Mode, Policy, Step};
use crate::store::{Store, StoreError, retention};
use crate::time::now_ms;
use clinic_protocol::ConversationKey;
use clinic_protocol::rest::Purge;
use std::path::PathBuf;

impl Store {
    /// The conversations a full pass will look at (`retention::queue`), read on a reader: it
    /// reads every message, and the writer must not stall live sends for it.
    pub(crate) async fn retention_due(
        &self,
        policy: Policy,
    ) -> Result<Vec<ConversationKey>, StoreError> {
        self.reads
            .run(move |conn| crate::retention::queue(conn, &policy, now_ms()))
            .await
    }

    /// One step of a pass (`retention::step`) in one writer turn; hands `queue` back with what
    /// is left of it.
    pub(crate) async fn retention_step(
        &self,
        policy: Policy,
        mode: Mode,
        mut queue: Vec<ConversationKey>,
    ) -> Result<(Step, Vec<ConversationKey>), StoreError> {
        self.writer
            .run(move |conn, seqs| {
                let step = crate::retention::step(conn, seqs, &policy, now_ms(), mode, &mut queue);
                step.map(|s| (s, queue))
            })
            .await
    }

    /// Removes the content files purges and retractions recorded as doomed (`only` those named
    /// by a committed purge batch or retraction; all of them only before the server serves),
    /// unless an upload refers to them again; how many were recorded. It may share a batch that
    /// logs: it takes no change seq, and refuses before its first write.
    pub(crate) async fn remove_doomed_files(
        &self,
        data_dir: PathBuf,
        only: Option<Vec<String>>,
    ) -> Result<usize, StoreError> {
        self.writer
            .run_append(move |conn, _| retention::remove_doomed(conn, &data_dir, only.as_deref()))
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
