//! Changing a sent message: retracting (unsending) it and editing its text, within the clinic's
//! windows.

use crate::store::versions::{self, Changed};
use crate::store::{Store, StoreError};
use crate::store::{messages, projection};
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{ClientId, ConversationKey, MessageId, MessageWindows, User};

impl Store {
    /// The conversation of message `id` (its row, or its send still in the log) when `caller`
    /// takes part in it: the audit row of a participant's refused change names it.
    pub(crate) async fn conversation_of(
        &self,
        caller: &User,
        id: &MessageId,
    ) -> Result<Option<ConversationKey>, StoreError> {
        let (caller, id) = (caller.id.clone(), id.clone());
        self.reads
            .run_without_log(move |conn| {
                let message = match messages::by_id(conn, &id)? {
                    Some(message) => Some(message),
                    None => projection::send_by_id(conn, id.as_str())?,
                };
                Ok(message
                    .map(|m| m.conversation())
                    .filter(|key| key.has_participant(&caller)))
            })
            .await
    }

    /// Takes message `id` back for `caller` (idempotent on the asker's `client_id`). Validated
    /// before it writes, and logged in a batch that logs (schema v26); a message's uploads go
    /// in the same transaction, logged or not. `committed` runs after the commit, in the order
    /// of the commits (see `Writer::run_append_then`): changes of one message published there
    /// reach every socket in the order they were made.
    pub(crate) async fn retract(
        &self,
        caller: &User,
        id: MessageId,
        request: RetractRequest,
        client_id: Option<ClientId>,
        windows: MessageWindows,
        committed: impl FnOnce(&Changed) + Send + 'static,
    ) -> Result<Changed, StoreError> {
        versions::validate_retract(&request)?;
        if let Some(client_id) = &client_id {
            messages::check_client_id(client_id)?;
        }
        let caller = caller.clone();
        self.writer
            .run_append_then(
                move |conn, seqs| {
                    versions::retract(
                        conn,
                        seqs,
                        &caller,
                        &id,
                        &request,
                        client_id.as_ref(),
                        windows,
                    )
                },
                committed,
            )
            .await
    }

    /// Replaces the text of message `id` for its sender (idempotent on the asker's `client_id`).
    /// Validated before it writes, and logged in a batch that logs (schema v26); `committed` as
    /// for [`Store::retract`].
    pub(crate) async fn edit(
        &self,
        caller: &User,
        id: MessageId,
        request: EditRequest,
        client_id: Option<ClientId>,
        windows: MessageWindows,
        committed: impl FnOnce(&Changed) + Send + 'static,
    ) -> Result<Changed, StoreError> {
        versions::validate_edit(&request)?;
        if let Some(client_id) = &client_id {
            messages::check_client_id(client_id)?;
        }
        let caller = caller.clone();
        self.writer
            .run_append_then(
                move |conn, seqs| {
                    versions::edit(
                        conn,
                        seqs,
                        &caller,
                        &id,
                        &request,
                        client_id.as_ref(),
                        windows,
                    )
                },
                committed,
            )
            .await
    }
}
