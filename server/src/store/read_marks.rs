//! How far each reader is known to have read each conversation, kept by the writer so that a
//! "read up to" looks only at what came after the reader's last mark, not at the whole
//! conversation; and saved in the conversation's row (schema v22) so that the first mark after a
//! start does not walk the conversation either.
//!
//! Why: `message:read` names a message, and every earlier unread message addressed to the
//! reader becomes read. Finding those walked the conversation from its first message on every
//! mark (the conversation index has no status in it): with the desktop app marking each message
//! that arrives in an open conversation, that walk was most of the writer's time, and grew with
//! the conversation (docs/benchmarks.md, "What the desktop app's read marks cost"). Kept in
//! memory only, the first mark of each conversation after a start still walked it once (about
//! 24 ms for a conversation of 100,000 messages: "Read marks saved").
//!
//! A mark says: every message addressed to the reader in the conversation with a seq up to it
//! is READ, or has a read receipt waiting in the log. It stays true: a status never goes
//! back, and a new message takes a higher seq than any mark. In memory, marks follow the batch:
//! a batch that rolls back takes its marks back, as its receipts were never written. The saved
//! mark (`conversations.patient_read`, `doctor_read`) is written off the commit path, by the
//! writer's steps at most every few seconds (`writer::SAVE_MARKS`) and at a clean stop, from
//! marks whose batches have committed; so it is never ahead of a durable mark, and a crash
//! leaves an older mark, which is still true (the first "read up to" then walks what came after
//! it).
//!
//! Beside them, per side, the newest message delivered by a receipt "up to" (`delivered_top`,
//! schema v24): a delivered receipt counts as "up to" only when every message it changes is above
//! it (`receipts::mark_delivered`). It is read from the conversation's row (which the receipt's
//! move, or its write in a batch that does not log, raises) and raised here as such receipts are
//! logged or written; never lowered: not when a batch rolls back, nor when the counters check
//! has the read marks read again (`forget`), which raises these to the saved tops it sets right
//! instead (`raise_known_delivered_tops`). A top above the truth only makes a receipt count as
//! by id; one below a message delivered so, with that receipt still in the log, would let a
//! later one count as "up to" below it and break the order `sync` relies on.

use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A conversation's two marks, the patient's first: as known, and as saved.
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    known: [i64; 2],
    saved: [i64; 2],
    /// Listed among the conversations to save (listed once however often its marks move).
    queued: bool,
}

/// The readers' marks (see the module's documentation).
#[derive(Debug)]
pub(crate) struct ReadMarks {
    /// By doctor, by patient (looked up by `&str`, without building a key per mark). A reader is
    /// always one of the two (`check_access`).
    marks: HashMap<String, HashMap<String, Marks>>,
    /// What the batch in progress changed, with the value before it (to take it back).
    batch: Vec<(String, String, usize, i64)>,
    /// Conversations whose known marks are ahead of their saved ones (at most one entry per
    /// conversation known).
    unsaved: Vec<(String, String)>,
    /// When marks were last saved (or the writer started).
    saved_at: Instant,
    /// The delivered tops (patient's, doctor's) by doctor, by patient, of the conversations
    /// read so far.
    delivered: HashMap<String, HashMap<String, [i64; 2]>>,
}

impl Default for ReadMarks {
    fn default() -> Self {
        Self {
            marks: HashMap::new(),
            batch: Vec::new(),
            unsaved: Vec::new(),
            saved_at: Instant::now(),
            delivered: HashMap::new(),
        }
    }
}

/// Marks taken by a step to save (`ReadMarks::save`), in key order.
#[derive(Debug, Default)]
pub(crate) struct Saving(Vec<(String, String, [i64; 2])>);

/// Which of a conversation's two marks is `reader`'s.
fn side(patient: &str, reader: &str) -> usize {
    usize::from(patient != reader)
}

