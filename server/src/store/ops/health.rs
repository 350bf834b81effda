//! Round trips that tell whether the store answers: `/healthz`, `/readyz`, the systemd
//! watchdog, and waiting for what is queued at shutdown.

use crate::store::{Store, StoreError};

impl Store {
    /// A read on a pooled connection (not waiting for the writer).
    pub(crate) async fn probe_read(&self) -> Result<(), StoreError> {
        self.reads
            .run_without_log(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                Ok(())
            })
            .await
    }

    /// A write through the writer, committed like every message (`at` is what it writes).
    pub(crate) async fn probe_write(&self, at: i64) -> Result<(), StoreError> {
        self.writer
            .run(move |conn, _| {
                conn.execute(
                    "INSERT INTO counters (name, value) VALUES ('ready_check', ?1) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    [at],
                )?;
                Ok(())
            })
            .await
    }

    /// A read through the writer: it answers only when the writer's queue moves.
    pub(crate) async fn probe_writer(&self) -> Result<(), StoreError> {
        self.writer
            .run(|conn, _| {
                conn.query_row("SELECT count(*) FROM counters", [], |r| r.get::<_, i64>(0))?;
                Ok(())
            })
            .await
    }

    /// Waits until everything queued with the writer before this call is committed.
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        self.writer.run(|_, _| Ok(())).await
    }
}
