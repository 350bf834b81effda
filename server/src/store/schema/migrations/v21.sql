    CREATE TABLE receipt_log (
        seq        INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('DELIVERED', 'READ')),
        at         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX receipt_log_message ON receipt_log(message_id);
    CREATE INDEX send_log_id ON send_log(id);
