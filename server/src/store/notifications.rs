//! In-app notifications in SQLite: one row per recipient, marked read by its owner.

use super::rows::{self, NOTIFICATION_COLUMNS, notification_columns};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use clinic_protocol::{
    Message, MessageId, Notification, NotificationId, NotificationKind, Role, UserId,
};
use rusqlite::{Connection, params};

/// Longest notification body: a preview of the message, not the whole of it.
const PREVIEW_CHARS: usize = 140;

/// A notification about `message` for `user`.
pub(crate) fn insert(
    conn: &Connection,
    user: &UserId,
    kind: NotificationKind,
    title: &str,
    message: &Message,
) -> Result<Notification, StoreError> {
    insert_raw(
        conn,
        user,
        kind,
        title,
        &preview(message),
        Some(&message.id),
        Some((&message.patient_id, &message.doctor_id)),
        message.created_at,
    )
}

/// What a notification shows of `message`.
pub(crate) fn preview(message: &Message) -> String {
    match &message.file_name {
        Some(name) if message.content.trim().is_empty() => format!("File: {name}"),
        _ => message.content.chars().take(PREVIEW_CHARS).collect(),
    }
}

/// The in-app notifications of an emergency, one per enabled doctor. Written in a command of
/// their own after the emergency's commit, so that the alert does not wait for them; should the
/// server stop in between, the emergency itself is safe and alerts again on restart.
pub(crate) fn for_emergency(
    conn: &Connection,
    message: &Message,
    patient_name: &str,
) -> Result<Vec<Notification>, StoreError> {
    let title = format!("Emergency from {patient_name}");
    super::users::active_ids_with_role(conn, Role::Doctor)?
        .iter()
        .map(|doctor| insert(conn, doctor, NotificationKind::Emergency, &title, message))
        .collect()
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

/// The newest notifications of `user`, newest first.
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
    let list = stmt
        .query_map(params![user.as_str(), limit], rows::notification)?
        .collect::<Result<_, _>>()?;
    Ok(list)
}

/// Marks the caller's own notifications read; returns how many changed.
pub(crate) fn mark_read(
    conn: &Connection,
    user: &UserId,
    ids: &[NotificationId],
) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE notifications SET read = 1 WHERE id = ?1 AND user_id = ?2 AND read = 0",
    )?;
    let mut changed = 0;
    for id in ids {
        changed += stmt.execute(params![id.as_str(), user.as_str()])?;
    }
    Ok(changed)
}
