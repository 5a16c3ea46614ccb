//! Who may ask, and what goes wrong on purpose: the middleware that logs every request, checks its
//! token (valid, not expired, with the scope the endpoint needs) and, with the `faults` feature,
//! answers with the fault planned for it; the OAuth2 token endpoint (rotating refresh tokens
//! invalidate the old one; access tokens may expire after a set time); and `POST /app/token_info`.
//! The endpoints themselves are `routes.rs`'; the scope of a collection's endpoints is its entry's
//! in `world.rs`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::collections::COLLECTIONS;
#[cfg(feature = "faults")]
use crate::faults::Fault;
use crate::routes::error;
use crate::{lock, Shared, ORG_ID};

/// The scopes of the endpoints that serve no collection (by the path's first segment); any other
/// such endpoint (the conversation report) needs `conversation_read`.
const NOT_COLLECTIONS: &[(&str, &str)] = &[("contacts", "contact_read")];

/// Endpoints whose scope their first segment does not tell.
const BY_PATH: &[(&str, &str)] = &[("/contacts/attributes", "all_contact_read")];

/// The scope of an endpoint that serves no collection and is not in [`NOT_COLLECTIONS`].
const OTHERWISE: &str = "conversation_read";

/// Every scope the emulated endpoints need, sorted.
fn all_scopes() -> Vec<&'static str> {
    let mut all: Vec<&str> = COLLECTIONS.iter().map(|s| s.scope).collect();
    all.extend(NOT_COLLECTIONS.iter().map(|(_, scope)| *scope));
    all.extend(BY_PATH.iter().map(|(_, scope)| *scope));
    all.push(OTHERWISE);
    all.sort_unstable();
    all.dedup();
    all
}

/// Tokens the emulator has issued and seen.
#[derive(Debug, Default)]
pub struct Tokens {
    /// Access tokens issued by the token endpoint, with when each expires (if it does).
    pub issued: Vec<(String, Option<Instant>)>,
    /// The refresh token currently valid.
    pub refresh: Option<String>,
    /// Authenticated requests so far.
    pub authenticated: u32,
}

#[cfg(feature = "faults")]
fn expire_token_after(s: &Shared) -> Option<u32> {
    s.options.faults.expire_token_after
}

#[cfg(not(feature = "faults"))]
fn expire_token_after(_: &Shared) -> Option<u32> {
    None
}

/// The scope an endpoint needs: that of the collection whose list it is, else of the collection
/// whose list path starts with the same segment (a record by id, a list under a record), else of
/// [`NOT_COLLECTIONS`].
fn scope_of(path: &str) -> &'static str {
    let first = |p: &str| p.split('/').nth(1).unwrap_or_default().to_string();
    if let Some((_, scope)) = BY_PATH.iter().find(|(p, _)| *p == path) {
        return scope;
    }
    COLLECTIONS
        .iter()
        .find(|s| s.path == path)
        .or_else(|| COLLECTIONS.iter().find(|s| first(s.path) == first(path)))
        .map(|s| s.scope)
        .or_else(|| {
            NOT_COLLECTIONS
                .iter()
                .find(|(segment, _)| *segment == first(path))
                .map(|(_, scope)| *scope)
        })
        .unwrap_or(OTHERWISE)
}

/// Whether `token` is valid now (and counts the request when it is).
fn valid(s: &Shared, token: &str) -> bool {
    let mut t = lock(&s.tokens);
    let initial_expired = expire_token_after(s).is_some_and(|after| t.authenticated >= after);
    let now = Instant::now();
    let ok = (token == s.options.token && !initial_expired)
        || t.issued
            .iter()
            .any(|(issued, expires)| issued == token && expires.is_none_or(|e| now < e));
    if ok {
        t.authenticated += 1;
    }
    ok
}

/// The scopes of every token this emulator accepts.
fn scopes(s: &Shared) -> Vec<String> {
    s.options
        .scopes
        .clone()
        .unwrap_or_else(|| all_scopes().iter().map(|x| x.to_string()).collect())
}

/// A request in flight: it leaves when dropped.
struct Leaves<'a>(&'a AtomicU32);

impl Drop for Leaves<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Logs the request (and, once answered, its status), checks the token and its scope, then
/// serves it or the fault planned for it.
pub async fn authenticate(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let n = {
        let mut log = lock(&s.log);
        let busy = s.in_flight.fetch_add(1, Ordering::Relaxed);
        log.push((Instant::now(), req.uri().to_string(), 0, busy));
        log.len() as u32
    };
    // answered, or dropped unanswered (the client went away): no longer in flight
    let _leaves = Leaves(&s.in_flight);
    let response = guard(&s, n, headers, req, next).await;
    if let Some(entry) = lock(&s.log).get_mut(n as usize - 1) {
        entry.2 = response.status().as_u16();
    }
    response
}

