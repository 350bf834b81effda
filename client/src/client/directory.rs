//! Offline-first reads for a UI's conversation list and a tray's badge: answered from the cache
//! alone, never waiting for the network (the connection task keeps the cache fresh).

use super::Client;
use crate::error::Result;
use clinic_protocol::Conversation;

impl Client {
    /// The conversation list from the cache, with unread counts and open emergencies as this
    /// client knows them now. See [`crate::Cache::local_conversations`].
    pub fn cached_conversations(&self) -> Result<Vec<Conversation>> {
        let me = &self.shared.user;
        self.shared.cache.local_conversations(&me.id, me.role)
    }

    /// Messages addressed to this user not yet read, across all conversations.
    pub fn unread_count(&self) -> Result<u64> {
        self.shared.cache.unread_total(&self.shared.user.id)
    }
}
