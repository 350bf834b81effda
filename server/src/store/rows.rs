//! Mapping between SQLite rows and wire records (enum spellings, times, flags).

use crate::time::from_ms;
use clinic_protocol::{
    ConversationKey, Edited, Emergency, EmergencyState, EmergencyTransition, Message,
    MessageStatus, MessageType, Notification, NotificationKind, Role, Seq, Tombstone,
    TransitionKind, User,
};
use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

/// Columns of `messages` in the order [`message`] reads them, as a literal for `concat!`: the
/// statements of the send path are constants, so looking one up in the connection's statement
/// cache builds no string.
macro_rules! message_columns {
    () => {
        "id, seq, client_id, patient_id, doctor_id, sender_id, content, message_type, status, \
         file_url, file_name, file_size, file_type, is_emergency, resolved_at, created_at, \
         updated_at, delivered_at, read_at, change_seq, retracted_at, edited_at, version, \
         written_at"
    };
}
pub(crate) use message_columns;
pub(crate) const MESSAGE_COLUMNS: &str = message_columns!();

/// `FROM` clause and columns of an emergency in the order [`emergency`] reads them.
pub(crate) const EMERGENCY_SELECT: &str = "SELECT e.id, e.message_id, e.patient_id, p.name, \
     e.doctor_id, e.state, e.raised_at, e.escalated_at, e.acknowledged_by, a.name, \
     e.acknowledged_at, e.resolved_by, e.resolved_at, e.resolution_note, e.change_seq, \
     e.alerted_at, e.alerted_doctors, m.written_at, r.name, e.reopened_at \
     FROM emergencies e JOIN users p ON p.id = e.patient_id \
     LEFT JOIN users a ON a.id = e.acknowledged_by \
     LEFT JOIN users r ON r.id = e.resolved_by \
     LEFT JOIN messages m ON m.id = e.message_id";

pub(crate) const USER_COLUMNS: &str = "id, username, name, role";

/// A text column holding one of our upper-case enum spellings.
struct Text<T>(T);

macro_rules! text_enum {
    ($ty:ty, $to:ident, { $($variant:path => $text:literal),+ $(,)? }) => {
        pub(crate) fn $to(value: $ty) -> &'static str {
            match value { $($variant => $text),+ }
        }

        impl FromSql for Text<$ty> {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                match value.as_str()? {
                    $($text => Ok(Text($variant)),)+
                    _ => Err(FromSqlError::InvalidType),
                }
            }
        }
    };
}

text_enum!(Role, role_text, {
    Role::Patient => "PATIENT", Role::Doctor => "DOCTOR", Role::Admin => "ADMIN",
});
text_enum!(MessageType, message_type_text, {
    MessageType::Regular => "REGULAR", MessageType::Emergency => "EMERGENCY",
    MessageType::File => "FILE", MessageType::System => "SYSTEM",
});
text_enum!(MessageStatus, status_text, {
    MessageStatus::Failed => "FAILED", MessageStatus::Sending => "SENDING",
    MessageStatus::Sent => "SENT", MessageStatus::Delivered => "DELIVERED",
    MessageStatus::Read => "READ",
});
text_enum!(EmergencyState, state_text, {
    EmergencyState::Raised => "RAISED", EmergencyState::Acknowledged => "ACKNOWLEDGED",
    EmergencyState::Resolved => "RESOLVED",
});
text_enum!(TransitionKind, transition_text, {
    TransitionKind::Raised => "RAISED", TransitionKind::Alerted => "ALERTED",
    TransitionKind::Acknowledged => "ACKNOWLEDGED", TransitionKind::Escalated => "ESCALATED",
    TransitionKind::Resolved => "RESOLVED", TransitionKind::Other => "OTHER",
});
text_enum!(NotificationKind, kind_text, {
    NotificationKind::NewMessage => "NEW_MESSAGE", NotificationKind::Emergency => "EMERGENCY",
    NotificationKind::EmergencyUpdate => "EMERGENCY_UPDATE", NotificationKind::Other => "OTHER",
});

fn time(row: &Row<'_>, index: usize) -> rusqlite::Result<chrono::DateTime<chrono::Utc>> {
    Ok(from_ms(row.get(index)?))
}

fn opt_time(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(row.get::<_, Option<i64>>(index)?.map(from_ms))
}

