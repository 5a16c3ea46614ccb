//! Who may ask, and what goes wrong on purpose: the middleware that logs every request, checks its
//! token and (with the `faults` feature) answers with the fault planned for it, and the OAuth2
//! token endpoint. The endpoints themselves are `routes.rs`'.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

#[cfg(feature = "faults")]
use crate::faults::Fault;
use crate::routes::error;
use crate::{lock, Shared, ORG_ID};

/// Tokens the emulator has issued and seen.
#[derive(Debug, Default)]
pub struct Tokens {
    /// Access tokens issued by the token endpoint.
    pub issued: Vec<String>,
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

/// Logs the request, checks the token, then injects the fault planned for it (if any).
pub async fn authenticate(
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
        let initial_expired = expire_token_after(&s).is_some_and(|after| t.authenticated >= after);
        let ok =
            (presented == s.options.token && !initial_expired) || t.issued.contains(&presented);
        if ok {
            t.authenticated += 1;
        }
        ok
    };
    if !valid {
        return error(
            &s,
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
            let mut r = error(s, StatusCode::TOO_MANY_REQUESTS, "rate_limit", "Too many requests");
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
            error(s, StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "server_error", "Internal error")
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

/// The form the token endpoint takes.
#[derive(Deserialize)]
pub struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    refresh_token: Option<String>,
}

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
    t.issued.push(access.clone());
    if app.rotate {
        t.refresh = Some(format!("emu-refresh-{}", t.issued.len()));
    }
    Json(json!({"access_token": access, "refresh_token": t.refresh, "token_type": "bearer", "expires_in": 7200, "orgId": ORG_ID}))
        .into_response()
}
