//! Message search over the FTS5 indexes (in `search.db`, attached as `search`:
//! `search_index.rs`): the caller's own conversations only,
//! filtered in the same statement as the match (so the limit counts only what they may see),
//! newest first and paged by `seq` (or one page of the best matches by BM25), and cut off when
//! it runs too long.

use super::rows::{self, MESSAGE_COLUMNS};
use super::users;
use crate::store::StoreError;
use chrono::NaiveDate;
use clinic_protocol::rest::{SearchHit, SearchPage};
use clinic_protocol::search::{Has, Party, Query, day_start_ms, next_day as next, shown};
use clinic_protocol::{ConversationKey, Message, Role, User, UserId};
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, params_from_iter};
use std::time::Instant;

/// A search as the server runs it (parsed and checked by the caller).
#[derive(Debug, Clone)]
pub(crate) struct Search {
    pub query: Query,
    /// Only this conversation (already checked: the caller is a participant).
    pub conversation: Option<ConversationKey>,
    pub limit: u32,
    /// Only messages older than this `seq` (the cursor).
    pub before_seq: Option<i64>,
    /// The searcher's offset from UTC, for day filters.
    pub tz_offset_minutes: i32,
    /// Best matches first (one page, no cursor) instead of newest first.
    pub by_rank: bool,
}

/// Runs `search` for `caller` (a patient or a doctor), giving up with 503 after `deadline`.
pub(crate) fn run(
    conn: &Connection,
    caller: &User,
    search: &Search,
    deadline: Instant,
) -> Result<SearchPage, StoreError> {
    let result = until(conn, deadline, || query(conn, caller, search));
    result.map_err(|err| match err {
        Failed::Store(e) => e,
        Failed::Sql(e) if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
            StoreError::unavailable(
                "The search took too long. Add a word or a date (after:YYYY-MM-DD) and try again.",
            )
        }
        Failed::Sql(e) => e.into(),
    })
}

/// Runs `f` on `conn`, interrupting its statements from `deadline` on. A watchdog thread keeps
/// interrupting until `f` returns: one interrupt while no statement runs would be a no-op in
/// SQLite, and `f` may start its statement just after it.
fn until<T>(conn: &Connection, deadline: Instant, f: impl FnOnce() -> T) -> T {
    const AGAIN: std::time::Duration = std::time::Duration::from_millis(5);
    let handle = conn.get_interrupt_handle();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let left = deadline.saturating_duration_since(Instant::now());
        if wait.recv_timeout(left).is_ok() {
            return;
        }
        loop {
            handle.interrupt();
            match wait.recv_timeout(AGAIN) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                _ => return,
            }
        }
    });
    let result = f();
    drop(done);
    let _ = watchdog.join();
    result
}

