//! In-app notifications: stored rows for emergencies (one per doctor, and the patient's updates),
//! derived from the message itself for every other message (schema v14: its `recipient_id` and
//! `notice`, 0 unread and 1 read), both marked read by their owner and listed together.

use super::rows::{self, NOTIFICATION_COLUMNS, notification_columns};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use clinic_protocol::{
    Message, MessageId, Notification, NotificationId, NotificationKind, Role, UserId,
};
use rusqlite::{Connection, params};

/// Longest notification body: a preview of the message, not the whole of it.
const PREVIEW_CHARS: usize = 140;

/// What a notification shows of `message`.
pub(crate) fn preview(message: &Message) -> String {
    preview_of(&message.content, message.file_name.as_deref())
}

fn preview_of(content: &str, file_name: Option<&str>) -> String {
    match file_name {
        Some(name) if content.trim().is_empty() => format!("File: {name}"),
        _ => content.chars().take(PREVIEW_CHARS).collect(),
    }
}

/// The id of the notification derived from message `id`: `n-` and the message's id. A stored
/// notification's is `n-` and a UUID in hex, so the two never meet (message ids start `m-`).
fn derived_id(id: &MessageId) -> NotificationId {
    format!("n-{}", id.as_str()).into()
}

/// The message a derived notification's id names; `None` for a stored notification's id.
fn derived_from(id: &NotificationId) -> Option<&str> {
    id.as_str()
        .strip_prefix("n-")
        .filter(|m| m.starts_with("m-"))
}

/// The notification `recipient` has of a new message by `sender_name`: derived from the message
/// row (`recipient_id`, `notice = 0`), which the send writes, so nothing else is stored.
pub(crate) fn of_message(message: &Message, recipient: &UserId, sender_name: &str) -> Notification {
    Notification {
        id: derived_id(&message.id),
        user_id: recipient.clone(),
        kind: NotificationKind::NewMessage,
        title: title(sender_name),
        body: preview(message),
        message_id: Some(message.id.clone()),
        patient_id: Some(message.patient_id.clone()),
        doctor_id: Some(message.doctor_id.clone()),
        read: false,
        created_at: message.created_at,
    }
}

/// The title of a new message's notification.
pub(crate) fn title(sender_name: &str) -> String {
    format!("New message from {sender_name}")
}

/// The in-app notifications of an emergency, one per enabled doctor. Written in a command of
/// their own after the emergency's commit, so that the alert does not wait for them; should the
/// server stop in between, the emergency itself is safe and alerts again on restart.
pub(crate) fn for_emergency(
    conn: &Connection,
    message: &Message,
    patient_name: &str,
) -> Result<Vec<Notification>, StoreError> {
    let kind = NotificationKind::Emergency;
    let title = format!("Emergency from {patient_name}");
    let body = preview(message);
    let notifications: Vec<Notification> = super::users::active_ids_with_role(conn, Role::Doctor)?
        .into_iter()
        .map(|doctor| Notification {
            id: rows::new_id("n-").into(),
            user_id: doctor,
            kind,
            title: title.clone(),
            body: body.clone(),
            message_id: Some(message.id.clone()),
            patient_id: Some(message.patient_id.clone()),
            doctor_id: Some(message.doctor_id.clone()),
            read: false,
            created_at: message.created_at,
        })
        .collect();
    // One statement for all of them, the ids and doctors passed as a JSON array: a statement
    // per doctor held the writer about twice as long with a thousand doctors (benchmark S4).
    let ids = notifications
        .iter()
        .map(|n| [n.id.as_str(), n.user_id.as_str()])
        .collect::<Vec<_>>();
    let ids = rows::json_param(&ids)?;
    conn.prepare_cached(concat!(
        "INSERT INTO notifications (",
        notification_columns!(),
        ") SELECT j.value ->> 0, j.value ->> 1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8 FROM json_each(?1) AS j"
    ))?
    .execute(params![
        ids,
        rows::kind_text(kind),
        title,
        body,
        message.id.as_str(),
        message.patient_id.as_str(),
        message.doctor_id.as_str(),
        message.created_at.timestamp_millis()
    ])?;
    Ok(notifications)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_raw(
    conn: &Connection,
    user: &UserId,
    kind: NotificationKind,
    title: &str,
    body: &str,
    message_id: Option<&MessageId>,
    pair: Option<(&UserId, &UserId)>,
    at: DateTime<Utc>,
) -> Result<Notification, StoreError> {
    let notification = Notification {
        id: rows::new_id("n-").into(),
        user_id: user.clone(),
        kind,
        title: title.to_owned(),
        body: body.to_owned(),
        message_id: message_id.cloned(),
        patient_id: pair.map(|(p, _)| p.clone()),
        doctor_id: pair.map(|(_, d)| d.clone()),
        read: false,
        created_at: at,
    };
    conn.prepare_cached(concat!(
        "INSERT INTO notifications (",
        notification_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)"
    ))?
    .execute(params![
        notification.id.as_str(),
        user.as_str(),
        rows::kind_text(kind),
        notification.title,
        notification.body,
        notification.message_id.as_ref().map(MessageId::as_str),
        notification.patient_id.as_ref().map(UserId::as_str),
        notification.doctor_id.as_ref().map(UserId::as_str),
        at.timestamp_millis()
    ])?;
    Ok(notification)
}

