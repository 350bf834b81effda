//! Unsend / retract and edit in SQLite: the rules and refusals, the sealed earlier versions
//! (`message_versions`, append-only), and the version list both participants may read.
//!
//! `retract` and `edit` are each one function running in one writer transaction: the message
//! row, its sealed version, its notifications and its upload change together or not at all.

use super::projection::{self, LoggedEdit};
use super::rows::{self, MESSAGE_COLUMNS};
use super::{Seqs, notifications};
use crate::audit::{self, Action, Event};
use crate::store::StoreError;
use crate::time::{from_ms, now_ms};
use chrono::{DateTime, Utc};
use clinic_protocol::rest::{EditRequest, MessageVersions, RetractRequest};
use clinic_protocol::{
    ClientId, ConversationKey, Edited, Message, MessageId, MessageVersion, MessageWindows, Role,
    User, limits,
};
use rusqlite::{Connection, OptionalExtension, params};

/// What a retract or an edit did.
#[derive(Debug, Clone)]
pub(crate) struct Changed {
    /// The message as it is now (a tombstone after a retraction).
    pub message: Message,
    /// False when nothing changed: a second retraction, an identical edit, a repeated clientId.
    pub changed: bool,
    /// Content files (by sha256) whose last upload went with a retraction: remove them after
    /// the commit.
    pub files: Vec<String>,
}

impl Changed {
    fn same(message: Message) -> Self {
        Self {
            message,
            changed: false,
            files: Vec::new(),
        }
    }
}

/// Checks a retraction's fields before it reaches the writer.
pub(crate) fn validate_retract(request: &RetractRequest) -> Result<(), StoreError> {
    if let Some(reason) = &request.reason {
        if reason.len() > limits::MAX_REASON_BYTES {
            return Err(StoreError::too_large(format!(
                "The reason is longer than {} bytes.",
                limits::MAX_REASON_BYTES
            )));
        }
        crate::text::check("reason", reason)?;
    }
    if request.misdirected && request.reason.as_deref().is_none_or(crate::text::is_blank) {
        return Err(StoreError::bad_input(
            "Say why: a message sent to the wrong person is retracted with a reason.",
        ));
    }
    Ok(())
}

/// Checks an edit's fields before it reaches the writer.
pub(crate) fn validate_edit(request: &EditRequest) -> Result<(), StoreError> {
    if request.content.len() > limits::MAX_CONTENT_BYTES {
        return Err(StoreError::too_large(format!(
            "The new text is longer than {} bytes.",
            limits::MAX_CONTENT_BYTES
        )));
    }
    if crate::text::is_blank(&request.content) {
        return Err(StoreError::bad_input(
            "An edit cannot leave the message empty; to remove it, unsend it.",
        ));
    }
    crate::text::check("content", &request.content)
}

/// The message `id` as `caller`, a participant, sees it: unknown (or in someone else's
/// conversation) is 404.
fn visible(conn: &Connection, caller: &User, id: &MessageId) -> Result<Message, StoreError> {
    conn.query_row(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
        [id.as_str()],
        rows::message,
    )
    .optional()?
    .map(|(m, _)| m)
    .filter(|m| m.conversation().has_participant(&caller.id))
    .ok_or_else(|| StoreError::not_found("There is no such message."))
}

/// The message `id` if `caller` sent it; the other participant's message is 403.
fn own(conn: &Connection, caller: &User, id: &MessageId) -> Result<Message, StoreError> {
    mine(visible(conn, caller, id)?, caller)
}

/// [`own`] in a batch that logs: the message as it will be once the log has moved (its row or
/// its logged send, with the receipts and edits waiting for it).
fn own_as_it_will_be(
    conn: &Connection,
    caller: &User,
    id: &MessageId,
) -> Result<Message, StoreError> {
    let stored = conn
        .query_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
            [id.as_str()],
            rows::message,
        )
        .optional()?
        .map(|(m, _)| m);
    let mut message = match stored {
        Some(m) => m,
        None => projection::send_by_id(conn, id.as_str())?
            .ok_or_else(|| StoreError::not_found("There is no such message."))?,
    };
    projection::with_logged_changes(conn, &mut message)?;
    mine(message, caller)
}

