//! Messages in SQLite: idempotent send, read and delivered receipts, history pages.

use super::peers::{self, Peer};
use super::rows::{self, MESSAGE_COLUMNS, message_columns};
use super::{Seqs, Writer, emergencies, notifications, projection, uploads};
use crate::store::StoreError;
use crate::time::{from_ms, now_ms};
use clinic_protocol::{
    ClientId, ConversationKey, Message, MessageId, MessageStatus, MessageType, NewMessage,
    Notification, Role, User, UserId, limits,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Longest `fileUrl` accepted.
const MAX_FILE_URL_BYTES: usize = 2048;

/// Checks a sender's `clientId` for a send, an edit or an unsend: 1 to 128 bytes, and no
/// spaces, control or invisible characters (it is stored, and answered back in an ack or a
/// refusal, where an override could reorder what a reader of a log sees).
pub(crate) fn check_client_id(client_id: &ClientId) -> Result<(), StoreError> {
    let id = client_id.as_str();
    if id.is_empty() {
        return Err(StoreError::bad_input("clientId must not be empty"));
    }
    if id.len() > limits::MAX_CLIENT_ID_BYTES {
        return Err(StoreError::too_large(format!(
            "clientId is longer than {} bytes",
            limits::MAX_CLIENT_ID_BYTES
        )));
    }
    if id.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || crate::text::is_format(c)
            || clinic_protocol::text::is_filler(c)
    }) {
        return Err(StoreError::bad_input(
            "clientId must not hold spaces, control or invisible characters",
        ));
    }
    Ok(())
}

/// Checks the sizes of a send before it reaches the writer.
pub(crate) fn validate(new: &NewMessage, client_id: &ClientId) -> Result<(), StoreError> {
    check_client_id(client_id)?;
    if new.content.len() > limits::MAX_CONTENT_BYTES {
        return Err(StoreError::too_large(format!(
            "content is longer than {} bytes",
            limits::MAX_CONTENT_BYTES
        )));
    }
    if crate::text::is_blank(&new.content) && new.file_url.is_none() {
        return Err(StoreError::bad_input("content must not be empty"));
    }
    crate::text::check("content", &new.content)?;
    if new
        .file_name
        .as_ref()
        .is_some_and(|n| n.len() > limits::MAX_FILE_NAME_BYTES)
    {
        return Err(StoreError::too_large("fileName is too long"));
    }
    if new
        .file_url
        .as_ref()
        .is_some_and(|u| u.len() > MAX_FILE_URL_BYTES)
    {
        return Err(StoreError::too_large("fileUrl is too long"));
    }
    Ok(())
}

/// Checks that `caller` is a participant of `key` and that `key` names a real patient and a real
/// doctor. Returns the other participant's account (held in memory by the writer: `peers`).
pub(crate) fn check_access(
    conn: &Connection,
    caller: &User,
    key: &ConversationKey,
) -> Result<Arc<Peer>, StoreError> {
    let caller_side_ok = match caller.role {
        Role::Patient => key.patient_id == caller.id,
        Role::Doctor => key.doctor_id == caller.id,
        Role::Admin => false,
    };
    if !caller_side_ok {
        return Err(StoreError::forbidden(
            "you are not a participant of this conversation",
        ));
    }
    let (other_id, other_role) = match caller.role {
        Role::Patient => (&key.doctor_id, Role::Doctor),
        _ => (&key.patient_id, Role::Patient),
    };
    match peers::lookup(conn, other_id)? {
        Some(other) if other.user.role == other_role && !other.disabled => Ok(other),
        _ => Err(StoreError::not_found(format!(
            "no such {}",
            other_role.as_str().to_lowercase()
        ))),
    }
}

/// The doctor of `key`, if `caller` is its patient and that doctor's account is disabled (a
/// doctor who left the clinic).
fn departed_doctor(
    conn: &Connection,
    caller: &User,
    key: &ConversationKey,
) -> Result<Option<Arc<Peer>>, StoreError> {
    if caller.role != Role::Patient || key.patient_id != caller.id {
        return Ok(None);
    }
    Ok(peers::lookup(conn, &key.doctor_id)?
        .filter(|doctor| doctor.user.role == Role::Doctor && doctor.disabled))
}

/// What a send did.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub message: Message,
    /// False for a repeated `clientId` (the stored message is returned, nothing else happens).
    pub created: bool,
    /// This message started the conversation (the two now share one, for presence).
    pub new_conversation: bool,
    /// For an emergency message: the emergency it raised or joined.
    pub emergency: Option<emergencies::Raised>,
    pub notifications: Vec<Notification>,
}

