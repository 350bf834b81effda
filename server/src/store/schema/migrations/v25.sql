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
