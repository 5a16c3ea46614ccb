//! The Drift HTTP client: the only code that sends requests. Every request waits on the one shared
//! [`RateLimiter`], and goes through the one retry loop in [`DriftClient::get`] with the policy of
//! [`crate::retry`]. Holds the access token, refreshing it by OAuth2 when refresh credentials are
//! configured. Knows nothing of Singer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::config::{Config, OAuth};
use crate::error::{Error, Result};
use crate::rate_limit::RateLimiter;
use crate::retry::{backoff, classify, jitter, Decision};
use crate::secret::Secret;

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

/// The start of a response body on one line; an HTML page (a proxy's error) is reduced to its text.
fn excerpt(body: &str) -> String {
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

/// The current access token and how many times it was replaced.
#[derive(Debug)]
struct Token {
    value: Option<Secret>,
    generation: u64,
}

/// The Drift API client.
#[derive(Debug)]
pub struct DriftClient {
    http: reqwest::Client,
    base: String,
    token: RwLock<Token>,
    oauth: Option<OAuth>,
    refresh_token: Mutex<Option<Secret>>,
    limiter: RateLimiter,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    requests: AtomicU64,
}

impl DriftClient {
    /// Builds a client from the config; with refresh credentials and no access token, obtains one.
    pub async fn connect(config: &Config) -> Result<Self> {
        let bad = |setting: &str, reason: String| Error::Config {
            setting: setting.into(),
            reason,
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let ua = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| bad("user_agent", "is not a valid header value".into()))?;
        headers.insert(USER_AGENT, ua);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(config.request_timeout_seconds))
            .connect_timeout(Duration::from_secs(config.connect_timeout_seconds))
            .build()
            .map_err(|e| bad("api_url", format!("cannot build an HTTP client: {e}")))?;
        let client = DriftClient {
            http,
            base: config.api_url.as_str().trim_end_matches('/').to_string(),
            token: RwLock::new(Token {
                value: config.access_token.clone(),
                generation: 0,
            }),
            refresh_token: Mutex::new(config.oauth.as_ref().map(|o| o.refresh_token.clone())),
            oauth: config.oauth.clone(),
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

    /// Replaces the access token by OAuth2 refresh, unless another task already replaced the
    /// generation that failed.
    async fn refresh(&self, failed_generation: u64) -> Result<()> {
        let Some(oauth) = &self.oauth else {
            return Err(Error::Auth {
                status: 401,
                endpoint: "/oauth2/token".into(),
            });
        };
        let mut refresh_token = self.refresh_token.lock().await;
        if self.token.read().await.generation != failed_generation {
            return Ok(());
        }
        let current = refresh_token
            .clone()
            .unwrap_or_else(|| oauth.refresh_token.clone());
        self.limiter.acquire().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let endpoint = "/oauth2/token".to_string();
        let form = [
            ("client_id", oauth.client_id.as_str()),
            ("client_secret", oauth.client_secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", current.expose()),
        ];
        let resp = self
            .http
            .post(format!("{}{endpoint}", self.base))
            .form(&form)
            .send()
            .await
            .map_err(|e| Error::RetriesExhausted {
                endpoint: endpoint.clone(),
                attempts: 1,
                last: e.without_url().to_string(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            tracing::error!(
                status = status.as_u16(),
                "the OAuth2 token refresh was refused"
            );
            return Err(Error::Refresh {
                status: status.as_u16(),
            });
        }
        let body: Value = resp.json().await.map_err(|e| Error::Decode {
            endpoint: endpoint.clone(),
            reason: e.without_url().to_string(),
        })?;
        let access = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Decode {
                endpoint: endpoint.clone(),
                reason: "no access_token in the token response".into(),
            })?;
        if let Some(rotated) = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            if rotated != current.expose() {
                tracing::warn!("drift rotated the refresh token; the new one is used for the rest of this run but is not saved anywhere: update `refresh_token` in the config if the old one stops working");
                *refresh_token = Some(Secret::new(rotated));
            }
        }
        let mut token = self.token.write().await;
        token.value = Some(Secret::new(access));
        token.generation += 1;
        tracing::info!("obtained a new access token by OAuth2 refresh");
        Ok(())
    }

    /// GETs a path-and-query relative to the base URL and returns its JSON body once `check`
    /// accepts it. Retries per [`crate::retry`]; `stream` tags the metrics.
    pub async fn get(
        &self,
        path_and_query: &str,
        stream: &str,
        check: impl Fn(&Value) -> std::result::Result<(), String>,
    ) -> Result<Value> {
        let endpoint = path_and_query
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let url =
            Url::parse(&format!("{}{}", self.base, path_and_query)).map_err(|e| Error::Decode {
                endpoint: endpoint.clone(),
                reason: format!("bad URL: {e}"),
            })?;
        let mut last = String::new();
        let mut refreshed = false;
        let mut attempt = 0;
        while attempt < self.max_attempts {
            attempt += 1;
            self.limiter.acquire().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let (generation, token) = {
                let t = self.token.read().await;
                (
                    t.generation,
                    t.value.clone().unwrap_or_else(|| Secret::new("")),
                )
            };
            let started = std::time::Instant::now();
            let sent = self
                .http
                .get(url.clone())
                .bearer_auth(token.expose())
                .send()
                .await;
            let status = sent.as_ref().ok().map(|r| r.status().as_u16());
            crate::logging::http_request_duration(
                stream,
                &template(&endpoint),
                status,
                started.elapsed().as_secs_f64(),
            );
            let mut wait = None;
            match sent {
                Err(e) => last = describe(e),
                Ok(resp)
                    if resp.status() == StatusCode::UNAUTHORIZED
                        && self.oauth.is_some()
                        && !refreshed =>
                {
                    tracing::warn!(endpoint = %endpoint, "access token rejected (401): refreshing it once");
                    self.refresh(generation).await?;
                    refreshed = true;
                    attempt -= 1; // the refresh is not a failed attempt
                    continue;
                }
                Ok(resp) => {
                    let status = resp.status();
                    tracing::debug!(endpoint = %endpoint, status = status.as_u16(), "request");
                    if status.is_success() {
                        match resp.bytes().await {
                            Err(e) => {
                                last =
                                    format!("{status} with a body cut short ({})", e.without_url())
                            }
                            Ok(body) => match serde_json::from_slice::<Value>(&body) {
                                Err(e) => {
                                    last = format!(
                                        "{status} with a body that is not JSON ({e}): {}",
                                        excerpt(&String::from_utf8_lossy(&body))
                                    )
                                }
                                Ok(v) => match check(&v) {
                                    Ok(()) => return Ok(v),
                                    Err(reason) => {
                                        last = format!("{status} with an unexpected body: {reason}")
                                    }
                                },
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
                                last = format!("{status}: {}", excerpt(&body));
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
    fn endpoint_templates() {
        assert_eq!(template("/conversations/3000000411"), "/conversations/{id}");
        assert_eq!(template("/conversations/list"), "/conversations/list");
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
