//! A doctor's availability (do-not-disturb): stored per user, applied to alert routing at once,
//! and pushed to that doctor's other sockets, whether it was set over REST or WebSocket.

use crate::error::ApiError;
use crate::state::AppState;
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
    state.store.set_availability(&user.id, availability).await?;
    state.hub.set_availability(&user.id, availability);
    state.hub.to_users(
        &[&user.id],
        &ServerFrame::AvailabilityChanged { availability },
        None,
    );
    // Their patients see "Do not disturb" instead of "Online".
    let partners = match state.store.partners(user).await {
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
    Ok(state.store.availability(user).await?)
}
