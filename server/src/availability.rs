//! A doctor's availability (do-not-disturb): stored per user, applied to alert routing at once,
//! and pushed to that doctor's other sockets, whether it was set over REST or WebSocket.

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users;
use clinic_protocol::ws::Availability;
use clinic_protocol::{Role, ServerFrame, User, UserId};

/// Stores `availability` for `user` (doctors only) and tells their devices. Returns what is
/// stored.
pub(crate) async fn set(
    state: &AppState,
    user: &User,
    availability: Availability,
) -> Result<Availability, ApiError> {
    if user.role != Role::Doctor {
        return Err(ApiError::forbidden("only doctors set their availability"));
    }
    let id = user.id.clone();
    state
        .store
        .writer
        .run(move |conn, _| users::set_availability(conn, &id, availability))
        .await?;
    state.hub.set_availability(&user.id, availability);
    state.hub.to_users(
        &[&user.id],
        &ServerFrame::AvailabilityChanged { availability },
        None,
    );
    // Their patients see "Do not disturb" instead of "Online".
    let me = user.clone();
    let partners = match state
        .store
        .reads
        .run(move |conn| crate::store::views::partners(conn, &me))
        .await
    {
        Ok(partners) => partners,
        Err(err) => {
            // Stored and applied already; only the patients' label waits for their next list.
            tracing::warn!(error = %err, "could not tell patients of an availability change");
            Vec::new()
        }
    };
    let refs: Vec<&UserId> = partners.iter().collect();
    state.hub.to_users(
        &refs,
        &ServerFrame::UserAvailability {
            user_id: user.id.clone(),
            availability,
        },
        None,
    );
    Ok(availability)
}

/// The stored availability of `user`.
pub(crate) async fn get(state: &AppState, user: &UserId) -> Result<Availability, ApiError> {
    let id = user.clone();
    Ok(state
        .store
        .reads
        .run_without_log(move |conn| users::availability(conn, &id))
        .await?)
}
