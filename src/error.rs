//! The one error type of the tap. Every variant names the situation and what the user can do about it;
//! none of them ever carries a secret. No I/O here.

use std::io;

use crate::signal::Signal;

/// Everything that can end a run early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration setting is missing or malformed.
    #[error("config setting `{setting}` {reason}")]
    Config {
        /// The setting's name as written in the config file.
        setting: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A config, catalog or state file could not be read or parsed.
    #[error("cannot use {kind} file {path}: {reason}")]
    InputFile {
        /// "config", "catalog" or "state".
        kind: &'static str,
        /// The path as given on the command line.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Drift rejected the credentials.
    #[error("drift rejected the access token ({status} on {endpoint}): check `access_token` in the config and that the app has the scope for this endpoint")]
    Auth {
        /// HTTP status (401 or 403).
        status: u16,
        /// The request path, without query or host.
        endpoint: String,
    },
    /// A stream the token may not read, with `on_missing_scope: fail`.
    #[error("stream {stream} cannot be read: {why}; give the Drift app the {scope} scope (developer settings, OAuth & Scopes) and use the new token, or set on_missing_scope to skip")]
    Scope {
        /// The stream.
        stream: String,
        /// The scope it needs.
        scope: String,
        /// What Drift said.
        why: String,
    },
    /// The OAuth2 token endpoint refused the refresh credentials (or could not be reached).
    #[error("drift refused the OAuth2 token refresh ({} on /oauth2/token: {reason}): check `client_id`, `client_secret` and `refresh_token` in the config", status.map_or("no answer".to_string(), |s| s.to_string()))]
    Refresh {
        /// HTTP status, if Drift answered.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
    /// The run was interrupted by a signal.
    #[error("interrupted by {0}")]
    Interrupted(Signal),
    /// Drift answered with an error that retrying cannot fix.
    #[error("drift answered {status} on {endpoint}: {body}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The request path, without query or host.
        endpoint: String,
        /// The start of the response body.
        body: String,
    },
    /// Retries ran out on a transient failure.
    #[error("giving up on {endpoint} after {attempts} attempts over {}; last failure: {last}", human(*.tried))]
    RetriesExhausted {
        /// The request path.
        endpoint: String,
        /// How many requests were made.
        attempts: u32,
        /// How long it was tried.
        tried: std::time::Duration,
        /// The last status or transport error.
        last: String,
    },
    /// Drift was never reached in this run: no connection could be made to `api_url` (refused,
    /// DNS, TLS) within the first-contact patience.
    #[error("cannot reach drift at {api_url}: {last} ({attempts} attempts over {}): check `api_url` in the config and the network (DNS, proxy, firewall)", human(*.tried))]
    Unreachable {
        /// The configured base URL (without any password).
        api_url: String,
        /// How many attempts were made.
        attempts: u32,
        /// How long it was tried.
        tried: std::time::Duration,
        /// The last connection error.
        last: String,
    },
    /// Drift throttled the run (429) beyond its patience, or asked for a wait beyond it.
    #[error("{}", throttled(*.waited, *.retry_after))]
    Throttled {
        /// How long the run was throttled without a success.
        waited: std::time::Duration,
        /// The wait Drift asked for, if it said.
        retry_after: Option<std::time::Duration>,
    },
    /// A response did not have the shape the Drift API documents.
    #[error("unexpected response from {endpoint}: {reason}")]
    Decode {
        /// The request path.
        endpoint: String,
        /// What was missing or malformed.
        reason: String,
    },
    /// A record could not be made to fit its schema (its key is missing or of the wrong type).
    #[error("{stream} record {key}: {reason}")]
    Record {
        /// The stream.
        stream: String,
        /// The record's key, as far as it is known.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The pagination of an endpoint went round in a loop.
    #[error("pagination loop on {endpoint}: the API sent the next-page request {request} twice")]
    PaginationLoop {
        /// The request path.
        endpoint: String,
        /// The repeated request (path and query).
        request: String,
    },
    /// Every selected stream was skipped: the run read nothing of what was asked.
    #[error("no selected stream could be read: {skipped}; give the Drift app the scopes these streams need (developer settings, OAuth & Scopes) and use the new token, or select streams the token can read")]
    NothingRead {
        /// Each stream and why it was skipped.
        skipped: String,
    },
    /// A list ended before its end (a loop, a shortfall against its total): records may be unread.
    #[error("{streams}: the list ended early, so records may be unread; everything read was written and these streams' bookmarks did not move, so the next run reads them again")]
    CutShort {
        /// Each stream and why its list ended early.
        streams: String,
    },
    /// A built-in schema could not be generated: a bug, caught by the tests before release.
    #[error("the built-in schema of {stream} is broken (a bug in tap-drift): {reason}")]
    BuiltIn {
        /// The stream.
        stream: String,
        /// What the generator said.
        reason: String,
    },
    /// stdout could not be written (usually: the target stopped reading).
    #[error("cannot write to stdout (did the target exit?): {0}")]
    Output(#[from] io::Error),
    /// A report's answer could not be kept in the temporary folder.
    #[error("cannot keep a report answer in the temporary folder {0}; point TMPDIR at a writable folder with room")]
    Disk(String),
    /// The built-in emulator could not start.
    #[error("cannot start the Drift emulator: {0}")]
    Emulator(String),
    /// `--sandbox` on a build without the emulator.
    #[error("this build of tap-drift has no sandbox (built without the `sandbox` feature): reinstall with `cargo install --path .` (default features)")]
    NoSandbox,
}

impl Error {
    /// The process exit code: 128 + the signal for an interruption, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted(Signal::Int) => 130,
            Error::Interrupted(Signal::Term) => 143,
            _ => 1,
        }
    }
}

/// A duration for people: `45 s`, `12 min 3 s`, `2 h 5 min`.
pub fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{:.1} s", d.as_secs_f64()),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

fn throttled(waited: std::time::Duration, retry_after: Option<std::time::Duration>) -> String {
    match retry_after {
        Some(after) => {
            let at = chrono::Utc::now() + chrono::Duration::from_std(after).unwrap_or_default();
            format!(
                "drift asks to wait {} before the next request (Retry-After), longer than max_throttle_wait_minutes: stopping with the last STATE; run again after {}",
                human(after),
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        }
        None => format!(
            "drift kept answering 429 (rate limited) for {} without a success, longer than max_throttle_wait_minutes: stopping with the last STATE; run again later, or lower max_requests_per_minute (or a fixed requests_per_minute) to leave more of drift's limit to the org's other integrations",
            human(waited)
        ),
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
