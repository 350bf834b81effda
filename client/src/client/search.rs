//! Message search: the query checked here with the server's own parser (a typo is explained
//! at once, without a round trip), then run by the server over the user's conversations.

use super::Client;
use crate::cache::LocalSearch;
use crate::error::{ClientError, Result};
use crate::events::ConnectionState;
use crate::record::LocalMessage;
use clinic_protocol::rest::{SearchHit, SearchOrder};
use clinic_protocol::search::shown;
use clinic_protocol::{ConversationKey, ErrorCode};
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

/// How long a search waits for the server while the live connection is offline (on the
/// clinic's network it answers within a fraction of this; a server that is down, not at all).
const ASK_WHILE_OFFLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// Why only this computer's messages were searched, when the server gave no reason of its own.
const CANNOT_SEARCH: &str = "The clinic's server cannot search right now.";

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
        // The live connection waits to retry (up to half a minute, with jitter): the server
        // may be back before then, so a search asks it all the same, but only briefly, and
        // has the connection try at once when it answers.
        // Trying again after a failure counts: a try at a server that froze takes up to the
        // connect's 4 s timeout, and the search would wait as long.
        let offline = matches!(
            self.state(),
            ConnectionState::Offline { .. }
                | ConnectionState::Connecting {
                    last_error: Some(_),
                    ..
                }
        );
        let asked = self
            .shared
            .api
            .search(
                query,
                conversation,
                cursor,
                offset_minutes,
                order,
                offline.then_some(ASK_WHILE_OFFLINE),
            )
            .await;
        if offline && !asked.as_ref().is_err_and(ClientError::is_unreachable) {
            self.reconnect_now();
        }
        let server_note = match asked {
            Ok(page) => {
                return Ok(Found {
                    results: page.results,
                    next_cursor: page.next_cursor,
                    offline: false,
                    server_note: None,
                });
            }
            Err(e) if e.is_unreachable() => {
                tracing::debug!("search: server unreachable ({e}); searching the cache");
                None
            }
            // Reached, but its search cannot run now: what this computer holds is better than
            // nothing, and the server's sentence says why it is only that.
            Err(ClientError::Server {
                status: 503,
                code,
                message,
            }) => {
                tracing::debug!(
                    "search: the server cannot search now ({message}); searching the cache"
                );
                Some(if code == ErrorCode::Unavailable {
                    crate::error::sentence(&message).unwrap_or_else(|| CANNOT_SEARCH.to_owned())
                } else {
                    // Not the server's own answer (a proxy's page, say): nothing to quote.
                    CANNOT_SEARCH.to_owned()
                })
            }
            Err(e) => return Err(e),
        };
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
