//! An in-process Drift API emulator for tap-drift's tests and `--sandbox`: the real paths, query
//! parameters, envelopes, cursors, field names and types, over real HTTP on 127.0.0.1 only. It
//! answers 401 to a wrong or expired token, serves the OAuth2 token endpoint, keeps a timed log of
//! the requests it served and, with the `faults` feature, injects faults on request ([`Faults`]).
//! Depends on nothing of the tap: it plays Drift, and knows no Singer.

mod data;
#[cfg(feature = "faults")]
mod faults;
mod rng;
mod world;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub use data::{Dataset, EPOCH_END_MS, EPOCH_START_MS, ORG_ID};
#[cfg(feature = "faults")]
pub use faults::{Fault, Faults, Storm};
use world::{Spec, World};

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The access token it accepts (until it expires, see [`Faults::expire_token_after`]).
    pub token: String,
    /// Page conversations the newer way (`links.next` with `page_token`) instead of `pagination.next`.
    pub links_style: bool,
    /// Faults to inject.
    #[cfg(feature = "faults")]
    pub faults: Faults,
    /// The OAuth2 app whose refresh token the token endpoint accepts.
    pub oauth: Option<OAuthApp>,
}

impl Options {
    /// Plain behaviour with this token.
    pub fn new(token: &str) -> Options {
        Options {
            token: token.into(),
            links_style: false,
            #[cfg(feature = "faults")]
            faults: Faults::default(),
            oauth: None,
        }
    }
}

/// Credentials the emulated token endpoint accepts.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// client_id
    pub client_id: String,
    /// client_secret
    pub client_secret: String,
    /// The refresh token initially valid.
    pub refresh_token: String,
    /// Whether each refresh rotates the refresh token.
    pub rotate: bool,
}

#[derive(Debug, Default)]
struct Tokens {
    /// Access tokens issued by the token endpoint.
    issued: Vec<String>,
    /// The refresh token currently valid.
    refresh: Option<String>,
    /// Authenticated requests so far.
    authenticated: u32,
}

struct Shared {
    world: Mutex<World>,
    options: Options,
    base_url: String,
    log: Mutex<Vec<(Instant, String)>>,
    tokens: Mutex<Tokens>,
    /// Paths that already had their once-per-path fault.
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    once: Mutex<HashSet<String>>,
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Emulator {
    /// Binds a free loopback port and serves the dataset.
    pub async fn start(data: Dataset, options: Options) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let options_refresh = options.oauth.as_ref().map(|o| o.refresh_token.clone());
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(data, wrong_types(&options))),
            options,
            base_url: base_url.clone(),
            log: Mutex::new(Vec::new()),
            tokens: Mutex::new(Tokens {
                refresh: options_refresh,
                ..Tokens::default()
            }),
            once: Mutex::new(HashSet::new()),
        });
        let app = Router::new()
            .route("/users/list", get(users_list))
            .route("/users/{id}", get(user_one))
            .route("/accounts", get(accounts_list))
            .route("/accounts/{id}", get(account_one))
            .route("/conversations/list", get(conversations_list))
            .route("/conversations/{id}", get(conversation_one))
            .route("/conversations/{id}/messages", get(messages_list))
            .route("/contacts/{id}", get(contact_one))
            .route("/oauth2/token", post(oauth_token))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
            .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
            .with_state(shared.clone());
        // the server runs until the emulator is dropped; serving only fails if the listener does
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Emulator {
            base_url,
            shared,
            task,
        })
    }

    fn with_world<T>(&self, stream: &str, f: impl FnOnce(&mut World, &'static Spec) -> T) -> T {
        let spec = collection(stream);
        f(&mut lock(&self.shared.world), spec)
    }

    /// The dataset it was started with.
    pub fn dataset(&self) -> Dataset {
        lock(&self.shared.world).dataset().clone()
    }

    /// Every record of a stream, complete: `accounts`, `conversations`, `users` in list order;
    /// `messages` by conversation in list order; `contacts` that conversations reference and that
    /// exist, in order of first reference. Panics on a stream the emulator does not serve.
    pub fn records(&self, stream: &str) -> Vec<Value> {
        let w = lock(&self.shared.world);
        let conversations = collection("conversations");
        match stream {
            "messages" => (0..w.count(conversations))
                .flat_map(|p| w.messages(w.at_position(conversations, p)))
                .collect(),
            "contacts" => {
                let mut seen = HashSet::new();
                w.all(conversations)
                    .iter()
                    .filter_map(|c| c["contactId"].as_i64())
                    .filter(|id| seen.insert(*id))
                    .filter_map(|id| w.dataset().contact(id))
                    .collect()
            }
            other => w.all(collection(other)),
        }
    }

    /// Changes records (by generation index) of a stream: update time `at_ms` and one field.
    pub fn touch(&self, stream: &str, indices: &[u32], at_ms: i64) {
        self.with_world(stream, |w, spec| w.touch(spec, indices, at_ms))
    }

    /// Adds `m` records to a stream, updated at `at_ms`.
    pub fn add(&self, stream: &str, m: u32, at_ms: i64) {
        self.with_world(stream, |w, spec| w.add(spec, m, at_ms))
    }

    /// Keys of a stream's records updated at or after `since_ms`.
    pub fn changed_since(&self, stream: &str, since_ms: i64) -> Vec<Value> {
        self.with_world(stream, |w, spec| w.changed_since(spec, since_ms))
    }

    /// Every request served so far, as `PATH?QUERY`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.log)
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// When each request arrived, in order.
    pub fn request_times(&self) -> Vec<Instant> {
        lock(&self.shared.log).iter().map(|(t, _)| *t).collect()
    }
}