/// A message and its change sequence.
pub(crate) fn message(row: &Row<'_>) -> rusqlite::Result<(Message, Seq)> {
    let sender_id: clinic_protocol::UserId = row.get::<_, String>(5)?.into();
    let message = Message {
        id: row.get::<_, String>(0)?.into(),
        seq: Seq(row.get(1)?),
        client_id: row.get::<_, String>(2)?.into(),
        patient_id: row.get::<_, String>(3)?.into(),
        doctor_id: row.get::<_, String>(4)?.into(),
        sender_id: sender_id.clone(),
        content: row.get(6)?,
        message_type: row.get::<_, Text<MessageType>>(7)?.0,
        status: row.get::<_, Text<MessageStatus>>(8)?.0,
        file_url: row.get(9)?,
        file_name: row.get(10)?,
        file_size: row.get::<_, Option<i64>>(11)?.map(|n| n.max(0) as u64),
        file_type: row.get(12)?,
        is_emergency: row.get(13)?,
        resolved_at: opt_time(row, 14)?,
        created_at: time(row, 15)?,
        updated_at: time(row, 16)?,
        delivered_at: opt_time(row, 17)?,
        read_at: opt_time(row, 18)?,
        // Only the sender can take a message back.
        retracted: opt_time(row, 20)?.map(|at| Tombstone { by: sender_id, at }),
        edited: match opt_time(row, 21)? {
            Some(at) => Some(Edited {
                at,
                version: u32::try_from(row.get::<_, i64>(22)?).unwrap_or(u32::MAX),
            }),
            None => None,
        },
        written_at: opt_time(row, 23)?,
    };
    Ok((message, Seq(row.get(19)?)))
}

/// An emergency and its change sequence.
pub(crate) fn emergency(row: &Row<'_>) -> rusqlite::Result<(Emergency, Seq)> {
    let emergency = Emergency {
        id: row.get::<_, String>(0)?.into(),
        message_id: row.get::<_, String>(1)?.into(),
        patient_id: row.get::<_, String>(2)?.into(),
        patient_name: row.get(3)?,
        doctor_id: row.get::<_, String>(4)?.into(),
        state: row.get::<_, Text<EmergencyState>>(5)?.0,
        raised_at: time(row, 6)?,
        written_at: opt_time(row, 17)?,
        reopened_at: opt_time(row, 19)?,
        escalated_at: opt_time(row, 7)?,
        alerted_at: opt_time(row, 15)?,
        alerted_doctors: row.get::<_, i64>(16)?.clamp(0, i64::from(u32::MAX)) as u32,
        acknowledged_by: row.get::<_, Option<String>>(8)?.map(Into::into),
        acknowledged_by_name: row.get(9)?,
        acknowledged_at: opt_time(row, 10)?,
        resolved_by: row.get::<_, Option<String>>(11)?.map(Into::into),
        resolved_by_name: row.get(18)?,
        resolved_at: opt_time(row, 12)?,
        resolution_note: row.get(13)?,
    };
    Ok((emergency, Seq(row.get(14)?)))
}

/// Columns of an emergency's transitions (with the actor's name) in the order [`transition`]
/// reads them.
pub(crate) const TRANSITION_SELECT: &str = "SELECT t.kind, t.actor_id, u.name, t.devices, \
     t.note, t.at FROM emergency_transitions t LEFT JOIN users u ON u.id = t.actor_id";

pub(crate) fn transition(row: &Row<'_>) -> rusqlite::Result<EmergencyTransition> {
    Ok(EmergencyTransition {
        kind: row.get::<_, Text<TransitionKind>>(0)?.0,
        actor_id: row.get::<_, Option<String>>(1)?.map(Into::into),
        actor_name: row.get(2)?,
        devices: row
            .get::<_, Option<i64>>(3)?
            .map(|n| n.clamp(0, i64::from(u32::MAX)) as u32),
        note: row.get(4)?,
        at: time(row, 5)?,
    })
}

/// A conversation's key from the first two columns (patient, doctor).
pub(crate) fn conversation_key(row: &Row<'_>) -> rusqlite::Result<ConversationKey> {
    Ok(ConversationKey::new(
        row.get::<_, String>(0)?,
        row.get::<_, String>(1)?,
    ))
}

pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get::<_, String>(0)?.into(),
        username: row.get(1)?,
        name: row.get(2)?,
        role: row.get::<_, Text<Role>>(3)?.0,
    })
}

/// Columns of `notifications` in the order [`notification`] reads them (a literal for
/// `concat!`, like [`message_columns`]).
macro_rules! notification_columns {
    () => {
        "id, user_id, kind, title, body, message_id, patient_id, doctor_id, read, created_at"
    };
}
pub(crate) use notification_columns;
pub(crate) const NOTIFICATION_COLUMNS: &str = notification_columns!();

pub(crate) fn notification(row: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: row.get::<_, String>(0)?.into(),
        user_id: row.get::<_, String>(1)?.into(),
        kind: row.get::<_, Text<NotificationKind>>(2)?.0,
        title: row.get(3)?,
        body: row.get(4)?,
        message_id: row.get::<_, Option<String>>(5)?.map(Into::into),
        patient_id: row.get::<_, Option<String>>(6)?.map(Into::into),
        doctor_id: row.get::<_, Option<String>>(7)?.map(Into::into),
        read: row.get(8)?,
        created_at: time(row, 9)?,
    })
}

/// A fresh random id with a short prefix saying what it names (`m-`, `e-`, `u-`, `n-`).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// `items` as a JSON array for one statement over many rows (`json_each(?)`), instead of a
/// statement per row.
pub(crate) fn json_param(items: &impl serde::Serialize) -> Result<String, super::StoreError> {
    serde_json::to_string(items).map_err(|e| super::StoreError::internal(e.to_string()))
}
