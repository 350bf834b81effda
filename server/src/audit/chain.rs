//! The hash chain: each row's hash is SHA-256 over its canonical fields and the previous row's
//! hash, so editing, removing, reordering or cutting rows breaks it at the first such row.

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// The "previous hash" of the first row.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One row as hashed.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub patient: Option<String>,
    pub doctor: Option<String>,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub prev_hash: String,
}

impl Row {
    /// Lowercase hex SHA-256 of the JSON array `[id, at, actor, action, patientId, doctorId,
    /// subject, outcome, detail, prevHash]` (absent fields are `null`): one unambiguous byte
    /// string per row, easy to recompute with any JSON library.
    pub(crate) fn hash(&self) -> String {
        // A tuple serialises as a JSON array, byte for byte as a `json!` array would, without
        // first copying every field into a `Value` (one is hashed at every send).
        let canonical = serde_json::to_vec(&(
            self.id,
            self.at,
            &self.actor,
            &self.action,
            &self.patient,
            &self.doctor,
            &self.subject,
            &self.outcome,
            &self.detail,
            &self.prev_hash,
        ))
        .expect("numbers and strings always serialise");
        hex::encode(Sha256::digest(&canonical))
    }

    /// The digest as it was computed before 2026-12-05, through a `serde_json::Value`: the same
    /// bytes, kept for the test that says so and for `clinic-bench cpu-path`.
    pub(crate) fn hash_through_value(&self) -> String {
        let canonical = serde_json::json!([
            self.id,
            self.at,
            self.actor,
            self.action,
            self.patient,
            self.doctor,
            self.subject,
            self.outcome,
            self.detail,
            self.prev_hash
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Where the chain is broken: the first bad row and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit row {row}: {problem}")]
pub struct Broken {
    pub row: i64,
    pub problem: String,
}

/// Checks the whole chain: `Ok(Ok(rows))` when it is intact, `Ok(Err(first break))` when not.
pub fn verify(conn: &Connection) -> rusqlite::Result<Result<i64, Broken>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, patient_id, doctor_id, subject, outcome, detail, \
         prev_hash, hash FROM audit ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let (mut last_id, mut last_hash) = (0i64, GENESIS.to_owned());
    let mut count = 0i64;
    while let Some(r) = rows.next()? {
        let row = Row {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            patient: r.get(4)?,
            doctor: r.get(5)?,
            subject: r.get(6)?,
            outcome: r.get(7)?,
            detail: r.get(8)?,
            prev_hash: r.get(9)?,
        };
        let stored: String = r.get(10)?;
        let broken = |row: i64, problem: String| Ok(Err(Broken { row, problem }));
        if row.id != last_id + 1 {
            let missing = if row.id == last_id + 2 {
                format!("row {} is missing", last_id + 1)
            } else {
                format!("rows {} to {} are missing", last_id + 1, row.id - 1)
            };
            return broken(
                last_id + 1,
                format!(
                    "{missing} (row {} follows {}): rows were deleted",
                    row.id,
                    if last_id == 0 {
                        "the start of the log".to_owned()
                    } else {
                        format!("row {last_id}")
                    }
                ),
            );
        }
        if row.hash() != stored {
            return broken(
                row.id,
                "its contents do not match its hash: the row was edited, or swapped with another"
                    .into(),
            );
        }
        if row.prev_hash != last_hash {
            return broken(
                row.id,
                "it does not follow the row before it (its previous-row hash differs): rows \
                 were replaced or reordered"
                    .into(),
            );
        }
        (last_id, last_hash) = (row.id, stored);
        count += 1;
    }
    // AUTOINCREMENT keeps the highest id ever given out, also after the rows are deleted.
    let issued: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'audit'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(issued) = issued
        && issued > last_id
    {
        return Ok(Err(Broken {
            row: last_id + 1,
            problem: format!(
                "rows {} to {issued} are missing: the log was cut short after row {last_id}",
                last_id + 1
            ),
        }));
    }
    Ok(Ok(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(subject: Option<&str>, detail: Option<&str>) -> Row {
        Row {
            id: 7,
            at: 1_796_448_884_123,
            actor: Some("u-doc".into()),
            action: "MESSAGE_CREATE".into(),
            patient: Some("p-1".into()),
            doctor: None,
            subject: subject.map(Into::into),
            outcome: "OK".into(),
            detail: detail.map(Into::into),
            prev_hash: GENESIS.into(),
        }
    }

    /// The digest of a row is the one any JSON library gives for the documented array: this
    /// one was computed with Python's `json.dumps(row, separators=(",", ":"),
    /// ensure_ascii=False)` and `hashlib.sha256`.
    #[test]
    fn a_row_hashes_as_its_json_array_documented() {
        let row = row(Some("m \"x\" \u{e9}\u{6f22}\n\t\u{1}/"), Some(r#"{"a":1}"#));
        assert_eq!(
            row.hash(),
            "2070d1d6c3d044e7774b4c5b99db7000e88d87bb45654b4ea7ea974933f4832e"
        );
    }

    /// Rows written before the canonical form was serialised from a tuple were hashed through
    /// `serde_json::json!`: both give the same bytes, so their chain still verifies.
    #[test]
    fn the_digest_is_the_one_json_gave() {
        let texts = [
            None,
            Some(""),
            Some("plain"),
            Some("\u{7f}\u{2028}\\ \"\r\u{8}\u{c}"),
            Some("\u{1f6d1} \u{10ffff} \u{fffd}"),
        ];
        let numbers = [0, -1, 7, i64::MIN, i64::MAX];
        for subject in texts {
            for detail in texts {
                let mut row = row(subject, detail);
                for (id, at) in numbers.iter().zip(numbers.iter().rev()) {
                    (row.id, row.at) = (*id, *at);
                    assert_eq!(
                        row.hash(),
                        row.hash_through_value(),
                        "{subject:?} {detail:?} {id} {at}"
                    );
                }
            }
        }
    }
}
