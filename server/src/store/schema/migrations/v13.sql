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
