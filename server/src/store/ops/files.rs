//! Upload operations: recording a received file, finding one, the per-user quota's window, and
//! sweeping uploads never attached to a message.

use crate::audit::{Action, Event};
use crate::files::incoming::Finished;
use crate::store::uploads::{self, Upload};
use crate::store::{Store, StoreError, messages};
use crate::time::now_ms;
use clinic_protocol::{User, UserId};
use std::path::PathBuf;
use std::time::Duration;

impl Store {
    /// Moves a received file into the data folder and records it as `upload`, if `user` (its
    /// uploader) is still a participant of its conversation. Placed inside the write, so a
    /// refusal leaves no file behind and a file placed is never left unrecorded by a race.
    pub(crate) async fn add_upload(
        &self,
        user: &User,
        upload: Upload,
        file: Finished,
        data_dir: PathBuf,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        self.writer
            .run(move |conn, _| {
                messages::check_access(conn, &user, &upload.key)?;
                file.place(&data_dir).map_err(|e| {
                    tracing::error!("placing an upload failed: {e}");
                    StoreError::internal("could not store the file")
                })?;
                uploads::insert(conn, &upload, now_ms())?;
                // Health data arrived for this patient, whether or not a message names it.
                crate::audit::record(
                    conn,
                    &Event::by(&user.id, Action::FileUpload)
                        .conversation(&upload.key)
                        .subject(upload.id.clone())
                        .detail(serde_json::json!({
                            "size": upload.size,
                            "contentType": upload.content_type,
                        })),
                )
            })
            .await
    }

    /// The upload with this id, whoever may see it.
    pub(crate) async fn upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        let id = id.to_owned();
        self.reads
            .run_without_log(move |conn| uploads::by_id(conn, &id))
            .await
    }

    /// Whether `upload` is attached to an emergency message and `user` is a doctor: its alert
    /// went to every doctor with the file's link, so any doctor may open it (the one who takes
    /// it from another doctor's patient too). The log is moved first: the message may be there.
    pub(crate) async fn emergency_file_for(
        &self,
        user: &User,
        upload: &Upload,
    ) -> Result<bool, StoreError> {
        let Some(message) = upload.message_id.clone() else {
            return Ok(false);
        };
        if user.role != clinic_protocol::Role::Doctor {
            return Ok(false);
        }
        self.reads
            .run(move |conn| {
                Ok::<_, StoreError>(
                    conn.prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1 AND is_emergency = 1)",
                    )?
                    .query_row([message], |r| r.get(0))?,
                )
            })
            .await
    }

    /// Bytes `user` uploaded since `since` (ms), and when the oldest of those uploads was.
    pub(crate) async fn uploaded_since(
        &self,
        user: &UserId,
        since: i64,
    ) -> Result<(u64, Option<i64>), StoreError> {
        let user = user.clone();
        self.reads
            .run(move |conn| uploads::uploaded_since(conn, &user, since))
            .await
    }

    /// Deletes uploads never attached to a message after `grace`, and content files nothing
    /// refers to; how many uploads went.
    pub(crate) async fn sweep_uploads(
        &self,
        data_dir: PathBuf,
        grace: Duration,
    ) -> Result<usize, StoreError> {
        self.writer
            .run(move |conn, _| uploads::sweep(conn, &data_dir, now_ms(), grace))
            .await
    }
}
