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
