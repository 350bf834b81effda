//! The database schema as an ordered list of migrations, tracked with `PRAGMA user_version`.

mod message_keys;
#[cfg(test)]
mod no_lists_checked;

use rusqlite::Connection;

/// Each entry moves the schema one version up: its SQL is `schema/migrations/vNN.sql`, and the
/// comment beside it says why. Append only: never edit a shipped migration (a test holds each
/// one's digest).
const MIGRATIONS: &[&str] = &[
    // v1: accounts, sessions, conversations, messages, emergencies, notifications.
    include_str!("schema/migrations/v01.sql"),
    // v2: uploaded files (content-addressed on disk by sha256), attached to at most one message.
    include_str!("schema/migrations/v02.sql"),
    // v3: every emergency transition with who and when; which doctors an alert reached.
    include_str!("schema/migrations/v03.sql"),
    // v4: each user's recent uploads, for the daily upload quota.
    include_str!("schema/migrations/v04.sql"),
    // v5: when a session was last used, for the idle expiry.
    include_str!("schema/migrations/v05.sql"),
    // v6: a doctor's availability (do-not-disturb) is stored per user, so every device of that
    // doctor, the CLI and the server's alert routing agree, across reconnects and restarts.
    include_str!("schema/migrations/v06.sql"),
    // v7: search. Two FTS5 indexes fed from `searchable_messages` (the text a participant may
    // see; once messages can be retracted it leaves them out, so a rebuild cannot bring them
    // back), keyed by `seq`, which VACUUM never renumbers: words (case and accents folded,
    // prefix indexes for 2 and 3 letters) and trigrams (parts of words, `~clav`). Triggers keep
    // both in the transaction that changes the message.
    include_str!("schema/migrations/v07.sql"),
    // v8: retention. A legal hold keeps a patient's conversations (or one of them) from being
    // purged; a purge removes a conversation's messages up to a seq in batches and, once done,
    // takes a change seq so that sync tells every device to drop them too.
    include_str!("schema/migrations/v08.sql"),
    // v9: what a purge leaves to do outside its transactions, recorded inside them. The
    // emergencies that went (every doctor holds every emergency, so all are told which by id),
    // and the content files no upload refers to any more: removed after the commit and again at
    // every start, so a crash between the two never leaks a file.
    include_str!("schema/migrations/v09.sql"),
    // v10: unsend / retract and edit. A message records when it was retracted or last edited and
    // which version its text is. Every text a message had before an edit or a retraction is
    // sealed in `message_versions`, which triggers keep append-only (only retention may remove
    // the rows of a message it already purged). The search view and the index triggers leave
    // retracted messages out, so neither a trigger nor a rebuild can index their words again.
    include_str!("schema/migrations/v10.sql"),
    // v11: the audit log (see src/audit). Append-only: the triggers refuse changes and removals;
    // AUTOINCREMENT keeps the highest id ever given out, so a log cut short is found too. The
    // chain starts here: what happened before this version was not recorded.
    include_str!("schema/migrations/v11.sql"),
    // v12: the search index's update trigger is one trigger, the removal first. As two triggers
    // (v10), SQLite ran the insertion of the new text before the removal of the old, and the
    // removal took the row's length record with it, which FTS5's integrity check reports as
    // corruption; an index an edit damaged is rebuilt (`repair_after_v12`). And the audit's
    // per-patient index leaves out the row every send writes (MESSAGE_CREATE): keyed by patient,
    // it put one entry on a random page per message. The access report (reads of a patient's
    // data) still finds its rows through it.
    include_str!("schema/migrations/v12.sql"),
    // v13: the send log. A plain send (text, not an emergency) commits one row here, at the
    // right edge of a rowid tree, instead of the message row, its seven index entries, its two
    // search-index entries and its notification row (most of them on random pages). The writer
    // moves logged rows into `messages` and `notifications` soon after, many per statement, and
    // deletes them in the same transaction (`store/projection.rs`). Every row here has a higher
    // seq than any change written elsewhere; readers wait until what was logged before their
    // read began has moved.
    include_str!("schema/migrations/v13.sql"),
    // v14: a message's notification to its recipient is derived from the message, not stored:
    // `recipient_id` says whose it is and `notice` whether it is unread (0) or read (1); NULL
    // for emergencies (their doctors' notifications are stored) and for messages written before
    // v14, whose stored notification rows stay as they were (their ids do not change). The
    // partial index holds only unread notices, so listing a user's unread notifications does
    // not walk the read ones, and a message costs one entry there instead of a notification
    // row with its two index entries. What a v13 server logged is moved as v13 moved it
    // (with its stored notification), then the log loses its notification columns.
    include_str!("schema/migrations/v14.sql"),
    // v15: unread counters per conversation and side: how many messages the patient (and the
    // doctor) has not read, not retracted, from the other side. The conversation list read them
    // instead of counting every message of every conversation on each call. The two places that
    // insert messages (a direct send, the send log's move, in bulk per conversation) add to
    // them; these triggers follow every later change (a read receipt, an unsend or retraction,
    // a purge), whichever code makes it. And the derived notifications' index keeps the read
    // ones too (keyed by recipient, then read or not, then seq), so listing all of a user's
    // notifications is two range reads instead of a walk through each conversation's messages
    // (until v18, which found them through the conversations instead).
    include_str!("schema/migrations/v15.sql"),
    // v16: the per-user change-ordered indexes hold only messages changed after they were
    // written (a receipt, an edit, an unsend, an emergency's resolution: each gives the row a
    // new change_seq). A message as written has change_seq = seq, and `sync` finds it through
    // its conversation's index instead (`store/changes.rs`). So a new message no longer puts two
    // entries on random pages of indexes keyed by user. And the search indexes merge their
    // segments 8 at a time instead of 4 (FTS5's `automerge`): fewer, larger merges for the same
    // entries. Together the move of the send log costs a third less CPU and a third less log per
    // message (`bench/probes/move_cost.py`).
    include_str!("schema/migrations/v16.sql"),
    // v17: the send log's idempotency index is kept in memory by the writer
    // (`projection::LoggedKeys`): its entry was a page of its own in every commit of sends.
    include_str!("schema/migrations/v17.sql"),
    // v18: a message's notification is found through its conversation, not through an index
    // keyed by recipient: that index put one entry per message on a random page of its own,
    // a third of what moving the send log cost. Each conversation counts, per side, the
    // notifications its messages give and that are still unread (kept like v15's unread
    // counters: the two places that insert messages add to them, these triggers follow every
    // later change), so listing the unread ones reads only the conversations that have some,
    // and no further back in each than they go (`store/notifications.rs`).
    include_str!("schema/migrations/v18.sql"),
    // v19: the search indexes leave this file for one of their own (`search.db`), kept off the
    // writer by a thread that follows `search_changes`, the queue of messages a search could
    // now find differently (`store/search_index.rs`): the triggers only queue the message's
    // `seq`. `search_source` names this database to its index. The index file is built from
    // the messages on the first start.
    include_str!("schema/migrations/v19.sql"),
    // v20: `messages` keyed for idempotency by client id first, then sender, so that a new
    // message's entry lands beside the others of its moment instead of on a random leaf: the
    // table is rebuilt by `message_keys::rebuild`, run after this (empty) step.
    "",
    // v21: the receipt log. A delivered or read receipt by message id commits one row here, at
    // the right edge of a rowid tree, instead of rewriting the message row and putting it in two
    // per-user change indexes (random pages, in every commit); and a batch with receipts keeps
    // logging its sends instead of moving the send log first. The writer applies logged receipts
    // to `messages` together with the sends they follow, in the same moves and in seq order
    // (`store/projection.rs`). At most one receipt of each kind waits per message (its index
    // says whether one does). Logged sends are found by id for a receipt the same way.
    include_str!("schema/migrations/v21.sql"),
    // v22: each side's read mark, saved: every message addressed to that side with a seq up to
    // it is read (or its read receipt waits in the log). The writer keeps the marks in memory and
    // saves them in its steps now and then, off the commit path (`store/read_marks.rs`), so the
    // first "read up to" of a conversation after a start looks only at what came after, instead
    // of walking the whole conversation. Zero (nothing known) is always true: existing
    // conversations start there and are walked once.
    include_str!("schema/migrations/v22.sql"),
    // v23: a message read by "read up to" (a watermark) leaves the per-user change indexes. Its
    // read takes a change seq as every change does, and `read_seq` records it: a row whose
    // `change_seq` is its `read_seq` was last changed by such a read. `sync` finds those rows
    // through their conversation instead (`store/changes.rs`): each conversation notes, per
    // side, the change seq of the last read that moved its watermark (`*_read_change`), and
    // within a side such rows take their change seqs in the order of their seqs. So the read a
    // message gets as it arrives no longer puts two entries on random pages of indexes keyed by
    // user (18 of a receipt's 30 us and 5.9 of its 6.4 KB of log, `bench/probes/row_cost.py`).
    // A receipt waiting in the log says whether it came from such a read (`mark`). And each
    // side notes the seq of the first message it read up to (`*_read_from`): none of its
    // messages below that was read that way, so `sync` never looks further back in a history
    // that was read by id before (an upgraded one).
    include_str!("schema/migrations/v23.sql"),
    // v24: a message delivered by a receipt "up to" leaves the per-user change indexes too, as
    // v23 did for reads. The app's delivered receipts name every message it stored; the server
    // takes one conversation's share of such a receipt as "up to" when all its messages are
    // newer than every message of that side delivered so before (`*_delivered_top`), so those
    // rows take their change seqs in the order of their seqs, and `delivered_seq` records it (a
    // row whose `change_seq` is its `delivered_seq` was last changed by such a delivery; it stays
    // when the row changes again). Each conversation notes per side the change seq of its last
    // such delivery (`*_delivered_change`) and the seq of its first (`*_delivered_from`), which
    // `sync` finds them by (`store/changes.rs`).
    include_str!("schema/migrations/v24.sql"),
    // v25: one log. Sends (v13) and receipts (v21) were rows of two tables, so a commit of both
    // appended to two tables and two indexes by message id; now they are rows of one,
    // `event_log`, whose key is the change seq: `kind` says what a row is ('SEND', or a
    // receipt's status, 'DELIVERED' or 'READ'), `id` names the message (the new one, or the one
    // a receipt is for; one index serves both), `at` is the send's or the receipt's time, and a
    // send's other columns are NULL on a receipt. The move (`store/projection.rs`) applies the
    // rows up to a seq in one pass and deletes them in one statement.
    include_str!("schema/migrations/v25.sql"),
    // v26: edits and retractions are rows of the log too ('EDIT': `id` the message, `at` the
    // edit's time, `sender_id` who edited, `content` the new text, `client_id` the asker's, if
    // any; 'RETRACT': the same with `content` the reason, if any, and `mark` 1 for a message
    // sent to the wrong person), so neither makes its batch move the log first. A CHECK cannot
    // be changed in place: the table is built again with the rows it held, in seq order.
    include_str!("schema/migrations/v26.sql"),
    // v27: an emergency raised by a text message is a row of the log too, so that a raise
    // amid chat does not wait for the log to move first. Its message is a 'SEND' with `mark` 1
    // (an emergency message: no notification of its own, the doctors' come after the commit);
    // when it opens an emergency, or reopens one a doctor had taken, a 'RAISE' row follows at
    // the next seq (the emergency's change seq): `id` the message, `emergency_id` the
    // emergency, `patient_id` and `doctor_id` its conversation, `at` the raise's time, `mark` 1
    // for a reopening. A message joining an emergency still waiting writes no 'RAISE'.
    include_str!("schema/migrations/v27.sql"),
    // v28: a doctor taking an emergency is a row of the log too ('TAKE'), so that taking one
    // amid chat does not wait for the log to move first: `id` and `emergency_id` the
    // emergency, `sender_id` the doctor, `patient_id` its patient, `at` when. Its audit row,
    // the patient's notification and the care relation are written with it; the move sets
    // the emergency's row and records its ACKNOWLEDGED transition.
    include_str!("schema/migrations/v28.sql"),
    // v29: a doctor resolving an emergency is rows of the log too, so that closing one amid
    // chat does not wait for the log to move first: a 'RESOLVE' (`id` and `emergency_id` the
    // emergency, `sender_id` the doctor, `patient_id` its patient, `content` the note if any,
    // `mark` 1 when no doctor had taken it: the resolution takes it too), then one 'STAMP' per
    // emergency message it closes, at the next seqs (`id` the message, `emergency_id` the
    // emergency: the message's `resolvedAt` and its change seq). Its audit rows, the
    // patient's notification and the care relation are written with it; the move sets the
    // emergency's row and the messages' and records its transitions.
    include_str!("schema/migrations/v29.sql"),
    // v30: an emergency's escalation (nobody took it in time) is a row of the log too, so
    // that the alert watch escalating one amid chat does not wait for the log to move first:
    // an 'ESCALATE' (`id` and `emergency_id` the emergency, `patient_id` its patient). Its
    // audit row is written with it; the move sets the emergency's `escalated_at` and records
    // its ESCALATED transition.
    include_str!("schema/migrations/v30.sql"),
    // v31: the record of whom an emergency's alert reached is a row of the log too ('ALERT':
    // `id` and `emergency_id` the emergency, `content` a JSON array of [doctor, devices] for
    // the doctors it reached first), so that recording it amid chat, after every fan-out, does
    // not wait for the log to move first; the move records their ALERTED transitions and the
    // emergency's count.
    include_str!("schema/migrations/v31.sql"),
    // v32: the log's and the audit's CHECKs name their kinds and outcomes with `=` and `OR`
    // instead of `IN (...)`: SQLite checks a list of more than two constants against a b-tree
    // it builds again for every INSERT (about 2 us of each, measured), and every send writes a
    // row of both. The constraints mean the same; a CHECK cannot be changed in place, so both
    // tables are built again with their rows, the audit's with the highest id it ever gave out
    // (`sqlite_sequence`, which `audit verify` reads), its indexes and its triggers.
    include_str!("schema/migrations/v32.sql"),
    // v33: when a message was written, if it waited on its sender's device (offline) for more
    // than a minute before the server took it (`writtenAt`): a column of the log's sends and of
    // `messages`, empty for every message before it. Adding a column rewrites no row.
    include_str!("schema/migrations/v33.sql"),
    // v34: when a press reopened an emergency a doctor had taken (`reopenedAt`): its repeats
    // and escalation count from then, not from its first raise. Adding a column rewrites no
    // row; an emergency reopened before it counts from its first raise, as it did.
    include_str!("schema/migrations/v34.sql"),
];

