    CREATE INDEX uploads_uploader ON uploads(uploader_id, created_at);
