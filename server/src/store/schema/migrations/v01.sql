    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO counters (name, value) VALUES ('change_seq', 0);

    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('PATIENT', 'DOCTOR', 'ADMIN')),
        password_hash TEXT NOT NULL,
        date_of_birth TEXT,
        blood_group   TEXT,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE tokens (
        hash       TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked    INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX tokens_user ON tokens(user_id);

    CREATE TABLE conversations (
        patient_id TEXT NOT NULL REFERENCES users(id),
        doctor_id  TEXT NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (patient_id, doctor_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX conversations_doctor ON conversations(doctor_id);

    CREATE TABLE messages (
        id           TEXT PRIMARY KEY,
        seq          INTEGER NOT NULL UNIQUE,
        change_seq   INTEGER NOT NULL UNIQUE,
        client_id    TEXT NOT NULL,
        patient_id   TEXT NOT NULL,
        doctor_id    TEXT NOT NULL,
        sender_id    TEXT NOT NULL REFERENCES users(id),
        content      TEXT NOT NULL,
        message_type TEXT NOT NULL,
        status       TEXT NOT NULL,
        file_url     TEXT,
        file_name    TEXT,
        file_size    INTEGER,
        file_type    TEXT,
        is_emergency INTEGER NOT NULL,
        resolved_at  INTEGER,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        delivered_at INTEGER,
        read_at      INTEGER,
        UNIQUE (sender_id, client_id),
        FOREIGN KEY (patient_id, doctor_id) REFERENCES conversations(patient_id, doctor_id)
    ) STRICT;
    CREATE INDEX messages_conversation ON messages(patient_id, doctor_id, seq);
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq);
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq);

    CREATE TABLE emergencies (
        id              TEXT PRIMARY KEY,
        message_id      TEXT NOT NULL REFERENCES messages(id),
        patient_id      TEXT NOT NULL,
        doctor_id       TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('RAISED', 'ACKNOWLEDGED', 'RESOLVED')),
        raised_at       INTEGER NOT NULL,
        escalated_at    INTEGER,
        acknowledged_by TEXT REFERENCES users(id),
        acknowledged_at INTEGER,
        resolved_by     TEXT REFERENCES users(id),
        resolved_at     INTEGER,
        resolution_note TEXT,
        change_seq      INTEGER NOT NULL UNIQUE
    ) STRICT;
    CREATE INDEX emergencies_patient ON emergencies(patient_id, change_seq);
    CREATE INDEX emergencies_open ON emergencies(state);

    CREATE TABLE notifications (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id),
        kind       TEXT NOT NULL,
        title      TEXT NOT NULL,
        body       TEXT NOT NULL,
        message_id TEXT,
        patient_id TEXT,
        doctor_id  TEXT,
        read       INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX notifications_user ON notifications(user_id, created_at);
