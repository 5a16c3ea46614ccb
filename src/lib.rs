//! tap-drift: a Singer tap for Drift. `main` parses the command line and calls [`run`]; everything
//! else lives in one module per concern.
#![deny(missing_docs)]

pub mod about;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod conform;
pub mod emulator;
pub mod error;
pub mod fetch;
pub mod logging;
pub mod page;
pub mod rate_limit;
pub mod retry;
pub mod schema;
pub mod secret;
pub mod state;
pub mod streams;
pub mod sync;
pub mod writer;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::cli::Cli;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::state::State;
use crate::writer::Writer;

/// Reads a JSON file that must hold an object; errors name the file and the fix.
pub fn read_json_object(path: &Path, kind: &'static str) -> Result<Map<String, Value>> {
    let fail = |reason: String| Error::InputFile {
        kind,
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(fail("it must hold a JSON object".into())),
        Err(e) => Err(fail(format!("it is not valid JSON ({e})"))),
    }
}

fn with_path(e: Error, file: &Path) -> Error {
    match e {
        Error::InputFile { kind, path, reason } if path.is_empty() => Error::InputFile {
            kind,
            path: file.display().to_string(),
            reason,
        },
        other => other,
    }
}

/// The sandbox's token (the emulator accepts only this one).
pub const SANDBOX_TOKEN: &str = "sandbox-token";

/// Runs the tap as the command line asks, writing Singer messages to `out`.
pub async fn run(cli: &Cli, mut out: impl Write) -> Result<()> {
    if cli.about {
        out.write_all(about::render(&cli.format).as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    if cli.discover {
        // static schemas: no state or network needed; of the config only timestamp_format matters
        let ts = config::timestamp_format(&config::read_files(&cli.config)?)?;
        let catalog = schema::catalog(ts).map_err(|reason| Error::Decode {
            endpoint: "built-in schema".into(),
            reason,
        })?;
        out.write_all(schema::render(&catalog).as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    let out = Writer::new(out);
    let mut raw = config::read_files(&cli.config)?;
    let _emulator = if cli.sandbox {
        let emulator = emulator::Emulator::start(
            emulator::Dataset::sandbox(),
            emulator::Options::new(SANDBOX_TOKEN),
        )
        .await
        .map_err(|e| Error::Emulator(e.to_string()))?;
        tracing::info!(
            "sandbox: serving an emulated Drift account at {}",
            emulator.base_url
        );
        // lets a second run see activity: N conversations get a new message (and a new updatedAt)
        let changes = std::env::var("TAP_DRIFT_SANDBOX_CHANGES")
            .ok()
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(n) = changes {
            let indices: Vec<u32> = (0..n).map(|i| i * 7).collect();
            emulator.touch(
                "conversations",
                &indices,
                emulator::EPOCH_END_MS + 86_400_000,
            );
            tracing::info!("sandbox: {n} conversations changed since the dataset was generated");
        }
        raw.insert("api_url".into(), json!(emulator.base_url));
        raw.insert("access_token".into(), json!(SANDBOX_TOKEN));
        raw.entry("requests_per_minute").or_insert(json!(600_000));
        Some(emulator)
    } else {
        None
    };
    let config = Config::from_raw(&raw)?;
    let streams = match cli.catalog_file() {
        Some(path) => {
            let catalog = Value::Object(read_json_object(path, "catalog")?);
            catalog::select_from(&catalog, config.timestamp_format)
                .map_err(|e| with_path(e, path))?
        }
        None => catalog::select_all(config.timestamp_format)?,
    };
    let (state, had_state) = match &cli.state {
        Some(path) => {
            let value = Value::Object(read_json_object(path, "state")?);
            (
                State::from_value(value).map_err(|e| with_path(e, path))?,
                true,
            )
        }
        None => (State::default(), false),
    };
    if let Some(path) = &cli.state {
        for s in &streams {
            if let catalog::Replication::Incremental(k) = s.replication {
                state
                    .bookmark(s.def.name, k)
                    .map_err(|e| with_path(e, path))?;
            }
        }
    }
    let client = Arc::new(client::DriftClient::connect(&config).await?);
    let mut run = sync::Run {
        client,
        config: &config,
        state,
        out,
        started_ms: chrono::Utc::now().timestamp_millis(),
        test: match cli.test.as_deref() {
            Some("schema") => Some(sync::TestMode::SchemaOnly),
            Some(_) => Some(sync::TestMode::OneRecord),
            None => None,
        },
    };
    let result = tokio::select! {
        r = run.sync(&streams, had_state) => r,
        name = shutdown_signal() => Err(Error::Interrupted(name)),
    };
    if let Err(Error::Interrupted(name)) = &result {
        // the sync stopped at an await point: every line handed to the writer is whole
        tracing::warn!("{name} received: writing the last STATE and stopping");
        let _ = run.out.state(&run.state.to_value());
    }
    let _ = run.out.flush();
    result
}

/// Resolves on SIGTERM or SIGINT, with the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
