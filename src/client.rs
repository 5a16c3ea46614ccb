//! The Drift HTTP client: the only code that sends requests. One shared [`RateLimiter`] paces every
//! request of the process; one retry policy ([`classify`] + [`backoff`]) decides what is retried.
//! Knows nothing of Singer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, RETRY_AFTER, USER_AGENT};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Paces requests evenly: at most one every `60 s / requests_per_minute`, shared by all tasks.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests in any minute.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

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
        let after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3600.0)));
        Decision::Retry(after)
    } else {
        Decision::Fail
    }
}

/// Exponential backoff with full jitter: a random wait in `[0, min(cap, base * 2^(attempt-1))]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, random: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    exp.min(cap).mul_f64(random.clamp(0.0, 1.0))
}

fn jitter() -> f64 {
    // xorshift on the clock: only spreads retries apart, needs no quality
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
        | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 10_000) as f64 / 10_000.0
}

/// The path with ids replaced by `{id}`, so metric tags stay few.
fn template(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn excerpt(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// The Drift API client.
#[derive(Debug)]
pub struct DriftClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
    limiter: RateLimiter,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    requests: AtomicU64,
}

impl DriftClient {
    /// Builds a client from the config.
    pub fn new(config: &Config) -> Result<Self> {
        let bad = |setting: &str, reason: String| Error::Config {
            setting: setting.into(),
            reason,
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let ua = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| bad("user_agent", "is not a valid header value".into()))?;
        headers.insert(USER_AGENT, ua);
        let timeout = Duration::from_secs(config.request_timeout_seconds);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| bad("api_url", format!("cannot build an HTTP client: {e}")))?;
        Ok(DriftClient {
            http,
            base: config.api_url.as_str().trim_end_matches('/').to_string(),
            token: config.access_token.clone(),
            limiter: RateLimiter::new(config.requests_per_minute),
            max_attempts: config.max_attempts,
            backoff_base: Duration::from_millis(config.backoff_base_ms),
            backoff_cap: Duration::from_secs(60),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests sent so far (every attempt counts).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// GETs a path-and-query relative to the base URL and decodes the JSON body, retrying per policy.
    pub async fn get(&self, path_and_query: &str, stream: &str) -> Result<Value> {
        let url = format!("{}{}", self.base, path_and_query);
        let endpoint = path_and_query
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let url = Url::parse(&url).map_err(|e| Error::Decode {
            endpoint: endpoint.clone(),
            reason: format!("bad URL: {e}"),
        })?;
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            self.limiter.acquire().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let mut wait = None;
            let sent = self
                .http
                .get(url.clone())
                .bearer_auth(self.token.expose())
                .send()
                .await;
            let status = sent.as_ref().ok().map(|r| r.status().as_u16());
            let elapsed = started.elapsed().as_secs_f64();
            crate::logging::http_request_duration(stream, &template(&endpoint), status, elapsed);
            match sent {
                Err(e) => last = format!("{}", e.without_url()),
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        match resp.bytes().await {
                            Err(e) => last = format!("body cut short: {}", e.without_url()),
                            Ok(body) => match serde_json::from_slice::<Value>(&body) {
                                Ok(v) => return Ok(v),
                                Err(e) => {
                                    last = format!("{status} with a body that is not JSON ({e})")
                                }
                            },
                        }
                    } else {
                        let headers = resp.headers().clone();
                        let body = resp.text().await.unwrap_or_default();
                        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                            return Err(Error::Auth {
                                status: status.as_u16(),
                                endpoint,
                            });
                        }
                        match classify(status, &headers) {
                            Decision::Fail => {
                                return Err(Error::Api {
                                    status: status.as_u16(),
                                    endpoint,
                                    body: excerpt(&body),
                                })
                            }
                            Decision::Retry(after) => {
                                wait = after;
                                last = format!("{status}");
                            }
                        }
                    }
                }
            }
            if attempt < self.max_attempts {
                let delay = wait.unwrap_or_else(|| {
                    backoff(attempt, self.backoff_base, self.backoff_cap, jitter())
                });
                tracing::warn!(endpoint = %endpoint, attempt, wait_ms = delay.as_millis() as u64, reason = %last, "retrying");
                tokio::time::sleep(delay).await;
            }
        }
        Err(Error::RetriesExhausted {
            endpoint,
            attempts: self.max_attempts,
            last,
        })
    }
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
    fn endpoint_templates() {
        assert_eq!(template("/conversations/3000000411"), "/conversations/{id}");
        assert_eq!(template("/conversations/list"), "/conversations/list");
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
