//! The app lock as a `Client` offers it: input, idle checks, "Lock now", unlocking, the PIN
//! and the policy. A lock change tells the attention policy (notifications without content,
//! emergencies still ring) and the UI ([`ClientEvent::Lock`]); too many wrong tries log out.

use super::Client;
use crate::error::{ClientError, Result};
use crate::events::{ClientEvent, ConnectionState};
use crate::lock::{AppLock, Device, Unlock, sentences};
use chrono::{DateTime, Utc};
use clinic_protocol::{Emergency, MessageStatus, Role};
use serde::Serialize;
use std::sync::MutexGuard;
use std::time::Duration;
use tokio::sync::broadcast;

/// The lock as a UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LockStatus {
    pub locked: bool,
    pub has_pin: bool,
    pub device: Device,
    /// Seconds without input before the app locks.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub idle_limit_secs: u64,
    /// The most the clinic's policy allows on a shared and on a personal computer (a user may
    /// choose less).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub shared_longest_secs: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub personal_longest_secs: u64,
    /// Seconds to wait before the next unlock try is accepted (after 3 wrong ones).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub wait_secs: Option<u64>,
    /// Wrong tries left before the session ends; 0 while it waits to end until what the
    /// logout would lose has gone (no more tries are taken): an emergency of the user not sent
    /// yet, or on a shared computer anything waiting to be sent.
    pub tries_left: u32,
    /// While locked: this user's newest emergency not sent yet, without its text, so that the
    /// lock screen can say it has not reached the clinic (also after a restart, and as it
    /// changes while locked). `None` when unlocked: the page has the message itself then.
    pub unsent_emergency: Option<UnsentEmergency>,
    /// Once the wrong tries ran out, while the session waits to end: what it waits for, as the
    /// lock screen says it in place of the unlock field (`lock::sentences::logout_pending`).
    pub logs_out_when: Option<String>,
    /// While locked after wrong tries, with tries left: how many were used and how many are
    /// left, as the lock screen says it when it has no wrong try's own sentence to show (after
    /// a restart, or a try made by `clinic unlock`). `None` before the first wrong try.
    pub tries_so_far: Option<String>,
}

/// An emergency message not sent yet, as a lock screen may tell of it: no text, no conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UnsentEmergency {
    /// `SENDING` (waiting for the connection, or under way) or `FAILED` (parked after a refusal
    /// until the user retries or discards it).
    pub status: MessageStatus,
    /// When it was written, on this device's clock.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: DateTime<Utc>,
}

