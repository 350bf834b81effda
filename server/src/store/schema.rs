//! The database schema as an ordered list of migrations, tracked with `PRAGMA user_version`.

mod message_keys;
#[cfg(test)]
mod no_lists_checked;

use rusqlite::Connection;

/// Each entry moves the schema one version up. Append only: never edit a shipped migration.
const MIGRATIONS: &[&str] = &[
    // v1: accounts, sessions, conversations, messages, emergencies, notifications.
    "
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO counters (name, value) VALUES ('change_seq', 0);

    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('PATIENT', 'DOCTOR', 'ADMIN')),
        password_hash TEXT NOT NULL,
        date_of_birth TEXT,
        blood_group   TEXT,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE tokens (
        hash       TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked    INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX tokens_user ON tokens(user_id);

    CREATE TABLE conversations (
        patient_id TEXT NOT NULL REFERENCES users(id),
        doctor_id  TEXT NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (patient_id, doctor_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX conversations_doctor ON conversations(doctor_id);

    CREATE TABLE messages (
        id           TEXT PRIMARY KEY,
        seq          INTEGER NOT NULL UNIQUE,
        change_seq   INTEGER NOT NULL UNIQUE,
        client_id    TEXT NOT NULL,
        patient_id   TEXT NOT NULL,
        doctor_id    TEXT NOT NULL,
        sender_id    TEXT NOT NULL REFERENCES users(id),
        content      TEXT NOT NULL,
        message_type TEXT NOT NULL,
        status       TEXT NOT NULL,
        file_url     TEXT,
        file_name    TEXT,
        file_size    INTEGER,
        file_type    TEXT,
        is_emergency INTEGER NOT NULL,
        resolved_at  INTEGER,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        delivered_at INTEGER,
        read_at      INTEGER,
        UNIQUE (sender_id, client_id),
        FOREIGN KEY (patient_id, doctor_id) REFERENCES conversations(patient_id, doctor_id)
    ) STRICT;
    CREATE INDEX messages_conversation ON messages(patient_id, doctor_id, seq);
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq);
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq);

    CREATE TABLE emergencies (
        id              TEXT PRIMARY KEY,
        message_id      TEXT NOT NULL REFERENCES messages(id),
        patient_id      TEXT NOT NULL,
        doctor_id       TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('RAISED', 'ACKNOWLEDGED', 'RESOLVED')),
        raised_at       INTEGER NOT NULL,
        escalated_at    INTEGER,
        acknowledged_by TEXT REFERENCES users(id),
        acknowledged_at INTEGER,
        resolved_by     TEXT REFERENCES users(id),
        resolved_at     INTEGER,
        resolution_note TEXT,
        change_seq      INTEGER NOT NULL UNIQUE
    ) STRICT;
    CREATE INDEX emergencies_patient ON emergencies(patient_id, change_seq);
    CREATE INDEX emergencies_open ON emergencies(state);

    CREATE TABLE notifications (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id),
        kind       TEXT NOT NULL,
        title      TEXT NOT NULL,
        body       TEXT NOT NULL,
        message_id TEXT,
        patient_id TEXT,
        doctor_id  TEXT,
        read       INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX notifications_user ON notifications(user_id, created_at);
    ",
    // v2: uploaded files (content-addressed on disk by sha256), attached to at most one message.
    "
    CREATE TABLE uploads (
        id           TEXT PRIMARY KEY,
        sha256       TEXT NOT NULL,
        size         INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        file_name    TEXT NOT NULL,
        uploader_id  TEXT NOT NULL REFERENCES users(id),
        patient_id   TEXT NOT NULL,
        doctor_id    TEXT NOT NULL,
        message_id   TEXT REFERENCES messages(id),
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX uploads_sha256 ON uploads(sha256);
    CREATE INDEX uploads_unattached ON uploads(created_at) WHERE message_id IS NULL;
    ",
    // v3: every emergency transition with who and when; which doctors an alert reached.
    "
    CREATE TABLE emergency_transitions (
        id           INTEGER PRIMARY KEY,
        emergency_id TEXT NOT NULL REFERENCES emergencies(id),
        kind         TEXT NOT NULL
                     CHECK (kind IN ('RAISED', 'ALERTED', 'ACKNOWLEDGED', 'ESCALATED', 'RESOLVED')),
        actor_id     TEXT REFERENCES users(id),
        devices      INTEGER,
        note         TEXT,
        at           INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX emergency_transitions_emergency ON emergency_transitions(emergency_id, id);
    -- The first delivery to a doctor is what counts; later repeats are not recorded again.
    CREATE UNIQUE INDEX emergency_transitions_alerted
        ON emergency_transitions(emergency_id, actor_id) WHERE kind = 'ALERTED';
    ALTER TABLE emergencies ADD COLUMN alerted_at INTEGER;
    ALTER TABLE emergencies ADD COLUMN alerted_doctors INTEGER NOT NULL DEFAULT 0;

    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, at)
        SELECT id, 'RAISED', patient_id, raised_at FROM emergencies;
    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, at)
        SELECT id, 'ESCALATED', NULL, escalated_at FROM emergencies WHERE escalated_at IS NOT NULL;
    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, at)
        SELECT id, 'ACKNOWLEDGED', acknowledged_by, acknowledged_at FROM emergencies
        WHERE acknowledged_at IS NOT NULL;
    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, note, at)
        SELECT id, 'RESOLVED', resolved_by, resolution_note, resolved_at FROM emergencies
        WHERE resolved_at IS NOT NULL;
    ",
    // v4: each user's recent uploads, for the daily upload quota.
    "
    CREATE INDEX uploads_uploader ON uploads(uploader_id, created_at);
    ",
    // v5: when a session was last used, for the idle expiry.
    "
    ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
    ",
    // v6: a doctor's availability (do-not-disturb) is stored per user, so every device of that
    // doctor, the CLI and the server's alert routing agree, across reconnects and restarts.
    "
    ALTER TABLE users ADD COLUMN availability TEXT NOT NULL DEFAULT 'AVAILABLE'
        CHECK (availability IN ('AVAILABLE', 'DO_NOT_DISTURB'));
    ",
    // v7: search. Two FTS5 indexes fed from `searchable_messages` (the text a participant may
    // see; once messages can be retracted it leaves them out, so a rebuild cannot bring them
    // back), keyed by `seq`, which VACUUM never renumbers: words (case and accents folded,
    // prefix indexes for 2 and 3 letters) and trigrams (parts of words, `~clav`). Triggers keep
    // both in the transaction that changes the message.
    "
    CREATE VIEW searchable_messages AS
        SELECT seq, content, file_name FROM messages;
    CREATE VIRTUAL TABLE messages_words USING fts5(
        content, file_name,
        content = 'searchable_messages', content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    );
    CREATE VIRTUAL TABLE messages_parts USING fts5(
        content, file_name,
        content = 'searchable_messages', content_rowid = 'seq',
        tokenize = 'trigram remove_diacritics 1'
    );
    CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_words (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
        INSERT INTO messages_parts (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
    END;
    CREATE TRIGGER messages_search_update AFTER UPDATE OF content, file_name ON messages BEGIN
        INSERT INTO messages_words (messages_words, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
        INSERT INTO messages_parts (messages_parts, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
        INSERT INTO messages_words (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
        INSERT INTO messages_parts (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
    END;
    CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_words (messages_words, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
        INSERT INTO messages_parts (messages_parts, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
    END;
    INSERT INTO messages_words (messages_words) VALUES ('rebuild');
    INSERT INTO messages_parts (messages_parts) VALUES ('rebuild');
    ",
    // v8: retention. A legal hold keeps a patient's conversations (or one of them) from being
    // purged; a purge removes a conversation's messages up to a seq in batches and, once done,
    // takes a change seq so that sync tells every device to drop them too.
    "
    CREATE TABLE holds (
        id             INTEGER PRIMARY KEY,
        patient_id     TEXT NOT NULL REFERENCES users(id),
        doctor_id      TEXT REFERENCES users(id),
        reason         TEXT NOT NULL,
        placed_at      INTEGER NOT NULL,
        released_at    INTEGER,
        release_reason TEXT
    ) STRICT;
    CREATE INDEX holds_patient ON holds(patient_id) WHERE released_at IS NULL;
    CREATE TABLE purges (
        id          INTEGER PRIMARY KEY,
        patient_id  TEXT NOT NULL,
        doctor_id   TEXT NOT NULL,
        up_to_seq   INTEGER NOT NULL,
        messages    INTEGER NOT NULL DEFAULT 0,
        -- An emergency went with the messages: every doctor holds emergencies, so every doctor
        -- hears of this purge; otherwise only the two participants do.
        had_emergency INTEGER NOT NULL DEFAULT 0,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        change_seq  INTEGER UNIQUE,
        FOREIGN KEY (patient_id, doctor_id) REFERENCES conversations(patient_id, doctor_id)
    ) STRICT;
    CREATE UNIQUE INDEX purges_unfinished ON purges(patient_id, doctor_id)
        WHERE finished_at IS NULL;
    ",
    // v9: what a purge leaves to do outside its transactions, recorded inside them. The
    // emergencies that went (every doctor holds every emergency, so all are told which by id),
    // and the content files no upload refers to any more: removed after the commit and again at
    // every start, so a crash between the two never leaks a file.
    "
    CREATE TABLE purged_emergencies (
        purge_id     INTEGER NOT NULL REFERENCES purges(id) ON DELETE CASCADE,
        emergency_id TEXT NOT NULL,
        PRIMARY KEY (purge_id, emergency_id)
    ) STRICT;
    CREATE TABLE doomed_files (
        sha256 TEXT PRIMARY KEY
    ) STRICT;
    ",
    // v10: unsend / retract and edit. A message records when it was retracted or last edited and
    // which version its text is. Every text a message had before an edit or a retraction is
    // sealed in `message_versions`, which triggers keep append-only (only retention may remove
    // the rows of a message it already purged). The search view and the index triggers leave
    // retracted messages out, so neither a trigger nor a rebuild can index their words again.
    "
    ALTER TABLE messages ADD COLUMN retracted_at INTEGER;
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE message_versions (
        id          INTEGER PRIMARY KEY,
        message_id  TEXT NOT NULL,
        version     INTEGER NOT NULL,
        content     TEXT NOT NULL,
        file_name   TEXT,
        file_url    TEXT,
        written_at  INTEGER NOT NULL,
        replaced_at INTEGER NOT NULL,
        -- What replaced this version: an edit or a retraction.
        change      TEXT NOT NULL CHECK (change IN ('EDIT', 'RETRACT')),
        actor_id    TEXT NOT NULL,
        client_id   TEXT,
        reason      TEXT,
        misdirected INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX message_versions_message ON message_versions(message_id, version);
    CREATE TRIGGER message_versions_no_update BEFORE UPDATE ON message_versions BEGIN
        SELECT RAISE(ABORT, 'message versions are append-only');
    END;
    CREATE TRIGGER message_versions_no_delete BEFORE DELETE ON message_versions
        WHEN EXISTS (SELECT 1 FROM messages WHERE id = old.message_id) BEGIN
        SELECT RAISE(ABORT, 'message versions are append-only');
    END;

    -- A retracted text's words are removed from the index pages themselves, not only marked
    -- deleted (which would keep them in the file until the next merge).
    INSERT INTO messages_words (messages_words, rank) VALUES ('secure-delete', 1);
    INSERT INTO messages_parts (messages_parts, rank) VALUES ('secure-delete', 1);
    DROP VIEW searchable_messages;
    CREATE VIEW searchable_messages AS
        SELECT seq, content, file_name FROM messages WHERE retracted_at IS NULL;
    DROP TRIGGER messages_search_insert;
    DROP TRIGGER messages_search_update;
    DROP TRIGGER messages_search_delete;
    CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
        WHEN new.retracted_at IS NULL BEGIN
        INSERT INTO messages_words (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
        INSERT INTO messages_parts (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
    END;
    -- A retracted row is not in the index: only rows indexed before the change are removed,
    -- only rows still standing after it are added.
    CREATE TRIGGER messages_search_update_old AFTER UPDATE OF content, file_name, retracted_at
        ON messages WHEN old.retracted_at IS NULL BEGIN
        INSERT INTO messages_words (messages_words, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
        INSERT INTO messages_parts (messages_parts, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
    END;
    CREATE TRIGGER messages_search_update_new AFTER UPDATE OF content, file_name, retracted_at
        ON messages WHEN new.retracted_at IS NULL BEGIN
        INSERT INTO messages_words (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
        INSERT INTO messages_parts (rowid, content, file_name)
            VALUES (new.seq, new.content, new.file_name);
    END;
    CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
        WHEN old.retracted_at IS NULL BEGIN
        INSERT INTO messages_words (messages_words, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
        INSERT INTO messages_parts (messages_parts, rowid, content, file_name)
            VALUES ('delete', old.seq, old.content, old.file_name);
    END;
    ",
    // v11: the audit log (see src/audit). Append-only: the triggers refuse changes and removals;
    // AUTOINCREMENT keeps the highest id ever given out, so a log cut short is found too. The
    // chain starts here: what happened before this version was not recorded.
    "
    CREATE TABLE audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        actor      TEXT,
        action     TEXT NOT NULL,
        patient_id TEXT,
        doctor_id  TEXT,
        subject    TEXT,
        outcome    TEXT NOT NULL CHECK (outcome IN ('OK', 'DENIED', 'FAILED')),
        detail     TEXT,
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_at ON audit(at);
    CREATE INDEX audit_patient ON audit(patient_id, at) WHERE patient_id IS NOT NULL;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    ",
    // v12: the search index's update trigger is one trigger, the removal first. As two triggers
    // (v10), SQLite ran the insertion of the new text before the removal of the old, and the
    // removal took the row's length record with it, which FTS5's integrity check reports as
    // corruption; an index an edit damaged is rebuilt (`repair_after_v12`). And the audit's
    // per-patient index leaves out the row every send writes (MESSAGE_CREATE): keyed by patient,
    // it put one entry on a random page per message. The access report (reads of a patient's
    // data) still finds its rows through it.
    "
    DROP TRIGGER messages_search_update_old;
    DROP TRIGGER messages_search_update_new;
    CREATE TRIGGER messages_search_update AFTER UPDATE OF content, file_name, retracted_at
        ON messages BEGIN
        INSERT INTO messages_words (messages_words, rowid, content, file_name)
            SELECT 'delete', old.seq, old.content, old.file_name WHERE old.retracted_at IS NULL;
        INSERT INTO messages_parts (messages_parts, rowid, content, file_name)
            SELECT 'delete', old.seq, old.content, old.file_name WHERE old.retracted_at IS NULL;
        INSERT INTO messages_words (rowid, content, file_name)
            SELECT new.seq, new.content, new.file_name WHERE new.retracted_at IS NULL;
        INSERT INTO messages_parts (rowid, content, file_name)
            SELECT new.seq, new.content, new.file_name WHERE new.retracted_at IS NULL;
    END;
    DROP INDEX audit_patient;
    CREATE INDEX audit_patient_access ON audit(patient_id, at)
        WHERE patient_id IS NOT NULL AND action != 'MESSAGE_CREATE';
    ",
    // v13: the send log. A plain send (text, not an emergency) commits one row here, at the
    // right edge of a rowid tree, instead of the message row, its seven index entries, its two
    // search-index entries and its notification row (most of them on random pages). The writer
    // moves logged rows into `messages` and `notifications` soon after, many per statement, and
    // deletes them in the same transaction (`store/projection.rs`). Every row here has a higher
    // seq than any change written elsewhere; readers wait until what was logged before their
    // read began has moved.
    "
    CREATE TABLE send_log (
        seq             INTEGER PRIMARY KEY,
        id              TEXT NOT NULL,
        client_id       TEXT NOT NULL,
        patient_id      TEXT NOT NULL,
        doctor_id       TEXT NOT NULL,
        sender_id       TEXT NOT NULL,
        content         TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        notification_id TEXT NOT NULL,
        recipient_id    TEXT NOT NULL,
        title           TEXT NOT NULL
    ) STRICT;
    CREATE INDEX send_log_client ON send_log(sender_id, client_id);
    ",
    // v14: a message's notification to its recipient is derived from the message, not stored:
    // `recipient_id` says whose it is and `notice` whether it is unread (0) or read (1); NULL
    // for emergencies (their doctors' notifications are stored) and for messages written before
    // v14, whose stored notification rows stay as they were (their ids do not change). The
    // partial index holds only unread notices, so listing a user's unread notifications does
    // not walk the read ones, and a message costs one entry there instead of a notification
    // row with its two index entries. What a v13 server logged is moved as v13 moved it
    // (with its stored notification), then the log loses its notification columns.
    "
    ALTER TABLE messages ADD COLUMN recipient_id TEXT;
    ALTER TABLE messages ADD COLUMN notice INTEGER;
    CREATE INDEX messages_notice_unread ON messages(recipient_id, seq) WHERE notice = 0;
    INSERT INTO messages (id, seq, client_id, patient_id, doctor_id, sender_id, content,
        message_type, status, is_emergency, created_at, updated_at, change_seq, version)
        SELECT id, seq, client_id, patient_id, doctor_id, sender_id, content, 'REGULAR', 'SENT',
        0, created_at, created_at, seq, 1 FROM send_log ORDER BY seq;
    INSERT INTO notifications (id, user_id, kind, title, body, message_id, patient_id,
        doctor_id, read, created_at)
        SELECT notification_id, recipient_id, 'NEW_MESSAGE', title, substr(content, 1, 140), id,
        patient_id, doctor_id, 0, created_at FROM send_log ORDER BY seq;
    DROP TABLE send_log;
    CREATE TABLE send_log (
        seq             INTEGER PRIMARY KEY,
        id              TEXT NOT NULL,
        client_id       TEXT NOT NULL,
        patient_id      TEXT NOT NULL,
        doctor_id       TEXT NOT NULL,
        sender_id       TEXT NOT NULL,
        recipient_id    TEXT NOT NULL,
        content         TEXT NOT NULL,
        created_at      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX send_log_client ON send_log(sender_id, client_id);
    ",
    // v15: unread counters per conversation and side: how many messages the patient (and the
    // doctor) has not read, not retracted, from the other side. The conversation list read them
    // instead of counting every message of every conversation on each call. The two places that
    // insert messages (a direct send, the send log's move, in bulk per conversation) add to
    // them; these triggers follow every later change (a read receipt, an unsend or retraction,
    // a purge), whichever code makes it. And the derived notifications' index keeps the read
    // ones too (keyed by recipient, then read or not, then seq), so listing all of a user's
    // notifications is two range reads instead of a walk through each conversation's messages
    // (until v18, which found them through the conversations instead).
    "
    ALTER TABLE conversations ADD COLUMN patient_unread INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_unread INTEGER NOT NULL DEFAULT 0;
    UPDATE conversations SET
        patient_unread = (SELECT count(*) FROM messages m
            WHERE m.patient_id = conversations.patient_id AND m.doctor_id = conversations.doctor_id
            AND m.sender_id != m.patient_id AND m.status != 'READ' AND m.retracted_at IS NULL),
        doctor_unread = (SELECT count(*) FROM messages m
            WHERE m.patient_id = conversations.patient_id AND m.doctor_id = conversations.doctor_id
            AND m.sender_id != m.doctor_id AND m.status != 'READ' AND m.retracted_at IS NULL);
    DROP INDEX messages_notice_unread;
    CREATE INDEX messages_notice ON messages(recipient_id, notice, seq) WHERE notice IS NOT NULL;
    CREATE TRIGGER messages_unread_update AFTER UPDATE OF status, retracted_at ON messages
        WHEN (OLD.status != 'READ' AND OLD.retracted_at IS NULL)
            != (NEW.status != 'READ' AND NEW.retracted_at IS NULL) BEGIN
        UPDATE conversations SET
            patient_unread = patient_unread + (NEW.sender_id != NEW.patient_id)
                * ((NEW.status != 'READ' AND NEW.retracted_at IS NULL) - (OLD.status != 'READ'
                AND OLD.retracted_at IS NULL)),
            doctor_unread = doctor_unread + (NEW.sender_id != NEW.doctor_id)
                * ((NEW.status != 'READ' AND NEW.retracted_at IS NULL) - (OLD.status != 'READ'
                AND OLD.retracted_at IS NULL))
            WHERE patient_id = NEW.patient_id AND doctor_id = NEW.doctor_id;
    END;
    CREATE TRIGGER messages_unread_delete AFTER DELETE ON messages
        WHEN OLD.status != 'READ' AND OLD.retracted_at IS NULL BEGIN
        UPDATE conversations SET
            patient_unread = patient_unread - (OLD.sender_id != OLD.patient_id),
            doctor_unread = doctor_unread - (OLD.sender_id != OLD.doctor_id)
            WHERE patient_id = OLD.patient_id AND doctor_id = OLD.doctor_id;
    END;
    ",
    // v16: the per-user change-ordered indexes hold only messages changed after they were
    // written (a receipt, an edit, an unsend, an emergency's resolution: each gives the row a
    // new change_seq). A message as written has change_seq = seq, and `sync` finds it through
    // its conversation's index instead (`store/changes.rs`). So a new message no longer puts two
    // entries on random pages of indexes keyed by user. And the search indexes merge their
    // segments 8 at a time instead of 4 (FTS5's `automerge`): fewer, larger merges for the same
    // entries. Together the move of the send log costs a third less CPU and a third less log per
    // message (`bench/probes/move_cost.py`).
    "
    INSERT INTO messages_words (messages_words, rank) VALUES ('automerge', 8);
    INSERT INTO messages_parts (messages_parts, rank) VALUES ('automerge', 8);
    DROP INDEX messages_patient_change;
    DROP INDEX messages_doctor_change;
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq)
        WHERE change_seq != seq;
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq)
        WHERE change_seq != seq;
    ",
    // v17: the send log's idempotency index is kept in memory by the writer
    // (`projection::LoggedKeys`): its entry was a page of its own in every commit of sends.
    "
    DROP INDEX send_log_client;
    ",
    // v18: a message's notification is found through its conversation, not through an index
    // keyed by recipient: that index put one entry per message on a random page of its own,
    // a third of what moving the send log cost. Each conversation counts, per side, the
    // notifications its messages give and that are still unread (kept like v15's unread
    // counters: the two places that insert messages add to them, these triggers follow every
    // later change), so listing the unread ones reads only the conversations that have some,
    // and no further back in each than they go (`store/notifications.rs`).
    "
    ALTER TABLE conversations ADD COLUMN patient_notices INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_notices INTEGER NOT NULL DEFAULT 0;
    DROP INDEX messages_notice;
    UPDATE conversations SET patient_notices = n.to_patient, doctor_notices = n.to_doctor
        FROM (SELECT patient_id, doctor_id, sum(recipient_id = patient_id) AS to_patient,
            sum(recipient_id = doctor_id) AS to_doctor FROM messages WHERE notice = 0
            GROUP BY patient_id, doctor_id) AS n
        WHERE conversations.patient_id = n.patient_id AND conversations.doctor_id = n.doctor_id;
    CREATE TRIGGER messages_notice_update AFTER UPDATE OF notice ON messages
        WHEN (OLD.notice IS 0) != (NEW.notice IS 0) BEGIN
        UPDATE conversations SET
            patient_notices = patient_notices
                + (NEW.recipient_id IS NEW.patient_id) * ((NEW.notice IS 0) - (OLD.notice IS 0)),
            doctor_notices = doctor_notices
                + (NEW.recipient_id IS NEW.doctor_id) * ((NEW.notice IS 0) - (OLD.notice IS 0))
            WHERE patient_id = NEW.patient_id AND doctor_id = NEW.doctor_id;
    END;
    CREATE TRIGGER messages_notice_delete AFTER DELETE ON messages WHEN OLD.notice IS 0 BEGIN
        UPDATE conversations SET
            patient_notices = patient_notices - (OLD.recipient_id IS OLD.patient_id),
            doctor_notices = doctor_notices - (OLD.recipient_id IS OLD.doctor_id)
            WHERE patient_id = OLD.patient_id AND doctor_id = OLD.doctor_id;
    END;
    ",
    // v19: the search indexes leave this file for one of their own (`search.db`), kept off the
    // writer by a thread that follows `search_changes`, the queue of messages a search could
    // now find differently (`store/search_index.rs`): the triggers only queue the message's
    // `seq`. `search_source` names this database to its index. The index file is built from
    // the messages on the first start.
    "
    DROP TRIGGER messages_search_insert;
    DROP TRIGGER messages_search_update;
    DROP TRIGGER messages_search_delete;
    DROP TABLE messages_words;
    DROP TABLE messages_parts;
    DROP VIEW searchable_messages;
    CREATE TABLE search_changes (
        id  INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL
    ) STRICT;
    CREATE TRIGGER search_new AFTER INSERT ON messages BEGIN
        INSERT INTO search_changes (seq) VALUES (new.seq);
    END;
    CREATE TRIGGER search_changed AFTER UPDATE OF content, file_name, retracted_at ON messages
        BEGIN
        INSERT INTO search_changes (seq) VALUES (new.seq);
    END;
    CREATE TRIGGER search_gone AFTER DELETE ON messages BEGIN
        INSERT INTO search_changes (seq) VALUES (old.seq);
    END;
    INSERT INTO counters (name, value) VALUES ('search_source', abs(random()));
    ",
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
    "
    CREATE TABLE receipt_log (
        seq        INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('DELIVERED', 'READ')),
        at         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX receipt_log_message ON receipt_log(message_id);
    CREATE INDEX send_log_id ON send_log(id);
    ",
    // v22: each side's read mark, saved: every message addressed to that side with a seq up to
    // it is read (or its read receipt waits in the log). The writer keeps the marks in memory and
    // saves them in its steps now and then, off the commit path (`store/read_marks.rs`), so the
    // first "read up to" of a conversation after a start looks only at what came after, instead
    // of walking the whole conversation. Zero (nothing known) is always true: existing
    // conversations start there and are walked once.
    "
    ALTER TABLE conversations ADD COLUMN patient_read INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_read INTEGER NOT NULL DEFAULT 0;
    ",
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
    "
    ALTER TABLE messages ADD COLUMN read_seq INTEGER;
    ALTER TABLE conversations ADD COLUMN patient_read_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_read_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN patient_read_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_read_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE receipt_log ADD COLUMN mark INTEGER NOT NULL DEFAULT 0;
    DROP INDEX messages_patient_change;
    DROP INDEX messages_doctor_change;
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq;
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq;
    ",
    // v24: a message delivered by a receipt "up to" leaves the per-user change indexes too, as
    // v23 did for reads. The app's delivered receipts name every message it stored; the server
    // takes one conversation's share of such a receipt as "up to" when all its messages are
    // newer than every message of that side delivered so before (`*_delivered_top`), so those
    // rows take their change seqs in the order of their seqs, and `delivered_seq` records it (a
    // row whose `change_seq` is its `delivered_seq` was last changed by such a delivery; it stays
    // when the row changes again). Each conversation notes per side the change seq of its last
    // such delivery (`*_delivered_change`) and the seq of its first (`*_delivered_from`), which
    // `sync` finds them by (`store/changes.rs`).
    "
    ALTER TABLE messages ADD COLUMN delivered_seq INTEGER;
    ALTER TABLE conversations ADD COLUMN patient_delivered_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_delivered_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN patient_delivered_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_delivered_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN patient_delivered_top INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_delivered_top INTEGER NOT NULL DEFAULT 0;
    DROP INDEX messages_patient_change;
    DROP INDEX messages_doctor_change;
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq
        AND change_seq IS NOT delivered_seq;
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq
        AND change_seq IS NOT delivered_seq;
    ",
    // v25: one log. Sends (v13) and receipts (v21) were rows of two tables, so a commit of both
    // appended to two tables and two indexes by message id; now they are rows of one,
    // `event_log`, whose key is the change seq: `kind` says what a row is ('SEND', or a
    // receipt's status, 'DELIVERED' or 'READ'), `id` names the message (the new one, or the one
    // a receipt is for; one index serves both), `at` is the send's or the receipt's time, and a
    // send's other columns are NULL on a receipt. The move (`store/projection.rs`) applies the
    // rows up to a seq in one pass and deletes them in one statement.
    "
    CREATE TABLE event_log (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL CHECK (kind IN ('SEND', 'DELIVERED', 'READ')),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark = 0
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content)
            IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id, sender_id,
        recipient_id, content)
        SELECT seq, 'SEND', id, created_at, client_id, patient_id, doctor_id, sender_id,
        recipient_id, content FROM send_log ORDER BY seq;
    INSERT INTO event_log (seq, kind, id, at, mark)
        SELECT seq, status, message_id, at, mark FROM receipt_log ORDER BY seq;
    DROP TABLE send_log;
    DROP TABLE receipt_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    ",
    // v26: edits and retractions are rows of the log too ('EDIT': `id` the message, `at` the
    // edit's time, `sender_id` who edited, `content` the new text, `client_id` the asker's, if
    // any; 'RETRACT': the same with `content` the reason, if any, and `mark` 1 for a message
    // sent to the wrong person), so neither makes its batch move the log first. A CHECK cannot
    // be changed in place: the table is built again with the rows it held, in seq order.
    "
    CREATE TABLE event_log_v26 (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('SEND', 'DELIVERED', 'READ', 'EDIT', 'RETRACT')),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark = 0
            WHEN 'EDIT' THEN sender_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id) IS NULL AND mark = 0
            WHEN 'RETRACT' THEN sender_id IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id) IS NULL AND mark IN (0, 1)
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content)
            IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log_v26 SELECT * FROM event_log ORDER BY seq;
    DROP TABLE event_log;
    ALTER TABLE event_log_v26 RENAME TO event_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    ",
    // v27: an emergency raised by a text message is a row of the log too, so that a raise
    // amid chat does not wait for the log to move first. Its message is a 'SEND' with `mark` 1
    // (an emergency message: no notification of its own, the doctors' come after the commit);
    // when it opens an emergency, or reopens one a doctor had taken, a 'RAISE' row follows at
    // the next seq (the emergency's change seq): `id` the message, `emergency_id` the
    // emergency, `patient_id` and `doctor_id` its conversation, `at` the raise's time, `mark` 1
    // for a reopening. A message joining an emergency still waiting writes no 'RAISE'.
    "
    CREATE TABLE event_log_v27 (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('SEND', 'DELIVERED', 'READ', 'EDIT', 'RETRACT', 'RAISE')),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        emergency_id TEXT,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark IN (0, 1) AND emergency_id IS NULL
            WHEN 'EDIT' THEN sender_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL AND mark = 0
            WHEN 'RETRACT' THEN sender_id IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL
            AND mark IN (0, 1)
            WHEN 'RAISE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL
            AND coalesce(client_id, sender_id, recipient_id, content) IS NULL AND mark IN (0, 1)
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content,
            emergency_id) IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log_v27 (seq, kind, id, at, client_id, patient_id, doctor_id, sender_id,
        recipient_id, content, mark)
        SELECT seq, kind, id, at, client_id, patient_id, doctor_id, sender_id, recipient_id,
        content, mark FROM event_log ORDER BY seq;
    DROP TABLE event_log;
    ALTER TABLE event_log_v27 RENAME TO event_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    ",
    // v28: a doctor taking an emergency is a row of the log too ('TAKE'), so that taking one
    // amid chat does not wait for the log to move first: `id` and `emergency_id` the
    // emergency, `sender_id` the doctor, `patient_id` its patient, `at` when. Its audit row,
    // the patient's notification and the care relation are written with it; the move sets
    // the emergency's row and records its ACKNOWLEDGED transition.
    "
    CREATE TABLE event_log_v28 (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('SEND', 'DELIVERED', 'READ', 'EDIT', 'RETRACT', 'RAISE',
                                     'TAKE')),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        emergency_id TEXT,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark IN (0, 1) AND emergency_id IS NULL
            WHEN 'EDIT' THEN sender_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL AND mark = 0
            WHEN 'RETRACT' THEN sender_id IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL
            AND mark IN (0, 1)
            WHEN 'RAISE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL
            AND coalesce(client_id, sender_id, recipient_id, content) IS NULL AND mark IN (0, 1)
            WHEN 'TAKE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id, content) IS NULL AND mark = 0
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content,
            emergency_id) IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log_v28 SELECT * FROM event_log ORDER BY seq;
    DROP TABLE event_log;
    ALTER TABLE event_log_v28 RENAME TO event_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    ",
    // v29: a doctor resolving an emergency is rows of the log too, so that closing one amid
    // chat does not wait for the log to move first: a 'RESOLVE' (`id` and `emergency_id` the
    // emergency, `sender_id` the doctor, `patient_id` its patient, `content` the note if any,
    // `mark` 1 when no doctor had taken it: the resolution takes it too), then one 'STAMP' per
    // emergency message it closes, at the next seqs (`id` the message, `emergency_id` the
    // emergency: the message's `resolvedAt` and its change seq). Its audit rows, the
    // patient's notification and the care relation are written with it; the move sets the
    // emergency's row and the messages' and records its transitions.
    "
    CREATE TABLE event_log_v29 (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('SEND', 'DELIVERED', 'READ', 'EDIT', 'RETRACT', 'RAISE',
                                     'TAKE', 'RESOLVE', 'STAMP')),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        emergency_id TEXT,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark IN (0, 1) AND emergency_id IS NULL
            WHEN 'EDIT' THEN sender_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL AND mark = 0
            WHEN 'RETRACT' THEN sender_id IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL
            AND mark IN (0, 1)
            WHEN 'RAISE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL
            AND coalesce(client_id, sender_id, recipient_id, content) IS NULL AND mark IN (0, 1)
            WHEN 'TAKE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id, content) IS NULL AND mark = 0
            WHEN 'RESOLVE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id) IS NULL AND mark IN (0, 1)
            WHEN 'STAMP' THEN emergency_id IS NOT NULL
            AND coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content)
            IS NULL AND mark = 0
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content,
            emergency_id) IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log_v29 SELECT * FROM event_log ORDER BY seq;
    DROP TABLE event_log;
    ALTER TABLE event_log_v29 RENAME TO event_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    ",
    // v30: an emergency's escalation (nobody took it in time) is a row of the log too, so
    // that the alert watch escalating one amid chat does not wait for the log to move first:
    // an 'ESCALATE' (`id` and `emergency_id` the emergency, `patient_id` its patient). Its
    // audit row is written with it; the move sets the emergency's `escalated_at` and records
    // its ESCALATED transition.
    "
    CREATE TABLE event_log_v30 (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('SEND', 'DELIVERED', 'READ', 'EDIT', 'RETRACT', 'RAISE',
                                     'TAKE', 'RESOLVE', 'STAMP', 'ESCALATE')),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        emergency_id TEXT,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark IN (0, 1) AND emergency_id IS NULL
            WHEN 'EDIT' THEN sender_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL AND mark = 0
            WHEN 'RETRACT' THEN sender_id IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL
            AND mark IN (0, 1)
            WHEN 'RAISE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL
            AND coalesce(client_id, sender_id, recipient_id, content) IS NULL AND mark IN (0, 1)
            WHEN 'TAKE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id, content) IS NULL AND mark = 0
            WHEN 'RESOLVE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id) IS NULL AND mark IN (0, 1)
            WHEN 'ESCALATE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND coalesce(client_id, doctor_id, sender_id, recipient_id, content) IS NULL
            AND mark = 0
            WHEN 'STAMP' THEN emergency_id IS NOT NULL
            AND coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content)
            IS NULL AND mark = 0
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content,
            emergency_id) IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log_v30 SELECT * FROM event_log ORDER BY seq;
    DROP TABLE event_log;
    ALTER TABLE event_log_v30 RENAME TO event_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    ",
    // v31: the record of whom an emergency's alert reached is a row of the log too ('ALERT':
    // `id` and `emergency_id` the emergency, `content` a JSON array of [doctor, devices] for
    // the doctors it reached first), so that recording it amid chat, after every fan-out, does
    // not wait for the log to move first; the move records their ALERTED transitions and the
    // emergency's count.
    "
    CREATE TABLE event_log_v31 (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('SEND', 'DELIVERED', 'READ', 'EDIT', 'RETRACT', 'RAISE',
                                     'TAKE', 'RESOLVE', 'STAMP', 'ESCALATE', 'ALERT')),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        emergency_id TEXT,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark IN (0, 1) AND emergency_id IS NULL
            WHEN 'EDIT' THEN sender_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL AND mark = 0
            WHEN 'RETRACT' THEN sender_id IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL
            AND mark IN (0, 1)
            WHEN 'RAISE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL
            AND coalesce(client_id, sender_id, recipient_id, content) IS NULL AND mark IN (0, 1)
            WHEN 'TAKE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id, content) IS NULL AND mark = 0
            WHEN 'RESOLVE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id) IS NULL AND mark IN (0, 1)
            WHEN 'ESCALATE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND coalesce(client_id, doctor_id, sender_id, recipient_id, content) IS NULL
            AND mark = 0
            WHEN 'ALERT' THEN emergency_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id) IS NULL
            AND mark = 0
            WHEN 'STAMP' THEN emergency_id IS NOT NULL
            AND coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content)
            IS NULL AND mark = 0
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content,
            emergency_id) IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log_v31 SELECT * FROM event_log ORDER BY seq;
    DROP TABLE event_log;
    ALTER TABLE event_log_v31 RENAME TO event_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    ",
    // v32: the log's and the audit's CHECKs name their kinds and outcomes with `=` and `OR`
    // instead of `IN (...)`: SQLite checks a list of more than two constants against a b-tree
    // it builds again for every INSERT (about 2 us of each, measured), and every send writes a
    // row of both. The constraints mean the same; a CHECK cannot be changed in place, so both
    // tables are built again with their rows, the audit's with the highest id it ever gave out
    // (`sqlite_sequence`, which `audit verify` reads), its indexes and its triggers.
    "
    CREATE TABLE event_log_v32 (
        seq          INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL
                     CHECK (kind = 'SEND' OR kind = 'DELIVERED' OR kind = 'READ'
                         OR kind = 'EDIT' OR kind = 'RETRACT' OR kind = 'RAISE' OR kind = 'TAKE'
                         OR kind = 'RESOLVE' OR kind = 'STAMP' OR kind = 'ESCALATE'
                         OR kind = 'ALERT'),
        id           TEXT NOT NULL,
        at           INTEGER NOT NULL,
        client_id    TEXT,
        patient_id   TEXT,
        doctor_id    TEXT,
        sender_id    TEXT,
        recipient_id TEXT,
        content      TEXT,
        mark         INTEGER NOT NULL DEFAULT 0,
        emergency_id TEXT,
        CHECK (CASE kind WHEN 'SEND' THEN client_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL AND sender_id IS NOT NULL AND recipient_id IS NOT NULL
            AND content IS NOT NULL AND mark IN (0, 1) AND emergency_id IS NULL
            WHEN 'EDIT' THEN sender_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL AND mark = 0
            WHEN 'RETRACT' THEN sender_id IS NOT NULL
            AND coalesce(patient_id, doctor_id, recipient_id, emergency_id) IS NULL
            AND mark IN (0, 1)
            WHEN 'RAISE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND doctor_id IS NOT NULL
            AND coalesce(client_id, sender_id, recipient_id, content) IS NULL AND mark IN (0, 1)
            WHEN 'TAKE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id, content) IS NULL AND mark = 0
            WHEN 'RESOLVE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND sender_id IS NOT NULL
            AND coalesce(client_id, doctor_id, recipient_id) IS NULL AND mark IN (0, 1)
            WHEN 'ESCALATE' THEN emergency_id IS NOT NULL AND patient_id IS NOT NULL
            AND coalesce(client_id, doctor_id, sender_id, recipient_id, content) IS NULL
            AND mark = 0
            WHEN 'ALERT' THEN emergency_id IS NOT NULL AND content IS NOT NULL
            AND coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id) IS NULL
            AND mark = 0
            WHEN 'STAMP' THEN emergency_id IS NOT NULL
            AND coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content)
            IS NULL AND mark = 0
            ELSE coalesce(client_id, patient_id, doctor_id, sender_id, recipient_id, content,
            emergency_id) IS NULL AND mark IN (0, 1) END)
    ) STRICT;
    INSERT INTO event_log_v32 SELECT * FROM event_log ORDER BY seq;
    DROP TABLE event_log;
    ALTER TABLE event_log_v32 RENAME TO event_log;
    CREATE INDEX event_log_id ON event_log(id, kind);
    CREATE TABLE audit_v32 (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        actor      TEXT,
        action     TEXT NOT NULL,
        patient_id TEXT,
        doctor_id  TEXT,
        subject    TEXT,
        outcome    TEXT NOT NULL
                   CHECK (outcome = 'OK' OR outcome = 'DENIED' OR outcome = 'FAILED'),
        detail     TEXT,
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL
    ) STRICT;
    INSERT INTO audit_v32 SELECT * FROM audit ORDER BY id;
    DELETE FROM sqlite_sequence WHERE name = 'audit_v32';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'audit_v32', seq FROM sqlite_sequence WHERE name = 'audit';
    DROP TABLE audit;
    ALTER TABLE audit_v32 RENAME TO audit;
    CREATE INDEX audit_at ON audit(at);
    CREATE INDEX audit_patient_access ON audit(patient_id, at)
        WHERE patient_id IS NOT NULL AND action != 'MESSAGE_CREATE';
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    ",
];

