    CREATE TABLE emergency_transitions (
        id           INTEGER PRIMARY KEY,
        emergency_id TEXT NOT NULL REFERENCES emergencies(id),
        kind         TEXT NOT NULL
                     CHECK (kind IN ('RAISED', 'ALERTED', 'ACKNOWLEDGED', 'ESCALATED', 'RESOLVED')),
        actor_id     TEXT REFERENCES users(id),
        devices      INTEGER,
        note         TEXT,
        at           INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX emergency_transitions_emergency ON emergency_transitions(emergency_id, id);
    -- The first delivery to a doctor is what counts; later repeats are not recorded again.
    CREATE UNIQUE INDEX emergency_transitions_alerted
        ON emergency_transitions(emergency_id, actor_id) WHERE kind = 'ALERTED';
    ALTER TABLE emergencies ADD COLUMN alerted_at INTEGER;
    ALTER TABLE emergencies ADD COLUMN alerted_doctors INTEGER NOT NULL DEFAULT 0;

    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, at)
        SELECT id, 'RAISED', patient_id, raised_at FROM emergencies;
    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, at)
        SELECT id, 'ESCALATED', NULL, escalated_at FROM emergencies WHERE escalated_at IS NOT NULL;
    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, at)
        SELECT id, 'ACKNOWLEDGED', acknowledged_by, acknowledged_at FROM emergencies
        WHERE acknowledged_at IS NOT NULL;
    INSERT INTO emergency_transitions (emergency_id, kind, actor_id, note, at)
        SELECT id, 'RESOLVED', resolved_by, resolution_note, resolved_at FROM emergencies
        WHERE resolved_at IS NOT NULL;
