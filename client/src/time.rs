//! Times a server sent, made safe to show: chrono panics when a time near the ends of its range
//! is moved into a time zone and its date taken, and a hostile server may send such a time.

use chrono::{DateTime, TimeDelta, Utc};

/// Room at each end of chrono's range for any time zone's offset (at most a day).
const MARGIN: TimeDelta = TimeDelta::days(2);

/// `at`, or the nearest time any time zone can show (only a broken or hostile server sends one
/// outside that range: about 262,000 years from now).
pub fn showable(at: DateTime<Utc>) -> DateTime<Utc> {
    let earliest = DateTime::<Utc>::MIN_UTC + MARGIN;
    let latest = DateTime::<Utc>::MAX_UTC - MARGIN;
    at.clamp(earliest, latest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, FixedOffset};

    #[test]
    fn the_ends_of_time_can_be_shown_in_any_time_zone() {
        for at in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            for hours in [-14, 0, 14] {
                let zone = FixedOffset::east_opt(hours * 3600).unwrap_or_else(|| unreachable!());
                let local = showable(at).with_timezone(&zone);
                assert!(local.date_naive().year().abs() > 200_000);
                assert!(!local.format("%Y-%m-%d %H:%M").to_string().is_empty());
            }
        }
        let now = Utc::now();
        assert_eq!(showable(now), now, "an ordinary time is itself");
    }
}
