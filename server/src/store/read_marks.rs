//! How far each reader is known to have read each conversation, kept by the writer so that a
//! "read up to" looks only at what came after the reader's last mark, not at the whole
//! conversation.
//!
//! Why: `message:read` names a message, and every earlier unread message addressed to the
//! reader becomes read. Finding those walked the conversation from its first message on every
//! mark (the conversation index has no status in it): with the desktop app marking each message
//! that arrives in an open conversation, that walk was most of the writer's time, and grew with
//! the conversation (docs/benchmarks.md, "What the desktop app's read marks cost").
//!
//! A mark says: every message addressed to the reader in the conversation with a seq up to it
//! is READ, or has a read receipt waiting in the receipt log. It stays true: a status never goes
//! back, and a new message takes a higher seq than any mark. Marks live in memory only (the
//! first "read up to" of a conversation after a start looks from its beginning) and follow the
//! batch: a batch that rolls back takes its marks back, as its receipts were never written.

use std::collections::HashMap;

/// The readers' marks (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct ReadMarks {
    /// The patient's and the doctor's mark, by doctor, by patient (looked up by `&str`, without
    /// building a key per mark). A reader is always one of the two (`check_access`).
    marks: HashMap<String, HashMap<String, [i64; 2]>>,
    /// What the batch in progress changed, with the value before it (to take it back).
    batch: Vec<(String, String, usize, i64)>,
}

/// Which of a conversation's two marks is `reader`'s.
fn side(patient: &str, reader: &str) -> usize {
    usize::from(patient != reader)
}

impl ReadMarks {
    /// How far `reader`, the patient or the doctor, is known to have read the conversation of
    /// `patient` and `doctor` (0: nothing known).
    pub(crate) fn get(&self, patient: &str, doctor: &str, reader: &str) -> i64 {
        self.marks
            .get(patient)
            .and_then(|by_doctor| by_doctor.get(doctor))
            .map_or(0, |marks| marks[side(patient, reader)])
    }

    /// Every message addressed to `reader` in the conversation up to `seq` is now read or has a
    /// read receipt waiting. A lower mark than the one known changes nothing.
    pub(crate) fn set(&mut self, patient: &str, doctor: &str, reader: &str, seq: i64) {
        let side = side(patient, reader);
        if !self
            .marks
            .get(patient)
            .is_some_and(|d| d.contains_key(doctor))
        {
            self.marks
                .entry(patient.to_owned())
                .or_default()
                .insert(doctor.to_owned(), [0, 0]);
        }
        let Some(marks) = self.marks.get_mut(patient).and_then(|d| d.get_mut(doctor)) else {
            return;
        };
        let before = marks[side];
        if before >= seq {
            return;
        }
        marks[side] = seq;
        self.batch
            .push((patient.to_owned(), doctor.to_owned(), side, before));
    }

    /// The batch committed: its marks stay.
    pub(crate) fn committed(&mut self) {
        self.batch.clear();
    }

    /// The batch rolled back: its marks go back to what they were, newest change first.
    pub(crate) fn rolled_back(&mut self) {
        for (patient, doctor, side, before) in self.batch.drain(..).rev() {
            if let Some(marks) = self
                .marks
                .get_mut(&patient)
                .and_then(|by_doctor| by_doctor.get_mut(&doctor))
            {
                marks[side] = before;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_grow_and_a_rolled_back_batch_takes_its_own_back() {
        let mut marks = ReadMarks::default();
        assert_eq!(marks.get("p", "d", "d"), 0);
        marks.set("p", "d", "d", 5);
        marks.committed();
        marks.set("p", "d", "d", 3);
        assert_eq!(marks.get("p", "d", "d"), 5, "never lower");
        marks.set("p", "d", "d", 8);
        marks.set("p", "d", "d", 9);
        marks.set("p", "d", "p", 4);
        marks.set("p", "e", "e", 6);
        assert_eq!((marks.get("p", "d", "d"), marks.get("p", "d", "p")), (9, 4));
        assert_eq!(
            marks.get("p", "e", "e"),
            6,
            "another conversation of the patient"
        );
        marks.rolled_back();
        assert_eq!(marks.get("p", "d", "d"), 5, "back to the committed mark");
        assert_eq!(marks.get("p", "d", "p"), 0, "back to nothing known");
        assert_eq!(marks.get("p", "e", "e"), 0);
        marks.set("p", "d", "d", 7);
        marks.committed();
        marks.rolled_back();
        assert_eq!(marks.get("p", "d", "d"), 7, "a committed mark stays");
    }
}
