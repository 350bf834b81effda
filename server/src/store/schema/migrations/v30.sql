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
