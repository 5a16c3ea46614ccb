//! An in-process Drift API emulator for tests and `--sandbox`: the real paths, query parameters,
//! envelopes, cursors, field names and types, over real HTTP on 127.0.0.1 only. It answers 401 to a
//! wrong token and keeps a log of the requests it served.

mod data;
mod world;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub use data::{Dataset, EPOCH_END_MS, EPOCH_START_MS, ORG_ID};
use world::{Kind, World};

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The only access token it accepts.
    pub token: String,
    /// Page conversations the newer way (`links.next` with `page_token`) instead of `pagination.next`.
    pub links_style: bool,
}

struct Shared {
    world: Mutex<World>,
    options: Options,
    base_url: String,
    log: Mutex<Vec<String>>,
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
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(data)),
            options,
            base_url: base_url.clone(),
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/users/list", get(users_list))
            .route("/users/{id}", get(user_one))
            .route("/accounts", get(accounts_list))
            .route("/accounts/{id}", get(account_one))
            .route("/conversations/list", get(conversations_list))
            .route("/conversations/{id}", get(conversation_one))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
            .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("emulator stopped: {e}");
            }
        });
        Ok(Emulator {
            base_url,
            shared,
            task,
        })
    }

    fn with_world<T>(&self, stream: &str, f: impl FnOnce(&mut World, Kind) -> T) -> T {
        let kind = Kind::from_stream(stream).unwrap_or(Kind::Conversations);
        let mut world = self.shared.world.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut world, kind)
    }

    /// The dataset it was started with.
    pub fn dataset(&self) -> Dataset {
        self.with_world("users", |w, _| w.dataset().clone())
    }

    /// Every record of a stream (`accounts`, `conversations`, `users`), complete, in list order.
    pub fn records(&self, stream: &str) -> Vec<Value> {
        self.with_world(stream, |w, k| w.all(k))
    }

    /// Changes records (by generation index) of a stream: update time `at_ms` and one field.
    pub fn touch(&self, stream: &str, indices: &[u32], at_ms: i64) {
        self.with_world(stream, |w, k| w.touch(k, indices, at_ms))
    }

    /// Adds `m` records to a stream, updated at `at_ms`.
    pub fn add(&self, stream: &str, m: u32, at_ms: i64) {
        self.with_world(stream, |w, k| w.add(k, m, at_ms))
    }

    /// Keys of a stream's records updated at or after `since_ms`.
    pub fn changed_since(&self, stream: &str, since_ms: i64) -> Vec<Value> {
        self.with_world(stream, |w, k| w.changed_since(k, since_ms))
    }

    /// Every request served so far, as `PATH?QUERY`.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = if status == StatusCode::UNAUTHORIZED {
        json!({"error": {"type": kind, "message": message}})
    } else {
        json!({"errors": [{"type": kind, "message": message}]})
    };
    (status, Json(body)).into_response()
}

async fn authenticate(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let uri = req.uri().to_string();
    if let Ok(mut log) = s.log.lock() {
        log.push(uri);
    }
    let expected = format!("Bearer {}", s.options.token);
    let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Invalid or expired access token",
        );
    }
    next.run(req).await
}

fn world(s: &Shared) -> std::sync::MutexGuard<'_, World> {
    s.world.lock().unwrap_or_else(|p| p.into_inner())
}

async fn users_list(State(s): State<Arc<Shared>>) -> Response {
    let w = world(&s);
    let users: Vec<Value> = (0..w.count(Kind::Users))
        .map(|i| w.record(Kind::Users, i, true))
        .collect();
    Json(json!({"data": users})).into_response()
}

fn one(s: &Shared, kind: Kind, key: &str, what: &str) -> Response {
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
    one(&s, Kind::Users, &id, "user")
}

#[derive(Deserialize)]
struct AccountsQuery {
    index: Option<u32>,
    size: Option<u32>,
}

async fn accounts_list(State(s): State<Arc<Shared>>, Query(q): Query<AccountsQuery>) -> Response {
    let w = world(&s);
    let total = w.count(Kind::Accounts);
    let index = q.index.unwrap_or(0);
    let size = q.size.unwrap_or(10).clamp(1, 100);
    let end = index.saturating_add(size).min(total);
    let accounts: Vec<Value> = (index.min(end)..end)
        .map(|i| w.record(Kind::Accounts, i, true))
        .collect();
    let mut data = json!({"accounts": accounts, "total": total});
    if end < total {
        data["next"] = json!(format!("{}/accounts?index={end}&size={size}", s.base_url));
    }
    Json(json!({"data": data})).into_response()
}

async fn account_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, Kind::Accounts, &id, "account")
}

#[derive(Deserialize)]
struct ConversationsQuery {
    limit: Option<u32>,
    next: Option<String>,
    page_token: Option<String>,
}

/// Cursor tokens are opaque decimal strings encoding the position in the newest-first list.
const CURSOR_OFFSET: u64 = 100_000_000;

async fn conversations_list(
    State(s): State<Arc<Shared>>,
    Query(q): Query<ConversationsQuery>,
) -> Response {
    let w = world(&s);
    let total = w.count(Kind::Conversations);
    let limit = q.limit.unwrap_or(25).clamp(1, 100);
    let position = match q.next.as_deref().or(q.page_token.as_deref()) {
        None => 0,
        Some(token) => match token
            .parse::<u64>()
            .ok()
            .and_then(|t| t.checked_sub(CURSOR_OFFSET))
        {
            Some(p) if p <= u64::from(total) => p as u32,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "validation_error",
                    "invalid pagination token",
                )
            }
        },
    };
    let end = position.saturating_add(limit).min(total);
    let items: Vec<Value> = (position..end)
        .map(|p| {
            w.record(
                Kind::Conversations,
                w.at_position(Kind::Conversations, p),
                false,
            )
        })
        .collect();
    let mut body = json!({"data": items});
    if end < total {
        let token = (u64::from(end) + CURSOR_OFFSET).to_string();
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

async fn conversation_one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    one(&s, Kind::Conversations, &id, "conversation")
}
