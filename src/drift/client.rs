//! The Drift HTTP client: the only code that sends requests. Every request waits on the one shared
//! [`RateLimiter`] and goes through the one retry loop of [`DriftClient::get`], which acts on the
//! decisions of [`crate::drift::retry`]. Knows nothing of Singer or of the stream table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use reqwest::Url;
use serde_json::Value;

use crate::config::Config;
use crate::drift::auth::{Auth, TOKEN_PATH};
use crate::drift::rate_limit::RateLimiter;
use crate::drift::request::{Envelope, Request};
use crate::drift::retry::{backoff, decide, jitter, Decision, Outcome};
use crate::error::{Error, Result};

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

/// A transport error with its causes ("error sending request: … connection reset"), no URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
        source = cause.source();
    }
    text
}

/// The Drift API client.
#[derive(Debug)]
pub struct DriftClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    limiter: RateLimiter,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    requests: AtomicU64,
}

fn http_client(config: &Config) -> Result<reqwest::Client> {
    let bad = |setting: &str, reason: String| Error::Config {
        setting: setting.into(),
        reason,
    };
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let ua = HeaderValue::from_str(&config.user_agent)
        .map_err(|_| bad("user_agent", "is not a valid header value".into()))?;
    headers.insert(USER_AGENT, ua);
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(config.request_timeout_seconds))
        .connect_timeout(Duration::from_secs(config.connect_timeout_seconds))
        .build()
        .map_err(|e| bad("api_url", format!("cannot build an HTTP client: {e}")))
}

impl DriftClient {
    /// Builds a client from the config; with refresh credentials and no access token, obtains one.
    pub async fn connect(config: &Config) -> Result<Self> {
        let client = DriftClient {
            http: http_client(config)?,
            base: config.api_url.as_str().trim_end_matches('/').to_string(),
            auth: Auth::new(config.access_token.clone(), config.oauth.clone()),
            limiter: RateLimiter::new(config.requests_per_minute),
            max_attempts: config.max_attempts,
            backoff_base: Duration::from_millis(config.backoff_base_ms),
            backoff_cap: Duration::from_secs(config.backoff_max_seconds),
            requests: AtomicU64::new(0),
        };
        if config.access_token.is_none() {
            client.refresh(0).await?;
        }
        Ok(client)
    }

    /// Requests sent so far (every attempt counts, token refreshes included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn refresh(&self, failed_generation: u64) -> Result<()> {
        self.limiter.acquire().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}{TOKEN_PATH}", self.base);
        self.auth.refresh(&self.http, &url, failed_generation).await
    }

    fn url(&self, request: &Request) -> Result<Url> {
        let mut url =
            Url::parse(&format!("{}{}", self.base, request.path)).map_err(|e| Error::Decode {
                endpoint: request.path.clone(),
                reason: format!("bad URL: {e}"),
            })?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        Ok(url)
    }

    /// One attempt: waits for a slot, sends, reads the whole response. Returns the token
    /// generation it used (for a refresh) and what happened.
    async fn attempt(&self, url: &Url, stream: &str, endpoint: &str) -> (u64, Outcome) {
        self.limiter.acquire().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (generation, token) = self.auth.current().await;
        let started = Instant::now();
        let sent = self
            .http
            .get(url.clone())
            .bearer_auth(token.expose())
            .send()
            .await;
        let status = sent.as_ref().ok().map(|r| r.status());
        crate::logging::http_request_duration(
            stream,
            &template(endpoint),
            status.map(|s| s.as_u16()),
            started.elapsed().as_secs_f64(),
        );
        let resp = match sent {
            Err(e) => return (generation, Outcome::Transport(describe(e))),
            Ok(resp) => resp,
        };
        let status = resp.status();
        tracing::debug!(endpoint = %endpoint, status = status.as_u16(), "request");
        let outcome = if status.is_success() {
            let body = resp
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| e.without_url().to_string());
            Outcome::Success { status, body }
        } else {
            let headers = resp.headers().clone();
            let body = resp.text().await.unwrap_or_default();
            Outcome::Failure {
                status,
                headers,
                body,
            }
        };
        (generation, outcome)
    }

    /// GETs a request and returns its JSON body once it has the expected envelope. Retries per
    /// [`crate::drift::retry`]; `stream` tags the metrics.
    pub async fn get(&self, request: &Request, stream: &str, envelope: Envelope) -> Result<Value> {
        let url = self.url(request)?;
        let endpoint = request.path.as_str();
        let (mut failures, mut refreshed) = (0u32, false);
        loop {
            let (generation, outcome) = self.attempt(&url, stream, endpoint).await;
            let can_refresh = self.auth.can_refresh() && !refreshed;
            let (after, last) = match decide(outcome, envelope, endpoint, can_refresh) {
                Decision::Done(body) => return Ok(body),
                Decision::Fail(e) => return Err(e),
                Decision::Refresh => {
                    tracing::warn!(endpoint = %endpoint, "access token rejected (401): refreshing it once");
                    self.refresh(generation).await?;
                    refreshed = true;
                    continue;
                }
                Decision::Retry { after, reason } => (after, reason),
            };
            failures += 1;
            if failures >= self.max_attempts {
                return Err(Error::RetriesExhausted {
                    endpoint: endpoint.into(),
                    attempts: failures,
                    last,
                });
            }
            let delay = after.unwrap_or_else(|| {
                backoff(failures, self.backoff_base, self.backoff_cap, jitter())
            });
            tracing::warn!(endpoint = %endpoint, attempt = failures, wait_ms = delay.as_millis() as u64, reason = %last, "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_templates() {
        assert_eq!(template("/conversations/3000000411"), "/conversations/{id}");
        assert_eq!(template("/conversations/list"), "/conversations/list");
    }
}
