//! Operations on what surrounds the conversations: notifications, a doctor's patients and the
//! conversations they start, message search, and the counts the metrics show.

use crate::store::{
    Store, StoreError, care, counts, emergencies, messages, notifications, search, search_index,
};
use clinic_protocol::rest::SearchPage;
use clinic_protocol::{
    Contact, Conversation, ConversationKey, Notification, NotificationId, User, UserId,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Conversations recounted per writer turn when their counters drifted.
const COUNTS_PER_TURN: usize = 10;

/// What a check of the conversations' counters did.
#[derive(Debug, Default)]
pub(crate) struct CountsChecked {
    /// The conversations whose counters were set right.
    pub(crate) fixed: Vec<ConversationKey>,
    /// Why the check stopped before its end (the pass or a repair failed), if it did.
    pub(crate) failed: Option<StoreError>,
}

impl Store {
    /// `user`'s notifications, newest first (only unread ones with `unread_only`).
    pub(crate) async fn notifications(
        &self,
        user: &UserId,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| notifications::list(conn, &user, unread_only, limit))
            .await
    }

    /// Checks every conversation's counters against its messages and sets right, in the
    /// writer, those that drifted. The pass reads every message on a connection of its own,
    /// which `stop` interrupts (a shutdown must not wait for it); the log's checkpoints are told
    /// it holds a snapshot, as for the check while serving. Sends still in the send log are in
    /// neither the counters nor `messages`, so the snapshot needs no move. What was set right is
    /// returned even when a later step failed.
    pub(crate) async fn check_counts(
        &self,
        stop: tokio_util::sync::CancellationToken,
    ) -> CountsChecked {
        let mut checked = CountsChecked::default();
        let drifted = match self.drifted_counts(stop.clone()).await {
            Ok(drifted) => drifted,
            Err(err) => {
                checked.failed = Some(err);
                return checked;
            }
        };
        // A few conversations per writer turn: sends wait behind each turn, which recounts
        // every message of its conversations.
        for chunk in drifted.chunks(COUNTS_PER_TURN) {
            if stop.is_cancelled() {
                break;
            }
            let chunk = chunk.to_vec();
            match self
                .writer
                .run(move |conn, seqs| counts::set_right(conn, seqs, &chunk))
                .await
            {
                Ok(fixed) => checked.fixed.extend(fixed),
                Err(err) => {
                    checked.failed = Some(err);
                    break;
                }
            }
        }
        checked
    }

    /// The pass of [`Store::check_counts`].
    async fn drifted_counts(
        &self,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<Vec<ConversationKey>, StoreError> {
        let mut conn = self.reads.open_own()?;
        let stopped = Arc::new(AtomicBool::new(stop.is_cancelled()));
        let flag = Arc::clone(&stopped);
        conn.progress_handler(1_000, Some(move || flag.load(Ordering::Relaxed)))?;
        let stopping = tokio::spawn(async move {
            stop.cancelled().await;
            stopped.store(true, Ordering::Relaxed);
        });
        let long_read = self.writer.long_reads().begin();
        let drifted = tokio::task::spawn_blocking(move || counts::drifted(&conn)).await;
        drop(long_read);
        stopping.abort();
        drifted.map_err(|_| StoreError::internal("the counters' check failed"))?
    }

    /// Marks these notifications of `user` read.
    pub(crate) async fn mark_notifications_read(
        &self,
        user: &UserId,
        ids: Vec<NotificationId>,
    ) -> Result<usize, StoreError> {
        let user = user.clone();
        self.writer
            .run(move |conn, _| notifications::mark_read(conn, &user, &ids))
            .await
    }

    /// Patients a doctor may start a conversation with, matching `query`.
    pub(crate) async fn search_patients(
        &self,
        doctor: &User,
        query: String,
        limit: Option<u32>,
        online: HashSet<UserId>,
    ) -> Result<Vec<Contact>, StoreError> {
        let doctor = doctor.clone();
        self.reads
            .run(move |conn| care::search_patients(conn, &doctor, &query, limit, &online))
            .await
    }

    /// A doctor opens a conversation with a patient; whether it is new.
    pub(crate) async fn start_conversation(
        &self,
        doctor: &User,
        patient: UserId,
        online: HashSet<UserId>,
    ) -> Result<(Conversation, bool), StoreError> {
        let doctor = doctor.clone();
        self.writer
            .run(move |conn, _| care::start(conn, &doctor, &patient, &online))
            .await
    }

    /// Runs a message search for `user` (a participant of its conversation, if it names one),
    /// giving up at `deadline`.
    pub(crate) async fn search(
        &self,
        user: &User,
        search: search::Search,
        deadline: Instant,
    ) -> Result<SearchPage, StoreError> {
        let user = user.clone();
        // The index first applies every change committed before the search began.
        let newest = self
            .reads
            .run(|conn| Ok::<_, StoreError>(search_index::newest_entry(conn)?))
            .await?;
        self.search
            .caught_up(newest, deadline)
            .await
            .map_err(|e| StoreError::unavailable(e.to_string()))?;
        self.reads
            .run_without_log(move |conn| {
                if !search_index::attached(conn)? {
                    tracing::warn!("a read connection has no search index attached");
                    return Err(StoreError::unavailable(
                        search_index::NotReady::Failed.to_string(),
                    ));
                }
                if let Some(key) = &search.conversation {
                    messages::check_access(conn, &user, key)?;
                }
                search::run(conn, &user, &search, deadline)
            })
            .await
    }

    /// How far the search index is behind the database, and whether it is failing (see
    /// `search_index::lag`).
    pub(crate) async fn search_index_lag(&self) -> Result<(i64, bool), StoreError> {
        let newest = self
            .reads
            .run_without_log(|conn| Ok::<_, StoreError>(search_index::newest_entry(conn)?))
            .await?;
        Ok(self.search.lag(newest))
    }

    /// Emergencies open, and those of them nobody acknowledged yet.
    pub(crate) async fn open_emergency_counts(&self) -> Result<(i64, i64), StoreError> {
        self.reads.run_without_log(emergencies::open_counts).await
    }
}