/// The saved marks of the conversation of `?1` and `?2`.
const SAVED: &str =
    "SELECT patient_read, doctor_read FROM conversations WHERE patient_id = ?1 AND doctor_id = ?2";
/// The delivered tops of the conversation of `?1` and `?2`.
const DELIVERED: &str = "SELECT patient_delivered_top, doctor_delivered_top FROM conversations \
     WHERE patient_id = ?1 AND doctor_id = ?2";
/// Saves marks of the conversation of `?1` and `?2` (never lowering one).
const SAVE: &str = "UPDATE conversations SET patient_read = max(patient_read, ?3), \
     doctor_read = max(doctor_read, ?4) WHERE patient_id = ?1 AND doctor_id = ?2 \
     AND (patient_read < ?3 OR doctor_read < ?4)";

/// The delivered tops saved in the conversation's row (patient's, doctor's; 0 without a row).
fn saved_delivered_tops(
    conn: &Connection,
    patient: &str,
    doctor: &str,
) -> rusqlite::Result<[i64; 2]> {
    Ok(conn
        .prepare_cached(DELIVERED)?
        .query_row([patient, doctor], |r| Ok([r.get(0)?, r.get(1)?]))
        .optional()?
        .unwrap_or_default())
}

impl ReadMarks {
    /// How far `reader`, the patient or the doctor, is known to have read the conversation of
    /// `patient` and `doctor` (0: nothing known). The first time a conversation is asked about,
    /// its saved marks are read from `conn`.
    pub(crate) fn get(
        &mut self,
        conn: &Connection,
        patient: &str,
        doctor: &str,
        reader: &str,
    ) -> rusqlite::Result<i64> {
        let side = side(patient, reader);
        if let Some(marks) = self.marks.get(patient).and_then(|d| d.get(doctor)) {
            return Ok(marks.known[side]);
        }
        let saved: [i64; 2] = conn
            .prepare_cached(SAVED)?
            .query_row([patient, doctor], |r| Ok([r.get(0)?, r.get(1)?]))
            .optional()?
            .unwrap_or_default();
        self.marks.entry(patient.to_owned()).or_default().insert(
            doctor.to_owned(),
            Marks {
                known: saved,
                saved,
                queued: false,
            },
        );
        Ok(saved[side])
    }

    /// The seq of the newest message addressed to `recipient` in the conversation that a receipt
    /// "up to" delivered (0: none), read from `conn` the first time it is asked about.
    pub(crate) fn delivered_top(
        &mut self,
        conn: &Connection,
        patient: &str,
        doctor: &str,
        recipient: &str,
    ) -> rusqlite::Result<i64> {
        let side = side(patient, recipient);
        if let Some(tops) = self.delivered.get(patient).and_then(|d| d.get(doctor)) {
            return Ok(tops[side]);
        }
        let tops = saved_delivered_tops(conn, patient, doctor)?;
        self.delivered
            .entry(patient.to_owned())
            .or_default()
            .insert(doctor.to_owned(), tops);
        Ok(tops[side])
    }

    /// A receipt "up to" delivers messages to `recipient` up to `seq`. Called after
    /// [`ReadMarks::delivered_top`] of the same conversation, which keeps it known for good.
    pub(crate) fn raise_delivered_top(
        &mut self,
        patient: &str,
        doctor: &str,
        recipient: &str,
        seq: i64,
    ) {
        let side = side(patient, recipient);
        let tops = self
            .delivered
            .get_mut(patient)
            .and_then(|d| d.get_mut(doctor));
        debug_assert!(tops.is_some(), "raised before it was read");
        if let Some(tops) = tops {
            tops[side] = tops[side].max(seq);
        }
    }

