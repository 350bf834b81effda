//! Each user's rate of writes, one bucket shared by REST and every socket of the user: sends,
//! edits and unsends cost by the text they carry, so one account (however many connections it
//! opens) cannot fill the writer and slow everyone else's messages down.

use crate::config::Rate;
use crate::error::ApiError;
use crate::limiter::{Cost, KeyedBuckets};
use clinic_protocol::UserId;

/// Every user's write bucket ([`crate::config::Config::write_rate`]).
#[derive(Debug)]
pub(crate) struct Writes(KeyedBuckets<UserId>);

/// What a write costs: one, plus one per whole KiB of text it carries (a 16 KiB edit costs 17
/// sends of a line). An emergency never waits behind its sender's earlier writes: it may take
/// the bucket below empty (a flood of them is still slowed down, past a burst's worth of debt).
pub(crate) fn cost(text_bytes: usize, emergency: bool) -> Cost {
    Cost {
        tokens: 1.0 + (text_bytes / 1024) as f64,
        overdraft: emergency,
    }
}

impl Writes {
    pub(crate) fn new(rate: Rate) -> Self {
        Self(KeyedBuckets::new(rate))
    }

    /// For REST: takes `cost` from `user`'s bucket, or refuses with `429 rate_limited` and how
    /// long to wait (nothing is written).
    pub(crate) fn charge(&self, user: &UserId, cost: Cost) -> Result<(), ApiError> {
        self.0.take_n(user, cost).map_err(ApiError::rate_limited)
    }

    /// For a socket: waits until `user`'s bucket has `cost` and takes it. The socket is not read
    /// meanwhile, so its sender is slowed down and its frames keep their order.
    pub(crate) async fn wait(&self, user: &UserId, cost: Cost) {
        self.0.wait_n(user, cost).await;
    }
}
