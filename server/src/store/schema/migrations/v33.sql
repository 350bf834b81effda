    ALTER TABLE event_log ADD COLUMN written INTEGER
        CHECK (written IS NULL OR (kind = 'SEND' AND written < at));
    ALTER TABLE messages ADD COLUMN written_at INTEGER
        CHECK (written_at IS NULL OR written_at < created_at);