/// The collection a stream reads; a name the emulator does not serve is a mistake in the test.
fn collection(stream: &str) -> &'static Spec {
    world::spec(stream).unwrap_or_else(|| panic!("the emulator serves no stream `{stream}`"))
}

#[cfg(feature = "faults")]
fn wrong_types(options: &Options) -> bool {
    options.faults.wrong_types
}

#[cfg(not(feature = "faults"))]
fn wrong_types(_: &Options) -> bool {
    false
}

#[cfg(feature = "faults")]
fn expire_token_after(options: &Options) -> Option<u32> {
    options.faults.expire_token_after
}

#[cfg(not(feature = "faults"))]
fn expire_token_after(_: &Options) -> Option<u32> {
    None
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = if status == StatusCode::UNAUTHORIZED {
        json!({"error": {"type": kind, "message": message}})
    } else {
        json!({"errors": [{"type": kind, "message": message}]})
    };
    (status, Json(body)).into_response()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Logs the request, checks the token, then injects the fault planned for it (if any).
async fn authenticate(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let n = {
        let mut log = lock(&s.log);
        log.push((Instant::now(), req.uri().to_string()));
        log.len() as u32
    };
    if path == "/oauth2/token" {
        return next.run(req).await;
    }
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let valid = {
        let mut t = lock(&s.tokens);
        let initial_expired =
            expire_token_after(&s.options).is_some_and(|after| t.authenticated >= after);
        let ok =
            (presented == s.options.token && !initial_expired) || t.issued.contains(&presented);
        if ok {
            t.authenticated += 1;
        }
        ok
    };
    if !valid {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Invalid or expired access token",
        );
    }
    serve(&s, n, &path, req, next).await
}

#[cfg(not(feature = "faults"))]
async fn serve(_: &Shared, _: u32, _: &str, req: Request, next: Next) -> Response {
    next.run(req).await
}

/// Serves the request, or the fault planned for it.
#[cfg(feature = "faults")]
async fn serve(s: &Shared, n: u32, path: &str, req: Request, next: Next) -> Response {
    let fault = s.options.faults.decide(n, path, &mut lock(&s.once));
    match fault {
        Fault::None => next.run(req).await,
        Fault::Hang(d) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Fault::TooMany(after) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit", "Too many requests");
            if let Ok(v) = after.to_string().parse() {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        Fault::Server { status, html: true } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [("content-type", "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
        )
            .into_response(),
        Fault::Server { status, html: false } => {
            error(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "server_error", "Internal error")
        }
        Fault::Malformed => Json(json!({"data": {"message": "temporarily unavailable"}})).into_response(),
        Fault::Truncate => {
            // headers and half a page go out, then the connection is cut
            use futures_util::StreamExt;
            let half = futures_util::stream::iter([Ok::<_, std::io::Error>(r#"{"data": [{"id": 1, "status": "op"#)]);
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err(std::io::Error::other("connection cut"))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(axum::body::Body::from_stream(half.chain(cut)))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

#[derive(Deserialize)]
struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    refresh_token: Option<String>,
}

async fn oauth_token(
    State(s): State<Arc<Shared>>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    let Some(app) = &s.options.oauth else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no OAuth app configured",
        );
    };
    let mut t = lock(&s.tokens);
    let ok = f.client_id.as_deref() == Some(app.client_id.as_str())
        && f.client_secret.as_deref() == Some(app.client_secret.as_str())
        && f.grant_type.as_deref() == Some("refresh_token")
        && f.refresh_token.is_some()
        && f.refresh_token == t.refresh;
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "bad refresh credentials"})),
        )
            .into_response();
    }
    let access = format!("emu-access-{}", t.issued.len() + 1);
    t.issued.push(access.clone());
    if app.rotate {
        t.refresh = Some(format!("emu-refresh-{}", t.issued.len()));
    }
    Json(json!({"access_token": access, "refresh_token": t.refresh, "token_type": "bearer", "expires_in": 7200, "orgId": ORG_ID}))
        .into_response()
}

