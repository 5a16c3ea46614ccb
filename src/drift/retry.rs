//! The one retry policy, as pure functions: [`decide`] turns the outcome of one attempt into what
//! the client does next (the whole decision table below), [`backoff`] says how long to wait
//! (exponential, full jitter, capped). The client owns the only sleep.
//!
//! | outcome | decision |
//! |---|---|
//! | 2xx with the expected JSON envelope | done |
//! | 2xx with a truncated, non-JSON or unexpected body | retry |
//! | 429 | throttled: the limiter pauses every worker (`Retry-After` / `X-RateLimit-Reset`, else 10 s and growing) and lowers the pace |
//! | 5xx (JSON or an HTML proxy page) | retry, waiting at least `Retry-After` |
//! | timeout, connection refused or reset | retry |
//! | no connection (refused, DNS, TLS, connect timeout) before Drift has answered once in the run | unreachable: retry for [`FIRST_CONTACT`] only, then stop naming `api_url` |
//! | 401 | refresh the OAuth token once if refresh credentials are set, else fail |
//! | 403 | fail at once: the token lacks the scope |
//! | 404, other 4xx | fail at once |

use std::io::Read;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use crate::drift::request::Envelope;
use crate::drift::spool::{Fault, NanFree, Spool};
use crate::error::Error;

/// How long a request that cannot connect is retried while Drift has not answered once in the
/// run (a wrong `api_url`, no network): seconds, not the patience kept for an outage.
pub const FIRST_CONTACT: Duration = Duration::from_secs(15);

/// What one attempt came to.
#[derive(Debug)]
pub enum Outcome {
    /// No response on a connection that was made: timeout or reset (the text says which).
    Transport(String),
    /// No connection could be made: refused, DNS, TLS, connect timeout (the text says which).
    Unconnected(String),
    /// A success status, with its body or the error that cut it short.
    Success {
        /// The status.
        status: StatusCode,
        /// The body, or why it could not be read whole.
        body: std::result::Result<Vec<u8>, String>,
    },
    /// A success status, its body kept on disk (or why it could not be).
    Kept {
        /// The status.
        status: StatusCode,
        /// The answer's rows, or what went wrong.
        spool: std::result::Result<Spool, Fault>,
    },
    /// An error status.
    Failure {
        /// The status.
        status: StatusCode,
        /// The response headers (for `Retry-After`).
        headers: HeaderMap,
        /// The body as text.
        body: String,
    },
}

/// What the client does next.
#[derive(Debug)]
pub enum Decision {
    /// The response is good.
    Done(Value),
    /// The response is good, and kept on disk.
    Kept(Spool),
    /// Try again, after at least `after` if the server said so; `reason` is for the logs.
    Retry {
        /// The server's requested wait, if any.
        after: Option<Duration>,
        /// What went wrong, on one line.
        reason: String,
    },
    /// No connection could be made, and Drift has not answered once in this run: try again
    /// within [`FIRST_CONTACT`] only.
    Unreachable {
        /// What went wrong, on one line.
        reason: String,
    },
    /// Replace the access token, then try again.
    Refresh,
    /// Rate limited (429): the limiter decides the wait, and whether the run goes on.
    Throttled {
        /// The server's requested wait, if any.
        after: Option<Duration>,
    },
    /// Give up on this request.
    Fail(Error),
}

/// What the client knows besides the outcome of an attempt.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Refresh credentials are configured and this request has not refreshed yet.
    pub can_refresh: bool,
    /// Drift has answered at least once in this run.
    pub reached: bool,
}

/// The decision table (see the module doc).
pub fn decide(outcome: Outcome, envelope: Envelope, endpoint: &str, context: Context) -> Decision {
    let can_refresh = context.can_refresh;
    match outcome {
        Outcome::Unconnected(reason) if !context.reached => Decision::Unreachable { reason },
        Outcome::Transport(reason) | Outcome::Unconnected(reason) => Decision::Retry {
            after: None,
            reason,
        },
        Outcome::Success { status, body } => success(status, body, envelope),
        Outcome::Kept {
            spool: Ok(spool), ..
        } => Decision::Kept(spool),
        Outcome::Kept {
            spool: Err(Fault::Disk(why)),
            ..
        } => Decision::Fail(Error::Disk(why)),
        Outcome::Kept {
            status,
            spool: Err(Fault::Body(why)),
        } => Decision::Retry {
            after: None,
            reason: format!("{status} with {why}"),
        },
        Outcome::Failure { status, .. } if status == StatusCode::UNAUTHORIZED && can_refresh => {
            Decision::Refresh
        }
        Outcome::Failure { status, .. }
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) =>
        {
            Decision::Fail(Error::Auth {
                status: status.as_u16(),
                endpoint: endpoint.into(),
            })
        }
        Outcome::Failure {
            status, headers, ..
        } if status == StatusCode::TOO_MANY_REQUESTS => Decision::Throttled {
            after: server_wait(&headers),
        },
        Outcome::Failure {
            status,
            headers,
            body,
        } if status.is_server_error() => Decision::Retry {
            after: server_wait(&headers),
            reason: format!("{status}: {}", excerpt(&body)),
        },
        Outcome::Failure { status, body, .. } => Decision::Fail(Error::Api {
            status: status.as_u16(),
            endpoint: endpoint.into(),
            body: excerpt(&body),
        }),
    }
}

