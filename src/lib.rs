//! tap-drift: a Singer tap for Drift. `main` parses the command line and calls [`run`], which
//! dispatches over the [`Mode`] it asks for. The rooms: `drift/` (HTTP to Drift), `singer/` (the
//! protocol), `streams/` (the stream table and its schemas), and `sync/`, the only room that joins
//! the first two; around them the config, the input files, logging, `--about` and `--discover`.

pub mod about;
pub mod cli;
pub mod config;
pub mod discover;
pub mod drift;
pub mod error;
pub mod estimate;
pub mod input;
pub mod logging;
pub mod output;
pub mod persist;
pub mod sandbox;
pub mod secret;
pub mod signal;
pub mod singer;
pub mod stdout;
pub mod streams;
pub mod sync;
pub mod time;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::cli::{Cli, Mode, TestArg};
use crate::config::Config;
use crate::error::Result;
use crate::input::{bad_file, parse_file};
use crate::singer::catalog::{self, Selected};
use crate::singer::state::State;
use crate::singer::writer::Writer;
use crate::sync::{Run, TestMode};

/// Runs the tap as the command line asks, writing to `out`.
pub async fn run(cli: &Cli, mut out: impl Write + Send + 'static) -> Result<()> {
    match cli.mode() {
        Mode::About(format) => {
            out.write_all(about::render(format).as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Mode::Discover => {
            // static schemas: no state or network needed; of the config only timestamp_format matters
            discover::run(
                config::timestamp_format(&config::read_files(&cli.config)?)?,
                out,
            )
        }
        Mode::Estimate => {
            let (_sandbox, config) = open(cli).await?;
            let selected = selection(cli, &config)?;
            let capped = streams::capped_endpoints();
            let client = drift::DriftClient::connect(&config, None, &capped).await?;
            let plan = estimate::run(&client, &selected, &config, time::now_ms()).await?;
            out.write_all(plan.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Mode::Sync(test) => sync(cli, out, test).await,
    }
}

/// The validated config, pointed at the built-in emulator (kept running by the guard) with
/// `--sandbox`.
async fn open(cli: &Cli) -> Result<(Option<sandbox::Guard>, Config)> {
    let mut raw = config::read_files(&cli.config)?;
    let guard = match cli.sandbox {
        true => Some(sandbox::start(&mut raw).await?),
        false => None,
    };
    Ok((guard, Config::from_raw(&raw)?))
}

/// The streams to sync: the catalog's selection, or every stream.
fn selection(cli: &Cli, config: &Config) -> Result<Vec<Selected>> {
    let known = discover::known(config.timestamp_format)?;
    let Some(path) = cli.catalog_file() else {
        return Ok(catalog::select_all(&known));
    };
    let selected = parse_file(path, "catalog", |v| catalog::select_from(&v, &known))?;
    if selected.is_empty() {
        tracing::warn!("the catalog selects no stream, so nothing is synced: set \"selected\": true in the metadata of each wanted stream's [] breadcrumb (the output of --discover selects nothing by design)");
    }
    Ok(selected)
}

fn state(path: Option<&Path>) -> Result<State> {
    match path {
        Some(path) => parse_file(path, "state", State::from_value),
        None => Ok(State::default()),
    }
}

/// A sync (or a connection test): config, selection and state are read and checked before the
/// first request; the engine does the rest.
async fn sync(cli: &Cli, out: impl Write + Send + 'static, test: Option<TestArg>) -> Result<()> {
    let (_sandbox, config) = open(cli).await?;
    let selected = selection(cli, &config)?;
    let state_path = cli.state.as_deref();
    let mut state = state(state_path)?;
    let started_ms = time::now_ms();
    let test = test.map(|t| match t {
        TestArg::Schema => TestMode::SchemaOnly,
        TestArg::All => TestMode::OneRecord,
    });
    let planned = sync::plan(&selected, &mut state, &config, started_ms, test)
        .map_err(|reason| bad_file("state", state_path.unwrap_or(Path::new("")), reason))?;
    let rotate = persist::on_rotate(persist::source_of(&cli.config, "refresh_token"));
    let capped = streams::capped_endpoints();
    let client =
        Arc::new(drift::DriftClient::connect(&config, Some(Box::new(rotate)), &capped).await?);
    let mut writer = Writer::new(out);
    let mut run = Run {
        client,
        config,
        state,
        out: &mut writer,
        started_ms,
        test,
        skipped: Vec::new(),
        read: Vec::new(),
    };
    run.sync(planned, state_path.is_some()).await
}
