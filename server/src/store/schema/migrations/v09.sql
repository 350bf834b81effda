    CREATE TABLE purged_emergencies (
        purge_id     INTEGER NOT NULL REFERENCES purges(id) ON DELETE CASCADE,
        emergency_id TEXT NOT NULL,
        PRIMARY KEY (purge_id, emergency_id)
    ) STRICT;
    CREATE TABLE doomed_files (
        sha256 TEXT PRIMARY KEY
    ) STRICT;
