    CREATE TABLE uploads (
        id           TEXT PRIMARY KEY,
        sha256       TEXT NOT NULL,
        size         INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        file_name    TEXT NOT NULL,
        uploader_id  TEXT NOT NULL REFERENCES users(id),
        patient_id   TEXT NOT NULL,
        doctor_id    TEXT NOT NULL,
        message_id   TEXT REFERENCES messages(id),
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX uploads_sha256 ON uploads(sha256);
    CREATE INDEX uploads_unattached ON uploads(created_at) WHERE message_id IS NULL;
