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
