//! Actions beyond sending: read marks (owed in the cache while offline, one frame per
//! conversation), typing and joins over the live socket, and the actions that only count once
//! the server confirmed them (emergency acknowledge and resolve, availability), over REST.

use super::Client;
use crate::error::{ClientError, Result};
use crate::events::ClientEvent;
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    ClientFrame, ClinicInfo, ConversationKey, Emergency, EmergencyId, EmergencyState, ErrorCode,
    LockPolicy, MessageId, Role,
};

impl Client {
    /// The UI showed `message_id`: it and everything before it addressed to this user become
    /// read, in the cache at once and on the server now or after the next connect (nothing in
    /// a conversation this user is not part of).
    pub fn mark_read(&self, message_id: &MessageId) -> Result<()> {
        // Read receipts pause while locked: nobody is reading.
        self.ensure_unlocked()?;
        let me = self.shared.me().clone();
        let Some(conversation) = self.shared.cache.conversation_of(message_id)? else {
            return Err(ClientError::NotFound(format!("message {message_id}")));
        };
        if !conversation.has_participant(&me) {
            return Ok(());
        }
        let Some((conversation, changed)) = self.shared.cache.mark_read_up_to(&me, message_id)?
        else {
            return Err(ClientError::NotFound(format!("message {message_id}")));
        };
        self.owe_read(&conversation, message_id, changed)
    }

    /// The user saw `message_id` in `conversation` (the window had focus and the message was
    /// on screen): it and everything before it addressed to them become read, one "read up to"
    /// mark for the server. Messages after it (below the fold) stay unread. Returns how many
    /// changed; a message of another conversation is [`ClientError::NotFound`].
    pub fn mark_seen(
        &self,
        conversation: &ConversationKey,
        message_id: &MessageId,
    ) -> Result<usize> {
        if self.shared.cache.conversation_of(message_id)?.as_ref() != Some(conversation) {
            return Err(ClientError::NotFound(format!(
                "message {message_id} in this conversation"
            )));
        }
        let me = self.shared.me().clone();
        // A doctor reading another doctor's conversation (opened from an emergency) reads
        // nothing addressed to them: its messages stay as their recipient left them.
        if !conversation.has_participant(&me) {
            return Ok(0);
        }
        let Some((_, changed)) = self.shared.cache.mark_read_up_to(&me, message_id)? else {
            return Ok(0);
        };
        if changed.is_empty() {
            return Ok(0);
        }
        let n = changed.len();
        self.owe_read(conversation, message_id, changed)?;
        Ok(n)
    }

    /// The user has the conversation open and in view: everything in it addressed to them is
    /// read. One `message:read` ("read up to" the newest) goes to the server, however many were
    /// unread. Returns how many changed; 0 sends nothing.
    pub fn mark_conversation_read(&self, conversation: &ConversationKey) -> Result<usize> {
        self.ensure_unlocked()?;
        let me = self.shared.me().clone();
        if !conversation.has_participant(&me) {
            return Ok(0);
        }
        let Some(newest) = self.shared.cache.newest_unread_for(&me, conversation)? else {
            return Ok(0);
        };
        let Some((_, changed)) = self.shared.cache.mark_read_up_to(&me, &newest)? else {
            return Ok(0);
        };
        let n = changed.len();
        self.owe_read(conversation, &newest, changed)?;
        Ok(n)
    }

    fn owe_read(
        &self,
        conversation: &ConversationKey,
        message_id: &MessageId,
        changed: Vec<crate::LocalMessage>,
    ) -> Result<()> {
        self.shared.emit_messages(changed);
        // Only the newest mark per conversation is kept; the connection sends it when it can.
        self.shared.cache.owe_read(conversation, message_id)?;
        self.shared.receipts_wake.notify_one();
        Ok(())
    }

    /// Follow a conversation's typing indicators (kept across reconnects). Only a participant
    /// joins: a doctor reading another doctor's conversation (opened from an emergency) has no
    /// typing to follow there, and the server would refuse the join.
    pub fn join(&self, conversation: &ConversationKey) {
        let me = self.shared.me();
        if conversation.patient_id != *me && conversation.doctor_id != *me {
            return;
        }
        self.shared.joined().insert(conversation.clone());
        let _ = self.send_live(ClientFrame::JoinChat(conversation.clone()));
    }

    /// The user opened `conversation` (or closed the open one, `None`): follow its typing
    /// indicators from now on, and stop following the one open before. Joining on open (not on
    /// the first keystroke) lets both people see each other typing at once.
    pub fn view(&self, conversation: Option<&ConversationKey>) {
        let others: Vec<ConversationKey> = self
            .shared
            .joined()
            .iter()
            .filter(|k| Some(*k) != conversation)
            .cloned()
            .collect();
        for other in &others {
            self.leave(other);
        }
        let Some(conversation) = conversation else {
            return;
        };
        let joined = self.shared.joined().contains(conversation);
        if !joined {
            self.join(conversation);
        }
    }

