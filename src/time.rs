//! Time: RFC 3339 text ↔ epoch milliseconds, and the clock. Drift's timestamps and the tap's
//! bookmarks are epoch milliseconds; people and Singer write RFC 3339. No other I/O.

use chrono::{DateTime, SecondsFormat, Utc};

/// Parses an RFC 3339 timestamp (a bare date is read as midnight UTC) into epoch milliseconds.
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Now, as RFC 3339 in UTC with microseconds (`…Z`), for `time_extracted`.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Epoch milliseconds as RFC 3339 in UTC with milliseconds (`…Z`); `None` out of range.
pub fn ms_to_rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_timestamp_ms("yesterday"), None);
        assert_eq!(
            ms_to_rfc3339(1_717_171_717_123).as_deref(),
            Some("2024-05-31T16:08:37.123Z")
        );
    }
}
