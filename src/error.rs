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
    /// The OAuth2 token endpoint refused the refresh credentials.
    #[error("drift refused the OAuth2 token refresh ({status} on /oauth2/token): check `client_id`, `client_secret` and `refresh_token` in the config")]
    Refresh {
        /// HTTP status.
        status: u16,
    },
    /// The run was interrupted by a signal.
    #[error("interrupted by {0}: the last STATE was written")]
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
    #[error("giving up on {endpoint} after {attempts} attempts; last failure: {last}")]
    RetriesExhausted {
        /// The request path.
        endpoint: String,
        /// How many requests were made.
        attempts: u32,
        /// The last status or transport error.
        last: String,
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

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
