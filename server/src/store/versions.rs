//! Unsend / retract and edit in SQLite: the rules and refusals, the sealed earlier versions
//! (`message_versions`, append-only), and the version list both participants may read.
//!
//! `retract` and `edit` are each one function running in one writer transaction: the message
//! row, its sealed version, its notifications and its upload change together or not at all. In
//! a batch that logs (schema v26) that transaction appends the change to the log, and the move
//! that applies it writes the row, the version and the notifications together
//! ([`apply_logged`]); a logged retraction takes the message's uploads in its own transaction
//! ([`drop_uploads`]), before the move, so its file is gone when it is answered.

use super::projection::{self, Change, LoggedChange};
use super::{Seqs, messages, notifications};
use crate::audit::{self, Action, Event};
use crate::store::StoreError;
use crate::time::{from_ms, now_ms};
use chrono::{DateTime, Utc};
use clinic_protocol::rest::{EditRequest, MessageVersions, RetractRequest};
use clinic_protocol::{
    ClientId, ConversationKey, Edited, Message, MessageId, MessageVersion, MessageWindows, Role,
    Tombstone, User, limits,
};
use rusqlite::{Connection, params};

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
    messages::by_id(conn, id)?
        .filter(|m| m.conversation().has_participant(&caller.id))
        .ok_or_else(|| StoreError::not_found("There is no such message."))
}

/// The message `id` if `caller` sent it; the other participant's message is 403.
fn own(conn: &Connection, caller: &User, id: &MessageId) -> Result<Message, StoreError> {
    mine(visible(conn, caller, id)?, caller)
}

/// [`own`], or in a batch that logs ([`own_as_it_will_be`]) the message as it will be.
fn own_in_batch(
    conn: &Connection,
    logging: bool,
    caller: &User,
    id: &MessageId,
) -> Result<Message, StoreError> {
    if logging {
        own_as_it_will_be(conn, caller, id)
    } else {
        own(conn, caller, id)
    }
}