impl Client {
    /// The lock, with the clinic's policy as its server last said it (kept in memory and in the
    /// cache, so it holds offline and across restarts).
    pub(super) fn app_lock(&self) -> MutexGuard<'_, AppLock> {
        let mut lock = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let policy = *self
            .shared
            .lock_policy
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(policy) = policy {
            lock.set_clinic_policy(policy);
        }
        lock
    }

    pub fn lock_status(&self) -> LockStatus {
        let mut status = status_of(&self.app_lock());
        if status.locked {
            status.unsent_emergency = self.unsent_emergency();
        }
        let used = crate::lock::LOGOUT_AFTER.saturating_sub(status.tries_left);
        if status.locked && used > 0 {
            let unsent = sentences::unsent_in(&status, self);
            let queue = sentences::queue_on(status.device, self);
            if status.tries_left == 0 {
                status.logs_out_when = Some(sentences::logout_pending(unsent.as_ref(), queue));
            } else {
                status.tries_so_far = Some(sentences::tries_so_far(
                    used,
                    status.tries_left,
                    unsent.as_ref(),
                    queue,
                ));
            }
        }
        status
    }

    fn unsent_emergency(&self) -> Option<UnsentEmergency> {
        let newest = self
            .shared
            .cache
            .newest_unsent_emergency(self.shared.me())
            .unwrap_or_else(|e| {
                tracing::warn!("unsent emergencies: {e}");
                None
            })?;
        Some(UnsentEmergency {
            status: newest.status,
            created_at: newest.created_at,
        })
    }

    /// The user did something in the app (a key, a click): the idle time starts again.
    pub fn touch(&self) {
        self.app_lock().touch();
    }

    /// Locks if the idle limit has passed (a shell calls this every few seconds); true if it
    /// locked now.
    pub fn check_idle(&self) -> Result<bool> {
        let locked = self.app_lock().tick_watching(|| self.emergencies_known())?;
        if locked {
            self.lock_changed();
        }
        Ok(locked)
    }

    /// Follows what another process on this profile did to the lock (`clinic unlock`: its
    /// wrong tries, its unlock): told as the lock's own changes are (a shell calls this every
    /// few seconds while locked). True if anything changed.
    pub fn follow_lock(&self) -> Result<bool> {
        let (was, changed) = {
            let mut lock = self.app_lock();
            let was = lock.is_locked();
            (was, lock.reread()?)
        };
        if !changed {
            return Ok(false);
        }
        if was != self.is_locked() {
            self.lock_changed();
        } else {
            self.emit_lock();
        }
        Ok(true)
    }

    /// "Lock now" (Ctrl+L), or the OS screen locked.
    pub fn lock_now(&self) -> Result<()> {
        // One guard and one write: an idle lock and the screen's at once lock once, and what
        // was known is recorded by the one that locked.
        let locked_now = {
            let mut lock = self.app_lock();
            !lock.is_locked() && lock.lock_watching(self.emergencies_known())?
        };
        if locked_now {
            self.lock_changed();
        }
        Ok(())
    }

    /// What the cache knows of a patient's emergencies now, for the lock to record as it locks:
    /// the lock screen then tells her of a resolution she has not seen, also after a restart
    /// (see [`crate::lock::Watched`]). Best effort: unread, every resolution counts as new.
    pub(super) fn emergencies_known(&self) -> crate::lock::Watched {
        if self.user().role != Role::Patient {
            return crate::lock::Watched::default();
        }
        match self.shared.cache.emergencies_known(&self.user().id) {
            Ok((open, known)) => crate::lock::Watched { open, known },
            Err(e) => {
                tracing::warn!("which emergencies are open, for the lock to keep: {e}");
                crate::lock::Watched::default()
            }
        }
    }

    /// What the screen's notifications should be, for a receiver of [`Client::subscribe`] that
    /// lagged and may have missed some: every one shown taken off, and each emergency still
    /// ringing here shown again, naming nobody while locked (what locking did) and named while
    /// unlocked.
    pub fn notices_again(&self) -> Vec<ClientEvent> {
        let _turn = self.shared.attention.turn();
        self.shared.attention.notices_again().into_events()
    }

    /// Tries a PIN or the password (checked here, offline; with the server when this computer
    /// lost what unlocks it, see `lock`), one try at a time. The 5th wrong try ends the session
    /// as [`Client::logout`] does, wiping the cache on a shared computer; while an emergency of
    /// this user waits to be sent, or on a shared computer any message, it takes no more tries
    /// and answers [`Unlock::LogOutWhenSent`] instead, for the caller to log out once
    /// [`Client::sends_settled`] resolves (a logout would delete them, or keep a press from
    /// going until she signs in again).
    pub async fn unlock(&self, secret: &str) -> Result<Unlock> {
        let _turn = self.unlocking.lock().await;
        let checked_here = {
            let lock = self.app_lock();
            lock.knows_a_secret() || !lock.takes_a_try()
        };
        let outcome = if checked_here {
            self.app_lock().unlock(secret)?
        } else {
            self.unlock_with_server(secret).await?
        };
        match outcome {
            Unlock::Unlocked => self.lock_changed(),
            Unlock::LogOut if !self.begin_ending_after_tries() => {
                tracing::warn!(
                    "too many wrong unlock tries: logging out once what waits to be sent has gone"
                );
                self.emit_lock();
                return Ok(Unlock::LogOutWhenSent);
            }
            Unlock::LogOut => {
                tracing::warn!("too many wrong unlock tries: logging out");
                self.logout().await?;
            }
            Unlock::Wrong { .. } | Unlock::Wait(_) | Unlock::LogOutWhenSent => self.emit_lock(),
        }
        Ok(outcome)
    }

    /// This computer lost what unlocks the session (its state in the cache is gone or
    /// damaged): the password is checked by signing in once more, and that session is ended
    /// at once. A wrong password counts as a wrong try; no answer is no try.
    async fn unlock_with_server(&self, password: &str) -> Result<Unlock> {
        let username = self.user().username.clone();
        let answer = self.shared.api.login(&username, password).await;
        let (outcome, extra) = {
            let mut lock = self.app_lock();
            // The session that checked the password is ended whatever becomes of the try.
            let extra = answer.as_ref().ok().map(|r| r.token.clone());
            if lock.is_ending() {
                // Logged out meanwhile: nothing is left to unlock.
                (Err(ClientError::NotLoggedIn), extra)
            } else if !lock.takes_a_try() {
                // Unlocked meanwhile (another process), or its last try was taken there.
                (lock.unlock(password), extra)
            } else {
                match answer {
                    Ok(_) => (
                        lock.unlock_checked(password).map(|()| Unlock::Unlocked),
                        extra,
                    ),
                    Err(ClientError::Server { status: 401, .. }) => (lock.wrong_checked(), None),
                    Err(e) => (Err(unchecked(e)), None),
                }
            }
        };
        if let Some(token) = extra {
            let checking = self.shared.api.clone().with_token(token.clone());
            match checking.logout().await {
                Ok(()) | Err(ClientError::Server { status: 401, .. }) => {}
                Err(e) => {
                    // As a logout's, kept aside: ended once the server answers (tried again
                    // while this client lives, and at the next sign-in here).
                    tracing::warn!("could not end the session that checked the password: {e}");
                    self.keep_to_end(&token);
                    self.end_kept_sessions();
                }
            }
        }
        outcome
    }

    /// Whether the wrong tries ran out: no more are taken, and the session is to end (at once,
    /// or once [`Client::sends_settled`] resolves). Also after a restart.
    pub fn tries_ran_out(&self) -> bool {
        let lock = self.app_lock();
        lock.is_locked() && lock.failures() >= crate::lock::LOGOUT_AFTER
    }

    /// After the wrong tries ran out: begins the session's end, unless an emergency of this
    /// user waits to be sent (pressed since [`Client::sends_settled`] resolved, say), or on
    /// a shared computer any message: false then, to wait for it again. Once true, no press is taken any more (one would be deleted
    /// with a shared computer's cache by the logout that follows, or held until she signs in
    /// again); [`Client::raise_emergency`] refuses it with a sentence instead.
    pub fn begin_ending_after_tries(&self) -> bool {
        // Under the lock that a press holds while it is queued: none slips in between.
        let mut lock = self.app_lock();
        if self.shared.logout_would_lose(waits_for_messages(&lock))
            && !matches!(self.state(), ConnectionState::SignedOut { .. })
        {
            return false;
        }
        lock.set_ending();
        true
    }

    /// Whether the session is ending (a logout began, or [`Client::begin_ending_after_tries`]
    /// said so): no press is taken any more.
    pub fn is_ending(&self) -> bool {
        self.app_lock().is_ending()
    }

    /// Resolves once nothing a logout would lose waits to be sent (an emergency of this user,
    /// or on a shared computer any message): each was delivered, parked after a refusal or
    /// dropped, or the server ended the session (nothing more can go).
    pub async fn sends_settled(&self) {
        let mut events = self.subscribe();
        loop {
            let messages_too = waits_for_messages(&self.app_lock());
            if !self.shared.logout_would_lose(messages_too)
                || matches!(self.state(), ConnectionState::SignedOut { .. })
            {
                return;
            }
            // Any event may be the one (a delivery changes the queue's count); the tick is
            // for a change no event tells of.
            match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
                Err(_) | Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
            }
        }
    }

    /// Sets the unlock PIN (4-8 digits, weak ones refused). Only while unlocked.
    pub fn set_pin(&self, pin: &str) -> Result<()> {
        let mut lock = self.app_lock();
        lock.ensure_unlocked()?;
        lock.set_pin(pin)?;
        drop(lock);
        self.emit_lock();
        Ok(())
    }

    /// Who uses this computer and, optionally, a shorter idle time. Only while unlocked.
    pub fn set_lock_policy(&self, device: Device, chosen: Option<Duration>) -> Result<()> {
        let mut lock = self.app_lock();
        lock.ensure_unlocked()?;
        lock.set_policy(device, chosen)?;
        drop(lock);
        self.emit_lock();
        Ok(())
    }

    pub fn is_locked(&self) -> bool {
        self.app_lock().is_locked()
    }

    /// The emergencies a locked app's page may hold (see [`Client::emergency_while_locked`]):
    /// a patient's own open ones, and those resolved that were open as the app locked or came
    /// after (also when it locked before this start: she learns help came without unlocking).
    /// One this computer knew resolved before it locked was on her screen then.
    pub fn emergencies_while_locked(&self) -> Result<Vec<Emergency>> {
        let mut list = self.open_emergencies()?;
        let watched = self.app_lock().watched().cloned();
        if let Some(watched) = watched
            && self.user().role == Role::Patient
        {
            list.extend(
                self.shared
                    .cache
                    .resolved_emergencies_of(&self.user().id)?
                    .into_iter()
                    .filter(|e| watched.tells(e.id.as_str())),
            );
        }
        Ok(list
            .iter()
            .filter_map(|e| self.emergency_while_locked(e))
            .collect())
    }

    /// What a locked app's page may be told of `emergency` (its list, and each update): a
    /// patient's own, so that she sees whether help is coming and the number to call without
    /// unlocking, without a resolution's note (text a doctor wrote); nothing for a doctor, as
    /// emergencies name patients on a computer others may use (the alarm says enough).
    pub fn emergency_while_locked(&self, emergency: &Emergency) -> Option<Emergency> {
        let me = self.user();
        (me.role == Role::Patient && emergency.patient_id == me.id).then(|| Emergency {
            resolution_note: None,
            ..emergency.clone()
        })
    }

    /// What a locked app's page may be told of `event`, or `None` for nothing: no message and
    /// no typing, but a change of the user's own unsent emergency, or a send of hers dropped,
    /// tells the lock again (its [`LockStatus::unsent_emergency`]); an emergency as
    /// [`Client::emergency_while_locked`] allows, without the alert's message; a notification
    /// naming nobody and quoting nothing (one made just before the lock may reach the page just
    /// after it). Anything else (connection, alarm, presence, purges, the clinic's settings) as
    /// it is.
    pub fn event_while_locked(&self, event: ClientEvent) -> Option<ClientEvent> {
        let me = self.shared.me();
        match event {
            ClientEvent::MessageUpserted { message }
                if message.is_emergency && &message.sender_id == me =>
            {
                Some(self.lock_event())
            }
            ClientEvent::MessageDiscarded { sender_id, .. } if &sender_id == me => {
                Some(self.lock_event())
            }
            ClientEvent::EmergencyAlert { emergency, .. }
            | ClientEvent::EmergencyUpdated { emergency } => self
                .emergency_while_locked(&emergency)
                .map(|emergency| ClientEvent::EmergencyUpdated { emergency }),
            ClientEvent::Notify { notice } => Some(ClientEvent::Notify {
                notice: crate::attention::locked_form(notice),
            }),
            ClientEvent::MessageUpserted { .. }
            | ClientEvent::MessageDiscarded { .. }
            | ClientEvent::ConversationsChanged
            | ClientEvent::Typing { .. } => None,
            other => Some(other),
        }
    }

    /// Fails with [`crate::ClientError::Locked`] while locked.
    pub(crate) fn ensure_unlocked(&self) -> Result<()> {
        self.app_lock().ensure_unlocked()
    }

    fn lock_changed(&self) {
        let locked = self.is_locked();
        let _turn = self.shared.attention.turn();
        let effects = self.shared.attention.lock_changed(locked);
        self.shared.attend(effects);
        self.emit_lock();
    }

    fn emit_lock(&self) {
        self.shared.emit(self.lock_event());
    }

    /// The lock as it is now, as an event.
    fn lock_event(&self) -> ClientEvent {
        ClientEvent::Lock {
            status: self.lock_status(),
        }
    }
}

