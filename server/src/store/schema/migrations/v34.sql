    ALTER TABLE emergencies ADD COLUMN reopened_at INTEGER;