    pub fn leave(&self, conversation: &ConversationKey) {
        self.shared.joined().remove(conversation);
        let _ = self.send_live(ClientFrame::LeaveChat(conversation.clone()));
    }

    /// Tell the peer this user is (or stopped) typing. Call `true` again every few seconds
    /// while typing continues: peers time out after [`crate::Tuning::typing_timeout`]. Dropped
    /// silently while offline (a stale indicator is worse than none).
    pub fn set_typing(&self, conversation: &ConversationKey, typing: bool) {
        let frame = if typing {
            ClientFrame::TypingStart(conversation.clone())
        } else {
            ClientFrame::TypingStop(conversation.clone())
        };
        let _ = self.send_live(frame);
    }

    /// A doctor takes an emergency. Returns once the server stored it; only then does this
    /// device stop ringing. Another doctor having taken it first is a `conflict` naming them;
    /// no answer from the server is [`ClientError::Unconfirmed`] and the alarm keeps ringing.
    pub async fn acknowledge_emergency(&self, emergency_id: &EmergencyId) -> Result<Emergency> {
        let answer = self.shared.api.acknowledge(emergency_id).await;
        self.confirmed(emergency_id, answer, Taking::Acknowledge)
            .await
    }

    /// A doctor closes an emergency with an optional note (confirmed like acknowledge).
    pub async fn resolve_emergency(
        &self,
        emergency_id: &EmergencyId,
        note: Option<String>,
    ) -> Result<Emergency> {
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        let answer = self.shared.api.resolve(emergency_id, note).await;
        self.confirmed(emergency_id, answer, Taking::Resolve).await
    }

    async fn confirmed(
        &self,
        id: &EmergencyId,
        answer: Result<Emergency>,
        asked: Taking,
    ) -> Result<Emergency> {
        let done = match asked {
            Taking::Acknowledge => "acknowledged",
            Taking::Resolve => "resolved",
        };
        let emergency = match answer {
            Ok(emergency) => emergency,
            Err(ClientError::Server {
                status,
                code: ErrorCode::Conflict,
                ..
            }) => match self.who_has(id, asked).await {
                // This doctor did it already (on another device, or an answer that was lost):
                // done, as asked.
                Ok(emergency) => emergency,
                Err(message) => {
                    return Err(ClientError::Server {
                        status,
                        code: ErrorCode::Conflict,
                        message,
                    });
                }
            },
            Err(e) if e.is_unreachable() => {
                tracing::info!("emergency {id} not {done}: {e}");
                return Err(ClientError::Unconfirmed(format!(
                    "The clinic server could not be reached, so the emergency is not {done} \
                     and nobody was told. The alarm keeps ringing; try again."
                )));
            }
            Err(e) => return Err(e),
        };
        self.shared.emergency_changed(emergency.clone())?;
        self.after_taking(&emergency).await;
        Ok(emergency)
    }

    /// After a `conflict`: the emergency when this doctor already took it and asks again (on
    /// another device, or an answer lost), else who moved on first ("Dr. X already took it",
    /// "Dr. X already resolved it", "You already resolved it": a second resolution's note would
    /// not be kept, so that one is not passed off as done).
    async fn who_has(
        &self,
        id: &EmergencyId,
        asked: Taking,
    ) -> std::result::Result<Emergency, String> {
        let Ok(detail) = self.shared.api.emergency(id).await else {
            // The server's only conflict for a resolution is a resolved emergency.
            return Err(match asked {
                Taking::Acknowledge => {
                    "It was already taken (who took it could not be checked).".to_owned()
                }
                Taking::Resolve => "This emergency is already resolved.".to_owned(),
            });
        };
        let e = detail.emergency;
        let me = Some(&self.user().id);
        match (e.state, e.acknowledged_by_name.as_deref()) {
            (EmergencyState::Acknowledged, _)
                if asked == Taking::Acknowledge && e.acknowledged_by.as_ref() == me =>
            {
                Ok(e)
            }
            (EmergencyState::Resolved, _) if e.resolved_by.as_ref() == me => {
                Err("You already resolved it.".to_owned())
            }
            (EmergencyState::Resolved, _) => Err(match &e.resolved_by_name {
                Some(name) => format!("{name} already resolved it."),
                None => "This emergency is already resolved.".to_owned(),
            }),
            // Pressed again since: it waits for a doctor again.
            (EmergencyState::Raised, _) => {
                Err("It needs a doctor again: the patient pressed again. Take it again.".to_owned())
            }
            (_, Some(name)) => Err(format!("{name} already took it.")),
            _ => Err("Another doctor already took it.".to_owned()),
        }
    }

    /// The clinic's settings (the emergency phone number) as the server last sent them, kept
    /// across restarts so they are there offline.
    pub fn clinic_info(&self) -> Option<ClinicInfo> {
        self.shared.cache.clinic_info().ok().flatten()
    }

