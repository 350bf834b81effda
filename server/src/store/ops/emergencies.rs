//! Emergency operations: raising is part of a send; these move an emergency along, record who
//! its alert reached, and read it back.

use crate::store::emergencies::{self, Escalation, Reach, Transition, transitions};
use crate::store::{Store, StoreError, messages, notifications};
use clinic_protocol::rest::EmergencyDetail;
use clinic_protocol::{Emergency, EmergencyId, Message, Notification, User, UserId};
use std::collections::HashSet;

/// An emergency still waiting for a doctor, with its message and the doctors its alert reached.
pub(crate) type Waiting = (Emergency, Message, HashSet<UserId>);

impl Store {
    /// A doctor takes an emergency.
    pub(crate) async fn acknowledge(
        &self,
        doctor: &User,
        id: EmergencyId,
    ) -> Result<Transition, StoreError> {
        let doctor = doctor.clone();
        // A validated command that may log (schema v28): amid chat it does not wait for the
        // log to move first.
        self.writer
            .run_append(move |conn, seqs| emergencies::acknowledge(conn, seqs, &doctor, &id))
            .await
    }

    /// A doctor closes an emergency, with an optional note.
    pub(crate) async fn resolve(
        &self,
        doctor: &User,
        id: EmergencyId,
        note: Option<String>,
    ) -> Result<Transition, StoreError> {
        let doctor = doctor.clone();
        // A validated command that may log (schema v29), as a take is.
        self.writer
            .run_append(move |conn, seqs| {
                emergencies::resolve(conn, seqs, &doctor, &id, note.as_deref())
            })
            .await
    }

    /// Marks an emergency nobody took in time as escalated.
    pub(crate) async fn escalate(&self, id: &EmergencyId) -> Result<Escalation, StoreError> {
        let id = id.clone();
        // A validated command that may log (schema v30), as a take is.
        self.writer
            .run_append(move |conn, seqs| emergencies::escalate(conn, seqs, &id))
            .await
    }

    /// Records that the alert reached these doctors (with how many devices each); how far it
    /// has reached when at least one of them was new.
    pub(crate) async fn record_alerted(
        &self,
        id: &EmergencyId,
        doctors: Vec<(UserId, usize)>,
    ) -> Result<Option<Reach>, StoreError> {
        let id = id.clone();
        // A command that may log (schema v31) and refuses nothing: amid chat it does not wait
        // for the log to move first.
        self.writer
            .run_append(move |conn, seqs| transitions::record_alerted(conn, seqs, &id, &doctors))
            .await
    }

    /// Writes the doctors' notifications of an emergency raised by `message`.
    pub(crate) async fn notify_doctors(
        &self,
        message: Message,
        patient_name: String,
    ) -> Result<Vec<Notification>, StoreError> {
        // Refuses nothing and takes no change seq (notifications have none, nor a foreign key
        // to the message, which may still be in the log): it may share a batch that logs.
        self.writer
            .run_append(move |conn, _| notifications::for_emergency(conn, &message, &patient_name))
            .await
    }

    /// Those of `ids` that are not stored (purged), read after the log has moved.
    pub(crate) async fn missing_emergencies(
        &self,
        ids: Vec<EmergencyId>,
    ) -> Result<Vec<EmergencyId>, StoreError> {
        self.reads
            .run(move |conn| emergencies::missing(conn, &ids))
            .await
    }

    /// The emergency and its transitions, for a doctor or the patient who raised it.
    pub(crate) async fn emergency_detail(
        &self,
        user: &User,
        id: EmergencyId,
    ) -> Result<EmergencyDetail, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| emergencies::detail(conn, &user, &id))
            .await
    }

    /// The emergencies `user` may see (only unresolved ones with `open_only`), open ones first.
    pub(crate) async fn emergencies(
        &self,
        user: &User,
        open_only: bool,
    ) -> Result<Vec<Emergency>, StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| emergencies::list(conn, &user, open_only))
            .await
    }

    /// Up to `limit` emergencies still waiting for a doctor, oldest first (to resume alerting
    /// after a restart).
    pub(crate) async fn waiting_emergencies(
        &self,
        limit: usize,
    ) -> Result<Vec<Waiting>, StoreError> {
        self.reads
            .run(move |conn| {
                let mut found = Vec::new();
                for emergency in emergencies::waiting(conn, limit)? {
                    let Some(message) = messages::by_id(conn, &emergency.message_id)? else {
                        continue;
                    };
                    let alerted = transitions::alerted(conn, &emergency.id)?;
                    found.push((emergency, message, alerted));
                }
                Ok(found)
            })
            .await
    }
}
