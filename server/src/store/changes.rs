//! The messages `sync` returns: those in a user's conversations whose change sequence is after a
//! cursor, lowest first, found without an index entry per user for every message written or read
//! up to.
//!
//! A message as written has `change_seq = seq`; every later change to it (a receipt, an edit, an
//! unsend, an emergency's resolution) gives it a new, higher `change_seq`. Since schema v16 the
//! per-user change-ordered indexes hold only the changed ones (`WHERE change_seq != seq`), so a
//! send writes nothing there. The unchanged ones are read per conversation by `seq` (the
//! conversation's index), and the streams are merged: the conversations' by a heap, fetched a
//! few rows at a time so that a doctor with many conversations does not read all of each.
//!
//! Since schema v23 a row last changed by a "read up to" (its `read_seq` is its `change_seq`)
//! is left out of those indexes too, and read per conversation and reading side: such rows of one
//! side took their change seqs in the order of their seqs (each read reads everything addressed
//! to that side up to a message, in seq order, after what the side had read), so they are a
//! stream by `seq` as well. It starts after the newest such row read by the cursor (every row
//! before that one was read by then, so none of them was read after the cursor), found by a
//! search of the conversation's index (`reached.rs`), and only conversations whose side read
//! after the cursor (`*_read_change`) are looked at.
//!
//! Since schema v24 a row last changed by a delivered receipt "up to" (its `delivered_seq` is its
//! `change_seq`) is left out as well, and read the same way: a side's deliveries "up to" are
//! only ever of messages above every one it delivered so before (`receipts::mark_delivered`),
//! so they too took their change seqs in the order of their seqs. Such a stream starts after
//! the newest row addressed to that side that was delivered "up to" by the cursor or ever read
//! "up to": none of the side's rows below one delivered so was delivered "up to" after it, and
//! every one below one read so was read with it, so is in no delivery's stream.
//!
//! A conversation's streams read a window of its rows at a time (doubling while they find fewer
//! rows than they may take), and the merge looks further into a stream only when its window's
//! end is the lowest place a row could still come from: the rows of a kind may be few among the
//! others (a history read up to as it came holds no unchanged row at all), and a fetch that asked
//! for a number of rows would walk to the conversation's end on every page. A row's change seq is at
//! least its seq, so a window's end bounds what the stream has left.
//!
//! Invariant: the result is exactly what `WHERE {user} = ? AND change_seq > ? ORDER BY
//! change_seq LIMIT ?` over all messages gives (the tests compare the two).

mod reached;

use super::StoreError;
use super::messages::PageSize;
use super::rows::{self, message_columns};
use clinic_protocol::{Message, Role, Seq, User};
use reached::{Span, reached};
use rusqlite::{Connection, OptionalExtension, params};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Fewest rows fetched from one conversation at a time.
const MIN_CHUNK: u32 = 4;

/// Messages read whole in one statement: a default page (200) in two, and at most about 1.6 MB
/// of text held in SQLite's sorter at once.
const ROWS_AT_ONCE: usize = 100;

/// The statements of one side (the caller a patient, or a doctor), written out once: built per
/// call, each would cost a few hundred bytes of formatting and hashing for the statement cache.
struct Statements {
    /// The change seq and rowid of the caller's (`?1`) changed rows after `?2`, `?3` of them.
    /// The condition is spelled as in the partial index's WHERE clause, which lets SQLite use
    /// it.
    changed: &'static str,
    /// Each of the caller's (`?1`) conversations with a message whose seq is between `?2` and
    /// `?3` or a side that read or had delivered up to a message after `?2`: the other side,
    /// whether it has such a message, the change seq of each side's last read up to (patient's,
    /// doctor's), the seq of each side's first message read up to, the same two of their
    /// deliveries up to, each side's saved read mark and the newest message it had delivered
    /// up to.
    active: &'static str,
    /// The seq, rowid and seq of one conversation's unchanged rows (`?1` the caller, `?2` the
    /// other side) with a seq between `?3` and `?4`, `?5` of them.
    unchanged: &'static str,
    /// The newest seq of one conversation (`?1` the caller, `?2` the other side).
    last: &'static str,
    /// The seq of one conversation's (`?1`, `?2`) `?4 + 1`th row after seq `?3`, from its index
    /// alone.
    nth: &'static str,
    /// The seqs of one conversation's (`?1` the caller, `?2` the other side) rows addressed to
    /// `?3` and last changed by a "read up to", with a seq from `?5` to `?6`, newest first, `?7`
    /// of them; and whether each was read at `?4` or before. Such rows were read in the order
    /// of their seqs, so one read after `?4` has none read by then above it (`reached`).
    read_newest: &'static str,
    /// One conversation's rows (`?1` the caller, `?2` the other side) with a seq from `?5` to
    /// `?6`, oldest first, each with whether it is one `read_newest` would list (for the
    /// reader `?3`) and whether that one was reached by `?4`. Every row, the reader's own too:
    /// a probe counts what it reads.
    read_window: &'static str,
    /// The change seq, rowid and seq of one conversation's rows (`?1`, `?2`) addressed to `?4`
    /// and last changed by a "read up to", with a seq between `?3` and `?6` and a change seq
    /// after `?5`, by seq, `?7` of them.
    read_after: &'static str,
    /// As `read_newest`, for deliveries up to: rows addressed to `?3` last changed by a delivery
    /// up to or ever read up to, and whether each was delivered up to at `?4` or before or ever
    /// read up to. (A row delivered up to and changed again other than by a read up to is left
    /// out: its answer would break the order.)
    delivered_newest: &'static str,
    /// As `read_window`, for `delivered_newest`'s rows.
    delivered_window: &'static str,
    /// As `read_after`, for rows last changed by a delivery up to.
    delivered_after: &'static str,
    /// Whether the caller is the conversation's patient.
    patient: bool,
}

