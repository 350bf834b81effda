    ALTER TABLE conversations ADD COLUMN patient_notices INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_notices INTEGER NOT NULL DEFAULT 0;
    DROP INDEX messages_notice;
    UPDATE conversations SET patient_notices = n.to_patient, doctor_notices = n.to_doctor
        FROM (SELECT patient_id, doctor_id, sum(recipient_id = patient_id) AS to_patient,
            sum(recipient_id = doctor_id) AS to_doctor FROM messages WHERE notice = 0
            GROUP BY patient_id, doctor_id) AS n
        WHERE conversations.patient_id = n.patient_id AND conversations.doctor_id = n.doctor_id;
    CREATE TRIGGER messages_notice_update AFTER UPDATE OF notice ON messages
        WHEN (OLD.notice IS 0) != (NEW.notice IS 0) BEGIN
        UPDATE conversations SET
            patient_notices = patient_notices
                + (NEW.recipient_id IS NEW.patient_id) * ((NEW.notice IS 0) - (OLD.notice IS 0)),
            doctor_notices = doctor_notices
                + (NEW.recipient_id IS NEW.doctor_id) * ((NEW.notice IS 0) - (OLD.notice IS 0))
            WHERE patient_id = NEW.patient_id AND doctor_id = NEW.doctor_id;
    END;
    CREATE TRIGGER messages_notice_delete AFTER DELETE ON messages WHEN OLD.notice IS 0 BEGIN
        UPDATE conversations SET
            patient_notices = patient_notices - (OLD.recipient_id IS OLD.patient_id),
            doctor_notices = doctor_notices - (OLD.recipient_id IS OLD.doctor_id)
            WHERE patient_id = OLD.patient_id AND doctor_id = OLD.doctor_id;
    END;