/// Whether the end of a session after the wrong tries waits for messages too, not only for an
/// emergency: on a shared computer (its logout deletes them), for at most
/// [`crate::lock::MESSAGES_WAIT`].
fn waits_for_messages(lock: &AppLock) -> bool {
    lock.device() == Device::Shared && !lock.waited_for_messages()
}

fn status_of(lock: &AppLock) -> LockStatus {
    LockStatus {
        locked: lock.is_locked(),
        has_pin: lock.has_pin(),
        device: lock.device(),
        idle_limit_secs: lock.idle_limit().as_secs(),
        shared_longest_secs: lock.longest_idle(Device::Shared).as_secs(),
        personal_longest_secs: lock.longest_idle(Device::Personal).as_secs(),
        wait_secs: lock.wait().map(|w| w.as_secs().max(1)),
        tries_left: crate::lock::LOGOUT_AFTER.saturating_sub(lock.failures()),
        unsent_emergency: None,
        logs_out_when: None,
        tries_so_far: None,
    }
}

/// Why a password could not be checked with the server, as the lock screen says it.
fn unchecked(e: ClientError) -> ClientError {
    match e {
        ClientError::NotYourServer | ClientError::CertificateExpired => e,
        ClientError::Server { status: 429, .. } => ClientError::Unconfirmed(
            "The clinic's server takes no more sign-ins from here for a while, so your password \
             cannot be checked now: try again in a few minutes."
                .into(),
        ),
        other => {
            tracing::info!("could not check the password with the server: {other}");
            ClientError::Unconfirmed(
                "This computer no longer has what unlocks the app, so your password is checked \
                 with the clinic's server, which did not answer: check the connection, then try \
                 again."
                    .into(),
            )
        }
    }
}
