//! An in-process Drift API emulator for tap-drift's tests and `--sandbox`: the real paths, query
//! parameters, envelopes, cursors, field names and types, over real HTTP on 127.0.0.1 only. It
//! answers 401 to a wrong or expired token, serves the OAuth2 token endpoint, keeps a timed log of
//! the requests it served, plays each plausible variant of what is unknown about Drift
//! ([`Variants`]) and, with the `faults` feature, injects faults on request ([`Faults`]). This file
//! is its public face; `routes.rs` serves, `auth.rs` guards, `world.rs` holds the data. Depends on
//! nothing of the tap: it plays Drift, and knows no Singer.

mod auth;
mod data;
#[cfg(feature = "faults")]
mod faults;
mod rng;
mod routes;
mod variants;
mod world;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

pub use data::{Dataset, EPOCH_END_MS, EPOCH_START_MS, ORG_ID};
#[cfg(feature = "faults")]
pub use faults::{Bucket, Fault, Faults, Outage, Storm};
pub use variants::Variants;
use world::{Spec, World};

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The access token it accepts (until it expires, see `Faults::expire_token_after`).
    pub token: String,
    /// Which variant of Drift's unknown behaviours it plays.
    pub variants: Variants,
    /// Faults to inject.
    #[cfg(feature = "faults")]
    pub faults: Faults,
    /// The OAuth2 app whose refresh token the token endpoint accepts.
    pub oauth: Option<OAuthApp>,
    /// The scopes of every token it accepts (`None`: all of them); an endpoint whose scope is
    /// missing answers 403.
    pub scopes: Option<Vec<String>>,
    /// Whether `POST /app/token_info` exists (else it answers 404).
    pub token_info: bool,
}

impl Options {
    /// Plain behaviour with this token.
    pub fn new(token: &str) -> Options {
        Options {
            token: token.into(),
            variants: Variants::default(),
            #[cfg(feature = "faults")]
            faults: Faults::default(),
            oauth: None,
            scopes: None,
            token_info: true,
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
    /// Whether each refresh rotates the refresh token (the old one stops working).
    pub rotate: bool,
    /// How long an access token it issues lives (`None`: 7200 s, not enforced).
    pub access_lifetime: Option<std::time::Duration>,
    /// Whether token responses are in camelCase (as Drift's sample app reads them).
    pub camel_case: bool,
}

/// What the server's tasks share.
struct Shared {
    world: Mutex<World>,
    options: Options,
    base_url: String,
    /// Every request: when it came, `PATH?QUERY`, and the status it was answered (0 until then).
    log: Mutex<Vec<(Instant, String, u16)>>,
    tokens: Mutex<auth::Tokens>,
    /// What the fault injection remembers.
    #[cfg(feature = "faults")]
    fault_state: Mutex<faults::FaultState>,
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
            world: Mutex::new(World::new(
                data,
                options.variants.clone(),
                wrong_types(&options),
            )),
            options,
            base_url: base_url.clone(),
            log: Mutex::new(Vec::new()),
            tokens: Mutex::new(auth::Tokens {
                refresh: options_refresh,
                ..auth::Tokens::default()
            }),
            #[cfg(feature = "faults")]
            fault_state: Mutex::new(faults::FaultState::default()),
        });
        let app = Router::new()
            .route("/users/list", get(routes::users_list))
            .route("/users/{id}", get(routes::user_one))
            .route("/accounts", get(routes::accounts_list))
            .route("/accounts/{id}", get(routes::account_one))
            .route("/conversations/list", get(routes::conversations_list))
            .route("/conversations/{id}", get(routes::conversation_one))
            .route("/conversations/{id}/messages", get(routes::messages_list))
            .route("/contacts/{id}", get(routes::contact_one))
            .route("/oauth2/token", post(auth::oauth_token))
            .route("/app/token_info", post(auth::token_info))
            .fallback(routes::not_found)
            .layer(middleware::from_fn_with_state(
                shared.clone(),
                auth::authenticate,
            ))
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
                    .map(|mut c| {
                        w.variants().shape("contacts", &mut c);
                        c
                    })
                    .collect()
            }
            other => w.all(collection(other)),
        }
    }

    /// Deletes records (by generation index) of a stream from Drift: gone from its list, 404 by id.
    pub fn delete(&self, stream: &str, indices: &[u32]) {
        self.with_world(stream, |w, spec| w.delete(spec, indices))
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
            .map(|(_, r, _)| r.clone())
            .collect()
    }

    /// When each request arrived, in order.
    pub fn request_times(&self) -> Vec<Instant> {
        lock(&self.shared.log).iter().map(|(t, _, _)| *t).collect()
    }

    /// The status each request was answered with, in order (0: not answered yet).
    pub fn statuses(&self) -> Vec<u16> {
        lock(&self.shared.log).iter().map(|(_, _, s)| *s).collect()
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

/// Whether lists go round in circles (a fault).
#[cfg(feature = "faults")]
fn cursor_loop(options: &Options) -> bool {
    options.faults.cursor_loop
}

#[cfg(not(feature = "faults"))]
fn cursor_loop(_: &Options) -> bool {
    false
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