fn by_client_id(
    conn: &Connection,
    seqs: &Seqs,
    sender: &UserId,
    client_id: &ClientId,
) -> Result<Option<Message>, StoreError> {
    // Hot path (every send, nearly always finding nothing): the log's keys are in memory, and
    // `messages` is asked for a seq first, since a statement of every message column costs
    // several times more to run even when it finds no row.
    if let Some(seq) = seqs.logged().get(sender.as_str(), client_id.as_str()) {
        // Moved since, if not in the log (the writer drops the key when it hears of the move).
        let found = match projection::by_seq(conn, seq)? {
            Some(logged) => Some(logged),
            None => by_seq(conn, seq)?,
        };
        // A key is only ever a hint: the row must be the sender's with that clientId.
        if let Some(message) = found
            && message.sender_id == *sender
            && message.client_id == *client_id
        {
            return as_it_will_be(conn, seqs, message).map(Some);
        }
    }
    let stored: Option<i64> = conn
        .prepare_cached("SELECT seq FROM messages WHERE sender_id = ?1 AND client_id = ?2")?
        .query_row(params![sender.as_str(), client_id.as_str()], |r| r.get(0))
        .optional()?;
    match stored {
        Some(seq) => match by_seq(conn, seq)? {
            Some(message) => as_it_will_be(conn, seqs, message).map(Some),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

/// A repeated send's message with the receipts and edits still logged for it (only a batch that logs
/// can find any: every other batch moved the log first).
fn as_it_will_be(conn: &Connection, seqs: &Seqs, mut m: Message) -> Result<Message, StoreError> {
    if seqs.log_sends() {
        projection::with_logged_changes(conn, &mut m)?;
    }
    Ok(m)
}

/// The stored message `seq`.
fn by_seq(conn: &Connection, seq: i64) -> Result<Option<Message>, StoreError> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE seq = ?1"
        ))?
        .query_row([seq], rows::message)
        .optional()?
        .map(|(m, _)| m))
}

/// The stored message `id` (not a logged send), whoever may see it.
pub(crate) fn by_id(conn: &Connection, id: &MessageId) -> rusqlite::Result<Option<Message>> {
    Ok(conn
        .query_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
            [id.as_str()],
            rows::message,
        )
        .optional()?
        .map(|(m, _)| m))
}

/// Queues [`send`] on the writer. A send makes every refusal before its first write, so it runs
/// without a savepoint (see `writer::Guard`), and a text one (an emergency too, schema v27) may
/// go to the log; an emergency with a file raises or joins one with the file attached over
/// several statements, and keeps a savepoint.
pub(crate) async fn queue_send(
    writer: &Writer,
    sender: User,
    new: NewMessage,
    client_id: ClientId,
) -> Result<oneshot::Receiver<Result<Sent, StoreError>>, StoreError> {
    let emergency = new.is_emergency;
    let text = new.file_url.is_none();
    let send =
        move |conn: &Connection, seqs: &mut Seqs| send(conn, seqs, &sender, &new, &client_id);
    if text {
        writer.submit_append(send).await
    } else if emergency {
        writer.submit(send).await
    } else {
        writer.submit_validated(send).await
    }
}

/// When a message the server takes at `now` (ms) was written, if its send says it waited on the
/// sender's device for longer than [`limits::WRITTEN_APART_MS`]; a wait longer than
/// [`limits::MAX_HELD_MS`] is no clock's and is ignored.
fn written_at(now: i64, held_ms: Option<u64>) -> Option<chrono::DateTime<chrono::Utc>> {
    let held =
        held_ms.filter(|held| *held > limits::WRITTEN_APART_MS && *held <= limits::MAX_HELD_MS)?;
    Some(from_ms(now - i64::try_from(held).ok()?))
}

