    ALTER TABLE messages ADD COLUMN delivered_seq INTEGER;
    ALTER TABLE conversations ADD COLUMN patient_delivered_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_delivered_change INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN patient_delivered_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_delivered_from INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN patient_delivered_top INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_delivered_top INTEGER NOT NULL DEFAULT 0;
    DROP INDEX messages_patient_change;
    DROP INDEX messages_doctor_change;
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq
        AND change_seq IS NOT delivered_seq;
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq)
        WHERE change_seq != seq AND change_seq IS NOT read_seq
        AND change_seq IS NOT delivered_seq;
