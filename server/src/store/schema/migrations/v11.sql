    CREATE TABLE audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        actor      TEXT,
        action     TEXT NOT NULL,
        patient_id TEXT,
        doctor_id  TEXT,
        subject    TEXT,
        outcome    TEXT NOT NULL CHECK (outcome IN ('OK', 'DENIED', 'FAILED')),
        detail     TEXT,
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_at ON audit(at);
    CREATE INDEX audit_patient ON audit(patient_id, at) WHERE patient_id IS NOT NULL;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