/// Stores a message (idempotent on `(sender, clientId)`), its emergency and its notifications.
/// Every refusal comes before the first write (see [`queue_send`]).
pub(crate) fn send(
    conn: &Connection,
    seqs: &mut Seqs,
    sender: &User,
    new: &NewMessage,
    client_id: &ClientId,
) -> Result<Sent, StoreError> {
    if let Some(message) = by_client_id(conn, seqs, &sender.id, client_id)? {
        return Ok(Sent {
            message,
            created: false,
            new_conversation: false,
            emergency: None,
            notifications: Vec::new(),
        });
    }
    let key = ConversationKey::new(new.patient_id.clone(), new.doctor_id.clone());
    let other = match check_access(conn, sender, &key) {
        Ok(other) => other,
        Err(refused) => match departed_doctor(conn, sender, &key)? {
            // Her doctor left the clinic (disabled): her emergency still goes out, to every
            // doctor as any emergency does, and another takes it from that conversation.
            Some(doctor) if new.is_emergency => doctor,
            Some(doctor) => {
                return Err(StoreError::forbidden(format!(
                    "{} no longer takes messages here (the account is disabled): write to \
                     another doctor of the clinic",
                    doctor.user.name
                )));
            }
            None => return Err(refused),
        },
    };
    if new.is_emergency && sender.role != Role::Patient {
        return Err(StoreError::forbidden(
            "only patients can raise an emergency",
        ));
    }
    // A file must be one of ours, uploaded by the sender for this conversation; its size and
    // type come from our record, never from the client.
    let upload = match &new.file_url {
        Some(url) => Some(uploads::for_send(conn, url, sender, &key)?),
        None => None,
    };
    let now = now_ms();
    let new_conversation = conn.prepare_cached(
        "INSERT OR IGNORE INTO conversations (patient_id, doctor_id, created_at) VALUES (?1, ?2, ?3)",
    )?.execute(
        params![key.patient_id.as_str(), key.doctor_id.as_str(), now],
    )? > 0;
    let message_type = if new.is_emergency {
        MessageType::Emergency
    } else if upload.is_some() {
        MessageType::File
    } else {
        MessageType::Regular
    };
    let seq = seqs.next();
    let at = from_ms(now);
    let written_at = written_at(now, new.held_ms);
    let message = Message {
        id: rows::new_id("m-").into(),
        seq,
        client_id: client_id.clone(),
        patient_id: key.patient_id.clone(),
        doctor_id: key.doctor_id.clone(),
        sender_id: sender.id.clone(),
        content: new.content.clone(),
        message_type,
        status: MessageStatus::Sent,
        file_url: upload.as_ref().map(uploads::Upload::url),
        file_name: upload.as_ref().map(|u| {
            new.file_name.as_deref().map_or_else(
                || u.file_name.clone(),
                |name| {
                    crate::files::name::for_type(
                        &crate::files::name::sanitize(name),
                        &u.content_type,
                    )
                },
            )
        }),
        file_size: upload.as_ref().map(|u| u.size),
        file_type: upload.as_ref().map(|u| u.content_type.clone()),
        is_emergency: new.is_emergency,
        resolved_at: None,
        created_at: at,
        updated_at: at,
        delivered_at: None,
        read_at: None,
        retracted: None,
        edited: None,
        written_at,
    };
    // Every message but an emergency notifies its recipient through its own row (`recipient_id`,
    // `notice`): nothing else is stored for it.
    let note = (!new.is_emergency)
        .then(|| notifications::of_message(&message, &other.user.id, &sender.name));
    if upload.is_none() && seqs.log_sends() {
        projection::log(conn, seqs.logged_mut(), &message, other.user.id.as_str())?;
        // An emergency's raise follows its message in the log, at the next seq.
        let emergency = if new.is_emergency {
            Some(emergencies::raise_or_join(
                conn,
                seqs,
                &message,
                &sender.name,
            )?)
        } else {
            None
        };
        record_created(conn, sender, &key, &message, None)?;
        return Ok(Sent {
            message,
            created: true,
            new_conversation,
            emergency,
            notifications: note.into_iter().collect(),
        });
    }
    conn.prepare_cached(concat!(
        "INSERT INTO messages (",
        message_columns!(),
        ", recipient_id, notice) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?14, ?15, \
         ?12, NULL, ?13, ?13, NULL, NULL, ?2, NULL, NULL, 1, ?18, ?16, ?17)"
    ))?
    .execute(params![
        message.id.as_str(),
        seq.0,
        client_id.as_str(),
        key.patient_id.as_str(),
        key.doctor_id.as_str(),
        sender.id.as_str(),
        message.content,
        rows::message_type_text(message_type),
        rows::status_text(MessageStatus::Sent),
        message.file_url,
        message.file_name,
        message.is_emergency,
        now,
        message
            .file_size
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        message.file_type,
        note.as_ref().map(|n| n.user_id.as_str()),
        note.as_ref().map(|_| 0),
        written_at.map(|t| t.timestamp_millis())
    ])?;
    // Unread by its recipient until read (see schema v15), and so is its notification unless it
    // is an emergency (v18); the triggers follow both from here.
    let to_patient = sender.id != key.patient_id;
    let to_doctor = sender.id != key.doctor_id;
    let noted = note.is_some();
    conn.prepare_cached(
        "UPDATE conversations SET patient_unread = patient_unread + ?3, \
         doctor_unread = doctor_unread + ?4, patient_notices = patient_notices + ?5, \
         doctor_notices = doctor_notices + ?6 WHERE patient_id = ?1 AND doctor_id = ?2",
    )?
    .execute(params![
        key.patient_id.as_str(),
        key.doctor_id.as_str(),
        to_patient,
        to_doctor,
        to_patient && noted,
        to_doctor && noted
    ])?;
    if let Some(upload) = &upload {
        uploads::attach(conn, &upload.id, message.id.as_str())?;
    }
    // An emergency concerns every doctor of the clinic. Their in-app notifications are written
    // after this commit (`notifications::for_emergency`): with a thousand doctors, a thousand
    // rows (each on its own index page) in this transaction made the alert wait for them.
    let emergency = if new.is_emergency {
        Some(emergencies::raise_or_join(
            conn,
            seqs,
            &message,
            &sender.name,
        )?)
    } else {
        None
    };
    record_created(conn, sender, &key, &message, upload.as_ref())?;
    Ok(Sent {
        message,
        created: true,
        new_conversation,
        emergency,
        notifications: note.into_iter().collect(),
    })
}

