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
