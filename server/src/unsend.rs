//! Unsend / retract and edit, shared by REST and WebSocket: the writer command, the removal of a
//! retracted file's bytes after the commit, and `message:updated` to both participants.

use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::hub::SocketId;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::versions::Changed;
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{ClientId, MessageId, ServerFrame, User};

/// The socket a `message:retract`/`message:edit` came from, and its `clientId`: that socket is
/// answered with the `clientId`, the others without; a refusal is its session's to answer.
pub(crate) type Asker = (SocketId, ClientId);

/// Takes `id` back for `caller` and tells both participants.
pub(crate) async fn retract(
    state: &AppState,
    caller: &User,
    id: MessageId,
    request: RetractRequest,
    asker: Option<Asker>,
) -> Result<Changed, ApiError> {
    let action = if caller.role == clinic_protocol::Role::Patient {
        Action::MessageUnsend
    } else {
        Action::MessageRetract
    };
    let attempt = Event::by(&caller.id, action).subject(id.as_str());
    let retracted = state
        .store
        .retract(
            caller,
            id.clone(),
            request,
            client_id(&asker),
            state.config.message_windows(),
            publish(state, asker),
        )
        .await;
    let attempt = naming_conversation(state, caller, &id, &retracted, attempt).await;
    // A change's own row went into its transaction; only a refusal is written here.
    let changed = audit::audited(&state.store, retracted, attempt, |_, _| Vec::new()).await?;
    if !changed.files.is_empty() {
        // The message is already a tombstone and its files are recorded as doomed: one that
        // cannot be removed now is removed at the next start, so the retraction itself stands.
        if let Err(err) = state
            .store
            .remove_doomed_files(state.config.data_dir.clone(), Some(changed.files.clone()))
            .await
        {
            tracing::error!(error = %err, "could not remove a retracted message's file");
        }
    }
    Ok(changed)
}

/// Edits `id` for `caller` and tells both participants.
pub(crate) async fn edit(
    state: &AppState,
    caller: &User,
    id: MessageId,
    request: EditRequest,
    asker: Option<Asker>,
) -> Result<Changed, ApiError> {
    let attempt = Event::by(&caller.id, Action::MessageEdit).subject(id.as_str());
    let edited = state
        .store
        .edit(
            caller,
            id.clone(),
            request,
            client_id(&asker),
            state.config.message_windows(),
            publish(state, asker),
        )
        .await;
    let attempt = naming_conversation(state, caller, &id, &edited, attempt).await;
    let changed = audit::audited(&state.store, edited, attempt, |_, _| Vec::new()).await?;
    Ok(changed)
}

/// A change refused to a participant (403: the other one's message) is written with its
/// conversation, so that `audit query --patient` and `audit review` find it under her; a
/// message outside the caller's conversations is a 404, written without one.
async fn naming_conversation<T>(
    state: &AppState,
    caller: &User,
    id: &MessageId,
    result: &Result<T, StoreError>,
    attempt: Event,
) -> Event {
    if !matches!(result, Err(StoreError::Forbidden(_))) {
        return attempt;
    }
    match state.store.conversation_of(caller, id).await {
        Ok(Some(key)) => attempt.conversation(&key),
        Ok(None) => attempt,
        Err(err) => {
            tracing::warn!(error = %err, "a refused change's conversation could not be read");
            attempt
        }
    }
}

/// The asking socket's `clientId`, which makes a repeated change idempotent.
fn client_id(asker: &Option<Asker>) -> Option<ClientId> {
    asker.as_ref().map(|(_, c)| c.clone())
}

/// What publishes a committed change: `message:updated` with the `clientId` to the asking
/// socket, and when something changed, without it to every other socket of both participants.
/// It runs on the writer's thread after the commit, in the order of the commits, so that no
/// socket hears an older version of a message after a newer one (two tasks publishing after
/// their commits could overtake each other: an edit's text arrived after the unsend that
/// followed it).
fn publish(state: &AppState, asker: Option<Asker>) -> impl FnOnce(&Changed) + Send + 'static {
    let hub = std::sync::Arc::clone(&state.hub);
    move |changed| {
        if let Some((socket, client_id)) = &asker {
            hub.to_socket(
                *socket,
                &ServerFrame::MessageUpdated {
                    message: changed.message.clone(),
                    client_id: Some(client_id.clone()),
                },
            );
        }
        if changed.changed {
            hub.to_conversation(
                &changed.message.conversation(),
                &ServerFrame::MessageUpdated {
                    message: changed.message.clone(),
                    client_id: None,
                },
                asker.as_ref().map(|(socket, _)| *socket),
            );
        }
    }
}