/// The audit row of a new message. Never the content or the file name: what and where, not what
/// it said.
fn record_created(
    conn: &Connection,
    sender: &User,
    key: &ConversationKey,
    message: &Message,
    upload: Option<&uploads::Upload>,
) -> Result<(), StoreError> {
    crate::audit::record(
        conn,
        &crate::audit::Event::by(&sender.id, crate::audit::Action::MessageCreate)
            .conversation(key)
            .subject(message.id.as_str())
            .detail(serde_json::json!({
                "seq": message.seq.0,
                "file": upload.map(|u| u.id.clone()),
                "emergency": message.is_emergency,
            })),
    )
}

/// A page of one conversation's history, oldest first.
pub(crate) struct HistoryPage {
    pub(crate) messages: Vec<Message>,
    /// Older messages exist before the page's first.
    pub(crate) has_more: bool,
}

/// The size of the messages in a page so far, which is full once about
/// [`limits::PAGE_BYTES`] are in. Every page of messages counts with it: the sync page and the
/// read behind it (`changes::changed_since`) must agree on where a page ends.
#[derive(Debug, Default)]
pub(crate) struct PageSize(usize);

impl PageSize {
    /// Counts `message`: its text and file name, and about 512 bytes of its other fields.
    pub(crate) fn add(&mut self, message: &Message) {
        const FIELDS: usize = 512;
        self.0 +=
            FIELDS + message.content.len() + message.file_name.as_ref().map_or(0, String::len);
    }

    pub(crate) fn full(&self) -> bool {
        self.0 >= limits::PAGE_BYTES
    }
}

/// A page of one conversation, oldest first: the newest `limit` messages, or those before
/// `before`; fewer when they pass about [`limits::PAGE_BYTES`] (at least one).
pub(crate) fn page(
    conn: &Connection,
    key: &ConversationKey,
    limit: u32,
    before: Option<&MessageId>,
) -> Result<HistoryPage, StoreError> {
    let before_seq = match before {
        None => i64::MAX,
        Some(id) => conn
            .query_row(
                "SELECT seq FROM messages WHERE id = ?1 AND patient_id = ?2 AND doctor_id = ?3",
                params![id.as_str(), key.patient_id.as_str(), key.doctor_id.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| {
                StoreError::not_found("`before` names no message of this conversation")
            })?,
    };
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 AND seq < ?3 \
         ORDER BY seq DESC LIMIT ?4"
    ))?;
    let mut rows = stmt.query_map(
        params![
            key.patient_id.as_str(),
            key.doctor_id.as_str(),
            before_seq,
            limit.saturating_add(1)
        ],
        rows::message,
    )?;
    // Newest first, so a page cut by size keeps the messages next to those already shown.
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut messages = Vec::new();
    let mut size = PageSize::default();
    let mut has_more = false;
    for row in &mut rows {
        let (message, _) = row?;
        if messages.len() >= limit || size.full() {
            has_more = true;
            break;
        }
        size.add(&message);
        messages.push(message);
    }
    messages.reverse();
    Ok(HistoryPage { messages, has_more })
}

/// A plain text send from `from` to `to` (a patient and a doctor, either way round), for tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn for_test(
    conn: &Connection,
    seqs: &mut Seqs,
    from: &User,
    to: &User,
    text: &str,
) -> Message {
    let (patient, doctor) = if from.role == Role::Patient {
        (from, to)
    } else {
        (to, from)
    };
    let new = NewMessage {
        client_id: None,
        patient_id: patient.id.clone(),
        doctor_id: doctor.id.clone(),
        content: text.to_owned(),
        is_emergency: false,
        file_url: None,
        file_name: None,
        held_ms: None,
    };
    let id = ClientId::from(rows::new_id("c-"));
    send(conn, seqs, from, &new, &id).unwrap().message
}
