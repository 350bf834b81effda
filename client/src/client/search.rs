//! Message search: the query checked here with the server's own parser (a typo is explained
//! at once, without a round trip), then run by the server over the user's conversations.

use super::Client;
use crate::cache::LocalSearch;
use crate::error::{ClientError, Result};
use crate::events::ConnectionState;
use crate::record::LocalMessage;
use clinic_protocol::ConversationKey;
use clinic_protocol::rest::{SearchHit, SearchOrder};
use clinic_protocol::search::shown;
use serde::Serialize;

/// A page of search results as a UI shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Found {
    pub results: Vec<SearchHit>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Only the messages this computer holds were searched: the server could not be reached,
    /// or it said it cannot search now (`server_note`).
    pub offline: bool,
    /// The server's sentence when it was reached but could not search (its index being built
    /// again after a restore, say); none when it could not be reached.
    pub server_note: Option<String>,
}

/// Results per page, as the server's default.
const PAGE: u32 = 20;

impl Client {
    /// The signed-in user's messages matching `query` (the language of
    /// `clinic_protocol::search`), newest first, optionally in one conversation, from `cursor`
    /// (a previous page's `next_cursor`). Days in `before:`/`after:`/`on:` are this computer's.
    /// The server answers while it can be reached (it holds everything); otherwise, or while
    /// it says it cannot search (503), this computer's encrypted cache does, and the answer
    /// says so (`offline`, with the server's sentence in `server_note`).
    pub async fn search(
        &self,
        query: &str,
        conversation: Option<&ConversationKey>,
        cursor: Option<&str>,
    ) -> Result<Found> {
        self.search_in_order(query, conversation, cursor, SearchOrder::Newest)
            .await
    }

    /// [`Client::search`] in `order`. The best matches (`SearchOrder::Rank`) come from the
    /// server as one page; offline, this computer's cache answers newest first (`offline`).
    pub async fn search_in_order(
        &self,
        query: &str,
        conversation: Option<&ConversationKey>,
        cursor: Option<&str>,
        order: SearchOrder,
    ) -> Result<Found> {
        // Results carry message text: nothing while the app is locked.
        self.ensure_unlocked()?;
        let parsed = clinic_protocol::search::parse(query)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let offset_minutes = chrono::Local::now().offset().local_minus_utc() / 60;
        let mut server_note = None;
        // Known to be unreachable (the live connection is waiting to retry): no request that
        // would only time out.
        if !matches!(self.state(), ConnectionState::Offline { .. }) {
            match self
                .shared
                .api
                .search(query, conversation, cursor, offset_minutes, order)
                .await
            {
                Err(ClientError::Http(e)) => {
                    tracing::debug!("search: server unreachable ({e}); searching the cache");
                }
                // Reached, but its search cannot run now: what this computer holds is better
                // than nothing, and the server's sentence says why it is only that.
                Err(ClientError::Server {
                    status: 503,
                    message,
                    ..
                }) => {
                    tracing::debug!(
                        "search: the server cannot search now ({message}); searching the cache"
                    );
                    server_note = Some(message);
                }
                Err(e) => return Err(e),
                Ok(page) => {
                    return Ok(Found {
                        results: page.results,
                        next_cursor: page.next_cursor,
                        offline: false,
                        server_note: None,
                    });
                }
            }
        }
        let before_seq = match cursor {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                ClientError::Invalid(
                    "That page of results is no longer valid: search again.".into(),
                )
            })?),
        };
        let mut found = self.shared.cache.search(
            &self.shared.user,
            &LocalSearch {
                query: &parsed,
                conversation,
                limit: PAGE,
                before_seq,
                tz_offset_minutes: offset_minutes,
            },
        )?;
        let more = found.len() > PAGE as usize;
        found.truncate(PAGE as usize);
        let next_cursor = more
            .then(|| found.last().and_then(|m| m.seq).map(|s| s.0.to_string()))
            .flatten();
        Ok(Found {
            results: found
                .iter()
                .filter_map(LocalMessage::to_server)
                .map(|message| SearchHit {
                    snippet: shown(&message, &parsed),
                    message,
                })
                .collect(),
            next_cursor,
            offline: true,
            server_note,
        })
    }
}
