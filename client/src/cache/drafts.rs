//! Text a user was writing and has not sent: a conversation's composer, a resolution's note.
//! Kept in the encrypted cache beside the messages, so a restart or a crash loses none of it.

use super::Cache;
use crate::error::{ClientError, Result};
use rusqlite::params;
use std::collections::HashMap;

/// Text the page was writing, by the page's own key for it (a conversation's composer, an
/// emergency's resolution note).
pub type Drafts = HashMap<String, String>;

/// The most drafts kept (the oldest saved go first), and the longest key and text (a composer
/// refuses to send more than `MAX_CONTENT_BYTES` but may hold more): what one page writes.
pub const MAX_DRAFTS: usize = 64;
pub const MAX_DRAFT_KEY_BYTES: usize = 256;
pub const MAX_DRAFT_BYTES: usize = 4 * clinic_protocol::limits::MAX_CONTENT_BYTES;

impl Cache {
    /// Keeps `text` as the draft of `key`; a blank text forgets it. A key or text past the
    /// bounds is refused; past [`MAX_DRAFTS`], the drafts saved longest ago are forgotten.
    pub fn save_draft(&self, key: &str, text: &str) -> Result<()> {
        self.save_drafts([(key, text)])
    }

    /// [`Cache::save_draft`] for several, in one transaction: all or none.
    pub fn save_drafts<'a>(
        &self,
        drafts: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        // Saved in the order given: a later one of the same call counts as newer.
        let mut order: i64 =
            tx.query_row("SELECT COALESCE(MAX(saved), 0) FROM drafts", [], |r| {
                r.get(0)
            })?;
        for (key, text) in drafts {
            check(key, text)?;
            if text.trim().is_empty() {
                tx.execute("DELETE FROM drafts WHERE key = ?1", params![key])?;
            } else {
                order += 1;
                tx.execute(
                    "INSERT INTO drafts (key, text, saved) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET text = excluded.text, saved = excluded.saved",
                    params![key, text, order],
                )?;
            }
        }
        tx.execute(
            "DELETE FROM drafts WHERE key NOT IN
                 (SELECT key FROM drafts ORDER BY saved DESC LIMIT ?1)",
            params![i64::try_from(MAX_DRAFTS).unwrap_or(i64::MAX)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets every draft (logout).
    pub fn clear_drafts(&self) -> Result<()> {
        self.lock().execute("DELETE FROM drafts", [])?;
        Ok(())
    }

    /// Every draft kept.
    pub fn drafts(&self) -> Result<Drafts> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT key, text FROM drafts")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Whether `key` may name a draft: 1 to [`MAX_DRAFT_KEY_BYTES`] bytes.
pub(crate) fn key_fits(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_DRAFT_KEY_BYTES
}

/// Whether `text` may be kept: at most [`MAX_DRAFT_BYTES`].
pub(crate) fn text_fits(text: &str) -> bool {
    text.len() <= MAX_DRAFT_BYTES
}

/// A key and a text within the bounds (a blank text is always fine: it forgets).
fn check(key: &str, text: &str) -> Result<()> {
    if !key_fits(key) {
        return Err(ClientError::Invalid(format!(
            "a draft's key must have 1 to {MAX_DRAFT_KEY_BYTES} bytes"
        )));
    }
    if !text_fits(text) {
        return Err(ClientError::Invalid(format!(
            "a draft is kept up to {} KiB; this one has {} KiB",
            MAX_DRAFT_BYTES / 1024,
            text.len().div_ceil(1024)
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cache::CacheKey;

    fn open() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache.db"), &CacheKey::random()).unwrap();
        (dir, cache)
    }

    #[test]
    fn past_the_bound_the_drafts_saved_longest_ago_go() {
        let (_dir, cache) = open();
        for i in 0..MAX_DRAFTS {
            cache
                .save_draft(&format!("k{i}"), &format!("text {i}"))
                .unwrap();
        }
        // Saving k0 again makes it the newest: k1 is now the oldest.
        cache.save_draft("k0", "text 0, longer").unwrap();
        cache.save_draft("new", "one more").unwrap();
        let drafts = cache.drafts().unwrap();
        assert_eq!(drafts.len(), MAX_DRAFTS);
        assert!(!drafts.contains_key("k1"));
        assert_eq!(drafts["k0"], "text 0, longer");
        assert_eq!(drafts["new"], "one more");
        // Several at once count in the order given.
        let many: Vec<(String, String)> = (0..MAX_DRAFTS + 2)
            .map(|i| (format!("m{i}"), format!("many {i}")))
            .collect();
        cache
            .save_drafts(many.iter().map(|(k, t)| (k.as_str(), t.as_str())))
            .unwrap();
        let drafts = cache.drafts().unwrap();
        assert_eq!(drafts.len(), MAX_DRAFTS);
        assert!(!drafts.contains_key("m0") && !drafts.contains_key("m1"));
        assert!(drafts.contains_key(&format!("m{}", MAX_DRAFTS + 1)));
    }

    #[test]
    fn a_refused_draft_changes_nothing_and_a_blank_one_forgets() {
        let (_dir, cache) = open();
        cache.save_draft("a", "kept").unwrap();
        let huge = "x".repeat(MAX_DRAFT_BYTES + 1);
        let long_key = "k".repeat(MAX_DRAFT_KEY_BYTES + 1);
        for (key, text) in [("b", huge.as_str()), (long_key.as_str(), "t"), ("", "t")] {
            let refused = cache.save_drafts([("a", "changed"), (key, text)]);
            assert!(matches!(refused, Err(ClientError::Invalid(_))), "{key:.8}");
        }
        assert_eq!(cache.drafts().unwrap()["a"], "kept", "all or none");
        cache.save_draft("a", " \n\t").unwrap();
        assert!(cache.drafts().unwrap().is_empty());
        cache.save_draft("b", "again").unwrap();
        cache.clear_drafts().unwrap();
        assert!(cache.drafts().unwrap().is_empty());
    }
}
