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
