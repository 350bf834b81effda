//! Time as stored (integer milliseconds since the epoch, UTC) and as sent (chrono, RFC 3339).

use chrono::{DateTime, NaiveDate, Utc};

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Whole years between a date of birth and today.
pub(crate) fn age_on(dob: NaiveDate, today: NaiveDate) -> u32 {
    today.years_since(dob).unwrap_or(0)
}
