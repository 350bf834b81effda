//! Chat operations: sends, receipts, history and catch-up, and who talks with whom.

use crate::store::messages::{self, HistoryPage, Sent};
use crate::store::receipts::{self, Receipt};
use crate::store::{Store, StoreError, versions, views};
use clinic_protocol::rest::{MessageVersions, SyncPage};
use clinic_protocol::{
    ClientId, Contact, Conversation, ConversationKey, MessageId, NewMessage, Seq, User, UserId,
};
use std::collections::HashSet;
use tokio::sync::oneshot;

/// A command the writer has queued (a send, a receipt): [`Queued::committed`] waits for its
/// commit. Queuing and waiting are apart so that one socket can queue its commands in frame
/// order and go on reading while they commit.
pub(crate) struct Queued<T>(oneshot::Receiver<Result<T, StoreError>>);

/// A queued send.
pub(crate) type QueuedSend = Queued<Sent>;

impl<T> Queued<T> {
    /// The command's result once committed (for a send: the stored message, or the stored one
    /// for a repeated `clientId`).
    pub(crate) async fn committed(self) -> Result<T, StoreError> {
        self.0
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable("the write was not completed")))
    }
}

impl Store {
    /// Checks a send's sizes, then queues it with the writer (see `messages::queue_send`).
    pub(crate) async fn send(
        &self,
        sender: User,
        new: NewMessage,
        client_id: ClientId,
    ) -> Result<QueuedSend, StoreError> {
        messages::validate(&new, &client_id)?;
        let queued = messages::queue_send(&self.writer, sender, new, client_id).await?;
        Ok(Queued(queued))
    }

    /// Refuses unless `user` is a participant of `key` and it names a real patient and doctor.
    /// Reads nothing the send log holds, so it does not wait for the writer.
    pub(crate) async fn check_access(
        &self,
        user: &User,
        key: &ConversationKey,
    ) -> Result<(), StoreError> {
        let (user, key) = (user.clone(), key.clone());
        self.reads
            .run_without_log(move |conn| messages::check_access(conn, &user, &key).map(|_| ()))
            .await
    }

    /// The people `user` shares a conversation with.
    pub(crate) async fn partners(&self, user: &User) -> Result<Vec<UserId>, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| views::partners(conn, &user))
            .await
    }

    /// One page of changes `user` may see after `since` (`sync`).
    pub(crate) async fn changes_since(
        &self,
        user: &User,
        since: Seq,
        limit: u32,
    ) -> Result<SyncPage, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| views::sync_page(conn, &user, since, limit))
            .await
    }

    /// Queues marking `up_to` and every earlier message addressed to `reader` in `key` as read.
    pub(crate) async fn queue_mark_read_up_to(
        &self,
        reader: &User,
        key: ConversationKey,
        up_to: MessageId,
    ) -> Result<Queued<Vec<Receipt>>, StoreError> {
        let reader = reader.clone();
        let queued = self
            .writer
            .submit_append(move |conn, seqs| {
                receipts::mark_read_up_to(conn, seqs, &reader, &key, &up_to)
            })
            .await?;
        Ok(Queued(queued))
    }

    /// Marks these messages addressed to `recipient` as delivered to their device.
    pub(crate) async fn mark_delivered(
        &self,
        recipient: &UserId,
        ids: Vec<MessageId>,
    ) -> Result<Vec<Receipt>, StoreError> {
        self.queue_mark_delivered(recipient, ids)
            .await?
            .committed()
            .await
    }

    /// Queues [`Store::mark_delivered`] with the writer.
    pub(crate) async fn queue_mark_delivered(
        &self,
        recipient: &UserId,
        ids: Vec<MessageId>,
    ) -> Result<Queued<Vec<Receipt>>, StoreError> {
        receipts::check_ids(&ids)?;
        let share = self.receipt_ids.take(ids.len()).await?;
        let recipient = recipient.clone();
        let queued = self
            .writer
            .submit_append(move |conn, seqs| {
                let _share = share;
                receipts::mark_delivered(conn, seqs, &recipient, &ids)
            })
            .await?;
        Ok(Queued(queued))
    }

    /// Marks these messages addressed to `reader` as read.
    pub(crate) async fn mark_read(
        &self,
        reader: &UserId,
        ids: Vec<MessageId>,
    ) -> Result<Vec<Receipt>, StoreError> {
        receipts::check_ids(&ids)?;
        let share = self.receipt_ids.take(ids.len()).await?;
        let reader = reader.clone();
        self.writer
            .run_append(move |conn, seqs| {
                let _share = share;
                receipts::mark_read(conn, seqs, &reader, &ids)
            })
            .await
    }

    /// A page of history for a participant of `key`, oldest first: the newest `limit`
    /// messages, or those before `before` (fewer when they are large; see [`HistoryPage`]).
    pub(crate) async fn page(
        &self,
        user: &User,
        key: ConversationKey,
        limit: u32,
        before: Option<MessageId>,
    ) -> Result<HistoryPage, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| {
                messages::check_access(conn, &user, &key)?;
                messages::page(conn, &key, limit, before.as_ref())
            })
            .await
    }

    /// `user`'s conversations, with who of `online` is online.
    pub(crate) async fn conversations(
        &self,
        user: &User,
        online: HashSet<UserId>,
    ) -> Result<Vec<Conversation>, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| views::conversations(conn, &user, &online))
            .await
    }

    /// The people `user` may write to, with who of `online` is online.
    pub(crate) async fn contacts(
        &self,
        user: &User,
        online: HashSet<UserId>,
    ) -> Result<Vec<Contact>, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| views::contacts(conn, &user, &online))
            .await
    }

    /// Every version of a message's text (and its conversation, for the audit row).
    pub(crate) async fn versions(
        &self,
        user: &User,
        id: MessageId,
    ) -> Result<(MessageVersions, ConversationKey), StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| versions::list(conn, &user, &id))
            .await
    }
}
