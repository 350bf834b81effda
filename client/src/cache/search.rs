//! Offline search over the cache's own FTS5 indexes (migration 4): the same query language and
//! expressions as the server's search (`clinic_protocol::search`), over the messages this
//! computer holds, newest first and paged by `seq` like the server's, so a page found offline
//! can be continued online and the other way round.

use super::Cache;
use crate::error::Result;
use clinic_protocol::search::{Has, Party, Query, day_start_ms, next_day as next};
use clinic_protocol::{ConversationKey, Role, User, UserId};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params_from_iter};

/// A search as the cache runs it.
#[derive(Debug, Clone)]
pub struct LocalSearch<'a> {
    pub query: &'a Query,
    pub conversation: Option<&'a ConversationKey>,
    pub limit: u32,
    /// Only messages with a smaller `seq` (the cursor).
    pub before_seq: Option<i64>,
    /// The searcher's offset from UTC, for day filters.
    pub tz_offset_minutes: i32,
}

impl Cache {
    /// Acknowledged messages of `me`'s conversations matching the search, newest first, at most
    /// `limit + 1` of them (one more than asked tells the caller there is another page).
    pub fn search(&self, me: &User, s: &LocalSearch<'_>) -> Result<Vec<crate::LocalMessage>> {
        let conn = self.lock();
        let (mine, theirs) = match me.role {
            Role::Doctor => ("doctor_id", "patient_id"),
            _ => ("patient_id", "doctor_id"),
        };
        let q = s.query;
        // With words to match, the word index drives (its matches are few next to a long
        // history, and each is one primary-key lookup in the encrypted file); with only
        // filters, the messages are scanned newest first.
        let mut args: Vec<Value> = Vec::new();
        let mut sql = match q.fts_include() {
            Some(fts) => {
                args.push(Value::Text(fts));
                "SELECT m.data FROM search_words w CROSS JOIN messages m ON m.local_id = w.rowid \
                 WHERE search_words MATCH ?"
                    .to_owned()
            }
            None => "SELECT m.data FROM messages m WHERE 1".to_owned(),
        };
        sql.push_str(&format!(
            " AND m.{mine} = ? AND m.id IS NOT NULL AND m.seq IS NOT NULL"
        ));
        args.push(text(me.id.as_str()));
        let mut and = |clause: &str, value: Option<Value>| {
            sql.push_str(" AND ");
            sql.push_str(clause);
            args.extend(value);
        };
        if let Some(key) = s.conversation {
            and("m.patient_id = ?", Some(text(key.patient_id.as_str())));
            and("m.doctor_id = ?", Some(text(key.doctor_id.as_str())));
        }
        if let Some(fts) = q.fts_parts() {
            and(
                "m.local_id IN (SELECT rowid FROM search_parts WHERE search_parts MATCH ?)",
                Some(Value::Text(fts)),
            );
        }
        if let Some(fts) = q.fts_exclude() {
            and(
                "m.local_id NOT IN (SELECT rowid FROM search_words WHERE search_words MATCH ?)",
                Some(Value::Text(fts)),
            );
        }
        let party = |p: &Party| -> Result<Option<UserId>> {
            Ok(match p {
                Party::Me => Some(me.id.clone()),
                Party::User(name) if name.eq_ignore_ascii_case(&me.username) => Some(me.id.clone()),
                Party::User(name) => conn
                    .query_row(
                        "SELECT id FROM contacts WHERE username = ?1",
                        [name.to_lowercase()],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()?
                    .map(UserId::from),
            })
        };
        if let Some(from) = &q.from {
            let Some(id) = party(from)? else {
                return Ok(Vec::new());
            };
            and("m.sender_id = ?", Some(text(id.as_str())));
        }
        if let Some(with) = &q.with {
            let Some(id) = party(with)? else {
                return Ok(Vec::new());
            };
            and(&format!("m.{theirs} = ?"), Some(text(id.as_str())));
        }
        let created = "unixepoch(json_extract(m.data, '$.createdAt'), 'subsec') * 1000";
        let day = |d| Value::Integer(day_start_ms(d, s.tz_offset_minutes));
        if let Some(d) = q.before {
            and(&format!("{created} < ?"), Some(day(d)));
        }
        if let Some(d) = q.after {
            and(&format!("{created} >= ?"), Some(day(next(d))));
        }
        if let Some(d) = q.on {
            and(&format!("{created} >= ?"), Some(day(d)));
            and(&format!("{created} < ?"), Some(day(next(d))));
        }
        match q.has {
            Some(Has::File) => and("json_extract(m.data, '$.fileUrl') IS NOT NULL", None),
            Some(Has::Image) => and(
                "json_extract(m.data, '$.fileUrl') IS NOT NULL \
                 AND json_extract(m.data, '$.fileType') LIKE 'image/%'",
                None,
            ),
            None => {}
        }
        if q.emergency_only {
            and("json_extract(m.data, '$.isEmergency') = 1", None);
        }
        if let Some(seq) = s.before_seq {
            and("m.seq < ?", Some(Value::Integer(seq)));
        }
        sql.push_str(" ORDER BY m.seq DESC LIMIT ?");
        args.push(Value::Integer(i64::from(s.limit) + 1));
        let rows: Vec<String> = conn
            .prepare(&sql)?
            .query_map(params_from_iter(args), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .iter()
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect())
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}
