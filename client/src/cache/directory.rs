//! The conversation list as the cache knows it right now: what a UI shows offline, and what a
//! tray counts. Built from the last server list, then corrected by local truth (the newest
//! cached message, unread counts after local reads, open emergencies), so it never waits for
//! the network and never lags behind what the user already saw.

use super::Cache;
use crate::error::Result;
use crate::record::LocalMessage;
use clinic_protocol::{Contact, Conversation, ConversationKey, Emergency, Role, UserId};
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;

/// A cached message that was not unsent or retracted (`data` is the [`LocalMessage`] as JSON):
/// a tombstone the user never opened is not unread, so the badge drops when the sender takes the
/// message back.
const STANDING: &str = "json_extract(data, '$.retracted') IS NULL";

impl Cache {
    /// Every conversation of `me`: the cached server list plus any conversation that only the
    /// local messages know of. Doctors get open emergencies first, then the most recent;
    /// patients the most recent first.
    pub fn local_conversations(&self, me: &UserId, role: Role) -> Result<Vec<Conversation>> {
        let mut by_key: HashMap<ConversationKey, Conversation> = self
            .conversations()?
            .into_iter()
            .map(|c| {
                (
                    ConversationKey::new(c.patient_id.clone(), c.doctor_id.clone()),
                    c,
                )
            })
            .collect();
        let contacts: HashMap<UserId, Contact> = self
            .contacts()?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        for key in self.message_conversations()? {
            // A doctor's cache also holds other doctors' patients' emergency messages (from the
            // alerts): those conversations are not this user's to list or write in.
            if by_key.contains_key(&key) || !key.has_participant(me) {
                continue;
            }
            let Some(other) = contacts.get(key.other(me)) else {
                continue;
            };
            let conversation = Conversation {
                patient_id: key.patient_id.clone(),
                doctor_id: key.doctor_id.clone(),
                other_party: other.clone(),
                last_message: None,
                unread_count: 0,
                has_emergency: false,
                emergency: None,
            };
            by_key.insert(key, conversation);
        }
        let open = self.open_emergencies()?;
        let mut list: Vec<Conversation> = by_key
            .into_iter()
            .map(|(key, mut c)| -> Result<Conversation> {
                if let Some(last) = self.last_message(&key)? {
                    c.last_message = Some(last.into_wire());
                }
                c.unread_count = self.unread_in(&key, me)?;
                c.emergency = newest_open(&open, &key);
                c.has_emergency = c.emergency.is_some();
                Ok(c)
            })
            .collect::<Result<_>>()?;
        let recency = |c: &Conversation| c.last_message.as_ref().map(|m| m.created_at);
        list.sort_by(|a, b| {
            let emergency_first = match role {
                Role::Doctor => b.has_emergency.cmp(&a.has_emergency),
                _ => std::cmp::Ordering::Equal,
            };
            emergency_first.then_with(|| recency(b).cmp(&recency(a)))
        });
        Ok(list)
    }