    /// The counters check set the conversation's saved tops right in `conn`: a copy held is
    /// raised to them; none held is read when next asked for.
    pub(crate) fn raise_known_delivered_tops(
        &mut self,
        conn: &Connection,
        patient: &str,
        doctor: &str,
    ) -> rusqlite::Result<()> {
        let saved = saved_delivered_tops(conn, patient, doctor)?;
        if let Some(tops) = self
            .delivered
            .get_mut(patient)
            .and_then(|d| d.get_mut(doctor))
        {
            for (top, saved) in tops.iter_mut().zip(saved) {
                *top = (*top).max(saved);
            }
        }
        Ok(())
    }

    /// Every message addressed to `reader` in the conversation up to `seq` is now read or has a
    /// read receipt waiting. A lower mark than the one known changes nothing. Marks follow the
    /// batch, not a command's savepoint: only a command that cannot fail after it calls this
    /// (`mark_read_up_to`, last).
    pub(crate) fn set(&mut self, patient: &str, doctor: &str, reader: &str, seq: i64) {
        let side = side(patient, reader);
        let marks = self
            .marks
            .entry(patient.to_owned())
            .or_default()
            .entry(doctor.to_owned())
            .or_default();
        let before = marks.known[side];
        if before >= seq {
            return;
        }
        marks.known[side] = seq;
        self.batch
            .push((patient.to_owned(), doctor.to_owned(), side, before));
    }

    /// The batch committed: its marks stay, and are to be saved.
    pub(crate) fn committed(&mut self) {
        for (patient, doctor, _, _) in self.batch.drain(..) {
            let marks = self
                .marks
                .get_mut(&patient)
                .and_then(|d| d.get_mut(&doctor));
            if let Some(marks) = marks
                && !marks.queued
            {
                marks.queued = true;
                self.unsaved.push((patient, doctor));
            }
        }
    }

    /// The batch rolled back: its marks go back to what they were, newest change first.
    pub(crate) fn rolled_back(&mut self) {
        for (patient, doctor, side, before) in self.batch.drain(..).rev() {
            if let Some(marks) = self
                .marks
                .get_mut(&patient)
                .and_then(|by_doctor| by_doctor.get_mut(&doctor))
            {
                marks.known[side] = before;
            }
        }
    }

    /// Drops what is known of the conversation's read marks (`counts.rs` set its saved ones
    /// right): the next "read up to" reads them again (should the batch roll back, what is saved
    /// then). Its delivered tops stay (should the batch roll back, a receipt waiting in the log may
    /// be above the saved ones): the check raises them instead
    /// ([`ReadMarks::raise_known_delivered_tops`]).
    pub(crate) fn forget(&mut self, patient: &str, doctor: &str) {
        if let Some(by_doctor) = self.marks.get_mut(patient) {
            by_doctor.remove(doctor);
        }
    }

    /// How long until committed marks waiting to be saved are due, saved at most once `every`
    /// (zero: due now); `None` when none wait.
    pub(crate) fn save_due(&self, every: Duration) -> Option<Duration> {
        (!self.unsaved.is_empty()).then(|| every.saturating_sub(self.saved_at.elapsed()))
    }

    /// Writes the committed marks not saved yet to their conversations, in key order, in the
    /// caller's transaction; [`ReadMarks::saved`] takes what it returns once that commits.
    pub(crate) fn save(&mut self, conn: &Connection) -> rusqlite::Result<Saving> {
        let mut keys = std::mem::take(&mut self.unsaved);
        keys.sort_unstable();
        keys.dedup();
        let mut saving = Vec::with_capacity(keys.len());
        for (patient, doctor) in keys {
            if let Some(marks) = self.marks.get(&patient).and_then(|d| d.get(&doctor)) {
                saving.push((patient, doctor, marks.known));
            }
        }
        // Until the transaction commits, they are still unsaved.
        self.unsaved = saving
            .iter()
            .map(|(patient, doctor, _)| (patient.clone(), doctor.clone()))
            .collect();
        let mut save = conn.prepare_cached(SAVE)?;
        for (patient, doctor, [by_patient, by_doctor]) in &saving {
            save.execute(params![patient, doctor, by_patient, by_doctor])?;
        }
        Ok(Saving(saving))
    }

