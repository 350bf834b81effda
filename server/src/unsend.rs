//! Unsend / retract and edit, shared by REST and WebSocket: the writer command, the removal of a
//! retracted file's bytes after the commit, and `message:updated` to both participants.

use crate::audit::{self, Action, Event};
use crate::error::ApiError;
use crate::hub::SocketId;
use crate::state::AppState;
use crate::store::Seqs;
use crate::store::versions::{self, Changed};
use clinic_protocol::rest::{EditRequest, RetractRequest};
use clinic_protocol::{ClientId, MessageId, MessageWindows, ServerFrame, User};

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
    versions::validate_retract(&request)?;
    let action = if caller.role == clinic_protocol::Role::Patient {
        Action::MessageUnsend
    } else {
        Action::MessageRetract
    };
    let attempt = Event::by(&caller.id, action).subject(id.as_str());
    let changed = commit(
        state,
        caller,
        &asker,
        attempt,
        move |conn, seqs, user, client_id, windows| {
            versions::retract(conn, seqs, user, &id, &request, client_id, windows)
        },
    )
    .await?;
    if !changed.files.is_empty() {
        let data_dir = state.config.data_dir.clone();
        // The message is already a tombstone and its files are recorded as doomed: one that
        // cannot be removed now is removed at the next start, so the retraction itself stands.
        if let Err(err) = state
            .store
            .writer
            .run(move |conn, _| crate::retention::remove_doomed(conn, &data_dir))
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
    versions::validate_edit(&request)?;
    let attempt = Event::by(&caller.id, Action::MessageEdit).subject(id.as_str());
    let changed = commit(
        state,
        caller,
        &asker,
        attempt,
        move |conn, seqs, user, client_id, windows| {
            versions::edit(conn, seqs, user, &id, &request, client_id, windows)
        },
    )
    .await?;
    publish(state, &changed, asker);
    Ok(changed)
}

/// Runs one change in the writer with the caller, the asker's clientId and the clinic's windows.
async fn commit<F>(
    state: &AppState,
    caller: &User,
    asker: &Option<Asker>,
    attempt: Event,
    change: F,
) -> Result<Changed, ApiError>
where
    F: FnOnce(
            &rusqlite::Connection,
            &mut Seqs,
            &User,
            Option<&ClientId>,
            MessageWindows,
        ) -> Result<Changed, crate::store::StoreError>
        + Send
        + 'static,
{
    let (user, windows) = (caller.clone(), state.config.message_windows());
    let client_id = asker.as_ref().map(|(_, c)| c.clone());
    let result = state
        .store
        .writer
        .run(move |conn, seqs| change(conn, seqs, &user, client_id.as_ref(), windows))
        .await;
    // A change's own row went into its transaction; only a refusal is written here.
    audit::audited(&state.store, result, attempt, |_, _| Vec::new()).await
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
