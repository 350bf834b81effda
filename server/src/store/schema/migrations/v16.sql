    INSERT INTO messages_words (messages_words, rank) VALUES ('automerge', 8);
    INSERT INTO messages_parts (messages_parts, rank) VALUES ('automerge', 8);
    DROP INDEX messages_patient_change;
    DROP INDEX messages_doctor_change;
    CREATE INDEX messages_patient_change ON messages(patient_id, change_seq)
        WHERE change_seq != seq;
    CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq)
        WHERE change_seq != seq;
