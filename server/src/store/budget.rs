//! Server-wide bounds on what requests hold in memory while they wait for the writer.
//!
//! The writer's queue counts commands, not their size, and a read of patient data waits for its
//! audit row (written through the writer) before it is answered. While the writer is stalled (a
//! slow disk, another program holding the database's lock) both used to grow with the number of
//! sockets: twenty sockets of one account held 320 MiB of receipt ids in a second, a hundred
//! held 950 MiB of sync pages (`bench/probes/`). A request over its budget waits for its share
//! before it reads or queues anything, and a socket is not read meanwhile.

use crate::store::StoreError;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Units (receipt ids, pages) that may be held at once.
#[derive(Debug, Clone)]
pub(crate) struct Budget(Arc<Semaphore>);

/// A request's share of a [`Budget`], given back when it is dropped.
pub(crate) struct Share {
    _permit: OwnedSemaphorePermit,
}

impl Budget {
    /// A budget of `units`, never less than `least` (so that the largest request fits).
    pub(crate) fn new(units: usize, least: usize) -> Self {
        let units = units.max(least).clamp(1, Semaphore::MAX_PERMITS);
        Self(Arc::new(Semaphore::new(units)))
    }

    /// Waits until `units` fit (at most the budget's `least`, which callers check first).
    pub(crate) async fn take(&self, units: usize) -> Result<Share, StoreError> {
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.0)
            .acquire_many_owned(units)
            .await
            .map_err(|_| StoreError::unavailable("the server is stopping"))?;
        Ok(Share { _permit: permit })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_request_over_the_budget_waits_until_a_share_is_given_back() {
        // Never less than the largest request.
        let budget = Budget::new(10, 1000);
        let whole = budget.take(1000).await.unwrap();
        let waiting = budget.take(1);
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), &mut waiting)
                .await
                .is_err(),
            "a request over the budget went ahead"
        );
        drop(whole);
        let _one = waiting.await.unwrap();
        let _rest = budget.take(999).await.unwrap();
    }
}
