//! Heads of the audit chain kept outside the database (the server's log line "audit
//! checkpoint", the line `clinic-server backup` prints): `audit verify --head` checks that the
//! database's chain still holds them. A chain that is intact but does not hold a head kept
//! elsewhere was rewritten as a whole (every hash recomputed), or is another database.

use rusqlite::{Connection, OptionalExtension};
use std::fmt;
use std::str::FromStr;

/// A chain head as kept: the row's id (when known) and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub row: Option<i64>,
    /// Lowercase hex SHA-256.
    pub hash: String,
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(row) => write!(f, "row {row}, hash {}", self.hash),
            None => write!(f, "hash {}", self.hash),
        }
    }
}

impl FromStr for Head {
    type Err = String;

    /// `ROW:HASH` (as the backup prints them: `row N, hash H` is `N:H`) or `HASH` alone.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a chain head: write ROW:HASH (such as 42:{}), from the line \
                 \"audit chain head: row 42, hash ...\", or the 64-letter hash alone",
                "9f".repeat(32)
            )
        };
        let text = text.trim();
        let (row, hash) = match text.split_once(':') {
            Some((row, hash)) => {
                let row: i64 = row
                    .trim()
                    .parse()
                    .ok()
                    .filter(|r| *r > 0 && row.trim().chars().all(|c| c.is_ascii_digit()))
                    .ok_or_else(bad)?;
                (Some(row), hash.trim())
            }
            None => (None, text),
        };
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Self {
            row,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// A head kept outside that the database's chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit log does not hold the chain head you gave ({head}): {problem}")]
pub struct Missing {
    pub head: Head,
    pub problem: String,
}

/// The first of `heads` that the chain in `conn` does not hold. Only meaningful on a chain
/// that verified intact: then a row's hash stands for every row before it.
pub(crate) fn first_missing(
    conn: &Connection,
    heads: &[Head],
) -> rusqlite::Result<Option<Missing>> {
    let last: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM audit", [], |r| r.get(0))?;
    for head in heads {
        let missing = |problem: String| {
            Ok(Some(Missing {
                head: head.clone(),
                problem,
            }))
        };
        match head.row {
            Some(row) => {
                let stored: Option<String> = conn
                    .query_row("SELECT hash FROM audit WHERE id = ?1", [row], |r| r.get(0))
                    .optional()?;
                match stored {
                    None => {
                        return missing(format!(
                            "the log ends at row {last}, before row {row}: rows were removed and \
                             the log rewritten, or this is another server's database"
                        ));
                    }
                    Some(stored) if stored != head.hash => {
                        return missing(format!(
                            "row {row} has hash {stored}: the log was rewritten at row {row} or \
                             before it (every hash recomputed), or this is another server's \
                             database"
                        ));
                    }
                    Some(_) => {}
                }
            }
            None => {
                let found: Option<i64> = conn
                    .query_row(
                        "SELECT id FROM audit WHERE hash = ?1",
                        [head.hash.as_str()],
                        |r| r.get(0),
                    )
                    .optional()?;
                if found.is_none() {
                    return missing(format!(
                        "none of its {last} rows has that hash: the log was rewritten (every hash \
                         recomputed), or this is another server's database"
                    ));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Head;

    #[test]
    fn heads_are_read_as_row_and_hash_or_hash_alone() {
        let hash = "AB".repeat(32);
        assert_eq!(
            format!("42:{hash}").parse::<Head>(),
            Ok(Head {
                row: Some(42),
                hash: "ab".repeat(32)
            })
        );
        assert_eq!(
            hash.parse::<Head>().map(|h| h.row),
            Ok(None),
            "the hash alone"
        );
        for bad in [
            "",
            "42",
            "42:",
            "0:abab",
            &format!("-1:{hash}"),
            &format!("+1:{hash}"),
            &format!("x:{hash}"),
            &format!("1:{}", "g".repeat(64)),
            &"a".repeat(63),
        ] {
            let refused = bad.parse::<Head>().unwrap_err();
            assert!(
                refused.contains("is not a chain head: write ROW:HASH"),
                "{refused}"
            );
        }
    }
}
