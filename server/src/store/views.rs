//! Read-side views: the conversation list, contacts, and who shares a conversation with whom.

use super::rows::{self, EMERGENCY_SELECT, MESSAGE_COLUMNS};
use super::users::{self, Account};
use crate::store::StoreError;
use crate::time::age_on;
use clinic_protocol::rest::SyncPage;
use clinic_protocol::{
    Contact, Conversation, ConversationKey, EmergencyState, Role, Seq, User, UserId, limits,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// `account` as `viewer` may see it: demographics of patients only for doctors.
pub(crate) fn contact(account: &Account, viewer: Role, online: &HashSet<UserId>) -> Contact {
    let show_medical = account.user.role == Role::Patient && viewer == Role::Doctor;
    let today = chrono::Utc::now().date_naive();
    Contact {
        id: account.user.id.clone(),
        username: account.user.username.clone(),
        name: account.user.name.clone(),
        role: account.user.role,
        date_of_birth: account.date_of_birth.filter(|_| show_medical),
        age: account
            .date_of_birth
            .filter(|_| show_medical)
            .map(|dob| age_on(dob, today)),
        blood_group: account.blood_group.clone().filter(|_| show_medical),
        online: online.contains(&account.user.id),
        availability: (account.user.role == Role::Doctor).then_some(account.availability),
    }
}

/// The conversations of `user` (empty for admins).
pub(crate) fn conversation_keys(
    conn: &Connection,
    user: &User,
) -> Result<Vec<ConversationKey>, StoreError> {
    let column = match user.role {
        Role::Patient => "patient_id",
        Role::Doctor => "doctor_id",
        Role::Admin => return Ok(Vec::new()),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT patient_id, doctor_id FROM conversations WHERE {column} = ?1"
    ))?;
    let keys = stmt
        .query_map([user.id.as_str()], rows::conversation_key)?
        .collect::<Result<_, _>>()?;
    Ok(keys)
}

/// Users who share a conversation with `user` (who to tell about `user`'s presence).
pub(crate) fn partners(conn: &Connection, user: &User) -> Result<Vec<UserId>, StoreError> {
    Ok(conversation_keys(conn, user)?
        .into_iter()
        .map(|key| key.other(&user.id).clone())
        .collect())
}

/// `GET /api/chat/conversations`: for doctors open emergencies first, then most recent first.
pub(crate) fn conversations(
    conn: &Connection,
    user: &User,
    online: &HashSet<UserId>,
) -> Result<Vec<Conversation>, StoreError> {
    let mut last_stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 \
         ORDER BY seq DESC LIMIT 1"
    ))?;
    // Kept by the writer (schema v15): messages from the other side neither read nor taken back
    // (a tombstone is not something left to read).
    let column = if user.role == Role::Patient {
        "patient_unread"
    } else {
        "doctor_unread"
    };
    let mut unread_stmt = conn.prepare_cached(&format!(
        "SELECT {column} FROM conversations WHERE patient_id = ?1 AND doctor_id = ?2"
    ))?;
    let mut emergency_stmt = conn.prepare_cached(&format!(
        "{EMERGENCY_SELECT} WHERE e.patient_id = ?1 AND e.doctor_id = ?2 AND e.state != 'RESOLVED' \
         ORDER BY e.raised_at DESC LIMIT 1"
    ))?;
    let mut list = Vec::new();
    for key in conversation_keys(conn, user)? {
        let Some(other) = users::by_id(conn, key.other(&user.id))? else {
            continue;
        };
        let pair = params![key.patient_id.as_str(), key.doctor_id.as_str()];
        let last_message = last_stmt
            .query_row(pair, rows::message)
            .optional()?
            .map(|(m, _)| m);
        let counted: i64 = unread_stmt.query_row(pair, |r| r.get(0))?;
        // A negative count is a bug in what keeps it (a test build stops on it); a user sees
        // nothing left to read rather than an error.
        debug_assert!(counted >= 0, "unread counter below zero in {key:?}");
        if counted < 0 {
            tracing::error!(counted, "an unread counter fell below zero; showing 0");
        }
        let unread = u32::try_from(counted).unwrap_or(0);
        let emergency = emergency_stmt
            .query_row(pair, rows::emergency)
            .optional()?
            .map(|(e, _)| e);
        list.push(Conversation {
            patient_id: key.patient_id.clone(),
            doctor_id: key.doctor_id.clone(),
            other_party: contact(&other, user.role, online),
            last_message,
            unread_count: unread,
            has_emergency: emergency
                .as_ref()
                .is_some_and(|e| e.state != EmergencyState::Resolved),
            emergency,
        });
    }
    let recency = |c: &Conversation| c.last_message.as_ref().map(|m| m.seq);
    if user.role == Role::Doctor {
        list.sort_by(|a, b| {
            b.has_emergency
                .cmp(&a.has_emergency)
                .then_with(|| recency(b).cmp(&recency(a)))
        });
    } else {
        list.sort_by_key(|c| std::cmp::Reverse(recency(c)));
    }
    Ok(list)
}

