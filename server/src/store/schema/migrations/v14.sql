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