/// `message` if `caller` sent it: 404 outside the caller's conversations, 403 for the other
/// participant's.
fn mine(message: Message, caller: &User) -> Result<Message, StoreError> {
    if !message.conversation().has_participant(&caller.id) {
        return Err(StoreError::not_found("There is no such message."));
    }
    if message.sender_id != caller.id {
        return Err(StoreError::forbidden(
            "Only the person who sent a message can unsend or edit it.",
        ));
    }
    Ok(message)
}

/// "2026-09-22 14:13 UTC".
fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "24 hours", "15 minutes", "90 seconds".
fn span(secs: u32) -> String {
    let plural = |n: u32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

/// Refuses with `too_late` once `secs` after the message was sent have passed.
fn check_window(message: &Message, secs: u32, now: i64, what: &str) -> Result<(), StoreError> {
    let ends = message.created_at + chrono::Duration::seconds(i64::from(secs));
    if now >= ends.timestamp_millis() {
        return Err(StoreError::TooLate(format!(
            "Too late to {what}: that ended at {}, {} after it was sent.",
            when(ends),
            span(secs)
        )));
    }
    Ok(())
}

fn refuse_emergency(message: &Message, what: &str) -> Result<(), StoreError> {
    if message.is_emergency {
        return Err(StoreError::conflict(format!(
            "An emergency message can't be {what}; resolve it with a note instead."
        )));
    }
    Ok(())
}

/// The version row that seals `message`'s current text before `change` replaces it.
fn seal(
    conn: &Connection,
    message: &Message,
    change: &str,
    actor: &str,
    client_id: Option<&str>,
    retract: Option<&RetractRequest>,
    now: i64,
) -> rusqlite::Result<()> {
    let written = message.edited.map_or(message.created_at, |e| e.at);
    conn.prepare_cached(
        "INSERT INTO message_versions (message_id, version, content, file_name, file_url, \
         written_at, replaced_at, change, actor_id, client_id, reason, misdirected) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        message.id.as_str(),
        message.version(),
        message.content,
        message.file_name,
        message.file_url,
        written.timestamp_millis(),
        now,
        change,
        actor,
        client_id,
        retract.and_then(|r| r.reason.as_deref()),
        retract.is_some_and(|r| r.misdirected),
    ])?;
    Ok(())
}

fn reread(conn: &Connection, id: &MessageId) -> rusqlite::Result<Message> {
    Ok(conn
        .query_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
            [id.as_str()],
            rows::message,
        )?
        .0)
}

