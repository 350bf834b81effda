//! Message search: the query checked here with the server's own parser (a typo is explained
//! at once, without a round trip), then run by the server over the user's conversations.

use super::Client;
use crate::error::{ClientError, Result};
use clinic_protocol::ConversationKey;
use clinic_protocol::rest::SearchPage;

impl Client {
    /// The signed-in user's messages matching `query` (the language of
    /// `clinic_protocol::search`), newest first, optionally in one conversation, from `cursor`
    /// (a previous page's `next_cursor`). Days in `before:`/`after:`/`on:` are this computer's.
    pub async fn search(
        &self,
        query: &str,
        conversation: Option<&ConversationKey>,
        cursor: Option<&str>,
    ) -> Result<SearchPage> {
        clinic_protocol::search::parse(query).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let offset_minutes = chrono::Local::now().offset().local_minus_utc() / 60;
        match self
            .shared
            .api
            .search(query, conversation, cursor, offset_minutes)
            .await
        {
            Err(ClientError::Http(e)) => {
                tracing::debug!("search: server unreachable ({e})");
                Err(ClientError::Unconfirmed(
                    "Search needs the clinic's server, which cannot be reached now (this \
                     computer's copy of your messages is not searched)."
                        .into(),
                ))
            }
            other => other,
        }
    }
}
