//! Unsend / retract and edit, shared by REST and WebSocket: the writer command, the removal of a
//! retracted file's bytes after the commit, and `message:updated` to both participants.

use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::hub::SocketId;
use crate::state::AppState;
use crate::store::versions::Changed;
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{ClientId, MessageId, ServerFrame, User};

/// The socket a `message:retract`/`message:edit` came from, and its `clientId`: that socket is
/// answered by its session (`message:updated` with the `clientId`), the others here.
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
            id,
            request,
            client_id(&asker),
            state.config.message_windows(),
        )
        .await;
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
    publish(state, &changed, asker);
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
            id,
            request,
            client_id(&asker),
            state.config.message_windows(),
        )
        .await;
    let changed = audit::audited(&state.store, edited, attempt, |_, _| Vec::new()).await?;
    publish(state, &changed, asker);
    Ok(changed)
}

/// The asking socket's `clientId`, which makes a repeated change idempotent.
fn client_id(asker: &Option<Asker>) -> Option<ClientId> {
    asker.as_ref().map(|(_, c)| c.clone())
}

/// `message:updated` to every socket of both participants but the asking one, when something
/// changed.
fn publish(state: &AppState, changed: &Changed, asker: Option<Asker>) {
    if changed.changed {
        state.hub.to_conversation(
            &changed.message.conversation(),
            &ServerFrame::MessageUpdated {
                message: changed.message.clone(),
                client_id: None,
            },
            asker.map(|(socket, _)| socket),
        );
    }
}