fn success(
    status: StatusCode,
    body: std::result::Result<Vec<u8>, String>,
    envelope: Envelope,
) -> Decision {
    let retry = |reason: String| Decision::Retry {
        after: None,
        reason,
    };
    let bytes = match body {
        Ok(bytes) => bytes,
        Err(e) => return retry(format!("{status} with a body cut short ({e})")),
    };
    let parsed = serde_json::from_slice::<Value>(&bytes)
        .or_else(|e| serde_json::from_slice::<Value>(&without_bare_nan(&bytes)).map_err(|_| e));
    match parsed {
        Err(e) => retry(format!(
            "{status} with a body that is not JSON ({e}): {}",
            excerpt(&String::from_utf8_lossy(&bytes))
        )),
        Ok(v) => match envelope.check(&v) {
            Ok(()) => Decision::Done(v),
            Err(reason) => retry(format!("{status} with an unexpected body: {reason}")),
        },
    }
}

/// The body with bare `NaN`, `Infinity` and `-Infinity` tokens outside strings replaced by `null`
/// (the one reader that does so, for answers on disk too).
fn without_bare_nan(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    // reading from memory cannot fail
    let _ = NanFree::new(body).read_to_end(&mut out);
    out
}

/// The start of a response body on one line; an HTML page (a proxy's error) is reduced to its text.
pub fn excerpt(body: &str) -> String {
    let text = if body.trim_start().starts_with('<') {
        let mut plain = String::from("HTML page: ");
        let mut in_tag = false;
        for c in body.chars() {
            match c {
                '<' => {
                    in_tag = true;
                    plain.push(' ');
                }
                '>' => in_tag = false,
                c if !in_tag => plain.push(c),
                _ => {}
            }
        }
        plain
    } else {
        body.to_string()
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// The wait a response asks for: `Retry-After` (seconds or an HTTP date), else a rate-limit reset
/// header (`X-RateLimit-Reset`: seconds from now, or an epoch time in seconds). At most a day.
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
        .then(|| Duration::from_secs_f64(seconds.clamp(0.0, 86_400.0)))
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

    fn failure(status: u16, headers: HeaderMap) -> Outcome {
        Outcome::Failure {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: "{}".into(),
        }
    }

    #[test]
    fn decision_table() {
        let list = Envelope::List("/data");
        let d = |o, can_refresh| {
            let context = Context {
                can_refresh,
                reached: true,
            };
            decide(o, list, "/x", context)
        };
        assert!(matches!(
            d(failure(404, HeaderMap::new()), false),
            Decision::Fail(Error::Api { status: 404, .. })
        ));
        assert!(matches!(
            d(failure(502, HeaderMap::new()), false),
            Decision::Retry { after: None, .. }
        ));
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert!(
            matches!(d(failure(429, h), false), Decision::Throttled { after: Some(a) } if a == Duration::from_secs(2))
        );
        assert!(matches!(
            d(failure(401, HeaderMap::new()), true),
            Decision::Refresh
        ));
        assert!(matches!(
            d(failure(401, HeaderMap::new()), false),
            Decision::Fail(Error::Auth { status: 401, .. })
        ));
        assert!(matches!(
            d(failure(403, HeaderMap::new()), true),
            Decision::Fail(Error::Auth { status: 403, .. })
        ));
        assert!(matches!(
            d(Outcome::Transport("timed out".into()), false),
            Decision::Retry { .. }
        ));
        let ok = |body: &str| Outcome::Success {
            status: StatusCode::OK,
            body: Ok(body.as_bytes().to_vec()),
        };
        assert!(matches!(d(ok(r#"{"data": []}"#), false), Decision::Done(_)));
        assert!(
            matches!(d(ok(r#"{"data": {}}"#), false), Decision::Retry { reason, .. } if reason.contains("unexpected body"))
        );
        assert!(
            matches!(d(ok("<html>"), false), Decision::Retry { reason, .. } if reason.contains("not JSON"))
        );
    }

    #[test]
    fn a_connection_never_made_is_an_outage_only_once_drift_has_answered() {
        let list = Envelope::List("/data");
        let refused = || Outcome::Unconnected("connection refused".into());
        let reached = Context {
            can_refresh: false,
            reached: true,
        };
        assert!(matches!(
            decide(refused(), list, "/x", reached),
            Decision::Retry { .. }
        ));
        let first = Context {
            can_refresh: false,
            reached: false,
        };
        assert!(matches!(
            decide(refused(), list, "/x", first),
            Decision::Unreachable { reason } if reason == "connection refused"
        ));
        assert!(matches!(
            decide(Outcome::Transport("timed out".into()), list, "/x", first),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn bare_nan_outside_strings_becomes_null() {
        let body = br#"{"data": [{"metrics": [1, NaN, -Infinity, "NaN", "a\"NaN"]}]}"#;
        let v: Value = serde_json::from_slice(&without_bare_nan(body)).unwrap();
        assert_eq!(
            v["data"][0]["metrics"],
            serde_json::json!([1, null, null, "NaN", "a\"NaN"])
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

    #[test]
    fn excerpts_are_one_short_line() {
        let html = format!("<html>\n<body>{}</body></html>", "x".repeat(1000));
        let e = excerpt(&html);
        assert!(
            !e.contains('\n') && !e.contains('<') && e.chars().count() <= 301,
            "{e}"
        );
        assert!(e.starts_with("HTML page:"));
    }
}
