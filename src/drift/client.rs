//! The Drift HTTP client: the only code that sends requests. Every request passes the one [`Gate`]
//! on requests in flight (as many as the pace times the answer time), waits on the one shared
//! [`RateLimiter`] (and an endpoint's own cap, if it has one) and goes through the one retry loop
//! of [`DriftClient::send`], which acts on the decisions of [`crate::drift::retry`]: patience in time
//! for transient failures, the limiter's patience for 429s, one refresh for a 401, a refresh ahead
//! of an expiring token. Knows nothing of Singer or of the stream table.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use reqwest::Url;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::Config;
use crate::drift::auth::{Auth, OnRotate, TOKEN_PATH};
use crate::drift::gate::Gate;
use crate::drift::rate_limit::{Learnt, RateLimiter, Throttle, Waiting};
use crate::drift::request::{Envelope, Request};
use crate::drift::retry::{backoff, decide, jitter, Context, Decision, Outcome, FIRST_CONTACT};
use crate::drift::spool::{self, Fault, Spool};
use crate::error::{Error, Result};
use crate::out::tally::Tally;

/// An answer read otherwise than asked: a bug in tap-drift, nothing Drift can cause.
fn misread(request: &Request) -> Error {
    Error::Decode {
        endpoint: request.path.clone(),
        reason: "the answer was not read as asked (a bug in tap-drift)".into(),
    }
}

/// The answer of a request read into memory.
fn json(answer: Answer, request: &Request) -> Result<Value> {
    match answer {
        Answer::Json(v) => Ok(v),
        Answer::Kept(_) => Err(misread(request)),
    }
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

/// A transport error with its causes ("error sending request: … connection reset"), no URL.
pub fn describe(e: reqwest::Error) -> String {
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

/// A URL as it may be shown: without a password.
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    // only URLs that cannot hold a password refuse one
    let _ = shown.set_password(None);
    shown.as_str().trim_end_matches('/').to_string()
}

/// The transient failures of one request so far.
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    since: Option<Instant>,
}

/// The Drift API client.
#[derive(Debug)]
pub struct DriftClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    limiter: RateLimiter,
    /// Requests in flight: the pace times the answer time, at most `max_concurrency`.
    gate: Gate,
    /// Endpoints with a documented cap of their own (path prefix → its limiter), under the shared one.
    capped: Vec<(&'static str, RateLimiter)>,
    max_attempts: u32,
    max_retry: Duration,
    backoff_base: Duration,
    backoff_cap: Duration,
    requests: AtomicU64,
    /// The configured base URL as it may be shown (without any password).
    api_url: String,
    /// Whether Drift has answered once in this run (until then, a request that cannot connect is
    /// retried for [`FIRST_CONTACT`] only).
    reached: AtomicBool,
    /// Whether the per-request METRIC lines are logged at info (else at debug).
    metrics_at_info: bool,
    /// The run's counters: requests are counted per stream as they are sent.
    tally: Tally,
    /// The token's organization, once `token_info` has said it.
    org_id: std::sync::OnceLock<i64>,
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

/// What one request sends: its method and, for a POST, its JSON body.
#[derive(Debug, Clone, Copy)]
enum Body<'a> {
    Get,
    Post(&'a Value),
}

/// Where a successful answer is read to: memory (parsed), or disk (a report that may be huge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Memory,
    Disk,
}

/// A successful answer.
enum Answer {
    Json(Value),
    Kept(Spool),
}

/// Reads a response: a success whole (into memory, or onto disk), an error's headers and text.
async fn read_answer(resp: reqwest::Response, keep: Keep) -> Outcome {
    let status = resp.status();
    if status.is_success() {
        if keep == Keep::Disk {
            let spool = match spool::download(resp).await {
                // reading it row by row is blocking work
                Ok(file) => tokio::task::spawn_blocking(move || spool::keep(file))
                    .await
                    .unwrap_or_else(|e| Err(Fault::Body(e.to_string()))),
                Err(fault) => Err(fault),
            };
            return Outcome::Kept { status, spool };
        }
        let body = resp
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.without_url().to_string());
        return Outcome::Success { status, body };
    }
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Outcome::Failure {
        status,
        headers,
        body,
    }
}