/// The sender takes `id` back: its text, file and notification previews go, a tombstone stays,
/// the original is sealed. A second retraction answers the same tombstone.
pub(crate) fn retract(
    conn: &Connection,
    seqs: &mut Seqs,
    caller: &User,
    id: &MessageId,
    request: &RetractRequest,
    client_id: Option<&ClientId>,
    windows: MessageWindows,
) -> Result<Changed, StoreError> {
    let message = own(conn, caller, id)?;
    if message.is_retracted() {
        return Ok(Changed::same(message));
    }
    let verb = if caller.role == Role::Patient {
        "unsend"
    } else {
        "retract"
    };
    refuse_emergency(
        &message,
        if caller.role == Role::Patient {
            "unsent"
        } else {
            "retracted"
        },
    )?;
    let now = now_ms();
    if !request.misdirected {
        check_window(&message, windows.retract_secs_for(caller.role), now, verb)?;
    }
    seal(
        conn,
        &message,
        "RETRACT",
        caller.id.as_str(),
        client_id.map(ClientId::as_str),
        Some(request),
        now,
    )?;
    conn.prepare_cached(
        "UPDATE messages SET content = '', file_url = NULL, file_name = NULL, file_size = NULL, \
         file_type = NULL, retracted_at = ?2, updated_at = ?2, change_seq = ?3, notice = NULL \
         WHERE id = ?1",
    )?
    .execute(params![id.as_str(), now, seqs.next().0])?;
    // A stored notification (emergencies, messages from before schema v14) goes with it; a
    // derived one went with `notice = NULL` above.
    conn.prepare_cached("DELETE FROM notifications WHERE message_id = ?1")?
        .execute([id.as_str()])?;
    let mut files = conn
        .prepare_cached("DELETE FROM uploads WHERE message_id = ?1 RETURNING sha256")?
        .query_map([id.as_str()], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Recorded as doomed in this transaction, like a purge's, so a crash before the removal
    // after the commit never leaves the file behind (the next start removes it).
    let mut doomed = Vec::new();
    for sha in files.drain(..) {
        if !super::retention::is_referenced(conn, &sha)? {
            conn.prepare_cached("INSERT OR IGNORE INTO doomed_files (sha256) VALUES (?1)")?
                .execute([&sha])?;
            doomed.push(sha);
        }
    }
    let files = doomed;
    let action = if caller.role == Role::Patient {
        Action::MessageUnsend
    } else {
        Action::MessageRetract
    };
    audit::record(
        conn,
        &Event::by(&caller.id, action)
            .conversation(&message.conversation())
            .subject(id.as_str())
            .detail(serde_json::json!({ "misdirected": request.misdirected })),
    )?;
    Ok(Changed {
        message: reread(conn, id)?,
        changed: true,
        files,
    })
}

/// The sender replaces the text of `id`; the text it had is sealed as the previous version. In
/// a batch that logs (schema v26) the edit is judged on the message as it will be and appended
/// to the log; the move seals and writes it ([`apply_logged`]).
pub(crate) fn edit(
    conn: &Connection,
    seqs: &mut Seqs,
    caller: &User,
    id: &MessageId,
    request: &EditRequest,
    client_id: Option<&ClientId>,
    windows: MessageWindows,
) -> Result<Changed, StoreError> {
    let logging = seqs.log_sends();
    let message = if logging {
        own_as_it_will_be(conn, caller, id)?
    } else {
        own(conn, caller, id)?
    };
    if message.is_retracted() {
        return Err(StoreError::conflict(
            "This message was unsent; there is nothing left to edit.",
        ));
    }
    refuse_emergency(&message, "edited")?;
    if let Some(client_id) = client_id {
        let seen: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM message_versions WHERE message_id = ?1 \
                 AND client_id = ?2 AND change = 'EDIT')",
            )?
            .query_row(params![id.as_str(), client_id.as_str()], |r| r.get(0))?;
        if seen || (logging && projection::edit_logged(conn, id.as_str(), client_id.as_str())?) {
            return Ok(Changed::same(message));
        }
    }
    if request.content == message.content {
        return Ok(Changed::same(message));
    }
    if request.base_version != message.version() {
        return Err(StoreError::Stale(format!(
            "The message changed since you began editing (it is at version {} now); \
                 edit the text as it is now.",
            message.version()
        )));
    }
    let now = now_ms();
    check_window(&message, windows.edit_secs, now, "edit")?;
    if message.version() > windows.max_edits {
        return Err(StoreError::conflict(format!(
            "This message was already edited {} times, the most allowed.",
            windows.max_edits
        )));
    }
    let edit = LoggedEdit {
        seq: seqs.next().0,
        id: id.clone(),
        at: now,
        editor: caller.id.as_str().to_owned(),
        content: request.content.clone(),
        client_id: client_id.map(|c| c.as_str().to_owned()),
    };
    let message = if logging {
        projection::log_edit(conn, &edit)?;
        edited(message, &edit)
    } else {
        apply(conn, message, &edit)?
    };
    audit::record(
        conn,
        &Event::by(&caller.id, Action::MessageEdit)
            .conversation(&message.conversation())
            .subject(id.as_str())
            .detail(serde_json::json!({ "version": message.version() })),
    )?;
    Ok(Changed {
        message,
        changed: true,
        files: Vec::new(),
    })
}

/// `message` with `edit` applied, as its row will read.
fn edited(mut message: Message, edit: &LoggedEdit) -> Message {
    let at = from_ms(edit.at);
    message.edited = Some(Edited {
        at,
        version: message.version() + 1,
    });
    message.content.clone_from(&edit.content);
    message.updated_at = message.updated_at.max(at);
    message
}