/// `GET /api/contacts`: the clinic's doctors for a patient; a doctor's patients.
pub(crate) fn contacts(
    conn: &Connection,
    user: &User,
    online: &HashSet<UserId>,
) -> Result<Vec<Contact>, StoreError> {
    let accounts = match user.role {
        Role::Patient => users::active_with_role(conn, Role::Doctor)?,
        Role::Doctor => {
            let mut found = Vec::new();
            for id in partners(conn, user)? {
                if let Some(account) = users::by_id(conn, &id)?.filter(|a| !a.disabled) {
                    found.push(account);
                }
            }
            found.sort_by(|a, b| a.user.name.cmp(&b.user.name));
            found
        }
        Role::Admin => Vec::new(),
    };
    Ok(accounts
        .iter()
        .map(|a| contact(a, user.role, online))
        .collect())
}

/// `sync` / `GET /api/sync`: messages and emergencies visible to `user` whose change sequence is
/// after `since`, merged in change order, at most `limit` of them and about
/// [`limits::PAGE_BYTES`] of messages (at least one record).
pub(crate) fn sync_page(
    conn: &Connection,
    user: &User,
    since: Seq,
    limit: u32,
) -> Result<SyncPage, StoreError> {
    let limit = limit.clamp(1, limits::MAX_PAGE);
    let mut messages = super::changes::changed_since(conn, user, since, limit + 1)?
        .into_iter()
        .peekable();
    let mut emergencies = super::emergencies::changed_since(conn, user, since, limit + 1)?
        .into_iter()
        .peekable();
    let mut purges = super::retention::changed_since(conn, user, since, limit + 1)?
        .into_iter()
        .peekable();
    let mut page = SyncPage {
        messages: Vec::new(),
        emergencies: Vec::new(),
        purges: Vec::new(),
        cursor: since,
        has_more: false,
    };
    // Three streams, each in change order: take the lowest change next, until the page is full
    // by count or, with large messages, by size (what a page holds waits in memory for its
    // audit row and for a reader that may be slow).
    let mut size = super::messages::PageSize::default();
    for _ in 0..limit {
        if size.full() {
            break;
        }
        let next = [
            messages.peek().map(|(_, s)| *s),
            emergencies.peek().map(|(_, s)| *s),
            purges.peek().map(|(_, s)| *s),
        ];
        let Some((which, _)) = next
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .min_by_key(|(_, s)| *s)
        else {
            break;
        };
        match which {
            0 => {
                if let Some((message, seq)) = messages.next() {
                    size.add(&message);
                    page.messages.push(message);
                    page.cursor = seq;
                }
            }
            1 => {
                if let Some((emergency, seq)) = emergencies.next() {
                    page.emergencies.push(emergency);
                    page.cursor = seq;
                }
            }
            _ => {
                if let Some((purge, seq)) = purges.next() {
                    page.purges.push(purge);
                    page.cursor = seq;
                }
            }
        }
    }
    page.has_more =
        messages.peek().is_some() || emergencies.peek().is_some() || purges.peek().is_some();
    Ok(page)
}