/// The last schema whose search indexes were in this file (see v19).
#[cfg(test)]
pub(crate) const WITH_SEARCH_INSIDE: usize = 18;

/// Whether the database on `conn` has an older schema than this server's.
pub(crate) fn needs_upgrade(conn: &Connection) -> rusqlite::Result<bool> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(usize::try_from(current).map_or(true, |v| v < MIGRATIONS.len()))
}

/// The schema version this server writes.
#[cfg(test)]
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An in-memory database as a server of schema `version` left it.
    pub(super) fn at_version(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS[..version].iter().enumerate() {
            let version = i64::try_from(i + 1).unwrap();
            step(&conn, version, sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        conn
    }

    /// A patient `p` and a doctor `d` in a conversation.
    pub(super) const PAIR: &str =
        "INSERT INTO users (id, username, name, role, password_hash, created_at) \
         VALUES ('p', 'p', 'P', 'PATIENT', 'x', 0), ('d', 'd', 'D', 'DOCTOR', 'x', 0);
         INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES ('p', 'd', 0);";

    /// How many rows of the FTS5 table `table` match `query`.
    fn matching(conn: &Connection, table: &str, query: &str) -> i64 {
        conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE {table} MATCH ?1"),
            [query],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// A database made by an older server, with a message in it, gains search on upgrade.
    #[test]
    fn upgrading_indexes_the_messages_already_there() {
        let mut conn = at_version(6);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, file_name, is_emergency, created_at,
                 updated_at)
             VALUES ('m', 7, 7, 'c', 'p', 'd', 'p', 'Crème for the rash', 'FILE', 'SENT',
                 'Röntgen.pdf', 0, 0, 0);",
        )
        .unwrap();
        migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
        let words: i64 = conn
            .query_row(
                "SELECT rowid FROM messages_words WHERE messages_words MATCH '\"creme\"*'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let parts: i64 = conn
            .query_row(
                "SELECT rowid FROM messages_parts WHERE messages_parts MATCH '\"ontgen\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((words, parts), (7, 7));
        // Later changes follow through the triggers.
        conn.execute(
            "UPDATE messages SET content = 'ointment' WHERE id = 'm'",
            [],
        )
        .unwrap();
        assert_eq!(matching(&conn, "messages_words", "creme"), 0);
    }

    /// An edit under v11 broke FTS5's own integrity check (the length record went with the old
    /// text); upgrading repairs the index, and edits after it keep it whole.
    #[test]
    fn upgrading_repairs_an_index_an_edit_damaged() {
        let mut conn = at_version(11);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('m', 7, 7, 'c', 'p', 'd', 'p', 'take ibuprofen', 'TEXT', 'SENT', 0, 0, 0);
             UPDATE messages SET content = 'take naproxen', edited_at = 1 WHERE id = 'm';",
        )
        .unwrap();
        let check = |conn: &Connection| {
            ["messages_words", "messages_parts"].map(|t| {
                conn.execute(
                    &format!("INSERT INTO {t} ({t}, rank) VALUES ('integrity-check', 1)"),
                    [],
                )
                .is_ok()
            })
        };
        assert_eq!(check(&conn), [false, false], "v11 damaged the index");
        migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
        assert_eq!(check(&conn), [true, true]);
        conn.execute(
            "UPDATE messages SET content = 'take aspirin' WHERE id = 'm'",
            [],
        )
        .unwrap();
        assert_eq!(check(&conn), [true, true]);
        let found: i64 = conn
            .query_row(
                "SELECT rowid FROM messages_words WHERE messages_words MATCH 'aspirin'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 7);
        // A retraction takes the text out and leaves the index whole.
        conn.execute(
            "UPDATE messages SET content = '', retracted_at = 2 WHERE id = 'm'",
            [],
        )
        .unwrap();
        assert_eq!(check(&conn), [true, true]);
        assert_eq!(matching(&conn, "messages_words", "aspirin"), 0);
    }

    /// What a v13 server logged and had not moved when it stopped is moved on upgrade, with the
    /// notification v13 promised it (stored, as v13 would have written it); the notifications
    /// stored before keep their ids; messages sent after it notify through their own row.
    #[test]
    fn upgrading_moves_a_v13_log_with_its_stored_notifications() {
        let mut conn = at_version(13);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('m-1', 7, 7, 'c-1', 'p', 'd', 'p', 'moved before', 'REGULAR', 'SENT', 0, 1, 1);
             INSERT INTO notifications (id, user_id, kind, title, body, message_id, patient_id,
                 doctor_id, read, created_at)
             VALUES ('n-old', 'd', 'NEW_MESSAGE', 'New message from P', 'moved before', 'm-1',
                 'p', 'd', 1, 1);
             INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id, content,
                 created_at, notification_id, recipient_id, title)
             VALUES (8, 'm-2', 'c-2', 'p', 'd', 'p', 'still in the log', 2, 'n-logged', 'd',
                 'New message from P');",
        )
        .unwrap();
        migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
        let rows = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            rows("SELECT id || ':' || content FROM messages ORDER BY seq"),
            ["m-1:moved before", "m-2:still in the log"]
        );
        assert_eq!(
            rows("SELECT id || ':' || message_id || ':' || read FROM notifications ORDER BY id"),
            ["n-logged:m-2:0", "n-old:m-1:1"]
        );
        assert_eq!(
            rows("SELECT id FROM messages WHERE notice IS NOT NULL"),
            Vec::<String>::new(),
            "a message from before v14 keeps its stored notification, and only that"
        );
        assert_eq!(matching(&conn, "messages_words", "log"), 1);
        let unread: i64 = conn
            .query_row("SELECT doctor_unread FROM conversations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(unread, 2, "counted after the log moved (v15 after v14)");
        // The new log takes what a v14 send logs.
        conn.execute(
            "INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id,
                 recipient_id, content, created_at)
             VALUES (9, 'm-3', 'c-3', 'p', 'd', 'p', 'd', 'after', 3)",
            [],
        )
        .unwrap();
    }

    /// Upgrading to v16 keeps in the per-user change indexes only the messages changed after
    /// being written, and sets the search indexes' merge width; sync and search still find the
    /// messages that are left out (`store::changes`).
    #[test]
    fn upgrading_to_v16_indexes_only_changed_messages_by_user() {
        let mut conn = at_version(15);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('m-1', 1, 1, 'c-1', 'p', 'd', 'p', 'as written', 'REGULAR', 'SENT', 0, 1, 1),
                    ('m-2', 2, 3, 'c-2', 'p', 'd', 'p', 'delivered', 'REGULAR', 'DELIVERED', 0,
                     2, 3);",
        )
        .unwrap();
        migrate_to(&mut conn, WITH_SEARCH_INSIDE).unwrap();
        for (index, column, user) in [
            ("messages_patient_change", "patient_id", "p"),
            ("messages_doctor_change", "doctor_id", "d"),
        ] {
            let ids: Vec<String> = conn
                .prepare(&format!(
                    "SELECT id FROM messages INDEXED BY {index} WHERE change_seq != seq \
                     AND {column} = ?1"
                ))
                .unwrap()
                .query_map([user], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(ids, ["m-2"], "{index}");
            let entries: i64 = conn
                .query_row(
                    &format!(
                        "SELECT count(*) FROM pragma_index_info('{index}') \
                         WHERE (SELECT partial FROM pragma_index_list('messages') \
                         WHERE name = '{index}') = 1"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(entries, 2, "{index} is partial, on (user, change_seq)");
        }
        for table in ["messages_words", "messages_parts"] {
            let automerge: i64 = conn
                .query_row(
                    &format!("SELECT v FROM {table}_config WHERE k = 'automerge'"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(automerge, 8, "{table}");
        }
        assert_eq!(matching(&conn, "messages_words", "written"), 1);
    }

    /// Upgrading to v23 keeps every changed message in the per-user change indexes (none was
    /// read up to as v23 notes it); a row whose last change is such a read leaves them.
    #[test]
    fn upgrading_to_v23_leaves_reads_up_to_out_of_the_per_user_indexes() {
        let mut conn = at_version(22);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('m-1', 1, 1, 'c-1', 'p', 'd', 'p', 'as written', 'REGULAR', 'SENT', 0, 1, 1),
                    ('m-2', 2, 4, 'c-2', 'p', 'd', 'p', 'delivered', 'REGULAR', 'DELIVERED', 0,
                     2, 4),
                    ('m-3', 3, 5, 'c-3', 'p', 'd', 'p', 'read', 'REGULAR', 'READ', 0, 3, 5);
             INSERT INTO receipt_log (seq, message_id, status, at) VALUES (6, 'm-1', 'READ', 6);",
        )
        .unwrap();
        migrate_to(&mut conn, 23).unwrap();
        let indexed = |conn: &Connection| -> Vec<Vec<String>> {
            [
                ("messages_patient_change", "patient_id", "p"),
                ("messages_doctor_change", "doctor_id", "d"),
            ]
            .iter()
            .map(|(index, column, user)| {
                conn.prepare(&format!(
                    "SELECT id FROM messages INDEXED BY {index} WHERE change_seq != seq \
                     AND change_seq IS NOT read_seq AND {column} = ?1 ORDER BY change_seq"
                ))
                .unwrap()
                .query_map([user], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            })
            .collect()
        };
        assert_eq!(indexed(&conn), [["m-2", "m-3"], ["m-2", "m-3"]]);
        let noted: (i64, i64, i64) = conn
            .query_row(
                "SELECT patient_read_change + patient_read_from, \
                 doctor_read_change + doctor_read_from, (SELECT mark FROM receipt_log) \
                 FROM conversations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            noted,
            (0, 0, 0),
            "nothing read up to yet, a waiting receipt by id"
        );
        conn.execute(
            "UPDATE messages SET read_seq = change_seq WHERE id = 'm-3'",
            [],
        )
        .unwrap();
        assert_eq!(indexed(&conn), [["m-2"], ["m-2"]]);
        // Changed again (an edit), it is back.
        conn.execute("UPDATE messages SET change_seq = 7 WHERE id = 'm-3'", [])
            .unwrap();
        assert_eq!(indexed(&conn), [["m-2", "m-3"], ["m-2", "m-3"]]);
    }

    /// Upgrading to v24 keeps the per-user change indexes as they were (nothing was delivered
    /// "up to" before); a row whose last change is such a delivery leaves them, and is back once
    /// changed again.
    #[test]
    fn upgrading_to_v24_leaves_deliveries_up_to_out_of_the_per_user_indexes() {
        let mut conn = at_version(23);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, read_seq, client_id, patient_id,
                 doctor_id, sender_id, content, message_type, status, is_emergency, created_at,
                 updated_at)
             VALUES ('m-1', 1, 1, NULL, 'c-1', 'p', 'd', 'p', 'as written', 'REGULAR', 'SENT',
                     0, 1, 1),
                    ('m-2', 2, 4, NULL, 'c-2', 'p', 'd', 'p', 'delivered', 'REGULAR',
                     'DELIVERED', 0, 2, 4),
                    ('m-3', 3, 5, 5, 'c-3', 'p', 'd', 'p', 'read up to', 'REGULAR', 'READ', 0,
                     3, 5);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let indexed = |conn: &Connection| -> Vec<Vec<String>> {
            [
                ("messages_patient_change", "patient_id", "p"),
                ("messages_doctor_change", "doctor_id", "d"),
            ]
            .iter()
            .map(|(index, column, user)| {
                conn.prepare(&format!(
                    "SELECT id FROM messages INDEXED BY {index} WHERE change_seq != seq \
                     AND change_seq IS NOT read_seq AND change_seq IS NOT delivered_seq \
                     AND {column} = ?1 ORDER BY change_seq"
                ))
                .unwrap()
                .query_map([user], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            })
            .collect()
        };
        assert_eq!(indexed(&conn), [["m-2"], ["m-2"]]);
        let noted: i64 = conn
            .query_row(
                "SELECT patient_delivered_change + patient_delivered_from \
                 + patient_delivered_top + doctor_delivered_change + doctor_delivered_from \
                 + doctor_delivered_top FROM conversations",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(noted, 0, "nothing delivered up to yet");
        conn.execute(
            "UPDATE messages SET delivered_seq = change_seq WHERE id = 'm-2'",
            [],
        )
        .unwrap();
        assert_eq!(indexed(&conn), [[""; 0], [""; 0]]);
        conn.execute("UPDATE messages SET change_seq = 7 WHERE id = 'm-2'", [])
            .unwrap();
        assert_eq!(indexed(&conn), [["m-2"], ["m-2"]]);
    }

    /// Upgrading to v25 puts what both logs hold into the one log, in seq order, and the move
    /// then applies it as it would have applied the two.
    #[test]
    fn upgrading_to_v25_keeps_what_both_logs_held() {
        let mut conn = at_version(24);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at,
                 recipient_id, notice)
             VALUES ('m-1', 1, 1, 'c-1', 'p', 'd', 'p', 'stored', 'REGULAR', 'SENT', 0, 1, 1,
                     'd', 0);
             INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id,
                 recipient_id, content, created_at)
             VALUES (2, 'm-2', 'c-2', 'p', 'd', 'p', 'd', 'logged', 2);
             INSERT INTO receipt_log (seq, message_id, status, at, mark)
             VALUES (3, 'm-1', 'DELIVERED', 3, 1), (4, 'm-2', 'READ', 4, 0);
             UPDATE counters SET value = 1 WHERE name = 'change_seq';",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        // Each row as one line of text (NULL as "-").
        let lines = |sql: &str| -> Vec<String> {
            conn.prepare(sql)
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            lines(
                "SELECT concat_ws(' ', seq, kind, id, at, coalesce(content, '-')) \
                 FROM event_log ORDER BY seq"
            ),
            [
                "2 SEND m-2 2 logged",
                "3 DELIVERED m-1 3 -",
                "4 READ m-2 4 -"
            ]
        );
        assert_eq!(crate::store::marker::committed(&conn).unwrap(), 4);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('send_log', 'receipt_log')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
        // A receipt row cannot carry a send's columns, nor a send lack them.
        for bad in [
            "INSERT INTO event_log (seq, kind, id, at, content) VALUES (5, 'READ', 'm-1', 5, 'x')",
            "INSERT INTO event_log (seq, kind, id, at) VALUES (5, 'SEND', 'm-3', 5)",
            "INSERT INTO event_log (seq, kind, id, at) VALUES (5, 'EDIT', 'm-1', 5)",
        ] {
            assert!(conn.execute_batch(bad).is_err(), "{bad}");
        }
        let moved = crate::store::projection::apply_all(&conn).unwrap().unwrap();
        assert_eq!((moved.upto, moved.rows), (4, 3));
        assert_eq!(
            lines(
                "SELECT concat_ws(' ', id, status, change_seq, coalesce(delivered_seq, '-'), \
                 coalesce(read_seq, '-')) FROM messages ORDER BY seq"
            ),
            ["m-1 DELIVERED 3 3 -", "m-2 READ 4 - -"]
        );
        let (left, top): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM event_log), doctor_delivered_top FROM conversations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((left, top), (0, 1));
    }

    /// How many indexes named `event_log_id` the schema has.
    fn log_index(conn: &Connection) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'event_log_id'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// Upgrading to v26 keeps the log's rows in order; an edit row then needs its editor and
    /// text, a retraction its sender, and neither has a send's conversation columns.
    #[test]
    fn upgrading_to_v26_keeps_the_log_and_takes_edits_and_retractions() {
        let mut conn = at_version(25);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content)
             VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'logged');
             INSERT INTO event_log (seq, kind, id, at, mark) VALUES (2, 'DELIVERED', 'm-1', 2, 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<String> = conn
            .prepare(
                "SELECT concat_ws(' ', seq, kind, id, coalesce(content, '-'), mark) \
                 FROM event_log ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, ["1 SEND m-1 logged 0", "2 DELIVERED m-1 - 1"]);
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, sender_id, content, client_id)
             VALUES (3, 'EDIT', 'm-1', 3, 'p', 'edited', 'e-1'),
                 (4, 'EDIT', 'm-1', 4, 'p', 'again', NULL);
             INSERT INTO event_log (seq, kind, id, at, sender_id, content, mark)
             VALUES (5, 'RETRACT', 'm-1', 5, 'p', NULL, 0), (6, 'RETRACT', 'm-2', 6, 'p', 'wrong', 1)",
        )
        .unwrap();
        for bad in [
            "INSERT INTO event_log (seq, kind, id, at, content) VALUES (7, 'EDIT', 'm-1', 7, 'x')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id) VALUES (7, 'EDIT', 'm-1', 7, 'p')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, content, patient_id)
             VALUES (7, 'EDIT', 'm-1', 7, 'p', 'x', 'p')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, content, mark)
             VALUES (7, 'EDIT', 'm-1', 7, 'p', 'x', 1)",
            "INSERT INTO event_log (seq, kind, id, at) VALUES (7, 'RETRACT', 'm-1', 7)",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, recipient_id)
             VALUES (7, 'RETRACT', 'm-1', 7, 'p', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, mark)
             VALUES (7, 'RETRACT', 'm-1', 7, 'p', 2)",
            "INSERT INTO event_log (seq, kind, id, at) VALUES (7, 'UNSEND', 'm-1', 7)",
        ] {
            assert!(conn.execute_batch(bad).is_err(), "{bad}");
        }
        assert_eq!(log_index(&conn), 1);
    }

    /// Upgrading to v27 keeps the log's rows in order; a raise then needs its emergency and
    /// conversation, an emergency message is a send with `mark` 1, and no other kind carries an
    /// emergency.
    #[test]
    fn upgrading_to_v27_keeps_the_log_and_takes_raises() {
        let mut conn = at_version(26);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content)
             VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'logged');
             INSERT INTO event_log (seq, kind, id, at, mark) VALUES (2, 'READ', 'm-1', 2, 1);
             INSERT INTO event_log (seq, kind, id, at, sender_id, content)
             VALUES (3, 'EDIT', 'm-1', 3, 'p', 'edited');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows = |conn: &Connection| -> Vec<String> {
            conn.prepare(
                "SELECT concat_ws(' ', seq, kind, id, coalesce(content, '-'), mark, \
                 coalesce(emergency_id, '-')) FROM event_log ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        assert_eq!(
            rows(&conn),
            [
                "1 SEND m-1 logged 0 -",
                "2 READ m-1 - 1 -",
                "3 EDIT m-1 edited 0 -"
            ]
        );
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, mark)
             VALUES (4, 'SEND', 'm-2', 4, 'c-2', 'p', 'd', 'p', 'd', 'help', 1);
             INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
             VALUES (5, 'RAISE', 'm-2', 4, 'p', 'd', 'e-1', 0),
                 (6, 'RAISE', 'm-2', 4, 'p', 'd', 'e-1', 1);",
        )
        .unwrap();
        for bad in [
            "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id)
             VALUES (7, 'RAISE', 'm-2', 7, 'p', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, doctor_id, emergency_id)
             VALUES (7, 'RAISE', 'm-2', 7, 'd', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
             VALUES (7, 'RAISE', 'm-2', 7, 'p', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, emergency_id)
             VALUES (7, 'RETRACT', 'm-1', 7, 'p', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, content)
             VALUES (7, 'RAISE', 'm-2', 7, 'p', 'd', 'e-1', 'x')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
             VALUES (7, 'RAISE', 'm-2', 7, 'p', 'd', 'e-1', 2)",
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, mark)
             VALUES (7, 'SEND', 'm-3', 7, 'c-3', 'p', 'd', 'p', 'd', 'x', 2)",
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, emergency_id)
             VALUES (7, 'SEND', 'm-3', 7, 'c-3', 'p', 'd', 'p', 'd', 'x', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id) VALUES (7, 'READ', 'm-2', 7, 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, content, emergency_id)
             VALUES (7, 'EDIT', 'm-1', 7, 'p', 'x', 'e-1')",
        ] {
            assert!(conn.execute_batch(bad).is_err(), "{bad}");
        }
        assert_eq!(log_index(&conn), 1);
    }

    /// Upgrading to v28 keeps the log's rows in order, raises with their emergency; a doctor
    /// taking an emergency then needs the emergency, its patient and the doctor, and nothing
    /// else.
    #[test]
    fn upgrading_to_v28_keeps_the_log_and_takes_takes() {
        let mut conn = at_version(27);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, mark)
             VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
             INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
             VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
             INSERT INTO event_log (seq, kind, id, at, mark) VALUES (3, 'READ', 'm-1', 3, 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows = |conn: &Connection| -> Vec<String> {
            conn.prepare(
                "SELECT concat_ws(' ', seq, kind, id, coalesce(sender_id, '-'), mark, \
                 coalesce(emergency_id, '-')) FROM event_log ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        assert_eq!(
            rows(&conn),
            [
                "1 SEND m-1 p 1 -",
                "2 RAISE m-1 - 0 e-1",
                "3 READ m-1 - 1 -"
            ]
        );
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id)
             VALUES (4, 'TAKE', 'e-1', 4, 'p', 'd', 'e-1')",
        )
        .unwrap();
        assert_eq!(rows(&conn)[3], "4 TAKE e-1 d 0 e-1");
        for bad in [
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id)
             VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, emergency_id)
             VALUES (5, 'TAKE', 'e-1', 5, 'd', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
             VALUES (5, 'TAKE', 'e-1', 5, 'p', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
                 doctor_id) VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd', 'e-1', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
                 content) VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd', 'e-1', 'x')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id, mark)
             VALUES (5, 'TAKE', 'e-1', 5, 'p', 'd', 'e-1', 1)",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id) VALUES (5, 'READ', 'm-1', 5, 'e-1')",
        ] {
            assert!(conn.execute_batch(bad).is_err(), "{bad}");
        }
        assert_eq!(log_index(&conn), 1);
    }

    /// Upgrading to v29 keeps the log's rows in order; a resolution then needs the emergency,
    /// its patient and the doctor (a note is optional), and a stamp its message and emergency
    /// and nothing else.
    #[test]
    fn upgrading_to_v29_keeps_the_log_and_takes_resolutions() {
        let mut conn = at_version(28);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, mark)
             VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
             INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
             VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
             INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id)
             VALUES (3, 'TAKE', 'e-1', 3, 'p', 'd', 'e-1');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows = |conn: &Connection| -> Vec<String> {
            conn.prepare(
                "SELECT concat_ws(' ', seq, kind, id, coalesce(sender_id, '-'), mark, \
                 coalesce(emergency_id, '-'), coalesce(content, '-')) FROM event_log ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        assert_eq!(
            rows(&conn),
            [
                "1 SEND m-1 p 1 - help",
                "2 RAISE m-1 - 0 e-1 -",
                "3 TAKE e-1 d 0 e-1 -"
            ]
        );
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
                 content) VALUES (4, 'RESOLVE', 'e-1', 4, 'p', 'd', 'e-1', 'fine');
             INSERT INTO event_log (seq, kind, id, at, emergency_id)
             VALUES (5, 'STAMP', 'm-1', 4, 'e-1');
             INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id, mark)
             VALUES (6, 'RESOLVE', 'e-2', 6, 'p', 'd', 'e-2', 1);",
        )
        .unwrap();
        assert_eq!(
            rows(&conn)[3..],
            [
                "4 RESOLVE e-1 d 0 e-1 fine",
                "5 STAMP m-1 - 0 e-1 -",
                "6 RESOLVE e-2 d 1 e-2 -"
            ]
        );
        for bad in [
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id)
             VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, sender_id, emergency_id)
             VALUES (7, 'RESOLVE', 'e-1', 7, 'd', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
             VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
                 doctor_id) VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'd', 'e-1', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id, mark)
             VALUES (7, 'RESOLVE', 'e-1', 7, 'p', 'd', 'e-1', 2)",
            "INSERT INTO event_log (seq, kind, id, at) VALUES (7, 'STAMP', 'm-1', 7)",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id, sender_id)
             VALUES (7, 'STAMP', 'm-1', 7, 'e-1', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id, content)
             VALUES (7, 'STAMP', 'm-1', 7, 'e-1', 'x')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id, mark)
             VALUES (7, 'STAMP', 'm-1', 7, 'e-1', 1)",
        ] {
            assert!(conn.execute_batch(bad).is_err(), "{bad}");
        }
        assert_eq!(log_index(&conn), 1);
    }

    /// Upgrading to v30 keeps the log's rows in order; an escalation then needs the emergency
    /// and its patient, and nothing a doctor's row carries.
    #[test]
    fn upgrading_to_v30_keeps_the_log_and_takes_escalations() {
        let mut conn = at_version(29);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, mark)
             VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
             INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
             VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
             INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id,
                 content) VALUES (3, 'RESOLVE', 'e-1', 3, 'p', 'd', 'e-1', 'fine');
             INSERT INTO event_log (seq, kind, id, at, emergency_id)
             VALUES (4, 'STAMP', 'm-1', 3, 'e-1');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows = |conn: &Connection| -> Vec<String> {
            conn.prepare(
                "SELECT concat_ws(' ', seq, kind, id, coalesce(patient_id, '-'), \
                 coalesce(sender_id, '-'), mark, coalesce(emergency_id, '-'), \
                 coalesce(content, '-')) FROM event_log ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        assert_eq!(
            rows(&conn),
            [
                "1 SEND m-1 p p 1 - help",
                "2 RAISE m-1 p - 0 e-1 -",
                "3 RESOLVE e-1 p d 0 e-1 fine",
                "4 STAMP m-1 - - 0 e-1 -"
            ]
        );
        conn.execute(
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
             VALUES (5, 'ESCALATE', 'e-2', 5, 'p', 'e-2')",
            [],
        )
        .unwrap();
        assert_eq!(rows(&conn)[4..], ["5 ESCALATE e-2 p - 0 e-2 -"]);
        for bad in [
            "INSERT INTO event_log (seq, kind, id, at, patient_id)
             VALUES (6, 'ESCALATE', 'e-2', 6, 'p')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id)
             VALUES (6, 'ESCALATE', 'e-2', 6, 'e-2')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, sender_id)
             VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, doctor_id)
             VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, content)
             VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 'x')",
            "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id, mark)
             VALUES (6, 'ESCALATE', 'e-2', 6, 'p', 'e-2', 1)",
        ] {
            assert!(conn.execute_batch(bad).is_err(), "{bad}");
        }
        assert_eq!(log_index(&conn), 1);
    }

    /// Upgrading to v31 keeps the log's rows in order; an alert record then needs the
    /// emergency and the doctors it reached, and nothing else.
    #[test]
    fn upgrading_to_v31_keeps_the_log_and_takes_alert_records() {
        let mut conn = at_version(30);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id,
                 sender_id, recipient_id, content, mark)
             VALUES (1, 'SEND', 'm-1', 1, 'c-1', 'p', 'd', 'p', 'd', 'help', 1);
             INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id, mark)
             VALUES (2, 'RAISE', 'm-1', 1, 'p', 'd', 'e-1', 0);
             INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id)
             VALUES (3, 'ESCALATE', 'e-1', 3, 'p', 'e-1');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows = |conn: &Connection| -> Vec<String> {
            conn.prepare(
                "SELECT concat_ws(' ', seq, kind, id, coalesce(patient_id, '-'), mark, \
                 coalesce(emergency_id, '-'), coalesce(content, '-')) FROM event_log ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        assert_eq!(
            rows(&conn),
            [
                "1 SEND m-1 p 1 - help",
                "2 RAISE m-1 p 0 e-1 -",
                "3 ESCALATE e-1 p 0 e-1 -"
            ]
        );
        conn.execute(
            "INSERT INTO event_log (seq, kind, id, at, emergency_id, content)
             VALUES (4, 'ALERT', 'e-1', 4, 'e-1', '[[\"d\",2]]')",
            [],
        )
        .unwrap();
        assert_eq!(rows(&conn)[3..], ["4 ALERT e-1 - 0 e-1 [[\"d\",2]]"]);
        for bad in [
            "INSERT INTO event_log (seq, kind, id, at, content) VALUES (5, 'ALERT', 'e-1', 5, '[]')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id)
             VALUES (5, 'ALERT', 'e-1', 5, 'e-1')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id, content, patient_id)
             VALUES (5, 'ALERT', 'e-1', 5, 'e-1', '[]', 'p')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id, content, sender_id)
             VALUES (5, 'ALERT', 'e-1', 5, 'e-1', '[]', 'd')",
            "INSERT INTO event_log (seq, kind, id, at, emergency_id, content, mark)
             VALUES (5, 'ALERT', 'e-1', 5, 'e-1', '[]', 1)",
        ] {
            assert!(conn.execute_batch(bad).is_err(), "{bad}");
        }
        assert_eq!(log_index(&conn), 1);
    }

    /// Upgrading counts what each side has left to read; the triggers then follow reads,
    /// retractions and deletions, whichever statement makes them.
    #[test]
    fn unread_counters_start_from_the_messages_and_follow_their_changes() {
        let mut conn = at_version(14);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('a', 1, 1, 'a', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 0, 0, 0),
                 ('b', 2, 2, 'b', 'p', 'd', 'p', 'x', 'REGULAR', 'DELIVERED', 0, 0, 0),
                 ('c', 3, 3, 'c', 'p', 'd', 'p', 'x', 'REGULAR', 'READ', 0, 0, 0),
                 ('e', 4, 4, 'e', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0),
                 ('f', 5, 5, 'f', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0);
             UPDATE messages SET retracted_at = 1 WHERE id = 'f';",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let counters = |conn: &Connection| -> (i64, i64) {
            conn.query_row(
                "SELECT patient_unread, doctor_unread FROM conversations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(counters(&conn), (1, 2), "(patient: e; doctor: a, b)");
        conn.execute("UPDATE messages SET status = 'READ' WHERE id = 'a'", [])
            .unwrap();
        assert_eq!(counters(&conn), (1, 1));
        conn.execute("UPDATE messages SET status = 'READ' WHERE id = 'a'", [])
            .unwrap();
        assert_eq!(counters(&conn), (1, 1), "read twice counts once");
        conn.execute("UPDATE messages SET retracted_at = 2 WHERE id = 'e'", [])
            .unwrap();
        assert_eq!(counters(&conn), (0, 1));
        conn.execute("DELETE FROM messages WHERE id IN ('b', 'c', 'e')", [])
            .unwrap();
        assert_eq!(counters(&conn), (0, 0));
    }

    /// Upgrading to v18 counts each side's unread notifications from the messages (not an
    /// emergency's, not a read one's, not one from before v14); the triggers then follow
    /// notifications marked read, retractions and deletions.
    #[test]
    fn notification_counters_start_from_the_messages_and_follow_their_changes() {
        let mut conn = at_version(17);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at,
                 recipient_id, notice)
             VALUES ('a', 1, 1, 'a', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 0, 0, 0, 'd', 0),
                 ('b', 2, 2, 'b', 'p', 'd', 'p', 'x', 'REGULAR', 'READ', 0, 0, 0, 'd', 0),
                 ('c', 3, 3, 'c', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 0, 0, 0, 'd', 1),
                 ('e', 4, 4, 'e', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0, 'p', 0),
                 ('s', 5, 5, 's', 'p', 'd', 'p', 'x', 'REGULAR', 'SENT', 1, 0, 0, NULL, NULL),
                 ('o', 6, 6, 'o', 'p', 'd', 'd', 'x', 'REGULAR', 'SENT', 0, 0, 0, NULL, NULL);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let counters = |conn: &Connection| -> (i64, i64) {
            conn.query_row(
                "SELECT patient_notices, doctor_notices FROM conversations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(counters(&conn), (1, 2), "(patient: e; doctor: a, b)");
        conn.execute("UPDATE messages SET notice = 1 WHERE id = 'a'", [])
            .unwrap();
        assert_eq!(counters(&conn), (1, 1));
        conn.execute("UPDATE messages SET notice = 1 WHERE id = 'a'", [])
            .unwrap();
        assert_eq!(counters(&conn), (1, 1), "read twice counts once");
        conn.execute("UPDATE messages SET notice = NULL WHERE id = 'e'", [])
            .unwrap();
        assert_eq!(
            counters(&conn),
            (0, 1),
            "a retraction takes its notification"
        );
        conn.execute("DELETE FROM messages WHERE id IN ('b', 'c', 's', 'o')", [])
            .unwrap();
        assert_eq!(counters(&conn), (0, 0));
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'messages_notice'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0);
    }

    /// Upgrading to v19 takes the search indexes out of the database and queues, from then
    /// on, every message added, changed or deleted for the index of its own; the messages
    /// already there are found by building that index (`search_index.rs`).
    #[test]
    fn upgrading_to_v19_leaves_search_to_its_own_file_and_queues_every_change() {
        let mut conn = at_version(18);
        conn.execute_batch(PAIR).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('a', 1, 1, 'a', 'p', 'd', 'p', 'before', 'REGULAR', 'SENT', 0, 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'messages_words%' \
                 OR name LIKE 'messages_parts%' OR name LIKE 'messages_search%' \
                 OR name = 'searchable_messages'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
        let source: i64 = conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'search_source'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_ne!(source, 0);
        conn.execute_batch(
            "INSERT INTO messages (id, seq, change_seq, client_id, patient_id, doctor_id,
                 sender_id, content, message_type, status, is_emergency, created_at, updated_at)
             VALUES ('b', 2, 2, 'b', 'p', 'd', 'p', 'after', 'REGULAR', 'SENT', 0, 0, 0);
             UPDATE messages SET status = 'READ' WHERE id = 'a';
             UPDATE messages SET content = 'edited' WHERE id = 'a';
             UPDATE messages SET retracted_at = 1 WHERE id = 'b';
             DELETE FROM messages WHERE id = 'a';",
        )
        .unwrap();
        let queued: Vec<i64> = conn
            .prepare("SELECT seq FROM search_changes ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            queued,
            [2, 1, 2, 1],
            "a receipt changes nothing a search sees"
        );
    }

    /// A database a newer server made is refused, not served half-understood.
    #[test]
    fn a_newer_schema_is_refused_with_a_sentence() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let newer = MIGRATIONS.len() + 1;
        conn.pragma_update(None, "user_version", i64::try_from(newer).unwrap())
            .unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("made by a newer clinic-server"), "{err}");
        assert!(err.contains(&format!("schema {newer}")), "{err}");
    }
}