    /// The transaction that saved `saving` committed.
    pub(crate) fn saved(&mut self, saving: Saving) {
        self.saved_at = Instant::now();
        for (patient, doctor, known) in saving.0 {
            if let Some(marks) = self
                .marks
                .get_mut(&patient)
                .and_then(|d| d.get_mut(&doctor))
            {
                marks.saved = [marks.saved[0].max(known[0]), marks.saved[1].max(known[1])];
            }
        }
        let marks = &mut self.marks;
        self.unsaved.retain(|(patient, doctor)| {
            match marks.get_mut(patient).and_then(|d| d.get_mut(doctor)) {
                Some(m) if m.known != m.saved => true,
                Some(m) => {
                    m.queued = false;
                    false
                }
                None => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Synchronous;
    use crate::store::users;
    use clinic_protocol::Role;

    /// A database with the conversations of patient "p" with doctors "d" and "e".
    fn clinic() -> (tempfile::TempDir, Connection, [String; 3]) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_write(&dir.path().join("c.db"), Synchronous::Full).unwrap();
        let p = users::for_test(&conn, "p", Role::Patient).id.to_string();
        let d = users::for_test(&conn, "d", Role::Doctor).id.to_string();
        let e = users::for_test(&conn, "e", Role::Doctor).id.to_string();
        for doctor in [&d, &e] {
            conn.execute(
                "INSERT INTO conversations (patient_id, doctor_id, created_at) VALUES (?1, ?2, 0)",
                [&p, doctor],
            )
            .unwrap();
        }
        (dir, conn, [p, d, e])
    }

    fn stored(conn: &Connection, patient: &str, doctor: &str) -> [i64; 2] {
        conn.query_row(SAVED, [patient, doctor], |r| Ok([r.get(0)?, r.get(1)?]))
            .unwrap()
    }

    #[test]
    fn marks_only_grow_and_a_rolled_back_batch_takes_its_own_back() {
        let (_dir, conn, [p, d, e]) = clinic();
        let (p, d, e) = (p.as_str(), d.as_str(), e.as_str());
        let mut marks = ReadMarks::default();
        let get = |marks: &mut ReadMarks, doctor: &str, reader: &str| {
            marks.get(&conn, p, doctor, reader).unwrap()
        };
        assert_eq!(get(&mut marks, d, d), 0);
        marks.set(p, d, d, 5);
        marks.committed();
        marks.set(p, d, d, 3);
        assert_eq!(get(&mut marks, d, d), 5, "never lower");
        marks.set(p, d, d, 8);
        marks.set(p, d, d, 9);
        marks.set(p, d, p, 4);
        marks.set(p, e, e, 6);
        assert_eq!((get(&mut marks, d, d), get(&mut marks, d, p)), (9, 4));
        assert_eq!(
            get(&mut marks, e, e),
            6,
            "another conversation of the patient"
        );
        marks.rolled_back();
        assert_eq!(get(&mut marks, d, d), 5, "back to the committed mark");
        assert_eq!(get(&mut marks, d, p), 0, "back to nothing known");
        assert_eq!(get(&mut marks, e, e), 0);
        marks.set(p, d, d, 7);
        marks.committed();
        marks.rolled_back();
        assert_eq!(get(&mut marks, d, d), 7, "a committed mark stays");
    }

    /// Committed marks are saved to their conversations, never lowering a saved one; a save
    /// whose transaction rolls back leaves them to save again; rolled back marks are never
    /// saved; and marks unknown in memory are read from what was saved.
    #[test]
    fn committed_marks_are_saved_once_their_transaction_commits_and_read_back() {
        let (_dir, mut conn, [p, d, e]) = clinic();
        let (p, d, e) = (p.as_str(), d.as_str(), e.as_str());
        let mut marks = ReadMarks::default();
        assert_eq!(marks.save_due(Duration::ZERO), None);
        marks.set(p, d, d, 5);
        marks.set(p, e, p, 3);
        assert_eq!(
            marks.save_due(Duration::ZERO),
            None,
            "not before the batch commits"
        );
        marks.committed();
        marks.set(p, d, p, 9);
        marks.rolled_back();
        assert_eq!(marks.save_due(Duration::ZERO), Some(Duration::ZERO));
        let hour = Duration::from_secs(3600);
        assert!(
            marks.save_due(hour) > Some(hour - Duration::from_secs(60)),
            "not due yet"
        );

        let tx = conn.transaction().unwrap();
        let saving = marks.save(&tx).unwrap();
        drop(tx);
        assert_eq!(stored(&conn, p, d), [0, 0], "rolled back");
        assert!(marks.save_due(Duration::ZERO).is_some(), "still to save");

        let tx = conn.transaction().unwrap();
        let saving_again = marks.save(&tx).unwrap();
        tx.commit().unwrap();
        marks.saved(saving_again);
        drop(saving);
        assert_eq!(marks.save_due(Duration::ZERO), None);
        assert_eq!(
            stored(&conn, p, d),
            [0, 5],
            "the doctor's mark, not the rolled back one"
        );
        assert_eq!(stored(&conn, p, e), [3, 0]);

        // Another writer's marks start from what was saved.
        let mut after = ReadMarks::default();
        assert_eq!(after.get(&conn, p, d, d).unwrap(), 5);
        assert_eq!(after.get(&conn, p, e, p).unwrap(), 3);
        assert_eq!(
            after.get(&conn, p, "nobody", p).unwrap(),
            0,
            "no such conversation"
        );
        // A saved mark is never lowered, whoever saves.
        conn.execute(
            "UPDATE conversations SET doctor_read = 20 WHERE doctor_id = ?1",
            [d],
        )
        .unwrap();
        marks.set(p, d, d, 12);
        marks.committed();
        let saving = marks.save(&conn).unwrap();
        marks.saved(saving);
        assert_eq!(stored(&conn, p, d), [0, 20]);
    }

    /// A forgotten conversation (the daily check set its saved marks right) is read again from
    /// what is saved: its unsaved mark is not saved over the check's, and a batch that moved a
    /// mark, forgot it and rolled back leaves nothing of either behind.
    #[test]
    fn a_forgotten_conversation_is_read_again_and_never_saved_from_memory() {
        let (_dir, conn, [p, d, _]) = clinic();
        let (p, d) = (p.as_str(), d.as_str());
        let set_saved = |mark: i64| {
            conn.execute(
                "UPDATE conversations SET doctor_read = ?1 WHERE doctor_id = ?2",
                params![mark, d],
            )
            .unwrap();
        };
        set_saved(4);
        let mut marks = ReadMarks::default();
        assert_eq!(marks.get(&conn, p, d, d).unwrap(), 4);
        marks.set(p, d, d, 6);
        marks.committed();
        // The check finds the saved mark wrong, lowers it and forgets the writer's copy.
        set_saved(2);
        marks.forget(p, d);
        let saving = marks.save(&conn).unwrap();
        marks.saved(saving);
        assert_eq!(stored(&conn, p, d), [0, 2], "not saved over the check's");
        assert_eq!(marks.save_due(Duration::ZERO), None, "nothing left to save");
        assert_eq!(marks.get(&conn, p, d, d).unwrap(), 2, "read again");

        // In one batch: a mark moves, the check forgets the conversation, the batch rolls back.
        marks.set(p, d, d, 9);
        marks.forget(p, d);
        marks.rolled_back();
        assert_eq!(marks.get(&conn, p, d, d).unwrap(), 2, "what is saved");
        assert_eq!(marks.save_due(Duration::ZERO), None);
    }
}