/// Writes `edit` of `message` (its row as it is): seals the text it replaces, then the row and
/// a stored notification's preview. The row's `updated_at` and `change_seq` only go up: a move
/// applies a slice's receipts first, and one of them may be newer than the edit.
fn apply(conn: &Connection, message: Message, edit: &LoggedEdit) -> rusqlite::Result<Message> {
    seal(
        conn,
        &message,
        "EDIT",
        &edit.editor,
        edit.client_id.as_deref(),
        None,
        edit.at,
    )?;
    conn.prepare_cached(
        "UPDATE messages SET content = ?2, edited_at = ?3, updated_at = max(updated_at, ?3), \
         version = version + 1, change_seq = max(change_seq, ?4) WHERE id = ?1",
    )?
    .execute(params![edit.id.as_str(), edit.content, edit.at, edit.seq])?;
    let message = edited(message, edit);
    // A derived notification shows the current text by itself; a stored one is rewritten.
    conn.prepare_cached("UPDATE notifications SET body = ?2 WHERE message_id = ?1")?
        .execute(params![edit.id.as_str(), notifications::preview(&message)])?;
    Ok(message)
}

/// Applies a logged edit in a move (`projection::apply`): its message is in `messages` by then,
/// as the edit found it (anything else that changes a message's text moves the log first).
pub(crate) fn apply_logged(conn: &Connection, edit: &LoggedEdit) -> rusqlite::Result<()> {
    apply(conn, reread(conn, &edit.id)?, edit).map(drop)
}

