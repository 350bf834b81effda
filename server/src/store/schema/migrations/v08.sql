    CREATE TABLE holds (
        id             INTEGER PRIMARY KEY,
        patient_id     TEXT NOT NULL REFERENCES users(id),
        doctor_id      TEXT REFERENCES users(id),
        reason         TEXT NOT NULL,
        placed_at      INTEGER NOT NULL,
        released_at    INTEGER,
        release_reason TEXT
    ) STRICT;
    CREATE INDEX holds_patient ON holds(patient_id) WHERE released_at IS NULL;
    CREATE TABLE purges (
        id          INTEGER PRIMARY KEY,
        patient_id  TEXT NOT NULL,
        doctor_id   TEXT NOT NULL,
        up_to_seq   INTEGER NOT NULL,
        messages    INTEGER NOT NULL DEFAULT 0,
        -- An emergency went with the messages: every doctor holds emergencies, so every doctor
        -- hears of this purge; otherwise only the two participants do.
        had_emergency INTEGER NOT NULL DEFAULT 0,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        change_seq  INTEGER UNIQUE,
        FOREIGN KEY (patient_id, doctor_id) REFERENCES conversations(patient_id, doctor_id)
    ) STRICT;
    CREATE UNIQUE INDEX purges_unfinished ON purges(patient_id, doctor_id)
        WHERE finished_at IS NULL;
