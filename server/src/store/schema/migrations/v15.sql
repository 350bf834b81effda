    ALTER TABLE conversations ADD COLUMN patient_unread INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN doctor_unread INTEGER NOT NULL DEFAULT 0;
    UPDATE conversations SET
        patient_unread = (SELECT count(*) FROM messages m
            WHERE m.patient_id = conversations.patient_id AND m.doctor_id = conversations.doctor_id
            AND m.sender_id != m.patient_id AND m.status != 'READ' AND m.retracted_at IS NULL),
        doctor_unread = (SELECT count(*) FROM messages m
            WHERE m.patient_id = conversations.patient_id AND m.doctor_id = conversations.doctor_id
            AND m.sender_id != m.doctor_id AND m.status != 'READ' AND m.retracted_at IS NULL);
    DROP INDEX messages_notice_unread;
    CREATE INDEX messages_notice ON messages(recipient_id, notice, seq) WHERE notice IS NOT NULL;
    CREATE TRIGGER messages_unread_update AFTER UPDATE OF status, retracted_at ON messages
        WHEN (OLD.status != 'READ' AND OLD.retracted_at IS NULL)
            != (NEW.status != 'READ' AND NEW.retracted_at IS NULL) BEGIN
        UPDATE conversations SET
            patient_unread = patient_unread + (NEW.sender_id != NEW.patient_id)
                * ((NEW.status != 'READ' AND NEW.retracted_at IS NULL) - (OLD.status != 'READ'
                AND OLD.retracted_at IS NULL)),
            doctor_unread = doctor_unread + (NEW.sender_id != NEW.doctor_id)
                * ((NEW.status != 'READ' AND NEW.retracted_at IS NULL) - (OLD.status != 'READ'
                AND OLD.retracted_at IS NULL))
            WHERE patient_id = NEW.patient_id AND doctor_id = NEW.doctor_id;
    END;
    CREATE TRIGGER messages_unread_delete AFTER DELETE ON messages
        WHEN OLD.status != 'READ' AND OLD.retracted_at IS NULL BEGIN
        UPDATE conversations SET
            patient_unread = patient_unread - (OLD.sender_id != OLD.patient_id),
            doctor_unread = doctor_unread - (OLD.sender_id != OLD.doctor_id)
            WHERE patient_id = OLD.patient_id AND doctor_id = OLD.doctor_id;
    END;