impl DriftClient {
    /// Builds a client from the config; with refresh credentials and no access token, obtains one.
    /// `on_rotate` receives a refresh token Drift replaced; `capped` lists endpoints (by path
    /// prefix) with a documented rate cap of their own, in requests a minute.
    pub async fn connect(
        config: &Config,
        on_rotate: Option<OnRotate>,
        capped: &[(&'static str, u32)],
        tally: Tally,
    ) -> Result<Self> {
        let patience = config.max_throttle_wait;
        let client = DriftClient {
            http: http_client(config)?,
            base: config.api_url.as_str().trim_end_matches('/').to_string(),
            auth: Auth::new(config.access_token.clone(), config.oauth.clone(), on_rotate),
            limiter: match config.requests_per_minute {
                Some(fixed) => RateLimiter::new(fixed, patience),
                None => RateLimiter::probing(config.max_requests_per_minute, patience),
            },
            gate: Gate::new(config.max_concurrency),
            capped: capped
                .iter()
                .map(|(prefix, per_minute)| (*prefix, RateLimiter::new(*per_minute, patience)))
                .collect(),
            max_attempts: config.max_attempts,
            max_retry: config.max_retry,
            backoff_base: Duration::from_millis(config.backoff_base_ms),
            backoff_cap: Duration::from_secs(config.backoff_max_seconds),
            requests: AtomicU64::new(0),
            api_url: shown_url(&config.api_url),
            reached: AtomicBool::new(false),
            metrics_at_info: config.request_metrics_at_info,
            tally,
            org_id: std::sync::OnceLock::new(),
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

    /// The run's counters.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The token's organization, when `token_info` said it ([`DriftClient::scopes`] asks).
    pub fn org_id(&self) -> Option<i64> {
        self.org_id.get().copied()
    }

    /// The effective pace (requests a minute) and the 429s seen so far.
    pub fn pace(&self) -> (f64, u64) {
        self.limiter.stats()
    }

    /// Whether the run is waiting out Drift's rate limit, to watch (see [`RateLimiter::watch`]).
    pub fn throttle_watch(&self) -> tokio::sync::watch::Receiver<Option<Waiting>> {
        self.limiter.watch()
    }

    /// Starts the pace from what the last run learnt; the pace it starts at, or `None` when
    /// `requests_per_minute` fixes it.
    pub fn resume_pace(&self, last: Learnt) -> Option<f64> {
        self.limiter.resume(last)
    }

    /// What this run learnt of Drift's pace, for the next run (`None` when it is fixed).
    pub fn learnt_pace(&self) -> Option<Learnt> {
        self.limiter.learnt()
    }

    /// Replaces the access token by OAuth2 refresh. A token request that cannot connect before
    /// Drift has answered once is retried like any first request; once Drift has answered, it
    /// fails at once, as any refused refresh does.
    async fn refresh(&self, failed_generation: u64) -> Result<()> {
        let url = format!("{}{TOKEN_PATH}", self.base);
        let mut failures = Failures::default();
        loop {
            self.limiter.acquire().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.tally.request("token refresh");
            match self.auth.refresh(&self.http, &url, failed_generation).await {
                Err(Error::Unreachable { last, .. }) if !self.reached() => {
                    self.failed(&mut failures, TOKEN_PATH, None, last, true)
                        .await?;
                }
                Err(Error::Unreachable { last, .. }) => {
                    return Err(Error::Refresh {
                        status: None,
                        reason: last,
                    })
                }
                Err(e @ Error::Refresh { status: None, .. }) => return Err(e),
                other => {
                    // Drift answered (whether it took the credentials or not)
                    self.reached.store(true, Ordering::Relaxed);
                    return other;
                }
            }
        }
    }

    /// Whether Drift has answered once in this run.
    fn reached(&self) -> bool {
        self.reached.load(Ordering::Relaxed)
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

    /// Waits for the endpoint's own cap, if it has one, then for a place in the gate and a slot
    /// in the shared limiter; the request is in flight until the permit is dropped.
    async fn slot(&self, endpoint: &str) -> crate::drift::gate::Permit<'_> {
        if let Some((_, own)) = self.capped.iter().find(|(p, _)| endpoint.starts_with(p)) {
            own.acquire().await;
        }
        let permit = self.gate.enter(|| self.limiter.stats().0).await;
        self.limiter.acquire().await;
        permit
    }

    /// The requests in flight the gate allows now, and the most it let in at once (the closing
    /// line says it).
    pub fn in_flight(&self) -> (usize, usize) {
        self.gate.stats(self.limiter.stats().0)
    }

    /// One attempt: waits for a slot, refreshes a token about to expire, sends, reads the whole
    /// response. Returns the token generation it used (for a refresh) and what happened.
    async fn attempt(
        &self,
        url: &Url,
        body: Body<'_>,
        keep: Keep,
        stream: &str,
        endpoint: &str,
    ) -> Result<(u64, Outcome)> {
        let _in_flight = self.slot(endpoint).await;
        let (mut generation, mut token, expiring) = self.auth.current().await;
        if expiring {
            self.refresh(generation).await?;
            (generation, token, _) = self.auth.current().await;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.tally.request(stream);
        let started = Instant::now();
        let request = match body {
            Body::Get => self.http.get(url.clone()),
            Body::Post(json) => self.http.post(url.clone()).json(json),
        };
        let sent = request.bearer_auth(token.expose()).send().await;
        let status = sent.as_ref().ok().map(|r| r.status());
        crate::out::logging::http_request_duration(
            self.metrics_at_info,
            stream,
            &template(endpoint),
            status.map(|s| s.as_u16()),
            started.elapsed().as_secs_f64(),
        );
        let resp = match sent {
            Err(e) if e.is_connect() => return Ok((generation, Outcome::Unconnected(describe(e)))),
            Err(e) => return Ok((generation, Outcome::Transport(describe(e)))),
            Ok(resp) => resp,
        };
        self.reached.store(true, Ordering::Relaxed);
        tracing::debug!(endpoint = %endpoint, status = resp.status().as_u16(), "request");
        let answer = read_answer(resp, keep).await;
        self.gate.answered(started.elapsed());
        Ok((generation, answer))
    }

    /// GETs a request and returns its JSON body once it has the expected envelope. Retries per
    /// [`crate::drift::retry`]; `stream` tags the metrics.
    pub async fn get(&self, request: &Request, stream: &str, envelope: Envelope) -> Result<Value> {
        json(
            self.send(request, Body::Get, Keep::Memory, stream, envelope)
                .await?,
            request,
        )
    }

    /// POSTs a JSON body, likewise.
    pub async fn post(
        &self,
        request: &Request,
        body: &Value,
        stream: &str,
        envelope: Envelope,
    ) -> Result<Value> {
        json(
            self.send(request, Body::Post(body), Keep::Memory, stream, envelope)
                .await?,
            request,
        )
    }

    /// POSTs a JSON body whose answer (an object with a `data` list) may be too large to hold:
    /// it is kept on disk, its rows handed out a chunk at a time.
    pub async fn post_kept(&self, request: &Request, body: &Value, stream: &str) -> Result<Spool> {
        match self
            .send(request, Body::Post(body), Keep::Disk, stream, Envelope::Any)
            .await?
        {
            Answer::Kept(spool) => Ok(spool),
            Answer::Json(_) => Err(misread(request)),
        }
    }

    /// The one retry loop: transient failures are retried with capped exponential backoff until
    /// `max_retry_minutes` (or `max_attempts`) run out, a sustained outage pausing every worker;
    /// a connection that cannot be made before Drift has answered once, for [`FIRST_CONTACT`]
    /// only; 429s are left to the limiter's own patience; a 401 refreshes the token once.
    async fn send(
        &self,
        request: &Request,
        body: Body<'_>,
        keep: Keep,
        stream: &str,
        envelope: Envelope,
    ) -> Result<Answer> {
        let url = self.url(request)?;
        let endpoint = request.path.as_str();
        let (mut failures, mut refreshed) = (Failures::default(), false);
        loop {
            let (generation, outcome) = self.attempt(&url, body, keep, stream, endpoint).await?;
            let context = Context {
                can_refresh: self.auth.can_refresh() && !refreshed,
                reached: self.reached(),
            };
            let (after, last, unreached) = match decide(outcome, envelope, endpoint, context) {
                Decision::Done(body) => {
                    self.limiter.succeeded();
                    return Ok(Answer::Json(body));
                }
                Decision::Kept(spool) => {
                    self.limiter.succeeded();
                    return Ok(Answer::Kept(spool));
                }
                Decision::Fail(e) => {
                    self.limiter.succeeded(); // Drift answered: no outage, no throttle
                    return Err(e);
                }
                Decision::Refresh => {
                    tracing::warn!(endpoint = %endpoint, "access token rejected (401): refreshing it once");
                    self.refresh(generation).await?;
                    refreshed = true;
                    continue;
                }
                Decision::Throttled { after } => {
                    self.throttled(endpoint, after)?;
                    continue;
                }
                Decision::Retry { after, reason } => (after, reason, false),
                Decision::Unreachable { reason } => (None, reason, true),
            };
            self.failed(&mut failures, endpoint, after, last, unreached)
                .await?;
        }
    }

    /// One more transient failure of a request: waits before its next attempt, or gives up when
    /// its patience ran out (`max_retry_minutes`, or [`FIRST_CONTACT`] while Drift was never
    /// reached: the first such failure says so) or `max_attempts` did.
    async fn failed(
        &self,
        failures: &mut Failures,
        endpoint: &str,
        after: Option<Duration>,
        last: String,
        unreached: bool,
    ) -> Result<()> {
        failures.count += 1;
        let tried = failures.since.get_or_insert_with(Instant::now).elapsed();
        let patience = match unreached {
            true => FIRST_CONTACT.min(self.max_retry),
            false => self.max_retry,
        };
        if unreached && failures.count == 1 {
            tracing::warn!(endpoint = %endpoint, "cannot connect to {} ({last}); drift has not answered yet in this run, so this is retried for {} only", self.api_url, crate::error::human(patience));
        }
        if failures.count >= self.max_attempts || tried >= patience {
            return Err(match unreached {
                true => Error::Unreachable {
                    api_url: self.api_url.clone(),
                    attempts: failures.count,
                    tried,
                    last,
                },
                false => Error::RetriesExhausted {
                    endpoint: endpoint.into(),
                    attempts: failures.count,
                    tried,
                    last,
                },
            });
        }
        let mut delay = after.unwrap_or_else(|| {
            backoff(
                failures.count,
                self.backoff_base,
                self.backoff_cap,
                jitter(),
            )
        });
        if unreached {
            // the next attempt comes no later than the end of the short patience
            delay = delay.min(patience.saturating_sub(tried));
        }
        // while Drift was never reached, no pause outlasts the short patience
        let longest = if unreached { delay } else { self.backoff_cap };
        self.limiter.failed(delay, longest);
        tracing::warn!(endpoint = %endpoint, attempt = failures.count, wait_ms = delay.as_millis() as u64, reason = %last, "retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// A 429: every worker pauses (the limiter decides how long), or the run stops.
    fn throttled(&self, endpoint: &str, after: Option<Duration>) -> Result<()> {
        match self.limiter.throttled(after) {
            Throttle::Pause(pause) => {
                let (pace, throttles) = self.limiter.stats();
                tracing::warn!(
                    endpoint = %endpoint,
                    wait_ms = pause.as_millis() as u64,
                    pace_per_minute = pace.round() as u64,
                    throttled = throttles,
                    "rate limited (429): every request waits, then goes on at a lower pace"
                );
                Ok(())
            }
            Throttle::GiveUp {
                waited,
                retry_after,
            } => Err(Error::Throttled {
                waited,
                retry_after,
            }),
        }
    }

    /// The scopes of the access token, from `POST /app/token_info`; `None` when Drift does not
    /// say (an error answer: the streams it may not read are then learnt from their 403s). Like
    /// any request, it fails the run when Drift cannot be reached, is out beyond its patience or
    /// throttles beyond it.
    pub async fn scopes(&self) -> Result<Option<Vec<String>>> {
        let (_, token, _) = self.auth.current().await;
        let body = serde_json::json!({"access_token": token.expose()});
        let request = Request::new("/app/token_info");
        let info = match self
            .post(&request, &body, "token_info", Envelope::Any)
            .await
        {
            Ok(info) => info,
            Err(
                e @ (Error::Unreachable { .. }
                | Error::RetriesExhausted { .. }
                | Error::Throttled { .. }
                | Error::Disk(_)),
            ) => return Err(e),
            Err(e) => {
                tracing::info!("could not learn the token's scopes ({e}); a stream Drift refuses (403) will be skipped then");
                return Ok(None);
            }
        };
        if let Some(org) = org_of(&info) {
            let _ = self.org_id.set(org);
        }
        let Some(scope) = info.get("scope").or_else(|| info.pointer("/data/scope")) else {
            return Ok(None);
        };
        Ok(match scope {
            Value::String(s) => Some(
                s.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
            ),
            _ => None,
        })
    }
}

/// The organization `token_info` names: `authenticated_userid` is `orgId:X`.
fn org_of(info: &Value) -> Option<i64> {
    let id = info
        .get("authenticated_userid")
        .or_else(|| info.pointer("/data/authenticated_userid"))?
        .as_str()?;
    id.strip_prefix("orgId:")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_info_names_the_organization() {
        let info = serde_json::json!({"authenticated_userid": "orgId:4213377", "scope": "x"});
        assert_eq!(org_of(&info), Some(4_213_377));
        assert_eq!(
            org_of(&serde_json::json!({"authenticated_userid": "user:7"})),
            None
        );
        assert_eq!(org_of(&serde_json::json!({})), None);
    }

    #[test]
    fn endpoint_templates() {
        assert_eq!(template("/conversations/3000000411"), "/conversations/{id}");
        assert_eq!(template("/conversations/list"), "/conversations/list");
    }
}