async fn guard(s: &Shared, n: u32, headers: HeaderMap, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/oauth2/token" || path == "/app/token_info" {
        return next.run(req).await;
    }
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if !valid(s, &presented) {
        return error(
            s,
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Invalid or expired access token",
        );
    }
    if !scopes(s).iter().any(|x| x == scope_of(&path)) {
        let message = format!("the token lacks the {} scope", scope_of(&path));
        return error(s, StatusCode::FORBIDDEN, "forbidden", &message);
    }
    serve(s, n, &path, &presented, req, next).await
}

#[cfg(not(feature = "faults"))]
async fn serve(_: &Shared, _: u32, _: &str, _: &str, req: Request, next: Next) -> Response {
    next.run(req).await
}

/// An error body that echoes the request's credentials, as a careless proxy does.
#[cfg(feature = "faults")]
fn echo(status: StatusCode, token: &str) -> Response {
    let body = json!({"error": {"type": "server_error", "message": "upstream failed",
        "request": {"headers": {"authorization": format!("Bearer {token}")}}},
        "debug": format!("GET with Authorization: Bearer {token} failed")});
    (status, Json(body)).into_response()
}

/// Serves the request, or the fault planned for it.
#[cfg(feature = "faults")]
async fn serve(s: &Shared, n: u32, path: &str, token: &str, req: Request, next: Next) -> Response {
    let fault = s.options.faults.decide(n, path, &mut lock(&s.fault_state));
    let echoing = s.options.faults.echo_authorization;
    if !s.options.faults.latency.is_zero() {
        tokio::time::sleep(s.options.faults.latency).await;
    }
    match fault {
        Fault::None => next.run(req).await,
        Fault::Hang(d) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Fault::TooMany(after) => {
            let mut r = error(s, StatusCode::TOO_MANY_REQUESTS, "rate_limit", "Too many requests");
            if let Some(v) = after.and_then(|a| a.to_string().parse().ok()) {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        Fault::Server { status, .. } if echoing => {
            echo(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), token)
        }
        Fault::Server { status, html: true } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [("content-type", "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
        )
            .into_response(),
        Fault::Server { status, html: false } => {
            error(s, StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "server_error", "Internal error")
        }
        Fault::Malformed => Json(json!({"data": {"message": "temporarily unavailable"}})).into_response(),
        Fault::Truncate => truncated(),
    }
}

/// Headers and half a page go out, then the connection is cut.
#[cfg(feature = "faults")]
fn truncated() -> Response {
    use futures_util::StreamExt;
    let half = futures_util::stream::iter([Ok::<_, std::io::Error>(
        r#"{"data": [{"id": 1, "status": "op"#,
    )]);
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

/// The form the token endpoint takes.
#[derive(Deserialize)]
pub struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    refresh_token: Option<String>,
}

/// `POST /oauth2/token`: a new access token for a valid refresh token (and, rotating, a new
/// refresh token that replaces the old one).
pub async fn oauth_token(
    State(s): State<Arc<Shared>>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    let Some(app) = &s.options.oauth else {
        return error(
            &s,
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
    let expires = app.access_lifetime.map(|l| Instant::now() + l);
    t.issued.push((access.clone(), expires));
    if app.rotate {
        t.refresh = Some(format!("emu-refresh-{}", t.issued.len()));
    }
    let expires_in = app.access_lifetime.map_or(7200, |l| l.as_secs());
    let mut body = json!({"access_token": access, "refresh_token": t.refresh, "token_type": "bearer",
        "expires_in": expires_in, "orgId": ORG_ID});
    if app.camel_case {
        body = json!({"accessToken": access, "refreshToken": t.refresh, "tokenType": "bearer",
            "expiresIn": expires_in, "orgId": ORG_ID});
    }
    Json(body).into_response()
}

/// `POST /app/token_info` with `{"access_token": …}`: the token's scopes (or 404, when the
/// emulator plays an API without it).
pub async fn token_info(State(s): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    if !s.options.token_info {
        return error(&s, StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    }
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !valid(&s, token) {
        return error(
            &s,
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Invalid token",
        );
    }
    Json(
        json!({"access_token": token, "authenticated_userid": format!("orgId:{ORG_ID}"),
        "credential_id": "", "token_type": "bearer", "expires_in": 0,
        "scope": s.options.token_info_scope.clone().unwrap_or_else(|| scopes(&s).join(" "))}),
    )
    .into_response()
}
