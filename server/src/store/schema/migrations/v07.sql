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
