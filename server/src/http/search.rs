//! `GET /api/search/messages`: the caller's own messages matching a query, newest first or
//! best first.

use super::{ApiQuery, Reading};
use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::search;
use axum::Json;
use axum::extract::State;
use clinic_protocol::ConversationKey;
use clinic_protocol::rest::{SearchOrder, SearchPage, SearchParams};
use clinic_protocol::search::{QueryError, fold_str, parse};
use std::time::{Duration, Instant};

/// Default and largest page.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 50;
/// A search that runs longer is stopped (503) so that it cannot hold a reader.
const DEADLINE: Duration = Duration::from_secs(2);
/// Furthest time zones from UTC (Kiribati +14, Baker Island -12).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

pub(super) async fn messages(
    State(state): State<AppState>,
    Reading(session): Reading,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    // The searcher's own words, folded as the index folds them (see docs/audit.md on why the
    // query is kept): never text from the messages found.
    let normalised: Vec<String> = params.q.split_whitespace().map(fold_str).collect();
    let mut attempt = Event::by(&session.user.id, Action::Search)
        .detail(serde_json::json!({ "query": normalised.join(" ") }));
    let query = parse(&params.q).map_err(|e| match e {
        QueryError::TooLong => ApiError::too_large(e.to_string()),
        e => ApiError::bad_request(e.to_string()),
    })?;
    let conversation = match (params.patient_id, params.doctor_id) {
        (Some(p), Some(d)) => Some(ConversationKey::new(p, d)),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "to search one conversation, give both patientId and doctorId",
            ));
        }
    };
    let before_seq = params
        .cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor is not one this search gave out"))
        })
        .transpose()?;
    let tz_offset_minutes = params.tz_offset_minutes.unwrap_or(0);
    if tz_offset_minutes.abs() > MAX_OFFSET_MINUTES {
        return Err(ApiError::bad_request(
            "tzOffsetMinutes must be between -840 and 840",
        ));
    }
    if let Some(key) = &conversation {
        attempt = attempt.conversation(key);
    }
    let search = search::Search {
        query,
        conversation,
        limit: params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        before_seq,
        tz_offset_minutes,
        by_rank: params.order == Some(SearchOrder::Rank),
    };
    let deadline = Instant::now() + DEADLINE;
    let page = state.store.search(&session.user, search, deadline).await;
    let page = audit::audited(&state.store, page, attempt, |page, attempt| {
        let mut found: Vec<(&str, &str)> = page
            .results
            .iter()
            .map(|h| (h.message.patient_id.as_str(), h.message.doctor_id.as_str()))
            .collect();
        found.sort_unstable();
        found.dedup();
        let query = attempt
            .detail
            .as_ref()
            .and_then(|d| d.get("query").cloned());
        vec![attempt.detail(serde_json::json!({
            "query": query,
            "results": page.results.len(),
            "conversations": found,
        }))]
    })
    .await?;
    Ok(Json(page))
}