enum Failed {
    Store(StoreError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn query(conn: &Connection, caller: &User, s: &Search) -> Result<SearchPage, Failed> {
    let Some(Statement { sql, args, ranked }) = statement(conn, caller, s)? else {
        return Ok(empty());
    };
    let q = &s.query;
    let mut found: Vec<(Message, i64)> = conn
        .prepare(&sql)?
        .query_map(params_from_iter(args), rows::message)?
        .map(|r| r.map(|(m, seq)| (m, seq.0)))
        .collect::<rusqlite::Result<_>>()?;
    let more = found.len() > usize::try_from(s.limit).unwrap_or(usize::MAX);
    found.truncate(usize::try_from(s.limit).unwrap_or(usize::MAX));
    // A ranked page is the only one: scores move as messages arrive (see `SearchOrder::Rank`).
    let next_cursor = (more && !ranked)
        .then(|| found.last().map(|(_, seq)| seq.to_string()))
        .flatten();
    let results = found
        .into_iter()
        .map(|(message, _)| SearchHit {
            snippet: shown(&message, q),
            message,
        })
        .collect();
    Ok(SearchPage {
        results,
        next_cursor,
    })
}

/// A search as one SQL statement.
struct Statement {
    sql: String,
    args: Vec<Value>,
    /// Best matches first (a join on the words' scores): one page, no cursor.
    ranked: bool,
}

/// The statement for `s`, or `None` when a named party does not exist (then nothing can
/// match).
fn statement(conn: &Connection, caller: &User, s: &Search) -> Result<Option<Statement>, Failed> {
    let (mine, theirs) = match caller.role {
        Role::Patient => ("patient_id", "doctor_id"),
        Role::Doctor => ("doctor_id", "patient_id"),
        Role::Admin => {
            return Err(StoreError::forbidden(
                "search shows people their own conversations; an admin account has none",
            )
            .into());
        }
    };
    let q = &s.query;
    // By rank, the words' match is a join that yields BM25 scores (lower is better); otherwise
    // it is a filter like the others.
    let words = q.fts_include();
    let ranked = words.as_ref().filter(|_| s.by_rank);
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages");
    let mut args: Vec<Value> = Vec::new();
    if let Some(fts) = ranked {
        sql.push_str(
            " JOIN (SELECT rowid AS hit, bm25(messages_words) AS score FROM search.messages_words \
             WHERE messages_words MATCH ?) ON hit = seq",
        );
        args.push(Value::Text(fts.clone()));
    }
    // A retracted message has no text to find, whatever the filters. The caller's messages are
    // named through their conversations: no index keyed by the caller alone covers every message
    // (schema v16), the conversation's does, so without words to look up SQLite reads only the
    // caller's conversations instead of every message.
    sql.push_str(&format!(
        " WHERE {mine} = ? AND {theirs} IN (SELECT {theirs} FROM conversations WHERE {mine} = ?) \
         AND retracted_at IS NULL"
    ));
    args.push(Value::Text(caller.id.as_str().to_owned()));
    args.push(Value::Text(caller.id.as_str().to_owned()));
    let mut and = |clause: &str, value: Option<Value>| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        args.extend(value);
    };
    if let Some(key) = &s.conversation {
        and("patient_id = ?", Some(text(key.patient_id.as_str())));
        and("doctor_id = ?", Some(text(key.doctor_id.as_str())));
    }
    if let Some(fts) = words.clone().filter(|_| ranked.is_none()) {
        and(
            "seq IN (SELECT rowid FROM search.messages_words WHERE messages_words MATCH ?)",
            Some(Value::Text(fts)),
        );
    }
    if let Some(fts) = q.fts_parts() {
        and(
            "seq IN (SELECT rowid FROM search.messages_parts WHERE messages_parts MATCH ?)",
            Some(Value::Text(fts)),
        );
    }
    if let Some(fts) = q.fts_exclude() {
        and(
            "seq NOT IN (SELECT rowid FROM search.messages_words WHERE messages_words MATCH ?)",
            Some(Value::Text(fts)),
        );
    }
    if let Some(from) = &q.from {
        let Some(id) = party(conn, caller, from)? else {
            return Ok(None);
        };
        // Someone else's messages to the caller are all in their one conversation: naming it
        // lets the conversation index find them (no index is keyed by sender alone).
        if id != caller.id {
            and(&format!("{theirs} = ?"), Some(text(id.as_str())));
        }
        and("sender_id = ?", Some(text(id.as_str())));
    }
    if let Some(with) = &q.with {
        let Some(id) = party(conn, caller, with)? else {
            return Ok(None);
        };
        and(&format!("{theirs} = ?"), Some(text(id.as_str())));
    }
    let day = |d: NaiveDate| day_start_ms(d, s.tz_offset_minutes);
    if let Some(d) = q.before {
        and("created_at < ?", Some(Value::Integer(day(d))));
    }
    if let Some(d) = q.after {
        and("created_at >= ?", Some(Value::Integer(day(next(d)))));
    }
    if let Some(d) = q.on {
        and("created_at >= ?", Some(Value::Integer(day(d))));
        and("created_at < ?", Some(Value::Integer(day(next(d)))));
    }
    match q.has {
        Some(Has::File) => and("file_url IS NOT NULL", None),
        Some(Has::Image) => and("file_url IS NOT NULL AND file_type LIKE 'image/%'", None),
        None => {}
    }
    if q.emergency_only {
        and("is_emergency = 1", None);
    }
    if let Some(seq) = s.before_seq {
        and("seq < ?", Some(Value::Integer(seq)));
    }
    sql.push_str(if ranked.is_some() {
        " ORDER BY score, seq DESC LIMIT ?"
    } else {
        " ORDER BY seq DESC LIMIT ?"
    });
    args.push(Value::Integer(i64::from(s.limit) + 1));
    Ok(Some(Statement {
        sql,
        args,
        ranked: ranked.is_some(),
    }))
}

/// The account a `from:`/`in:` names, or `None` if there is none (then nothing can match).
fn party(conn: &Connection, caller: &User, party: &Party) -> Result<Option<UserId>, StoreError> {
    Ok(match party {
        Party::Me => Some(caller.id.clone()),
        Party::User(name) => users::by_username(conn, name)?.map(|a| a.user.id),
    })
}

fn empty() -> SearchPage {
    SearchPage {
        results: Vec::new(),
        next_cursor: None,
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// How SQLite plans `text` for `role` (one line per step).
    fn plan(text: &str, role: Role, by_rank: bool) -> String {
        let mut conn = crate::store::stable_plans(Connection::open_in_memory().unwrap()).unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        conn.execute("ATTACH DATABASE ':memory:' AS search", [])
            .unwrap();
        crate::store::search_index::create_tables(&conn, "search").unwrap();
        conn.execute(
            "INSERT INTO users (id, username, name, role, password_hash, created_at) \
             VALUES ('o', 'other', 'O', ?1, 'x', 0)",
            [match role {
                Role::Doctor => "PATIENT",
                _ => "DOCTOR",
            }],
        )
        .unwrap();
        let caller = User {
            id: "u".into(),
            username: "u".into(),
            name: "u".into(),
            role,
        };
        let search = Search {
            query: clinic_protocol::search::parse(text).unwrap(),
            conversation: None,
            limit: 20,
            before_seq: None,
            tz_offset_minutes: 0,
            by_rank,
        };
        let Statement { sql, args, .. } = statement(&conn, &caller, &search)
            .map_err(|_| "statement")
            .unwrap()
            .unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("; ")
    }

    /// No index keyed by a user alone holds every message (schema v16): a search names the
    /// caller's messages through their conversations, and none reads the whole table.
    #[test]
    fn no_search_reads_every_message() {
        for role in [Role::Patient, Role::Doctor] {
            for (text, by_rank) in [
                ("is:emergency", false),
                ("before:2020-01-01", false),
                ("has:file", false),
                ("pain", false),
                ("pain", true),
                ("~ontgen", false),
                ("from:me", false),
                ("from:other", false),
                ("from:other pain", true),
            ] {
                let plan = plan(text, role, by_rank);
                assert!(!plan.contains("SCAN messages "), "{role:?} {text}: {plan}");
                assert!(!plan.ends_with("SCAN messages"), "{role:?} {text}: {plan}");
            }
            let filters_only = plan("is:emergency", role, false);
            assert!(
                filters_only.contains("messages_conversation"),
                "{role:?}: {filters_only}"
            );
            // Someone else's messages: their one conversation, read in order, not every one of
            // the caller's conversations merged by a sort.
            let from = plan("from:other", role, false);
            assert!(
                from.starts_with(
                    "SEARCH messages USING INDEX messages_conversation (patient_id=? AND doctor_id=?)"
                ) && !from.contains("TEMP B-TREE"),
                "{role:?}: {from}"
            );
        }
    }

    #[test]
    fn a_statement_running_past_the_deadline_is_interrupted() {
        let conn = Connection::open_in_memory().unwrap();
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c";
        let started = Instant::now();
        let deadline = started + std::time::Duration::from_millis(50);
        let result = until(&conn, deadline, || {
            conn.query_row(endless, [], |row| row.get::<_, i64>(0))
        });
        let err = result.unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(ErrorCode::OperationInterrupted)
        );
        assert!(started.elapsed() >= std::time::Duration::from_millis(50));
        // The connection is usable again once the watchdog has gone.
        let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0)).unwrap();
        assert_eq!(one, 1);
    }

    #[test]
    fn a_statement_started_after_the_deadline_is_interrupted_too() {
        let conn = Connection::open_in_memory().unwrap();
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c";
        let result = until(&conn, Instant::now(), || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            conn.query_row(endless, [], |row| row.get::<_, i64>(0))
        });
        assert_eq!(
            result.unwrap_err().sqlite_error_code(),
            Some(ErrorCode::OperationInterrupted)
        );
    }
}