/// The last schema whose search indexes were in this file (see v19).
#[cfg(test)]
pub(crate) const WITH_SEARCH_INSIDE: usize = 18;

/// Whether the database on `conn` has an older schema than this server's.
pub(crate) fn needs_upgrade(conn: &Connection) -> rusqlite::Result<bool> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(usize::try_from(current).map_or(true, |v| v < MIGRATIONS.len()))
}

/// The schema version of the database on `conn` (0 for a new one).
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// The schema version this server writes.
pub(crate) fn latest() -> usize {
    MIGRATIONS.len()
}

/// Brings the schema up to date inside one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Brings the schema up to `target` (tests of older versions stop early).
pub(crate) fn migrate_to(conn: &mut Connection, target: usize) -> rusqlite::Result<()> {
    // A migration that rebuilds a table drops it while other tables still name it (v20): with
    // foreign keys enforced, the drop would check every row that names it. The pragma is a
    // no-op inside a transaction, so it is set around it.
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = migrate_inside(conn, target);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    migrated
}

fn migrate_inside(conn: &mut Connection, target: usize) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if current > known {
        // An older server would not keep what a newer schema relies on (its triggers, its
        // queues), and nothing here can bring it back down.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!(
                "the database was made by a newer clinic-server (schema {current}; this one \
                 knows up to {known}): run that version again, or restore a backup this one made"
            )),
        ));
    }
    let mut version = 0i64;
    for sql in &MIGRATIONS[..target] {
        version += 1;
        if version > current {
            step(&tx, version, sql)?;
            tx.pragma_update(None, "user_version", version)?;
        }
    }
    tx.commit()
}

/// Runs migration `version` (its SQL, then what it needs done in code).
fn step(conn: &Connection, version: i64, sql: &str) -> rusqlite::Result<()> {
    conn.execute_batch(sql)?;
    match version {
        12 => repair_after_v12(conn),
        20 => message_keys::rebuild(conn),
        _ => Ok(()),
    }
}

/// Under schema v10 and v11 an edit left the search index without the edited message's length
/// record (see v12). Rebuilding from the messages restores it; only done where an edit exists.
fn repair_after_v12(conn: &Connection) -> rusqlite::Result<()> {
    let edited: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE edited_at IS NOT NULL)",
        [],
        |r| r.get(0),
    )?;
    if edited {
        conn.execute_batch(
            "INSERT INTO messages_words (messages_words) VALUES ('rebuild');
             INSERT INTO messages_parts (messages_parts) VALUES ('rebuild');",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
