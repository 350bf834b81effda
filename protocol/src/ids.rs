//! Newtype ids: opaque strings on the wire, distinct types in Rust so they cannot be mixed up.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An id: at most [`crate::limits::MAX_ID_BYTES`] on the wire, so that an id nobody made (a
/// refusal's audit row names what was asked for, an edit's row keeps its `clientId`) cannot
/// carry a large body.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                if value.len() > crate::limits::MAX_ID_BYTES {
                    return Err(serde::de::Error::custom(format_args!(
                        "an id is at most {} bytes",
                        crate::limits::MAX_ID_BYTES
                    )));
                }
                Ok(Self(value))
            }
        }

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A user account (patient, doctor or admin).
    UserId
);
string_id!(
    /// A message as stored by the server.
    MessageId
);
string_id!(
    /// The sender's own id for a send, unique per send; the server deduplicates on it so that a
    /// retried send never becomes a second message.
    ClientId
);
string_id!(
    /// An emergency raised by a patient's emergency message.
    EmergencyId
);
string_id!(
    /// A persisted in-app notification.
    NotificationId
);
string_id!(
    /// An uploaded file (random, unguessable).
    FileId
);

/// A position in the server's change log. Every change the server commits (a new message, a
/// receipt, an emergency transition) gets the next `Seq`; a client that remembers the highest
/// `Seq` it has seen can ask for everything after it and miss nothing.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub i64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