    /// The largest file this clinic's server takes, as it last said (the default before it
    /// said; at most [`clinic_protocol::limits::MAX_ATTACHMENT_BYTES`]).
    pub fn upload_limit(&self) -> u64 {
        self.shared.upload_limit()
    }

    /// This user's availability as last confirmed by the server (kept across restarts).
    pub fn availability(&self) -> Availability {
        self.shared.attention.availability()
    }

    /// A doctor turns do-not-disturb on or off. Returns once the server stored it (for this
    /// user, on every device); only then does this device change how it alerts.
    pub async fn set_availability(&self, availability: Availability) -> Result<Availability> {
        if self.user().role != Role::Doctor {
            return Err(ClientError::Invalid(
                "only doctors set their availability".into(),
            ));
        }
        let stored = match self.shared.api.set_availability(availability).await {
            Ok(stored) => stored,
            Err(e) if e.is_unreachable() => {
                return Err(ClientError::Unconfirmed(
                    "The clinic server could not be reached; your availability is unchanged."
                        .into(),
                ));
            }
            Err(e) => return Err(e),
        };
        self.shared.availability_changed(stored)?;
        Ok(stored)
    }

    /// Reads the availability the server stores (e.g. set from another device) into this one.
    pub async fn refresh_availability(&self) -> Result<Availability> {
        let stored = self.shared.api.availability().await?;
        self.shared.availability_changed(stored)?;
        Ok(stored)
    }

    /// Stops this device's alarm for the emergencies ringing now; they stay open (and their
    /// repeats stay quiet here) until someone takes them.
    pub fn silence_alarm(&self) {
        let _turn = self.shared.attention.turn();
        let effects = self.shared.attention.silence();
        self.shared.attend(effects);
    }

    /// Emergencies this device is ringing for now.
    pub fn ringing(&self) -> Vec<EmergencyId> {
        self.shared.attention.ringing()
    }

    /// Whether the user is looking at the app (visible and focused): then new messages do not
    /// pop up native notifications.
    pub fn set_in_view(&self, in_view: bool) {
        self.shared.attention.set_in_view(in_view);
    }

    /// Whether native notifications may show message text (off: only who wrote).
    pub fn set_notification_content(&self, show: bool) {
        self.shared.attention.set_show_content(show);
    }

    fn send_live(&self, frame: ClientFrame) -> Result<()> {
        let live = self.shared.live().clone();
        match live {
            Some(tx) => tx.try_send(frame).map_err(|_| ClientError::NotConnected),
            None => Err(ClientError::NotConnected),
        }
    }
}

impl crate::shared::Shared {
    /// The server sent its clinic settings (on every sign-in): keep them, tell the UI if new.
    pub(crate) fn clinic_changed(&self, clinic: ClinicInfo) -> Result<()> {
        if self.cache.clinic_info()?.as_ref() != Some(&clinic) {
            self.cache.set_clinic_info(&clinic)?;
            self.emit(ClientEvent::Clinic { clinic });
        }
        Ok(())
    }

    /// A conversation's older history was removed (already gone from the cache): deletes the
    /// attachment copies of its messages on this machine, stops ringing for an emergency that
    /// went with them, and tells the UI.
    pub(crate) fn history_purged(
        &self,
        purge: clinic_protocol::rest::Purge,
        files: &[crate::cache::PurgedFile],
    ) {
        crate::attachments::remove_purged(&self.profile_dir, self.api.base().as_str(), files);
        let _turn = self.attention.turn();
        let effects = self.attention.gone(&purge.emergency_ids);
        self.emit(ClientEvent::HistoryPurged {
            patient_id: purge.patient_id,
            doctor_id: purge.doctor_id,
            up_to_seq: purge.up_to_seq.0,
            purged_at: purge.purged_at,
            emergency_ids: purge.emergency_ids,
        });
        self.attend(effects);
        self.emit(ClientEvent::ConversationsChanged);
    }

    /// The server sent the clinic's lock policy (on every sign-in): keep it if new.
    pub(crate) fn lock_policy_changed(&self, policy: LockPolicy) -> Result<()> {
        let mut known = self.lock_policy.lock().unwrap_or_else(|e| e.into_inner());
        if known.as_ref() != Some(&policy) {
            self.cache.set_lock_policy(&policy)?;
            *known = Some(policy);
        }
        Ok(())
    }

    /// The server confirmed (or told us of) this user's availability.
    pub(crate) fn availability_changed(&self, availability: Availability) -> Result<()> {
        self.cache.set_availability(availability)?;
        if self.attention.availability() != availability {
            self.attention.set_availability(availability);
            self.emit(ClientEvent::Availability { availability });
        }
        Ok(())
    }
}

/// What a doctor asked of an emergency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taking {
    Acknowledge,
    Resolve,
}