macro_rules! statements {
    ($mine:literal, $theirs:literal, $patient:literal) => {
        Statements {
            changed: concat!(
                "SELECT change_seq, rowid FROM messages WHERE ",
                $mine,
                " = ?1 AND change_seq > ?2 AND change_seq != seq AND change_seq IS NOT read_seq \
                 AND change_seq IS NOT delivered_seq ORDER BY change_seq LIMIT ?3"
            ),
            active: concat!(
                "SELECT partner, fresh, patient_read, doctor_read, patient_from, doctor_from, \
                 patient_delivered, doctor_delivered, patient_dfrom, doctor_dfrom, \
                 patient_mark, doctor_mark, patient_dtop, doctor_dtop \
                 FROM (SELECT c.",
                $theirs,
                " AS partner, EXISTS (SELECT 1 FROM messages m WHERE m.patient_id = c.patient_id \
                 AND m.doctor_id = c.doctor_id AND m.seq > ?2 AND m.seq < ?3) AS fresh, \
                 c.patient_read_change AS patient_read, c.doctor_read_change AS doctor_read, \
                 c.patient_read_from AS patient_from, c.doctor_read_from AS doctor_from, \
                 c.patient_delivered_change AS patient_delivered, \
                 c.doctor_delivered_change AS doctor_delivered, \
                 c.patient_delivered_from AS patient_dfrom, \
                 c.doctor_delivered_from AS doctor_dfrom, \
                 c.patient_read AS patient_mark, c.doctor_read AS doctor_mark, \
                 c.patient_delivered_top AS patient_dtop, c.doctor_delivered_top AS doctor_dtop \
                 FROM conversations c WHERE c.",
                $mine,
                " = ?1) WHERE fresh OR patient_read > ?2 OR doctor_read > ?2 \
                 OR patient_delivered > ?2 OR doctor_delivered > ?2"
            ),
            unchanged: concat!(
                "SELECT seq, rowid, seq FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq > ?3 AND seq < ?4 AND change_seq = seq ORDER BY seq LIMIT ?5"
            ),
            read_newest: concat!(
                "SELECT seq, read_seq <= ?4 FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq >= ?5 AND seq <= ?6 AND sender_id != ?3 \
                 AND change_seq = read_seq ORDER BY seq DESC LIMIT ?7"
            ),
            read_window: concat!(
                "SELECT seq, sender_id != ?3 AND change_seq IS read_seq, \
                 coalesce(read_seq <= ?4, 0) FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq >= ?5 AND seq <= ?6 ORDER BY seq"
            ),
            read_after: concat!(
                "SELECT change_seq, rowid, seq FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq > ?3 AND seq < ?6 AND sender_id != ?4 AND change_seq = read_seq \
                 AND change_seq > ?5 ORDER BY seq LIMIT ?7"
            ),
            delivered_newest: concat!(
                "SELECT seq, coalesce(delivered_seq <= ?4, 0) OR read_seq IS NOT NULL \
                 FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq >= ?5 AND seq <= ?6 AND sender_id != ?3 \
                 AND (change_seq = delivered_seq OR read_seq IS NOT NULL) \
                 ORDER BY seq DESC LIMIT ?7"
            ),
            delivered_window: concat!(
                "SELECT seq, sender_id != ?3 \
                 AND (change_seq IS delivered_seq OR read_seq IS NOT NULL), \
                 coalesce(delivered_seq <= ?4, 0) OR read_seq IS NOT NULL FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq >= ?5 AND seq <= ?6 ORDER BY seq"
            ),
            delivered_after: concat!(
                "SELECT change_seq, rowid, seq FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq > ?3 AND seq < ?6 AND sender_id != ?4 \
                 AND change_seq = delivered_seq AND change_seq > ?5 ORDER BY seq LIMIT ?7"
            ),
            last: concat!(
                "SELECT max(seq) FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2"
            ),
            nth: concat!(
                "SELECT seq FROM messages WHERE ",
                $mine,
                " = ?1 AND ",
                $theirs,
                " = ?2 AND seq > ?3 ORDER BY seq LIMIT 1 OFFSET ?4"
            ),
            patient: $patient,
        }
    };
}

/// The messages whose rowids `?1` lists (a JSON array), in change order.
const ROWS: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE rowid IN (SELECT value FROM json_each(?1)) ORDER BY change_seq"
);

const PATIENT: Statements = statements!("patient_id", "doctor_id", true);
const DOCTOR: Statements = statements!("doctor_id", "patient_id", false);

fn statements(role: Role) -> Option<&'static Statements> {
    match role {
        Role::Patient => Some(&PATIENT),
        Role::Doctor => Some(&DOCTOR),
        Role::Admin => None,
    }
}

/// One of the caller's conversations with something after the cursor.
struct Active {
    partner: String,
    /// A message was written in it after the cursor.
    fresh: bool,
    /// The change seq of the patient's and the doctor's last "read up to" in it.
    patient_read: i64,
    doctor_read: i64,
    /// The seq of the first message each read up to.
    patient_from: i64,
    doctor_from: i64,
    /// The same two of their deliveries up to.
    patient_delivered: i64,
    doctor_delivered: i64,
    patient_dfrom: i64,
    doctor_dfrom: i64,
    /// Each side's saved read mark (`read_marks.rs`: it may lag the reads by a few seconds).
    patient_mark: i64,
    doctor_mark: i64,
    /// The newest message each side had delivered up to.
    patient_dtop: i64,
    doctor_dtop: i64,
}