fn world(s: &Shared) -> std::sync::MutexGuard<'_, World> {
    lock(&s.world)
}

async fn users_list(State(s): State<Arc<Shared>>) -> Response {
    let w = world(&s);
    let users: Vec<Value> = (0..w.count(collection("users")))
        .map(|i| w.record(collection("users"), i, true))
        .collect();
    Json(json!({"data": users})).into_response()
}

fn one(s: &Shared, kind: &Spec, key: &str, what: &str) -> Response {
    let w = world(s);
    match w.index_of(kind, key) {
        Some(i) => Json(json!({"data": w.record(kind, i, true)})).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("{what} not found"),
        ),
    }
}

async fn user_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, collection("users"), &id, "user")
}

#[derive(Deserialize)]
struct AccountsQuery {
    index: Option<u32>,
    size: Option<u32>,
}

async fn accounts_list(State(s): State<Arc<Shared>>, Query(q): Query<AccountsQuery>) -> Response {
    let w = world(&s);
    let total = w.count(collection("accounts"));
    let index = q.index.unwrap_or(0);
    let size = q.size.unwrap_or(10).clamp(1, 100);
    let end = index.saturating_add(size).min(total);
    let accounts: Vec<Value> = (index.min(end)..end)
        .map(|i| w.record(collection("accounts"), i, true))
        .collect();
    let mut data = json!({"accounts": accounts, "total": total});
    if end < total {
        data["next"] = json!(format!("{}/accounts?index={end}&size={size}", s.base_url));
    }
    Json(json!({"data": data})).into_response()
}

async fn account_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, collection("accounts"), &id, "account")
}

#[derive(Deserialize)]
struct ConversationsQuery {
    limit: Option<u32>,
    next: Option<String>,
    page_token: Option<String>,
}

/// Cursor tokens are opaque decimal strings encoding a position in the list.
const CURSOR_OFFSET: u64 = 100_000_000;

fn bad_cursor() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "validation_error",
        "invalid pagination token",
    )
}

fn cursor(position: u32) -> String {
    (u64::from(position) + CURSOR_OFFSET).to_string()
}

impl ConversationsQuery {
    /// The page asked for in a list of `total`: (first position, end, limit); `None` for a bad cursor.
    fn window(&self, total: u32) -> Option<(u32, u32, u32)> {
        let limit = self.limit.unwrap_or(25).clamp(1, 100);
        let position = match self.next.as_deref().or(self.page_token.as_deref()) {
            None => 0,
            Some(token) => {
                let p = token.parse::<u64>().ok()?.checked_sub(CURSOR_OFFSET)?;
                u32::try_from(p).ok().filter(|p| *p <= total)?
            }
        };
        Some((position, position.saturating_add(limit).min(total), limit))
    }
}

async fn conversations_list(
    State(s): State<Arc<Shared>>,
    Query(q): Query<ConversationsQuery>,
) -> Response {
    let w = world(&s);
    let total = w.count(collection("conversations"));
    let Some((position, end, limit)) = q.window(total) else {
        return bad_cursor();
    };
    let items: Vec<Value> = (position..end)
        .map(|p| {
            w.record(
                collection("conversations"),
                w.at_position(collection("conversations"), p),
                false,
            )
        })
        .collect();
    let mut body = json!({"data": items});
    if end < total {
        let token = cursor(end);
        if s.options.links_style {
            body["links"] = json!({
                "self": format!("{}/conversations/list?limit={limit}", s.base_url),
                "next": format!("{}/conversations/list?limit={limit}&page_token={token}", s.base_url),
            });
        } else {
            body["pagination"] = json!({"more": true, "next": token});
        }
    }
    Json(body).into_response()
}

async fn messages_list(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<ConversationsQuery>,
) -> Response {
    let w = world(&s);
    let Some(i) = w.index_of(collection("conversations"), &id) else {
        return error(StatusCode::NOT_FOUND, "not_found", "conversation not found");
    };
    let all = w.messages(i);
    let Some((position, end, _)) = q.window(all.len() as u32) else {
        return bad_cursor();
    };
    let page: Vec<Value> = all[position as usize..end as usize].to_vec();
    let mut body = json!({"data": {"messages": page}});
    if (end as usize) < all.len() {
        body["pagination"] = json!({"more": true, "next": cursor(end)});
    }
    Json(body).into_response()
}

async fn contact_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match id
        .parse::<i64>()
        .ok()
        .and_then(|id| world(&s).dataset().contact(id))
    {
        Some(c) => Json(json!({"data": c})).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "contact not found"),
    }
}

async fn conversation_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, collection("conversations"), &id, "conversation")
}