/// Every version of `id`'s text, oldest first, for either participant (with the conversation,
/// for the audit row). A retracted message shows none: its text is sealed.
pub(crate) fn list(
    conn: &Connection,
    caller: &User,
    id: &MessageId,
) -> Result<(MessageVersions, ConversationKey), StoreError> {
    let message = visible(conn, caller, id)?;
    let mut versions = Vec::new();
    if !message.is_retracted() {
        let mut stmt = conn.prepare_cached(
            "SELECT version, content, written_at FROM message_versions \
             WHERE message_id = ?1 AND change = 'EDIT' ORDER BY version",
        )?;
        for row in stmt.query_map([id.as_str()], |r| {
            Ok(MessageVersion {
                version: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                content: r.get(1)?,
                at: from_ms(r.get(2)?),
            })
        })? {
            versions.push(row?);
        }
        versions.push(MessageVersion {
            version: message.version(),
            content: message.content.clone(),
            at: message.edited.map_or(message.created_at, |e| e.at),
        });
    }
    let key = message.conversation();
    Ok((
        MessageVersions {
            message_id: message.id,
            versions,
        },
        key,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::{messages, receipts, users};
    use clinic_protocol::{MessageStatus, NewMessage};

    const WINDOWS: MessageWindows = MessageWindows {
        unsend_secs: 86_400,
        retract_secs: 86_400,
        edit_secs: 86_400,
        max_edits: 10,
    };

    fn text(patient: &User, doctor: &User, content: &str) -> NewMessage {
        NewMessage {
            client_id: None,
            patient_id: patient.id.clone(),
            doctor_id: doctor.id.clone(),
            content: content.to_owned(),
            is_emergency: false,
            file_url: None,
            file_name: None,
        }
    }

    fn to(content: &str, base_version: u32) -> EditRequest {
        EditRequest {
            content: content.to_owned(),
            base_version,
        }
    }

    fn client(id: &str) -> ClientId {
        ClientId::from(id.to_owned())
    }

    /// Edits in a batch that logs (schema v26) are judged on the message as it will be (a
    /// logged send, earlier logged edits, logged receipts), answer with it, and the move leaves
    /// the row, its sealed versions and its change seq as that answer and the log's order say.
    #[test]
    fn a_logged_edit_becomes_the_row_and_versions_it_answered() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn =
            crate::store::open_write(&dir.path().join("clinic.db"), Synchronous::Full).unwrap();
        let patient = users::for_test(&conn, "pat", Role::Patient);
        let doctor = users::for_test(&conn, "doc", Role::Doctor);
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let send = |seqs: &mut Seqs, content: &str, id: &str| {
            messages::send(
                &tx,
                seqs,
                &patient,
                &text(&patient, &doctor, content),
                &client(id),
            )
            .unwrap()
            .message
        };
        let first = send(&mut seqs, "first", "c-1");
        let other = send(&mut seqs, "other", "c-2");
        let edit_as = |seqs: &mut Seqs, who: &User, id: &MessageId, r: EditRequest, c: &str| {
            edit(&tx, seqs, who, id, &r, Some(&client(c)), WINDOWS)
        };
        let e1 = edit_as(&mut seqs, &patient, &first.id, to("second", 1), "e-1").unwrap();
        assert!(e1.changed);
        assert_eq!(
            (e1.message.version(), e1.message.content.as_str()),
            (2, "second")
        );
        // The doctor reads it between the two edits; the second edit sees the read.
        receipts::mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&first.id)).unwrap();
        let e2 = edit_as(&mut seqs, &patient, &first.id, to("third", 2), "e-2").unwrap();
        assert_eq!(
            (e2.message.version(), e2.message.status),
            (3, MessageStatus::Read)
        );
        // A repeat of the first edit's clientId while both wait: the message as it will be.
        let again = edit_as(&mut seqs, &patient, &first.id, to("second", 1), "e-1").unwrap();
        assert_eq!((again.changed, &again.message), (false, &e2.message));
        let stale = edit_as(&mut seqs, &patient, &first.id, to("fourth", 2), "e-3");
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        let theirs = edit_as(&mut seqs, &doctor, &first.id, to("fourth", 3), "e-4");
        assert!(
            matches!(theirs, Err(StoreError::Forbidden(_))),
            "{theirs:?}"
        );
        // The other message: edited, then read, so the read is its newest change.
        edit_as(
            &mut seqs,
            &patient,
            &other.id,
            to("other, edited", 1),
            "e-5",
        )
        .unwrap();
        receipts::mark_read(&tx, &mut seqs, &doctor.id, std::slice::from_ref(&other.id)).unwrap();
        let read_other: i64 = tx
            .query_row("SELECT max(seq) FROM event_log", [], |r| r.get(0))
            .unwrap();
        let kinds: Vec<String> = tx
            .prepare("SELECT kind FROM event_log ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            kinds,
            ["SEND", "SEND", "EDIT", "READ", "EDIT", "EDIT", "READ"]
        );
        let moved = projection::apply_all(&tx).unwrap().unwrap();
        assert_eq!(moved.rows, 7);
        assert_eq!(
            messages::by_id(&tx, &first.id).unwrap().unwrap(),
            e2.message
        );
        let (versions, _) = list(&tx, &doctor, &first.id).unwrap();
        let texts: Vec<(u32, &str)> = versions
            .versions
            .iter()
            .map(|v| (v.version, v.content.as_str()))
            .collect();
        assert_eq!(texts, [(1, "first"), (2, "second"), (3, "third")]);
        let sealed: Vec<(String, Option<String>)> = tx
            .prepare(
                "SELECT actor_id, client_id FROM message_versions WHERE message_id = ?1 \
                 ORDER BY version",
            )
            .unwrap()
            .query_map([first.id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let by_patient = |c: &str| (patient.id.as_str().to_owned(), Some(c.to_owned()));
        assert_eq!(sealed, [by_patient("e-1"), by_patient("e-2")]);
        // Each row's change seq is its newest change's, though the move applies a slice's
        // receipts before its edits.
        let change_seq = |id: &MessageId| -> i64 {
            tx.query_row(
                "SELECT change_seq FROM messages WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(change_seq(&first.id), read_other - 2);
        assert_eq!(change_seq(&other.id), read_other);
        let other_now = messages::by_id(&tx, &other.id).unwrap().unwrap();
        assert_eq!(
            (other_now.content.as_str(), other_now.status),
            ("other, edited", MessageStatus::Read)
        );
        // Queued for the search index by the move, as a direct edit would be.
        let queued: i64 = tx
            .query_row(
                "SELECT count(*) FROM search_changes WHERE seq = ?1",
                [first.seq.0],
                |r| r.get(0),
            )
            .unwrap();
        assert!(queued >= 3, "a send and two edits: {queued}");
    }
}