/// Messages in `user`'s conversations changed after `since`, by change sequence, at most
/// `limit`; and once a page is full by size ([`PageSize`]), only one more (what a page cut by
/// size needs to know that more follow), so a page of large messages is never read whole to
/// be cut afterwards.
pub(crate) fn changed_since(
    conn: &Connection,
    user: &User,
    since: Seq,
    limit: u32,
) -> Result<Vec<(Message, Seq)>, StoreError> {
    let Some(side) = statements(user.role).filter(|_| limit > 0) else {
        return Ok(Vec::new());
    };
    let want = usize::try_from(limit).unwrap_or(usize::MAX);
    // The page is chosen by keys (sequence numbers and rowids, from the indexes alone where they
    // can), then read in one statement: a statement of all the message's columns costs several
    // times one of two, even when it finds nothing, and most calls find nothing.
    let changed: Vec<(i64, i64)> = conn
        .prepare_cached(side.changed)?
        .query_map(params![user.id.as_str(), since.0, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    // A full list of changed rows ends the page at its last change at the latest: no row after
    // it can be among the first `limit`. So the conversations are read only up to there. Most
    // rows of a long history were changed (a receipt each), and without this bound every page
    // would step over all of them after the cursor; with it, the pages' spans do not overlap
    // and a walk through the whole history steps over each row once.
    let up_to = match changed.last() {
        Some((last, _)) if changed.len() == want => *last,
        _ => i64::MAX,
    };
    let mut changed = changed.into_iter().peekable();
    // Only conversations with a message in the span or a read after the cursor: one statement,
    // whatever the number of conversations, so a reconnect with nothing new costs a seek per
    // conversation inside SQLite rather than a statement each.
    let active: Vec<Active> = conn
        .prepare_cached(side.active)?
        .query_map(params![user.id.as_str(), since.0, up_to], |r| {
            Ok(Active {
                partner: r.get(0)?,
                fresh: r.get(1)?,
                patient_read: r.get(2)?,
                doctor_read: r.get(3)?,
                patient_from: r.get(4)?,
                doctor_from: r.get(5)?,
                patient_delivered: r.get(6)?,
                doctor_delivered: r.get(7)?,
                patient_dfrom: r.get(8)?,
                doctor_dfrom: r.get(9)?,
                patient_mark: r.get(10)?,
                doctor_mark: r.get(11)?,
                patient_dtop: r.get(12)?,
                doctor_dtop: r.get(13)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let count = u32::try_from(active.len()).unwrap_or(u32::MAX).max(1);
    let chunk = (limit / count).max(MIN_CHUNK).min(limit.max(1));
    let read = Read {
        conn,
        side,
        user: user.id.as_str(),
        since: since.0,
        up_to,
        chunk,
    };
    let mut streams = Vec::with_capacity(active.len());
    let mut heads = BinaryHeap::new();
    for conversation in active {
        let (patient, doctor) = if side.patient {
            (user.id.as_str(), conversation.partner.as_str())
        } else {
            (conversation.partner.as_str(), user.id.as_str())
        };
        let mut kinds = Vec::with_capacity(5);
        if conversation.fresh {
            kinds.push(Kind::Unchanged);
        }
        let c = &conversation;
        // Where a side's rows of each kind end: a row read up to is at or below the read mark
        // (were the mark saved); one delivered up to at or below the delivered top, and a
        // delivery's stream also starts after rows read up to.
        for (receipt, side, last, from, top) in [
            (
                UpTo::Read,
                patient,
                c.patient_read,
                c.patient_from,
                c.patient_mark,
            ),
            (
                UpTo::Read,
                doctor,
                c.doctor_read,
                c.doctor_from,
                c.doctor_mark,
            ),
            (
                UpTo::Delivered,
                patient,
                c.patient_delivered,
                c.patient_dfrom,
                c.patient_dtop.max(c.patient_mark),
            ),
            (
                UpTo::Delivered,
                doctor,
                c.doctor_delivered,
                c.doctor_dfrom,
                c.doctor_dtop.max(c.doctor_mark),
            ),
        ] {
            if last > since.0 {
                kinds.push(Kind::UpTo(receipt, side.to_owned(), Span { from, top }));
            }
        }
        if kinds.is_empty() {
            continue;
        }
        let last: i64 = conn
            .prepare_cached(side.last)?
            .query_row(params![user.id.as_str(), conversation.partner], |r| {
                Ok(r.get::<_, Option<i64>>(0)?.unwrap_or(0))
            })?;
        for kind in kinds {
            let stream = Stream::open(&read, conversation.partner.clone(), kind, last)?;
            if let Some(key) = stream.head() {
                heads.push(Reverse((key, streams.len())));
            }
            streams.push(stream);
        }
    }
    let mut out = Vec::new();
    while out.len() < want {
        let streamed = heads.peek().map(|Reverse((key, i))| (*key, *i));
        let next_changed = changed.peek().map(|(seq, _)| *seq);
        match (streamed, next_changed) {
            (None, None) => break,
            (Some((key, i)), c) if c.is_none_or(|c| key < c) => {
                heads.pop();
                let stream = &mut streams[i];
                match stream.rows.pop_front() {
                    Some((_, rowid)) => out.push(rowid),
                    // Only a bound: nothing before it; look further.
                    None => stream.fetch(&read)?,
                }
                if let Some(key) = stream.head() {
                    heads.push(Reverse((key, i)));
                }
            }
            _ => out.extend(changed.next().map(|(_, rowid)| rowid)),
        }
    }
    if out.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::with_capacity(out.len());
    let mut size = PageSize::default();
    for chunk in out.chunks(ROWS_AT_ONCE) {
        let rowids = super::rows::json_param(&chunk)?;
        let mut stmt = conn.prepare_cached(ROWS)?;
        for row in stmt.query_map([rowids], rows::message)? {
            let row = row?;
            if size.full() {
                rows.push(row);
                return Ok(rows);
            }
            size.add(&row.0);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// What reading one conversation's streams takes, the same for every conversation.
struct Read<'a> {
    conn: &'a Connection,
    side: &'static Statements,
    user: &'a str,
    /// The cursor.
    since: i64,
    /// Only rows with a change seq below this.
    up_to: i64,
    /// Rows per fetch.
    chunk: u32,
}

/// Which rows of a conversation a stream reads.
enum Kind {
    /// Unchanged since written, by seq (which is their change seq).
    Unchanged,
    /// Addressed to this participant and last changed by a receipt of theirs "up to", by seq
    /// (their change seqs follow it), within the span given.
    UpTo(UpTo, String, Span),
}

/// Which receipt "up to".
#[derive(Clone, Copy)]
enum UpTo {
    Read,
    Delivered,
}

/// The conversation's rows a stream's first fetch looks through; each fetch that finds fewer
/// rows than it may take looks through twice as many. So a stream reads about as far as the page
/// goes, not to its conversation's end (the rows of its kind may be few among the others there).
const FIRST_SPAN: i64 = 64;

/// One conversation's rows of one [`Kind`] after the cursor, in change order, fetched a window
/// of seqs at a time.
struct Stream {
    partner: String,
    kind: Kind,
    /// (change seq, rowid) of the rows fetched and not yet taken.
    rows: VecDeque<(i64, i64)>,
    /// Every row of the kind with a seq up to this was fetched.
    after: i64,
    /// The conversation's rows the next fetch looks through.
    span: i64,
    /// The conversation's newest seq: nothing to fetch past it.
    last: i64,
}

impl Stream {
    fn open(read: &Read<'_>, partner: String, kind: Kind, last: i64) -> Result<Self, StoreError> {
        let after = match &kind {
            Kind::Unchanged => read.since,
            Kind::UpTo(receipt, reader, span) => {
                // Everything addressed to the reader up to the newest row their receipts had
                // reached by the cursor had its receipt by then; and nothing below their first.
                reached(read, &partner, *receipt, reader, *span)?.unwrap_or((span.from - 1).max(0))
            }
        };
        let mut stream = Self {
            partner,
            kind,
            rows: VecDeque::new(),
            after,
            span: FIRST_SPAN,
            last,
        };
        stream.fetch(read)?;
        Ok(stream)
    }

    /// Whether rows may follow those fetched.
    fn more(&self, read: &Read<'_>) -> bool {
        self.after < self.last && self.after + 1 < read.up_to
    }

    /// The change seq of the next row; or, when none is fetched and more may follow, a bound
    /// below every change seq to come (a row's change seq is at least its seq), to be looked
    /// at when the merge reaches it.
    fn head(&self) -> Option<i64> {
        self.rows
            .front()
            .map(|(key, _)| *key)
            .or_else(|| (self.after < self.last).then_some(self.after + 1))
    }

    fn fetch(&mut self, read: &Read<'_>) -> Result<(), StoreError> {
        if !self.more(read) {
            // Nothing past the end (and a bound beyond `up_to` is never reached).
            self.after = self.last;
            return Ok(());
        }
        // The window ends after the span's last row (found in the conversation's index alone).
        let nth: Option<i64> = read
            .conn
            .prepare_cached(read.side.nth)?
            .query_row(
                params![read.user, self.partner, self.after, self.span - 1],
                |r| r.get(0),
            )
            .optional()?;
        let until = nth
            .unwrap_or(self.last)
            .min(self.last)
            .saturating_add(1)
            .min(read.up_to);
        let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, i64, i64)> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        };
        let fetched: Vec<(i64, i64, i64)> = match &self.kind {
            Kind::Unchanged => read
                .conn
                .prepare_cached(read.side.unchanged)?
                .query_map(
                    params![read.user, self.partner, self.after, until, read.chunk],
                    row,
                )?
                .collect::<Result<_, _>>()?,
            Kind::UpTo(receipt, reader, _) => read
                .conn
                .prepare_cached(match receipt {
                    UpTo::Read => read.side.read_after,
                    UpTo::Delivered => read.side.delivered_after,
                })?
                .query_map(
                    params![
                        read.user,
                        self.partner,
                        self.after,
                        reader,
                        read.since,
                        until,
                        read.chunk
                    ],
                    row,
                )?
                .collect::<Result<_, _>>()?,
        };
        let full = fetched.len() == usize::try_from(read.chunk).unwrap_or(0);
        match fetched.last() {
            Some((_, _, seq)) if full => self.after = *seq,
            _ => {
                self.after = until - 1;
                self.span = self.span.saturating_mul(2);
            }
        }
        if self.after + 1 >= read.up_to {
            self.after = self.after.max(self.last);
        }
        self.rows
            .extend(fetched.into_iter().map(|(key, rowid, _)| (key, rowid)));
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::schema;
    use clinic_protocol::limits;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn user(id: &str, role: Role) -> User {
        User {
            id: id.into(),
            username: id.to_owned(),
            name: id.to_owned(),
            role,
        }
    }

    /// A clinic of `patients` patients and `doctors` doctors, every pair a conversation, and
    /// `messages` messages among them; a random share of them changed after being written, as
    /// receipts and edits change them (a new change_seq from the same counter), and read as the
    /// server reads them: by id, or up to a message (each unread message addressed to the reader
    /// up to it, in seq order, a change seq each, noted as such a read in `read_seq` and in the
    /// conversation's row).
    pub(super) fn clinic(
        rng: &mut StdRng,
        patients: usize,
        doctors: usize,
        messages: usize,
    ) -> Connection {
        let mut conn = crate::store::stable_plans(Connection::open_in_memory().unwrap()).unwrap();
        schema::migrate(&mut conn).unwrap();
        let role = |r: &str| r.to_owned();
        for (prefix, count, r) in [("p", patients, "PATIENT"), ("d", doctors, "DOCTOR")] {
            for i in 0..count {
                conn.execute(
                    "INSERT INTO users (id, username, name, role, password_hash, created_at) \
                     VALUES (?1, ?1, ?1, ?2, 'x', 0)",
                    params![format!("{prefix}{i}"), role(r)],
                )
                .unwrap();
            }
        }
        for p in 0..patients {
            for d in 0..doctors {
                conn.execute(
                    "INSERT INTO conversations (patient_id, doctor_id, created_at) \
                     VALUES (?1, ?2, 0)",
                    params![format!("p{p}"), format!("d{d}")],
                )
                .unwrap();
            }
        }
        let mut seq = 0i64;
        for _ in 0..messages {
            seq += 1;
            let (p, d) = (rng.gen_range(0..patients), rng.gen_range(0..doctors));
            let sender = if rng.gen_bool(0.5) {
                format!("p{p}")
            } else {
                format!("d{d}")
            };
            conn.execute(
                "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id, \
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at) \
                 VALUES (?1, ?2, ?2, ?1, ?3, ?4, ?5, 'hi', 'REGULAR', 'SENT', 0, ?2, ?2)",
                params![
                    format!("m{seq}"),
                    seq,
                    format!("p{p}"),
                    format!("d{d}"),
                    sender
                ],
            )
            .unwrap();
            if rng.gen_bool(0.3) {
                // Some earlier message changes now (delivered, edited: a status never goes back).
                seq += 1;
                let target = rng.gen_range(1..seq);
                conn.execute(
                    "UPDATE messages SET change_seq = ?2, status = CASE status \
                     WHEN 'SENT' THEN 'DELIVERED' ELSE status END WHERE seq = ?1",
                    params![target, seq],
                )
                .unwrap();
            }
            if rng.gen_bool(0.1) {
                // One earlier message is read by id.
                seq += 1;
                let target = rng.gen_range(1..seq);
                conn.execute(
                    "UPDATE messages SET change_seq = ?2, status = 'READ' \
                     WHERE seq = ?1 AND status != 'READ'",
                    params![target, seq],
                )
                .unwrap();
            }
            if rng.gen_bool(0.3) {
                // Someone's app delivers some of the messages addressed to them above what it
                // delivered so before, in seq order, as a delivered receipt "up to" does.
                let (p, d) = (rng.gen_range(0..patients), rng.gen_range(0..doctors));
                let (patient, doctor) = (format!("p{p}"), format!("d{d}"));
                let side = if rng.gen_bool(0.5) {
                    "patient"
                } else {
                    "doctor"
                };
                let recipient = if side == "patient" { &patient } else { &doctor };
                let top: i64 = conn
                    .query_row(
                        &format!(
                            "SELECT {side}_delivered_top FROM conversations \
                             WHERE patient_id = ?1 AND doctor_id = ?2"
                        ),
                        params![patient, doctor],
                        |r| r.get(0),
                    )
                    .unwrap();
                let sent: Vec<i64> = conn
                    .prepare(
                        "SELECT seq FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 \
                         AND sender_id != ?3 AND seq > ?4 AND status = 'SENT' ORDER BY seq",
                    )
                    .unwrap()
                    .query_map(params![patient, doctor, recipient, top], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                for message in sent {
                    if rng.gen_bool(0.3) {
                        continue;
                    }
                    seq += 1;
                    conn.execute(
                        "UPDATE messages SET change_seq = ?2, delivered_seq = ?2, \
                         status = 'DELIVERED' WHERE seq = ?1",
                        params![message, seq],
                    )
                    .unwrap();
                    conn.execute(
                        &format!(
                            "UPDATE conversations SET {side}_delivered_change = ?3, \
                             {side}_delivered_from = CASE {side}_delivered_from WHEN 0 THEN ?4 \
                             ELSE {side}_delivered_from END, {side}_delivered_top = ?4 \
                             WHERE patient_id = ?1 AND doctor_id = ?2"
                        ),
                        params![patient, doctor, seq, message],
                    )
                    .unwrap();
                }
            }
            if rng.gen_bool(0.3) {
                // Someone reads a conversation up to one of its messages addressed to them.
                let (p, d) = (rng.gen_range(0..patients), rng.gen_range(0..doctors));
                let (patient, doctor) = (format!("p{p}"), format!("d{d}"));
                let reader = if rng.gen_bool(0.5) { &patient } else { &doctor };
                let addressed: Vec<i64> = conn
                    .prepare(
                        "SELECT seq FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 \
                         AND sender_id != ?3 ORDER BY seq",
                    )
                    .unwrap()
                    .query_map(params![patient, doctor, reader], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                if addressed.is_empty() {
                    continue;
                }
                let up_to = addressed[rng.gen_range(0..addressed.len())];
                let side = if *reader == patient {
                    "patient"
                } else {
                    "doctor"
                };
                if rng.gen_bool(0.8) {
                    // The read mark saved (the writer saves it a few seconds later, if at all
                    // before a crash: sometimes it lags).
                    conn.execute(
                        &format!(
                            "UPDATE conversations SET {side}_read = max({side}_read, ?3) \
                             WHERE patient_id = ?1 AND doctor_id = ?2"
                        ),
                        params![patient, doctor, up_to],
                    )
                    .unwrap();
                }
                let unread: Vec<i64> = conn
                    .prepare(
                        "SELECT seq FROM messages WHERE patient_id = ?1 AND doctor_id = ?2 \
                         AND sender_id != ?3 AND seq <= ?4 AND status != 'READ' ORDER BY seq",
                    )
                    .unwrap()
                    .query_map(params![patient, doctor, reader, up_to], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                for message in unread {
                    seq += 1;
                    conn.execute(
                        "UPDATE messages SET change_seq = ?2, read_seq = ?2, status = 'READ' \
                         WHERE seq = ?1",
                        params![message, seq],
                    )
                    .unwrap();
                    conn.execute(
                        &format!(
                            "UPDATE conversations SET {side}_read_change = ?3, \
                             {side}_read_from = CASE {side}_read_from WHEN 0 THEN ?4 \
                             ELSE {side}_read_from END \
                             WHERE patient_id = ?1 AND doctor_id = ?2"
                        ),
                        params![patient, doctor, seq, message],
                    )
                    .unwrap();
                }
            }
        }
        conn
    }

    /// What the pre-v16 query (one per-user index over every message) returns: what `sync`
    /// must return, as every row's `change_seq` says.
    pub(crate) fn reference(
        conn: &Connection,
        user: &User,
        since: i64,
        limit: u32,
    ) -> Vec<(String, i64)> {
        let mine = if user.role == Role::Patient {
            "patient_id"
        } else {
            "doctor_id"
        };
        conn.prepare(&format!(
            "SELECT id, change_seq FROM messages WHERE {mine} = ?1 AND change_seq > ?2 \
             ORDER BY change_seq LIMIT ?3"
        ))
        .unwrap()
        .query_map(params![user.id.as_str(), since, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// What `sync` returns: each row's id and change seq.
    pub(crate) fn found(
        conn: &Connection,
        user: &User,
        since: i64,
        limit: u32,
    ) -> Vec<(String, i64)> {
        changed_since(conn, user, Seq(since), limit)
            .unwrap()
            .into_iter()
            .map(|(m, s)| (m.id.as_str().to_owned(), s.0))
            .collect()
    }

    #[test]
    fn pages_are_exactly_what_one_index_over_every_message_gave() {
        let mut rng = StdRng::seed_from_u64(15);
        for (patients, doctors, messages) in
            [(1, 1, 50), (3, 2, 400), (2, 2, 4_000), (12, 40, 3_000)]
        {
            let conn = clinic(&mut rng, patients, doctors, messages);
            let top: i64 = conn
                .query_row("SELECT max(change_seq) FROM messages", [], |r| r.get(0))
                .unwrap();
            let people = (0..patients)
                .map(|i| user(&format!("p{i}"), Role::Patient))
                .chain((0..doctors).map(|i| user(&format!("d{i}"), Role::Doctor)));
            for person in people {
                for _ in 0..20 {
                    let since = rng.gen_range(0..=top);
                    let limit = rng.gen_range(1..=300);
                    assert_eq!(
                        found(&conn, &person, since, limit),
                        reference(&conn, &person, since, limit),
                        "{} since {since} limit {limit}",
                        person.id.as_str()
                    );
                }
                // Paging from the start visits every change once, in order.
                let mut since = 0;
                let mut pages = Vec::new();
                loop {
                    let page = found(&conn, &person, since, 37);
                    let Some(last) = page.last() else { break };
                    since = last.1;
                    pages.extend(page);
                }
                assert_eq!(pages, reference(&conn, &person, 0, u32::MAX));
            }
        }
    }

    /// Large messages are read only up to about a page's bytes, and one more: a prefix of what
    /// the limit alone would give.
    #[test]
    fn large_messages_are_read_only_up_to_a_pages_bytes() {
        let mut rng = StdRng::seed_from_u64(16);
        let conn = clinic(&mut rng, 1, 1, 300);
        let large = "x".repeat(16_000);
        conn.execute("UPDATE messages SET content = ?1", [&large])
            .unwrap();
        let person = user("p0", Role::Patient);
        let all = reference(&conn, &person, 0, 500);
        let read = found(&conn, &person, 0, 500);
        let each = 512 + large.len();
        let to_fill = limits::PAGE_BYTES.div_ceil(each);
        assert_eq!(read.len(), to_fill + 1);
        assert_eq!(read[..], all[..read.len()]);
        // Under the bytes, the limit decides as before.
        assert_eq!(
            found(&conn, &person, 0, 10),
            reference(&conn, &person, 0, 10)
        );
        // A cut after the first hundred rows read.
        let medium = "x".repeat(6_000);
        conn.execute("UPDATE messages SET content = ?1", [&medium])
            .unwrap();
        let read = found(&conn, &person, 0, 500);
        let to_fill = limits::PAGE_BYTES.div_ceil(512 + medium.len());
        assert!(to_fill > ROWS_AT_ONCE);
        assert_eq!(read.len(), to_fill + 1);
        assert_eq!(read[..], all[..read.len()]);
    }

    /// The messages of the long histories the walk tests write.
    const MESSAGES: i64 = 20_000;

    /// Walks the whole sync of `person` in pages of `page`; returns how many thousand SQLite
    /// instructions it took (counted by a progress handler: work done, not time).
    fn walk_cost(conn: &mut Connection, person: &User, page: u32) -> (usize, u64) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let steps = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&steps);
        conn.progress_handler(
            1000,
            Some(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                false
            }),
        )
        .unwrap();
        let (mut since, mut rows) = (0, 0);
        loop {
            let found = found(conn, person, since, page);
            let Some(last) = found.last() else { break };
            since = last.1;
            rows += found.len();
        }
        conn.progress_handler(0, None::<fn() -> bool>).unwrap();
        (rows, steps.load(Ordering::Relaxed))
    }

    /// An empty database with patient `p0` in a conversation with each of `doctors` doctors
    /// (`d0`, `d1`, ...), for a long history to be written into.
    pub(super) fn patient_and_doctors(doctors: usize) -> Connection {
        let mut conn = crate::store::stable_plans(Connection::open_in_memory().unwrap()).unwrap();
        schema::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO users (id, username, name, role, password_hash, created_at) \
             VALUES ('p0', 'p0', 'p0', 'PATIENT', 'x', 0)",
            [],
        )
        .unwrap();
        for d in 0..doctors {
            conn.execute(
                "INSERT INTO users (id, username, name, role, password_hash, created_at) \
                 VALUES (?1, ?1, ?1, 'DOCTOR', 'x', 0)",
                [format!("d{d}")],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO conversations (patient_id, doctor_id, created_at) \
                 VALUES ('p0', ?1, 0)",
                [format!("d{d}")],
            )
            .unwrap();
        }
        conn
    }

    /// Most messages of a long history were changed soon after being written (a delivered
    /// receipt each). Walking all of it reads each row about once, not once per page.
    #[test]
    fn a_walk_through_a_changed_history_reads_each_row_about_once() {
        let mut conn = patient_and_doctors(2);
        // Message i is written at seq 2i - 1 and delivered at 2i.
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id, \
             sender_id, content, message_type, status, is_emergency, created_at, updated_at) \
             SELECT 'm' || i, 2 * i - 1, 2 * i, 'c' || i, 'p0', 'd' || (i % 2), 'p0', 'hi', \
             'REGULAR', 'DELIVERED', 0, i, i FROM n",
            [MESSAGES],
        )
        .unwrap();
        let patient = user("p0", Role::Patient);
        let (rows, thousands) = walk_cost(&mut conn, &patient, 100);
        assert_eq!(rows, usize::try_from(MESSAGES).unwrap());
        // Measured: about 75 instructions per row; stepping over every later row on each of the
        // 200 pages (no bound at the changed list's end) costs about 670.
        let per_row = thousands * 1000 / u64::try_from(MESSAGES).unwrap();
        assert!(per_row < 150, "{per_row} instructions per row");
    }

    /// The same history read up to as it arrives (message i written at 2i - 1 and read at
    /// 2i, by the conversation's other side): out of the per-user indexes, found through the
    /// conversation, still about once per row for the whole walk.
    #[test]
    fn a_walk_through_a_history_read_up_to_reads_each_row_about_once() {
        let mut conn = patient_and_doctors(2);
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO messages (id, seq, change_seq, read_seq, client_id, patient_id, \
             doctor_id, sender_id, content, message_type, status, is_emergency, created_at, \
             updated_at) \
             SELECT 'm' || i, 2 * i - 1, 2 * i, 2 * i, 'c' || i, 'p0', 'd' || (i % 2), \
             'p0', 'hi', 'REGULAR', 'READ', 0, i, i FROM n",
            [MESSAGES],
        )
        .unwrap();
        conn.execute(
            "UPDATE conversations SET doctor_read_change = (SELECT max(read_seq) FROM messages \
             m WHERE m.doctor_id = conversations.doctor_id), doctor_read_from = (SELECT \
             min(seq) FROM messages m WHERE m.doctor_id = conversations.doctor_id)",
            [],
        )
        .unwrap();
        walk_both_sides(&mut conn, MESSAGES, &[0]);
    }

    /// Walks the history of `patients_and_doctors(2)` with `messages` messages, half of them
    /// with d0, as p0 and as d0: every row once, about as cheaply as a changed history (under 150
    /// instructions per row); pages after each of `sinces` as the old query gave them.
    fn walk_both_sides(conn: &mut Connection, messages: i64, sinces: &[i64]) {
        for person in [user("p0", Role::Patient), user("d0", Role::Doctor)] {
            let (rows, thousands) = walk_cost(conn, &person, 100);
            let expected = if person.role == Role::Patient {
                messages
            } else {
                messages / 2
            };
            assert_eq!(rows, usize::try_from(expected).unwrap());
            for since in sinces {
                assert_eq!(
                    found(conn, &person, *since, 500),
                    reference(conn, &person, *since, 500),
                    "since {since}"
                );
            }
            let per_row = thousands * 1000 / u64::try_from(expected).unwrap();
            assert!(per_row < 150, "{per_row} instructions per row");
        }
    }

    /// `patient_and_doctors(2)` with `MESSAGES` messages from p0, message i written at seq
    /// `seq`, delivered up to at `delivered` and, the first half of them, read up to at `read`
    /// (SQL of `i` and `?1`, the count); the conversations' notes of the doctors' receipts set
    /// as the writer sets them, the read marks saved.
    fn delivered_and_half_read(seq: &str, delivered: &str, read: &str) -> Connection {
        let conn = patient_and_doctors(2);
        conn.execute(
            &format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                 INSERT INTO messages (id, seq, change_seq, delivered_seq, read_seq, client_id, \
                 patient_id, doctor_id, sender_id, content, message_type, status, \
                 is_emergency, created_at, updated_at) \
                 SELECT 'm' || i, {seq}, CASE WHEN i <= ?1 / 2 THEN {read} ELSE {delivered} END, \
                 {delivered}, CASE WHEN i <= ?1 / 2 THEN {read} END, 'c' || i, 'p0', \
                 'd' || (i % 2), 'p0', 'hi', 'REGULAR', \
                 CASE WHEN i <= ?1 / 2 THEN 'READ' ELSE 'DELIVERED' END, 0, i, i FROM n"
            ),
            [MESSAGES],
        )
        .unwrap();
        conn.execute(
            "UPDATE conversations SET (doctor_delivered_change, doctor_delivered_from, \
             doctor_delivered_top, doctor_read_change, doctor_read_from, doctor_read) = (SELECT \
             max(delivered_seq), min(seq), max(seq), max(read_seq), \
             min(CASE WHEN read_seq IS NOT NULL THEN seq END), \
             max(CASE WHEN read_seq IS NOT NULL THEN seq END) FROM messages m \
             WHERE m.doctor_id = conversations.doctor_id)",
            [],
        )
        .unwrap();
        conn
    }

    /// The same history delivered "up to" as it arrives (message i written at 3i - 2 and
    /// delivered at 3i - 1), the first half of it also read up to as it arrives (at 3i): both
    /// kinds out of the per-user indexes, the walk still about once per row.
    #[test]
    fn a_walk_through_a_history_delivered_up_to_reads_each_row_about_once() {
        let mut conn = delivered_and_half_read("3 * i - 2", "3 * i - 1", "3 * i");
        // Measured: 111 instructions per row (the patient), 120 (the doctor).
        let sinces = [
            0,
            MESSAGES,
            3 * MESSAGES / 2,
            2 * MESSAGES,
            3 * MESSAGES - 7,
        ];
        walk_both_sides(&mut conn, MESSAGES, &sinces);
    }

    /// The same history delivered up to as it arrives, its first half then read up to in one
    /// go after all of it (message i written at 2i - 1, delivered at 2i, read at 2n + i): every
    /// page's look for the newest row read by the cursor finds none below the delivered ones'
    /// cursors and the newest read rows above the read ones', and still costs a short search,
    /// not a walk back over the conversation.
    #[test]
    fn a_walk_through_a_history_read_up_to_long_after_delivery_reads_each_row_about_once() {
        let mut conn = delivered_and_half_read("2 * i - 1", "2 * i", "2 * ?1 + i");
        // Measured: 141 instructions per row (the patient), 128 (the doctor). Walking back
        // from the cursor on every page, as before, cost 1,469 and 790; searching from the
        // cursor rather than from the read mark, 737 for the patient.
        let sinces = [
            0,
            MESSAGES / 2,
            MESSAGES,
            2 * MESSAGES,
            2 * MESSAGES + 7,
            5 * MESSAGES / 2,
        ];
        walk_both_sides(&mut conn, MESSAGES, &sinces);
    }

    /// A long history read by id (as every read was before schema v23) whose end is then read
    /// up to: a walk from the start does not look back through it for reads up to on every
    /// page (the side's first message read up to bounds that).
    #[test]
    fn a_walk_through_a_history_read_by_id_then_up_to_reads_each_row_about_once() {
        const BY_ID: i64 = 19_000;
        let mut conn = patient_and_doctors(1);
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO messages (id, seq, change_seq, read_seq, client_id, patient_id, \
             doctor_id, sender_id, content, message_type, status, is_emergency, created_at, \
             updated_at) \
             SELECT 'm' || i, 2 * i - 1, 2 * i, CASE WHEN i > ?2 THEN 2 * i END, 'c' || i, 'p0', \
             'd0', 'p0', 'hi', 'REGULAR', 'READ', 0, i, i FROM n",
            [MESSAGES, BY_ID],
        )
        .unwrap();
        conn.execute(
            "UPDATE conversations SET doctor_read_change = ?1, doctor_read_from = ?2",
            [2 * MESSAGES, 2 * (BY_ID + 1) - 1],
        )
        .unwrap();
        let patient = user("p0", Role::Patient);
        let (rows, thousands) = walk_cost(&mut conn, &patient, 100);
        assert_eq!(rows, usize::try_from(MESSAGES).unwrap());
        assert_eq!(
            found(&conn, &patient, 0, 500),
            reference(&conn, &patient, 0, 500)
        );
        let per_row = thousands * 1000 / u64::try_from(MESSAGES).unwrap();
        assert!(per_row < 150, "{per_row} instructions per row");
    }

    #[test]
    fn an_admin_has_no_conversations_to_sync() {
        let mut rng = StdRng::seed_from_u64(1);
        let conn = clinic(&mut rng, 1, 1, 10);
        assert!(found(&conn, &user("a", Role::Admin), 0, 10).is_empty());
    }

    #[test]
    fn each_read_uses_an_index_not_a_scan_of_every_message() {
        let mut rng = StdRng::seed_from_u64(2);
        let conn = clinic(&mut rng, 2, 2, 10);
        for (side, mine) in [(&PATIENT, "patient_id"), (&DOCTOR, "doctor_id")] {
            let (changed, unchanged) = (side.changed, side.unchanged);
            let plan = |sql: &str| -> String {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                for i in 1..=stmt.parameter_count() {
                    stmt.raw_bind_parameter(i, "p0").unwrap();
                }
                let mut rows = stmt.raw_query();
                let mut steps = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    steps.push(row.get::<_, String>(3).unwrap());
                }
                steps.join("; ")
            };
            let index = if mine == "patient_id" {
                "messages_patient_change"
            } else {
                "messages_doctor_change"
            };
            assert!(plan(changed).contains(index), "{}", plan(changed));
            assert!(!plan(changed).contains("TEMP B-TREE"), "{}", plan(changed));
            let active = plan(side.active);
            assert!(
                active.contains("COVERING INDEX messages_conversation"),
                "{active}"
            );
            // The reads by receipts "up to": within the one conversation, walked by seq.
            for sql in [
                side.read_newest,
                side.read_window,
                side.read_after,
                side.delivered_newest,
                side.delivered_window,
                side.delivered_after,
                side.last,
                side.nth,
            ] {
                let plan = plan(sql);
                assert!(plan.contains("messages_conversation"), "{plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            }
            let plan = plan(unchanged);
            assert!(plan.contains("messages_conversation"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
        {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {ROWS}")).unwrap();
            stmt.raw_bind_parameter(1, "[1, 2]").unwrap();
            let mut rows = stmt.raw_query();
            let mut steps = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                steps.push(row.get::<_, String>(3).unwrap());
            }
            let plan = steps.join("; ");
            assert!(
                plan.contains("rowid=?") || plan.contains("INTEGER PRIMARY KEY"),
                "{plan}"
            );
            assert!(!plan.contains("SCAN messages"), "{plan}");
        }
    }
}
