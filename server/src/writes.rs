//! Each user's rate of writes, one bucket shared by REST and every socket of the user: sends,
//! edits, unsends, receipts and notification marks cost by what they carry, so one account
//! (however many connections it opens) cannot fill the writer and slow everyone else's messages
//! down. Emergency messages have a bucket of their own, so that one never waits behind its
//! sender's other writes.

use crate::config::Rate;
use crate::error::ApiError;
use crate::limiter::KeyedBuckets;
use clinic_protocol::{UserId, limits};

/// Every user's write buckets ([`crate::config::Config::write_rate`],
/// [`crate::config::Config::emergency_send_rate`]).
#[derive(Debug)]
pub(crate) struct Writes {
    writes: KeyedBuckets<UserId>,
    emergencies: KeyedBuckets<UserId>,
}

/// What a write is, for its cost.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Write {
    /// A send, an edit or an unsend carrying this many bytes of text: one, plus one per whole
    /// KiB (a 16 KiB edit costs 17 sends of a line).
    Text(usize),
    /// A receipt or a notification mark naming this many ids: one, plus one per 10 ids (each
    /// id is a lookup and a write on the writer; a receipt of 1,000 costs 101).
    Ids(usize),
    /// A message pressed as an emergency: from its own bucket.
    Emergency,
    /// Anything else that writes (a doctor's availability).
    One,
}

impl Write {
    /// A message's send: an emergency draws on its own bucket.
    pub(crate) fn message(new: &clinic_protocol::NewMessage) -> Self {
        if new.is_emergency {
            Self::Emergency
        } else {
            Self::Text(new.content.len())
        }
    }

    fn cost(self) -> f64 {
        match self {
            // Past the limit a text is refused anyway; its cost is not the sender's to inflate.
            Self::Text(bytes) => 1.0 + (bytes.min(limits::MAX_CONTENT_BYTES) / 1024) as f64,
            Self::Ids(n) => 1.0 + (n.min(limits::MAX_IDS_PER_REQUEST) / 10) as f64,
            Self::Emergency | Self::One => 1.0,
        }
    }
}

impl Writes {
    pub(crate) fn new(writes: Rate, emergencies: Rate) -> Self {
        Self {
            writes: KeyedBuckets::new(writes),
            emergencies: KeyedBuckets::new(emergencies),
        }
    }

    fn bucket(&self, write: Write) -> &KeyedBuckets<UserId> {
        match write {
            Write::Emergency => &self.emergencies,
            _ => &self.writes,
        }
    }

    /// For REST: takes `write`'s cost from `user`'s bucket, or refuses with `429 rate_limited`
    /// and how long to wait (nothing is written).
    pub(crate) fn charge(&self, user: &UserId, write: Write) -> Result<(), ApiError> {
        self.bucket(write)
            .take_n(user, write.cost())
            .map_err(ApiError::rate_limited)
    }

    /// For a socket: takes `write`'s cost from `user`'s bucket and waits until it was due. The
    /// socket is not read meanwhile, so its sender is slowed down and its frames keep their
    /// order.
    pub(crate) async fn wait(&self, user: &UserId, write: Write) {
        self.bucket(write).wait_n(user, write.cost()).await;
    }
}