/// The newest notifications of `user`, newest first: the stored ones and those derived from
/// messages addressed to `user`, merged.
pub(crate) fn list(
    conn: &Connection,
    user: &UserId,
    unread_only: bool,
    limit: u32,
) -> Result<Vec<Notification>, StoreError> {
    let unread = if unread_only { " AND read = 0" } else { "" };
    let mut stmt = conn.prepare(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = ?1{unread} \
         ORDER BY created_at DESC, id DESC LIMIT ?2"
    ))?;
    let mut list: Vec<Notification> = stmt
        .query_map(params![user.as_str(), limit], rows::notification)?
        .collect::<Result<_, _>>()?;
    list.extend(derived(conn, user, unread_only, limit)?);
    // Each part is the newest by seq, which is the order of `created_at` unless the clock
    // stepped back between two sends; the merged list is ordered by `created_at` like the
    // stored notifications.
    list.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.as_str().cmp(a.id.as_str()))
    });
    list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(list)
}

/// The newest `limit` notifications derived from messages addressed to `user`, newest (by seq)
/// first. Found through the user's conversations (schema v18): newest conversation first, each
/// read backwards through its index only as far as needed, and none once the next conversation's
/// newest message is older than the `limit`-th found. Unread ones only in the conversations
/// that count some, and no more of them than counted.
fn derived(
    conn: &Connection,
    user: &UserId,
    unread_only: bool,
    limit: u32,
) -> Result<Vec<Notification>, StoreError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    // For the unread ones, only the conversations that count some (a count below zero is a bug
    // in what keeps it: such a conversation is read in full rather than one left out).
    let counted = if unread_only {
        "(c.patient_id = ?1 AND c.patient_notices != 0) \
         OR (c.doctor_id = ?1 AND c.doctor_notices != 0)"
    } else {
        "c.patient_id = ?1 OR c.doctor_id = ?1"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT c.patient_id, c.doctor_id, \
         CASE WHEN c.patient_id = ?1 THEN c.patient_notices ELSE c.doctor_notices END, \
         (SELECT max(m.seq) FROM messages m \
          WHERE m.patient_id = c.patient_id AND m.doctor_id = c.doctor_id) \
         FROM conversations c WHERE {counted}"
    ))?;
    let mut conversations = stmt
        .query_map([user.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    conversations.sort_by_key(|c| std::cmp::Reverse(c.3));
    let notice = if unread_only {
        "m.notice = 0"
    } else {
        "m.notice IS NOT NULL"
    };
    let mut messages = conn.prepare_cached(&format!(
        "{DERIVED_SELECT} WHERE m.patient_id = ?1 AND m.doctor_id = ?2 AND m.recipient_id = ?3 \
         AND {notice} AND m.seq > ?5 ORDER BY m.seq DESC LIMIT ?4"
    ))?;
    let mut found: Vec<(i64, Notification)> = Vec::new();
    for (patient, doctor, unread, newest) in conversations {
        let Some(newest) = newest else { continue };
        // Once `limit` are found, only what is newer than the `limit`-th can still be among them.
        let floor = match found.last() {
            Some((seq, _)) if found.len() >= limit => *seq,
            _ => 0,
        };
        if newest <= floor {
            break;
        }
        let wanted = if unread_only && unread > 0 {
            limit.min(usize::try_from(unread).unwrap_or(usize::MAX))
        } else {
            limit
        };
        let rows = messages.query_map(
            params![
                patient,
                doctor,
                user.as_str(),
                i64::try_from(wanted).unwrap_or(i64::MAX),
                floor
            ],
            |r| Ok((r.get::<_, i64>(9)?, derived_row(r)?)),
        )?;
        for row in rows {
            found.push(row?);
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found.truncate(limit);
    }
    Ok(found.into_iter().map(|(_, n)| n).collect())
}

/// A derived notification's columns: the message's, its sender's name, the notice and the seq.
const DERIVED_SELECT: &str = "SELECT m.id, m.patient_id, m.doctor_id, m.recipient_id, m.content, \
     m.file_name, m.created_at, u.name, m.notice, m.seq FROM messages m \
     JOIN users u ON u.id = m.sender_id";

fn derived_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Notification> {
    let id: MessageId = row.get::<_, String>(0)?.into();
    let created_at = crate::time::from_ms(row.get(6)?);
    Ok(Notification {
        id: derived_id(&id),
        user_id: row.get::<_, String>(3)?.into(),
        kind: NotificationKind::NewMessage,
        title: title(&row.get::<_, String>(7)?),
        body: preview_of(
            &row.get::<_, String>(4)?,
            row.get::<_, Option<String>>(5)?.as_deref(),
        ),
        message_id: Some(id),
        patient_id: Some(row.get::<_, String>(1)?.into()),
        doctor_id: Some(row.get::<_, String>(2)?.into()),
        read: row.get::<_, i64>(8)? != 0,
        created_at,
    })
}

/// Marks the caller's own notifications read; returns how many changed.
pub(crate) fn mark_read(
    conn: &Connection,
    user: &UserId,
    ids: &[NotificationId],
) -> Result<usize, StoreError> {
    let mut stored = conn.prepare_cached(
        "UPDATE notifications SET read = 1 WHERE id = ?1 AND user_id = ?2 AND read = 0",
    )?;
    let mut notice = conn.prepare_cached(
        "UPDATE messages SET notice = 1 WHERE id = ?1 AND recipient_id = ?2 AND notice = 0",
    )?;
    let mut changed = 0;
    for id in ids {
        changed += match derived_from(id) {
            Some(message) => notice.execute(params![message, user.as_str()])?,
            None => stored.execute(params![id.as_str(), user.as_str()])?,
        };
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::users::for_test as user;
    use crate::store::{Seqs, messages};
    use clinic_protocol::{ClientId, NewMessage, User};

    use crate::store::messages::for_test as send;

    /// A user's list merges the stored notifications (an emergency's) with those derived from
    /// messages addressed to them, newest first, over all their conversations; marking one read
    /// takes it off the unread list, and only its recipient can.
    #[test]
    fn stored_and_derived_notifications_list_and_mark_read_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let (p1, p2) = (
            user(&tx, "p1", Role::Patient),
            user(&tx, "p2", Role::Patient),
        );
        let doctor = user(&tx, "doc", Role::Doctor);
        // Written directly (not logged), as a batch with other commands does.
        let mut seqs = Seqs::loaded(&tx, false);
        let first = send(&tx, &mut seqs, &p1, &doctor, "first");
        let reply = send(&tx, &mut seqs, &doctor, &p1, "a reply");
        let stored = insert_raw(
            &tx,
            &doctor.id,
            NotificationKind::Emergency,
            "Emergency from p2",
            "help",
            None,
            None,
            crate::time::from_ms(first.created_at.timestamp_millis() + 1),
        )
        .unwrap();
        // Newer than the emergency's notification, by the clock the list orders by.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = send(&tx, &mut seqs, &p2, &doctor, "second");
        let unread = |tx: &Connection| {
            list(tx, &doctor.id, true, 10)
                .unwrap()
                .into_iter()
                .map(|n| (n.body, n.read))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            unread(&tx),
            [("second", false), ("help", false), ("first", false)].map(|(b, r)| (b.to_owned(), r))
        );
        let listed = list(&tx, &doctor.id, false, 10).unwrap();
        assert_eq!(listed[2].title, "New message from p1");
        assert_eq!(listed[2].message_id.as_ref(), Some(&first.id));
        assert_eq!(listed[0].message_id.as_ref(), Some(&second.id));
        assert_eq!(list(&tx, &p1.id, false, 10).unwrap()[0].body, "a reply");
        // The limit keeps the newest.
        assert_eq!(list(&tx, &doctor.id, true, 2).unwrap().len(), 2);

        let first_note = listed[2].id.clone();
        assert_eq!(
            mark_read(&tx, &p1.id, std::slice::from_ref(&first_note)).unwrap(),
            0
        );
        assert_eq!(
            mark_read(&tx, &doctor.id, &[first_note.clone(), stored.id.clone()]).unwrap(),
            2
        );
        assert_eq!(mark_read(&tx, &doctor.id, &[first_note]).unwrap(), 0);
        assert_eq!(unread(&tx), vec![("second".to_owned(), false)]);
        let all: Vec<_> = list(&tx, &doctor.id, false, 10)
            .unwrap()
            .into_iter()
            .map(|n| (n.body, n.read))
            .collect();
        assert_eq!(
            all,
            [("second", false), ("help", true), ("first", true)].map(|(b, r)| (b.to_owned(), r))
        );
        assert_eq!(reply.sender_id, doctor.id);
        // A direct send counts as unread for its recipient (schema v15), as a moved one does.
        let counted: (i64, i64) = tx
            .query_row(
                "SELECT patient_unread, doctor_unread FROM conversations WHERE patient_id = ?1",
                [p1.id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(counted, (1, 1));
        // The notification counters (schema v18): the doctor's were both read, p1's reply not.
        assert_eq!(notices(&tx, &p1.id), (1, 0));
    }

    /// An emergency's notifications, one statement for every enabled doctor: what is returned
    /// (and pushed) is what is stored, field by field; a disabled doctor gets none, and with no
    /// doctor enabled there are none.
    #[test]
    fn an_emergency_notifies_every_enabled_doctor_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let patient = user(&tx, "p", Role::Patient);
        let doctors: Vec<User> = (0..3)
            .map(|i| user(&tx, &format!("d{i}"), Role::Doctor))
            .collect();
        crate::store::users::set_disabled(&tx, "d2", true).unwrap();
        let mut seqs = Seqs::loaded(&tx, false);
        let message = send(&tx, &mut seqs, &patient, &doctors[0], "chest pain");
        let made = for_emergency(&tx, &message, "Pat Smith").unwrap();
        assert_eq!(
            made.iter().map(|n| &n.user_id).collect::<Vec<_>>(),
            [&doctors[0].id, &doctors[1].id]
        );
        for (notification, doctor) in made.iter().zip(&doctors) {
            assert_eq!(notification.title, "Emergency from Pat Smith");
            assert_eq!(notification.body, "chest pain");
            assert_eq!(notification.patient_id.as_ref(), Some(&patient.id));
            assert_eq!(notification.doctor_id.as_ref(), Some(&doctors[0].id));
            let stored: Vec<Notification> = list(&tx, &doctor.id, false, 10)
                .unwrap()
                .into_iter()
                .filter(|n| n.kind == NotificationKind::Emergency)
                .collect();
            assert_eq!(stored, std::slice::from_ref(notification));
        }
        assert!(
            list(&tx, &doctors[2].id, false, 10)
                .unwrap()
                .iter()
                .all(|n| n.kind != NotificationKind::Emergency)
        );
        for doctor in ["d0", "d1"] {
            crate::store::users::set_disabled(&tx, doctor, true).unwrap();
        }
        assert!(
            for_emergency(&tx, &message, "Pat Smith")
                .unwrap()
                .is_empty()
        );
    }

    /// The notifications each side of `patient`'s conversations counts as unread.
    fn notices(conn: &Connection, patient: &UserId) -> (i64, i64) {
        conn.query_row(
            "SELECT sum(patient_notices), sum(doctor_notices) FROM conversations \
             WHERE patient_id = ?1",
            [patient.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    /// What the derived notifications must be: every message addressed to `user` that gives
    /// one, newest first, found by reading every message.
    fn scanned(conn: &Connection, user: &UserId, unread_only: bool, limit: u32) -> Vec<String> {
        let notice = if unread_only { "= 0" } else { "IS NOT NULL" };
        let mut stmt = conn
            .prepare(&format!(
                "SELECT 'n-' || id FROM messages NOT INDEXED WHERE recipient_id = ?1 \
                 AND notice {notice} ORDER BY seq DESC LIMIT ?2"
            ))
            .unwrap();
        stmt.query_map(params![user.as_str(), limit], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Derived notifications are found through each user's conversations (schema v18) and their
    /// counters: whatever the mix of direct and logged sends, notifications marked read,
    /// retractions, emergencies and purged messages, every user's list (all or unread, short or
    /// long) is what reading every message gives, and every counter is what counting them gives.
    #[test]
    fn derived_notifications_through_conversations_match_a_scan_of_every_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let tx = conn.transaction().unwrap();
        let patients: Vec<User> = (0..5)
            .map(|i| user(&tx, &format!("p{i}"), Role::Patient))
            .collect();
        let doctors: Vec<User> = (0..3)
            .map(|i| user(&tx, &format!("d{i}"), Role::Doctor))
            .collect();
        let mut sent = Vec::new();
        // A fixed pseudo-random walk: which pair talks, who speaks, how each send is stored.
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        for round in 0..160u64 {
            let patient = &patients[usize::try_from(next(5)).unwrap()];
            let doctor = &doctors[usize::try_from(next(3)).unwrap()];
            let (from, to) = if next(2) == 0 {
                (patient, doctor)
            } else {
                (doctor, patient)
            };
            // Half through the send log and its move, half written directly.
            let logged = next(2) == 0;
            let mut seqs = Seqs::loaded(&tx, logged);
            let message = send(&tx, &mut seqs, from, to, &format!("m{round}"));
            seqs.save(&tx).unwrap();
            if logged {
                crate::store::projection::apply_all(&tx).unwrap();
            }
            sent.push((message, to.id.clone()));
            match next(10) {
                0 | 1 => {
                    let (m, to) = &sent[usize::try_from(next(sent.len() as u64)).unwrap()];
                    mark_read(&tx, to, &[derived_id(&m.id)]).unwrap();
                }
                2 => {
                    let (m, _) = &sent[usize::try_from(next(sent.len() as u64)).unwrap()];
                    tx.execute(
                        "UPDATE messages SET retracted_at = 1, notice = NULL WHERE id = ?1",
                        [m.id.as_str()],
                    )
                    .unwrap();
                }
                3 => {
                    let (m, _) = &sent[usize::try_from(next(sent.len() as u64)).unwrap()];
                    tx.execute("DELETE FROM messages WHERE id = ?1", [m.id.as_str()])
                        .unwrap();
                }
                _ => {}
            }
        }
        // An emergency gives stored notifications, never a derived one or a count.
        let mut seqs = Seqs::loaded(&tx, false);
        let new = NewMessage {
            client_id: None,
            patient_id: patients[0].id.clone(),
            doctor_id: doctors[0].id.clone(),
            content: "help".into(),
            is_emergency: true,
            file_url: None,
            file_name: None,
            held_ms: None,
        };
        messages::send(
            &tx,
            &mut seqs,
            &patients[0],
            &new,
            &ClientId::from("c-sos".to_owned()),
        )
        .unwrap();
        let recounted: Vec<(i64, i64, i64, i64)> = tx
            .prepare(
                "SELECT patient_notices, doctor_notices, \
                 (SELECT count(*) FROM messages m WHERE m.patient_id = c.patient_id \
                  AND m.doctor_id = c.doctor_id AND m.recipient_id = m.patient_id \
                  AND m.notice = 0), \
                 (SELECT count(*) FROM messages m WHERE m.patient_id = c.patient_id \
                  AND m.doctor_id = c.doctor_id AND m.recipient_id = m.doctor_id \
                  AND m.notice = 0) FROM conversations c",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(recounted.len() > 5);
        for (patient_kept, doctor_kept, patient_counted, doctor_counted) in recounted {
            assert_eq!(
                (patient_kept, doctor_kept),
                (patient_counted, doctor_counted)
            );
        }
        // A conversation without a message yet (and so without a newest seq).
        let quiet = user(&tx, "quiet", Role::Patient);
        tx.execute(
            "INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES (?1, ?2, 0)",
            [quiet.id.as_str(), doctors[0].id.as_str()],
        )
        .unwrap();
        let mut read_some = false;
        for who in patients.iter().chain(&doctors).chain([&quiet]) {
            for unread_only in [false, true] {
                for limit in [1, 3, 7, 1000] {
                    let listed: Vec<String> = derived(&tx, &who.id, unread_only, limit)
                        .unwrap()
                        .into_iter()
                        .map(|n| {
                            read_some |= n.read;
                            n.id.as_str().to_owned()
                        })
                        .collect();
                    assert_eq!(
                        listed,
                        scanned(&tx, &who.id, unread_only, limit),
                        "{} unread_only={unread_only} limit={limit}",
                        who.username
                    );
                }
            }
        }
        assert!(read_some, "the walk marked some notifications read");
        // The counters' check agrees with every counter the walk left.
        assert_eq!(
            crate::store::counts::drifted(&tx).unwrap(),
            Vec::<clinic_protocol::ConversationKey>::new()
        );
        // Each conversation is read through its own index, not by a scan of every message.
        let plan: Vec<String> = tx
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {DERIVED_SELECT} WHERE m.patient_id = ?1 \
                 AND m.doctor_id = ?2 AND m.recipient_id = ?3 AND m.notice = 0 AND m.seq > ?5 \
                 ORDER BY m.seq DESC LIMIT ?4"
            ))
            .unwrap()
            .query_map(params!["a", "b", "c", 1, 0], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // ... backwards, in the index's order, so that it stops after the rows it needs.
        assert!(
            plan.iter()
                .any(|step| step.contains("messages_conversation"))
                && !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
