//! The one retry policy, as pure functions: [`classify`] decides whether a response is retried (the
//! decision table), [`backoff`] says how long to wait (exponential, full jitter, capped).
//!
//! | outcome | decision |
//! |---|---|
//! | 2xx with the expected JSON envelope | done |
//! | 2xx with a truncated, non-JSON or unexpected body | retry |
//! | 429, 5xx (JSON or an HTML proxy page) | retry, waiting at least `Retry-After` / `X-RateLimit-Reset` |
//! | timeout, connection refused or reset | retry |
//! | 401 | refresh the OAuth token once if refresh credentials are set, else fail |
//! | 403, 404, other 4xx | fail at once |

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// What to do after one attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Try again, after at least this long if the server said so.
    Retry(Option<Duration>),
    /// Fail now.
    Fail,
}

/// The retry table: 429 and 5xx are retried (honouring `Retry-After` in seconds); every other
/// non-success status fails at once.
pub fn classify(status: StatusCode, headers: &HeaderMap) -> Decision {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Decision::Retry(server_wait(headers))
    } else {
        Decision::Fail
    }
}

/// The wait a response asks for: `Retry-After` (seconds or an HTTP date), else a rate-limit reset
/// header (`X-RateLimit-Reset`: seconds from now, or an epoch time in seconds). At most an hour.
pub fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let seconds = if let Some(v) = text(RETRY_AFTER.as_str()) {
        v.parse::<f64>().ok().or_else(|| {
            chrono::DateTime::parse_from_rfc2822(v).ok().map(|t| {
                (t.timestamp_millis() - chrono::Utc::now().timestamp_millis()) as f64 / 1000.0
            })
        })
    } else {
        text("x-ratelimit-reset")
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| {
                if v > 1e9 {
                    v - chrono::Utc::now().timestamp() as f64
                } else {
                    v
                }
            })
    }?;
    seconds
        .is_finite()
        .then(|| Duration::from_secs_f64(seconds.clamp(0.0, 3600.0)))
}

/// Exponential backoff with full jitter: a random wait in `[0, min(cap, base * 2^(attempt-1))]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, random: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    exp.min(cap).mul_f64(random.clamp(0.0, 1.0))
}

/// A random number in [0, 1) for jitter (xorshift on the clock: it only spreads retries apart).
pub fn jitter() -> f64 {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
        | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_table() {
        let mut h = HeaderMap::new();
        assert_eq!(classify(StatusCode::NOT_FOUND, &h), Decision::Fail);
        assert_eq!(classify(StatusCode::BAD_GATEWAY, &h), Decision::Retry(None));
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h),
            Decision::Retry(Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn rate_limit_reset_header_is_a_wait() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", "3".parse().unwrap());
        assert_eq!(server_wait(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "garbage".parse().unwrap());
        assert_eq!(server_wait(&h), None);
    }

    #[test]
    fn backoff_is_capped() {
        let cap = Duration::from_secs(60);
        for attempt in 1..40 {
            assert!(backoff(attempt, Duration::from_secs(1), cap, 1.0) <= cap);
        }
        assert_eq!(
            backoff(3, Duration::from_secs(1), cap, 1.0),
            Duration::from_secs(4)
        );
        assert_eq!(backoff(3, Duration::from_secs(1), cap, 0.0), Duration::ZERO);
    }
}
