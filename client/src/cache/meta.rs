//! Small state beside the messages: the sync cursor, contacts, the conversation list as last
//! seen online, emergencies, and read receipts owed to the server.

use super::Cache;
use crate::error::Result;
use clinic_protocol::ws::Availability;
use clinic_protocol::{
    ClinicInfo, Contact, Conversation, ConversationKey, Emergency, EmergencyState, LockPolicy,
    MessageId, Seq, UserId,
};
use rusqlite::{OptionalExtension, Transaction, params};

const CURSOR_KEY: &str = "sync_cursor";
const AVAILABILITY_KEY: &str = "availability";
const CLINIC_KEY: &str = "clinic";
const LOCK_POLICY_KEY: &str = "lock_policy";
/// The app lock's state (`lock::Vault`): locked or not, PIN and password hashes, wrong tries.
const LOCK_STATE_KEY: &str = "app_lock";
/// The ids of the server's last contact list: the people of the clinic one may write to now
/// (a conversation's other party may have left it since).
const LISTED_KEY: &str = "listed_contacts";

impl Cache {
    /// Where the next catch-up starts.
    pub fn cursor(&self) -> Result<Seq> {
        let conn = self.lock();
        let value: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                params![CURSOR_KEY],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Seq(value.and_then(|v| v.parse().ok()).unwrap_or(0)))
    }

    /// One value of the `meta` table, if set.
    fn meta_value(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The app lock's state as last written (see `lock::Vault`).
    pub fn lock_state(&self) -> Result<Option<String>> {
        self.meta_value(LOCK_STATE_KEY)
    }

    pub(crate) fn forget_lock_state(&self) -> Result<()> {
        self.lock()
            .execute("DELETE FROM meta WHERE key = ?1", params![LOCK_STATE_KEY])?;
        Ok(())
    }

    /// Replaces the app lock's state with what `change` makes of the stored one, inside one
    /// write transaction: another process on this cache (the CLI beside the app) waits, so no
    /// change of either is lost.
    pub(crate) fn update_lock_state(
        &self,
        change: &mut dyn FnMut(Option<&str>) -> Result<String>,
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                params![LOCK_STATE_KEY],
                |r| r.get(0),
            )
            .optional()?;
        let next = change(now.as_deref())?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![LOCK_STATE_KEY, next],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn set_lock_state(&self, state: &str) -> Result<()> {
        self.lock().execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![LOCK_STATE_KEY, state],
        )?;
        Ok(())
    }

    /// This user's availability as the server last confirmed it (available until told).
    pub fn availability(&self) -> Result<Availability> {
        let value = self.meta_value(AVAILABILITY_KEY)?;
        Ok(match value.as_deref() {
            Some("DO_NOT_DISTURB") => Availability::DoNotDisturb,
            _ => Availability::Available,
        })
    }

    pub fn set_availability(&self, availability: Availability) -> Result<()> {
        let text = match availability {
            Availability::Available => "AVAILABLE",
            Availability::DoNotDisturb => "DO_NOT_DISTURB",
        };
        self.lock().execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![AVAILABILITY_KEY, text],
        )?;
        Ok(())
    }

    /// The clinic's settings as the server last sent them (kept for when the app is offline:
    /// that is when a patient most needs the emergency number).
    pub fn clinic_info(&self) -> Result<Option<ClinicInfo>> {
        let value = self.meta_value(CLINIC_KEY)?;
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    pub fn set_clinic_info(&self, clinic: &ClinicInfo) -> Result<()> {
        let text = serde_json::to_string(clinic).unwrap_or_default();
        self.lock().execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![CLINIC_KEY, text],
        )?;
        Ok(())
    }

    /// The clinic's lock policy as its server last said it (so it holds offline and after a
    /// restart).
    pub fn lock_policy(&self) -> Result<Option<LockPolicy>> {
        let value = self.meta_value(LOCK_POLICY_KEY)?;
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    pub fn set_lock_policy(&self, policy: &LockPolicy) -> Result<()> {
        let text = serde_json::to_string(policy).unwrap_or_default();
        self.lock().execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![LOCK_POLICY_KEY, text],
        )?;
        Ok(())
    }

    /// Replaces the known contacts with the server's contact list.
    pub fn save_contacts(&self, contacts: &[Contact]) -> Result<()> {
        self.write_contacts(contacts, true)
    }

    /// Who the server's last contact list named (`None` before one came): unlike
    /// [`Cache::contacts`], not the other parties of older conversations, who may have left
    /// the clinic.
    pub fn listed_contacts(&self) -> Result<Option<std::collections::HashSet<UserId>>> {
        let value = self.meta_value(LISTED_KEY)?;
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Adds or updates contacts without dropping the others (e.g. from a conversation list).
    pub fn merge_contacts(&self, contacts: &[Contact]) -> Result<()> {
        self.write_contacts(contacts, false)
    }

    fn write_contacts(&self, contacts: &[Contact], replace_all: bool) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if replace_all {
            tx.execute("DELETE FROM contacts", [])?;
            let ids: Vec<&UserId> = contacts.iter().map(|c| &c.id).collect();
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![LISTED_KEY, serde_json::to_string(&ids)?],
            )?;
        }
        for c in contacts {
            tx.execute(
                "INSERT OR REPLACE INTO contacts (id, username, data) VALUES (?1, ?2, ?3)",
                params![c.id.as_str(), c.username, serde_json::to_string(c)?],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn contacts(&self) -> Result<Vec<Contact>> {
        self.json_rows("SELECT data FROM contacts ORDER BY username", [])
    }

    pub fn contact_by_username(&self, username: &str) -> Result<Option<Contact>> {
        Ok(self
            .json_rows(
                "SELECT data FROM contacts WHERE username = ?1",
                params![username],
            )?
            .into_iter()
            .next())
    }

    /// Replaces the cached conversation list (kept in the server's order).
    pub fn save_conversations(&self, list: &[Conversation]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM conversations", [])?;
        for c in list {
            tx.execute(
                "INSERT OR REPLACE INTO conversations (patient_id, doctor_id, data)
                 VALUES (?1, ?2, ?3)",
                params![
                    c.patient_id.as_str(),
                    c.doctor_id.as_str(),
                    serde_json::to_string(c)?
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn conversations(&self) -> Result<Vec<Conversation>> {
        self.json_rows("SELECT data FROM conversations ORDER BY rowid", [])
    }

    pub fn save_emergency(&self, emergency: &Emergency) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        upsert_emergency(&tx, emergency)?;
        tx.commit()?;
        Ok(())
    }

    /// Emergencies not yet resolved.
    pub fn open_emergencies(&self) -> Result<Vec<Emergency>> {
        self.json_rows(
            "SELECT data FROM emergencies WHERE state != 'RESOLVED' ORDER BY rowid",
            [],
        )
    }

    /// The resolved emergencies of a conversation's patient, as last seen, oldest first: who
    /// resolved each and the note they left stay with the conversation (an emergency is the
    /// patient's: presses in two conversations join one).
    pub fn resolved_emergencies(&self, conversation: &ConversationKey) -> Result<Vec<Emergency>> {
        self.resolved_emergencies_of(&conversation.patient_id)
    }

    /// The resolved emergencies of `patient`, as last seen, oldest resolved first.
    pub fn resolved_emergencies_of(&self, patient: &UserId) -> Result<Vec<Emergency>> {
        self.json_rows(
            "SELECT data FROM emergencies WHERE state = 'RESOLVED' \
             AND json_extract(data, '$.patientId') = ?1 \
             ORDER BY json_extract(data, '$.resolvedAt'), rowid",
            params![patient.as_str()],
        )
    }

    /// What this cache knows of `patient`'s emergencies now: the open ones' ids, and all of
    /// theirs.
    pub fn emergencies_known(&self, patient: &UserId) -> Result<(Vec<String>, Vec<String>)> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, state != 'RESOLVED' FROM emergencies \
             WHERE json_extract(data, '$.patientId') = ?1",
        )?;
        let (mut open, mut known) = (Vec::new(), Vec::new());
        for row in stmt.query_map(params![patient.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
        })? {
            let (id, is_open) = row?;
            if is_open {
                open.push(id.clone());
            }
            known.push(id);
        }
        Ok((open, known))
    }

    /// Remembers a read receipt to send once connected (only the latest per conversation
    /// matters: reading a message reads everything before it).
    pub fn owe_read(&self, conversation: &ConversationKey, message_id: &MessageId) -> Result<()> {
        self.lock().execute(
            "INSERT OR REPLACE INTO pending_reads (patient_id, doctor_id, message_id)
             VALUES (?1, ?2, ?3)",
            params![
                conversation.patient_id.as_str(),
                conversation.doctor_id.as_str(),
                message_id.as_str()
            ],
        )?;
        Ok(())
    }

    /// The read receipts owed, without forgetting them (see [`Cache::settle_read`]).
    pub fn owed_reads(&self) -> Result<Vec<(ConversationKey, MessageId)>> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare("SELECT patient_id, doctor_id, message_id FROM pending_reads")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    ConversationKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    MessageId(r.get(2)?),
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The receipt for `message_id` went out; forget it unless a newer one replaced it.
    pub fn settle_read(&self, message_id: &MessageId) -> Result<()> {
        self.lock().execute(
            "DELETE FROM pending_reads WHERE message_id = ?1",
            params![message_id.as_str()],
        )?;
        Ok(())
    }

    fn json_rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(args, |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for data in rows {
            if let Ok(v) = serde_json::from_str(&data?) {
                out.push(v);
            }
        }
        Ok(out)
    }
}

pub(super) fn set_cursor_in(tx: &Transaction<'_>, cursor: Seq) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![CURSOR_KEY, cursor.0.to_string()],
    )?;
    Ok(())
}

pub(super) fn upsert_emergency(tx: &Transaction<'_>, e: &Emergency) -> Result<()> {
    let state = match e.state {
        EmergencyState::Raised => "RAISED",
        EmergencyState::Acknowledged => "ACKNOWLEDGED",
        EmergencyState::Resolved => "RESOLVED",
    };
    // Resolved is final (only a taken emergency is reopened): an answer that left before the
    // resolution and arrives after it must not bring it back as open.
    tx.execute(
        "INSERT INTO emergencies (id, state, data) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data \
         WHERE emergencies.state != 'RESOLVED'",
        params![e.id.as_str(), state, serde_json::to_string(e)?],
    )?;
    Ok(())
}