    /// Messages addressed to `me` not yet read, in all conversations (tombstones are not
    /// counted: there is nothing left to read).
    pub fn unread_total(&self, me: &UserId) -> Result<u64> {
        let n: i64 = self.lock().query_row(
            &format!(
                "SELECT COUNT(*) FROM messages WHERE sender_id != ?1 AND status != 'READ'
                 AND {STANDING}"
            ),
            params![me.as_str()],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn unread_in(&self, key: &ConversationKey, me: &UserId) -> Result<u32> {
        let n: i64 = self.lock().query_row(
            &format!(
                "SELECT COUNT(*) FROM messages WHERE patient_id = ?1 AND doctor_id = ?2
                 AND sender_id != ?3 AND status != 'READ' AND {STANDING}"
            ),
            params![key.patient_id.as_str(), key.doctor_id.as_str(), me.as_str()],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The message the list shows under a name: a send on its way if there is one (just
    /// written), else whichever of the last acknowledged message and the last send parked after
    /// a refusal this computer heard of last (its own order, not two machines' clocks): a
    /// parked send must not hide what the other side wrote after it.
    fn last_message(&self, key: &ConversationKey) -> Result<Option<LocalMessage>> {
        let conn = self.lock();
        let newest = |condition: &str| -> Result<Option<(i64, LocalMessage)>> {
            let row: Option<(i64, String)> = conn
                .query_row(
                    &format!(
                        "SELECT local_id, data FROM messages WHERE patient_id = ?1 AND doctor_id = ?2
                         AND {condition} ORDER BY seq DESC, local_id DESC LIMIT 1"
                    ),
                    params![key.patient_id.as_str(), key.doctor_id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.and_then(|(id, d)| serde_json::from_str(&d).ok().map(|m| (id, m))))
        };
        if let Some((_, sending)) = newest("seq IS NULL AND status != 'FAILED'")? {
            return Ok(Some(sending));
        }
        let acked = newest("seq IS NOT NULL")?;
        let parked = newest("seq IS NULL AND status = 'FAILED'")?;
        Ok(match (acked, parked) {
            (Some((a, _)), Some((p, parked))) if p > a => Some(parked),
            (Some((_, acked)), _) => Some(acked),
            (None, parked) => parked.map(|(_, m)| m),
        })
    }

    fn message_conversations(&self) -> Result<Vec<ConversationKey>> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT DISTINCT patient_id, doctor_id FROM messages")?;
        let keys = stmt
            .query_map([], |r| {
                Ok(ConversationKey::new(
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }
}

fn newest_open(open: &[Emergency], key: &ConversationKey) -> Option<Emergency> {
    open.iter()
        .filter(|e| e.patient_id == key.patient_id && e.doctor_id == key.doctor_id)
        .max_by_key(|e| e.raised_at)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use clinic_protocol::{EmergencyState, Message, MessageId, MessageStatus, MessageType, Seq};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("time")
    }

    fn contact(id: &str, name: &str) -> Contact {
        Contact {
            id: id.into(),
            username: name.into(),
            name: name.into(),
            role: Role::Patient,
            date_of_birth: None,
            age: None,
            blood_group: None,
            online: false,
            availability: None,
        }
    }

    fn message(seq: i64, patient: &str, sender: &str) -> Message {
        Message {
            id: MessageId::new(format!("m{seq}")),
            seq: Seq(seq),
            client_id: format!("c{seq}").into(),
            patient_id: patient.into(),
            doctor_id: "doc".into(),
            sender_id: sender.into(),
            content: format!("text {seq}"),
            message_type: MessageType::Regular,
            status: MessageStatus::Delivered,
            file_url: None,
            file_name: None,
            file_size: None,
            file_type: None,
            is_emergency: false,
            resolved_at: None,
            created_at: at(seq),
            updated_at: at(seq),
            delivered_at: None,
            read_at: None,
            retracted: None,
            edited: None,
            written_at: None,
        }
    }

    #[test]
    fn built_from_local_messages_with_unread_and_emergencies_first() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = Cache::open(
            &dir.path().join("c.sqlite"),
            &crate::cache::CacheKey::random(),
        )?;
        let doc = UserId::from("doc");
        cache.save_contacts(&[contact("ann", "ann"), contact("ben", "ben")])?;
        // ann wrote twice (older), ben once (newer); the doctor answered ann.
        cache.apply_message(&doc, message(1, "ann", "ann"))?;
        cache.apply_message(&doc, message(2, "ann", "ann"))?;
        cache.apply_message(&doc, message(3, "ann", "doc"))?;
        cache.apply_message(&doc, message(4, "ben", "ben"))?;

        let list = cache.local_conversations(&doc, Role::Doctor)?;
        let names: Vec<&str> = list
            .iter()
            .map(|c| c.other_party.username.as_str())
            .collect();
        assert_eq!(names, ["ben", "ann"], "most recent first");
        assert_eq!((list[0].unread_count, list[1].unread_count), (1, 2));
        assert_eq!(list[1].last_message.as_ref().map(|m| m.seq), Some(Seq(3)));
        assert_eq!(cache.unread_total(&doc)?, 3);

        // ann unsends her first message before the doctor read it: a tombstone is not unread.
        let mut unsent = message(1, "ann", "ann");
        unsent.content = String::new();
        unsent.retracted = Some(clinic_protocol::Tombstone {
            by: "ann".into(),
            at: at(5),
        });
        cache.apply_message(&doc, unsent)?;
        assert_eq!(cache.unread_total(&doc)?, 2);
        let list = cache.local_conversations(&doc, Role::Doctor)?;
        assert_eq!((list[0].unread_count, list[1].unread_count), (1, 1));

        // Reading ann's messages locally clears her count at once, offline.
        cache.mark_read_up_to(&doc, &MessageId::new("m2"))?;
        assert_eq!(cache.unread_total(&doc)?, 1);

        // An open emergency puts ann first for a doctor, not for a patient's ordering.
        let raised = Emergency {
            id: "e1".into(),
            message_id: "m2".into(),
            patient_id: "ann".into(),
            patient_name: "ann".into(),
            doctor_id: "doc".into(),
            state: EmergencyState::Raised,
            raised_at: at(2),
            written_at: None,
            reopened_at: None,
            escalated_at: None,
            acknowledged_by: None,
            acknowledged_by_name: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_by_name: None,
            resolved_at: None,
            resolution_note: None,
            alerted_at: None,
            alerted_doctors: 0,
        };
        cache.save_emergency(&raised)?;
        let list = cache.local_conversations(&doc, Role::Doctor)?;
        assert_eq!(list[0].other_party.username, "ann");
        assert!(list[0].has_emergency && !list[1].has_emergency);
        assert_eq!(list[0].unread_count, 0);

        // Resolved is final: an answer that left before the resolution cannot reopen it here.
        let resolved = Emergency {
            state: EmergencyState::Resolved,
            ..raised.clone()
        };
        cache.save_emergency(&resolved)?;
        cache.save_emergency(&raised)?;
        assert_eq!(cache.open_emergencies()?, Vec::new());
        Ok(())
    }
}