/// [`own`] in a batch that logs: the message as it will be once the log has moved (its row or
/// its logged send, with the receipts, edits and retractions waiting for it).
fn own_as_it_will_be(
    conn: &Connection,
    caller: &User,
    id: &MessageId,
) -> Result<Message, StoreError> {
    let mut message = match messages::by_id(conn, id)? {
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

/// The sender takes `id` back: its text, file and notification previews go, a tombstone stays,
/// the original is sealed. A second retraction answers the same tombstone. In a batch that logs
/// (schema v26) it is judged on the message as it will be and appended to the log; the move
/// writes it ([`apply_logged`]). The message's uploads go in this transaction either way
/// ([`drop_uploads`]), so that nobody downloads the file once the retraction is answered.
pub(crate) fn retract(
    conn: &Connection,
    seqs: &mut Seqs,
    caller: &User,
    id: &MessageId,
    request: &RetractRequest,
    client_id: Option<&ClientId>,
    windows: MessageWindows,
) -> Result<Changed, StoreError> {
    let logging = seqs.log_sends();
    let message = own_in_batch(conn, logging, caller, id)?;
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
    let change = Change::Retract {
        reason: request.reason.clone(),
        misdirected: request.misdirected,
    };
    let change = LoggedChange::new(seqs, id, now, caller, client_id, change);
    let (message, files) = if logging {
        projection::log_change(conn, &change)?;
        // Only a message in `messages` has a file (a logged send never does); the move finds
        // its uploads gone and dooms nothing more.
        let files = if message.file_url.is_some() {
            drop_uploads(conn, id.as_str())?
        } else {
            Vec::new()
        };
        (changed(message, &change), files)
    } else {
        apply(conn, message, &change)?
    };
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
        message,
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
    let message = own_in_batch(conn, logging, caller, id)?;
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
    let change = Change::Edit {
        content: request.content.clone(),
    };
    let change = LoggedChange::new(seqs, id, now, caller, client_id, change);
    let message = if logging {
        projection::log_change(conn, &change)?;
        changed(message, &change)
    } else {
        apply(conn, message, &change)?.0
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

/// `message` with `change` applied, as its row will read.
fn changed(mut message: Message, change: &LoggedChange) -> Message {
    let at = from_ms(change.at);
    match &change.change {
        Change::Edit { content } => {
            message.edited = Some(Edited {
                at,
                version: message.version() + 1,
            });
            message.content.clone_from(content);
            message.updated_at = message.updated_at.max(at);
        }
        Change::Retract { .. } => tombstone(&mut message, at),
    }
    message
}

/// `m` retracted at `at`, as its row will read: text and file gone, a tombstone by its sender.
pub(crate) fn tombstone(m: &mut Message, at: DateTime<Utc>) {
    m.content.clear();
    m.file_url = None;
    m.file_name = None;
    m.file_size = None;
    m.file_type = None;
    m.retracted = Some(Tombstone {
        by: m.sender_id.clone(),
        at,
    });
    m.updated_at = m.updated_at.max(at);
}

/// Writes `change` of `message` (its row as it is): seals the text it replaces, then the row,
/// and a stored notification (rewritten for an edit, deleted with a retraction, as are the
/// retracted message's uploads). The row's `updated_at` and `change_seq` only go up: a move
/// applies a slice's receipts first, and one of them may be newer than the change. Returns the
/// message as written and the content files (by sha256) whose last upload went with it, to
/// remove after the commit.
fn apply(
    conn: &Connection,
    message: Message,
    change: &LoggedChange,
) -> rusqlite::Result<(Message, Vec<String>)> {
    let id = change.id.as_str();
    let (kind, retract) = match &change.change {
        Change::Edit { .. } => ("EDIT", None),
        Change::Retract {
            reason,
            misdirected,
        } => (
            "RETRACT",
            Some(RetractRequest {
                reason: reason.clone(),
                misdirected: *misdirected,
            }),
        ),
    };
    seal(
        conn,
        &message,
        kind,
        &change.actor,
        change.client_id.as_deref(),
        retract.as_ref(),
        change.at,
    )?;
    let message = changed(message, change);
    let doomed = if let Change::Edit { content } = &change.change {
        conn.prepare_cached(
            "UPDATE messages SET content = ?2, edited_at = ?3, \
             updated_at = max(updated_at, ?3), version = version + 1, \
             change_seq = max(change_seq, ?4) WHERE id = ?1",
        )?
        .execute(params![id, content, change.at, change.seq])?;
        // A derived notification shows the current text by itself; a stored one is rewritten.
        conn.prepare_cached("UPDATE notifications SET body = ?2 WHERE message_id = ?1")?
            .execute(params![id, notifications::preview(&message)])?;
        Vec::new()
    } else {
        conn.prepare_cached(
            "UPDATE messages SET content = '', file_url = NULL, file_name = NULL, \
             file_size = NULL, file_type = NULL, retracted_at = ?2, \
             updated_at = max(updated_at, ?2), change_seq = max(change_seq, ?3), notice = NULL \
             WHERE id = ?1",
        )?
        .execute(params![id, change.at, change.seq])?;
        // A stored notification (emergencies, messages from before schema v14) goes with it; a
        // derived one went with `notice = NULL` above.
        conn.prepare_cached("DELETE FROM notifications WHERE message_id = ?1")?
            .execute([id])?;
        drop_uploads(conn, id)?
    };
    Ok((message, doomed))
}

/// Deletes the uploads of retracted message `id` and returns the content files (by sha256) no
/// other upload uses, doomed in this transaction like a purge's, to remove after the commit.
/// Once the uploads are gone the file cannot be downloaded, whatever the message row still
/// says until the log has moved.
fn drop_uploads(conn: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let files = conn
        .prepare_cached("DELETE FROM uploads WHERE message_id = ?1 RETURNING sha256")?
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    super::retention::doom_unreferenced(conn, files)
}

/// Applies a logged edit or retraction in a move (`projection::apply`): its message is in
/// `messages` by then, as the change found it (anything else that changes a message's text
/// moves the log first), unless the move left its send out.
pub(crate) fn apply_logged(conn: &Connection, change: &LoggedChange) -> rusqlite::Result<()> {
    match messages::by_id(conn, &change.id)? {
        Some(message) => apply(conn, message, change).map(drop),
        None => {
            // Only a change of a logged send the move left out as a repeat (impossible while
            // the writer's keys are complete: `projection::drop_repeats`). Failing here would
            // stop every later move, as that repeat would have.
            tracing::error!(
                message = change.id.as_str(),
                "a logged change names a message that was never stored; left out of the move"
            );
            Ok(())
        }
    }
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
mod tests;
