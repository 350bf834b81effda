//! Changing a sent message: retracting (unsending) it and editing its text, within the clinic's
//! windows.

use crate::store::versions::{self, Changed};
use crate::store::{Store, StoreError};
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{ClientId, MessageId, MessageWindows, User};

impl Store {
    /// Takes message `id` back for `caller` (idempotent on the asker's `client_id`). Validated
    /// before it writes; logged in a batch that logs (schema v26) unless the message carries a
    /// file, whose removal the answer waits for.
    pub(crate) async fn retract(
        &self,
        caller: &User,
        id: MessageId,
        request: RetractRequest,
        client_id: Option<ClientId>,
        windows: MessageWindows,
    ) -> Result<Changed, StoreError> {
        versions::validate_retract(&request)?;
        let caller = caller.clone();
        let looked = id.clone();
        let with_file = self
            .reads
            .run_without_log(move |conn| versions::carries_file(conn, &looked))
            .await?;
        let retract = move |conn: &rusqlite::Connection, seqs: &mut crate::store::Seqs| {
            versions::retract(
                conn,
                seqs,
                &caller,
                &id,
                &request,
                client_id.as_ref(),
                windows,
            )
        };
        if with_file {
            self.writer.run_validated(retract).await
        } else {
            self.writer.run_append(retract).await
        }
    }

    /// Replaces the text of message `id` for its sender (idempotent on the asker's `client_id`).
    /// Validated before it writes, and logged in a batch that logs (schema v26).
    pub(crate) async fn edit(
        &self,
        caller: &User,
        id: MessageId,
        request: EditRequest,
        client_id: Option<ClientId>,
        windows: MessageWindows,
    ) -> Result<Changed, StoreError> {
        versions::validate_edit(&request)?;
        let caller = caller.clone();
        self.writer
            .run_append(move |conn, seqs| {
                versions::edit(
                    conn,
                    seqs,
                    &caller,
                    &id,
                    &request,
                    client_id.as_ref(),
                    windows,
                )
            })
            .await
    }
}
