//! Audit operations the live server runs outside a feature's own transaction: rows of a request
//! (a refusal, a read) and the daily checkpoint naming the chain head.

use crate::audit::{self, Event};
use crate::store::{Store, StoreError};

impl Store {
    /// Writes `events` and waits for their commit. No savepoint: `audit::record` refuses nothing
    /// before writing, and a storage failure rolls the whole batch back.
    pub(crate) async fn record_audit(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.writer
            .run_validated(move |conn, _| events.iter().try_for_each(|e| audit::record(conn, e)))
            .await
    }

    /// Writes the checkpoint row unless one was written today; the head it recorded, if it did.
    pub(crate) async fn audit_checkpoint(&self) -> Result<Option<(i64, String)>, StoreError> {
        self.writer
            .run(|conn, _| audit::checkpoint_if_due(conn))
            .await
    }
}
