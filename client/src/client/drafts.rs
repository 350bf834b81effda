//! Drafts as a `Client` offers them: what the user is writing in a field of the page, kept in
//! the encrypted cache across conversations, a lock, a restart and a crash.

use super::Client;
use crate::cache::{Drafts, key_fits, text_fits};
use crate::error::Result;

impl Client {
    /// Keeps `text` as what this user is writing in the page's field `key` (a blank text
    /// forgets it), in the encrypted cache: it survives a restart and a crash, and is forgotten
    /// at logout. Refused while locked (the page holds no text then; see
    /// [`Client::keep_drafts`]) and past the bounds (a key over 256 bytes, a text over 64 KiB:
    /// more than any page writes); past 64 drafts, the ones saved longest ago are forgotten.
    pub fn save_draft(&self, key: &str, text: &str) -> Result<()> {
        self.ensure_unlocked()?;
        self.shared.cache.save_draft(key, text)
    }

    /// Keeps what the page was writing when the app locked, as [`Client::save_draft`] would
    /// (and also while locked: the page hands its fields over as it drops them). A key past
    /// its bound is left out rather than failing the others; a text past its bound and a blank
    /// one forget the field's draft.
    pub fn keep_drafts(&self, drafts: Drafts) -> Result<()> {
        self.shared.cache.save_drafts(
            drafts
                .iter()
                .filter(|(key, _)| key_fits(key))
                // Too long to keep: its field's older text, saved before, goes too (it is not
                // what the field held).
                .map(|(key, text)| (key.as_str(), if text_fits(text) { text } else { "" })),
        )
    }

    /// Every draft kept, for the page to put back in its fields (at start and after
    /// unlocking); refused while locked.
    pub fn drafts(&self) -> Result<Drafts> {
        self.ensure_unlocked()?;
        self.shared.cache.drafts()
    }
}
