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
