//! What one user may upload, checked before a byte is read: a rate of new uploads, a couple
//! at a time, a daily quota, and never into the disk space kept for messages and emergencies.

use crate::config::Config;
use crate::error::ApiError;
use crate::limiter::KeyedBuckets;
use crate::store::Store;
use crate::time::now_ms;
use clinic_protocol::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The quota's window.
const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
pub(crate) struct Allowance {
    rate: KeyedBuckets<UserId>,
    streaming: Mutex<HashMap<UserId, usize>>,
}

/// One upload allowed to stream: at most `limit` bytes (`quota_limited`: the user's quota, not
/// the file size limit, sets it). Dropping it ends the user's upload slot.
#[derive(Debug)]
pub(crate) struct Granted {
    allowance: Arc<Allowance>,
    user: UserId,
    pub limit: u64,
    pub quota_limited: bool,
}

impl Drop for Granted {
    fn drop(&mut self) {
        let mut streaming = self
            .allowance
            .streaming
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = streaming.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                streaming.remove(&self.user);
            }
        }
    }
}

impl Allowance {
    pub(crate) fn new(config: &Config) -> Arc<Self> {
        Arc::new(Self {
            rate: KeyedBuckets::new(config.upload_rate),
            streaming: Mutex::new(HashMap::new()),
        })
    }

    /// Decides whether `user` may start an upload now, and how large it may be.
    pub(crate) async fn grant(
        self: &Arc<Self>,
        config: &Config,
        store: &Store,
        user: &UserId,
    ) -> Result<Granted, ApiError> {
        // The disk first: when it runs low, uploads stop long before messages would.
        if let Some(free) = crate::datadir::free_bytes(&config.data_dir)
            && free.saturating_sub(config.max_upload_bytes) < config.upload_reserve_bytes
        {
            tracing::warn!(free, "refusing uploads: the disk is nearly full");
            return Err(ApiError::unavailable(
                "the server is low on disk space and takes no uploads for now; messages still work",
            ));
        }
        self.rate.take(user).map_err(|wait| ApiError {
            message: "too many uploads; wait a moment".into(),
            ..ApiError::rate_limited(wait)
        })?;
        let window_start = now_ms().saturating_sub(millis(DAY));
        let (used, oldest) = store.uploaded_since(user, window_start).await?;
        let remaining = config.upload_quota_bytes.saturating_sub(used);
        if remaining == 0 {
            // Room comes back as the oldest upload of the window ages out of it.
            let wait = oldest.map_or(DAY, |at| {
                Duration::from_millis(
                    u64::try_from(at.saturating_add(millis(DAY)) - now_ms()).unwrap_or(0),
                )
            });
            return Err(over_quota(config, wait));
        }
        {
            let mut streaming = self.streaming.lock().unwrap_or_else(|p| p.into_inner());
            let count = streaming.entry(user.clone()).or_insert(0);
            if *count >= config.upload_concurrency.max(1) {
                return Err(ApiError {
                    message: "an upload of yours is still in progress; wait for it".into(),
                    ..ApiError::rate_limited(Duration::from_secs(1))
                });
            }
            *count += 1;
        }
        Ok(Granted {
            allowance: Arc::clone(self),
            user: user.clone(),
            limit: remaining.min(config.max_upload_bytes),
            quota_limited: remaining < config.max_upload_bytes,
        })
    }
}

/// The refusal of an upload over the user's daily quota.
pub(crate) fn over_quota(config: &Config, wait: Duration) -> ApiError {
    ApiError {
        message: format!(
            "over your upload allowance of {} a day; try again later",
            clinic_protocol::limits::size_text(config.upload_quota_bytes)
        ),
        ..ApiError::rate_limited(wait)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
