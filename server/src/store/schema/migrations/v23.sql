    ALTER TABLE messages ADD COLUMN read_seq INTEGER;
    ALTER TABLE conversations ADD COLUMN patient_read_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_read_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN patient_read_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_read_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE receipt_log ADD COLUMN mark INTEGER NOT NULL DEFAULT 0;
    DROP INDEX messages_patient_change;
    DROP INDEX messages_doctor_change;
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq;
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq;
