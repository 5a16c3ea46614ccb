//! The `tap-drift` front door: [`run`] dispatches over the [`Mode`](cli::Mode) the command line
//! asks for (`--about`, `--discover`, `--estimate`, a sync or a connection test), reading the
//! config, catalog and state files and handing a sync to the session. `source-drift`'s front door
//! is `airbyte/`. Never writes stdout except through the writer it is given.

pub mod about;
pub mod cli;
pub mod hub;

use std::io::Write;
use std::path::Path;

use crate::error::Result;
use crate::input::{parse_file, state_error, state_exists};
use crate::out::tally::Tally;
use crate::session::persist;
use crate::session::{How, Session};
use crate::singer::catalog::{self, Selected, StreamInfo};
use crate::singer::state::State;
use crate::singer::writer::Writer;
use crate::sync::{estimate, TestMode};
use crate::tap::cli::{Cli, Mode};
use crate::{config, discover, time};

/// Runs the tap as the command line asks, writing to `out` and counting in `tally`.
pub async fn run(cli: &Cli, mut out: impl Write + Send + 'static, tally: Tally) -> Result<()> {
    match cli.mode() {
        Mode::About(format) => {
            out.write_all(about::render(format).as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Mode::Discover => discover(cli, out, tally).await,
        Mode::Estimate => {
            let session = open(cli, tally).await?;
            let config = &session.config;
            let known = discover::known(config.timestamp_format)?;
            let selected = selection(cli, &known)?;
            let client = session.client().await?;
            let plan = estimate::run(&client, &selected, config, time::now_ms()).await?;
            out.write_all(plan.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Mode::Sync(test) => sync(cli, out, test, tally).await,
    }
}

/// `--discover`: the static schemas (no state or network needed: of a config without credentials
/// only `timestamp_format` matters), plus, with a config that can reach Drift (or `--sandbox`),
/// the account's typed contact attribute columns.
async fn discover(cli: &Cli, out: impl Write, tally: Tally) -> Result<()> {
    let raw = config::read_files(&cli.config)?;
    let ts = config::timestamp_format(&raw)?;
    if !cli.sandbox && !config::has_credentials(&raw) {
        return discover::run(&discover::known(ts)?, out);
    }
    let session = open(cli, tally).await?;
    let keep = session.config.contact_attributes_object;
    let known = match session.typed_columns().await {
        Ok(typed) => discover::known_with(ts, typed, keep)?,
        Err(e) => {
            tracing::warn!("could not ask Drift for the account's contact attributes ({e}): the catalog has the column tables' schemas only");
            discover::known_with(ts, &[], keep)?
        }
    };
    discover::run(&known, out)
}

/// The validated config, pointed at the built-in emulator (kept running by the session) with
/// `--sandbox`.
async fn open(cli: &Cli, tally: Tally) -> Result<Session> {
    let refresh_from = persist::source_of(&cli.config, "refresh_token");
    Session::open(
        config::read_files(&cli.config)?,
        cli.sandbox,
        tally,
        refresh_from,
    )
    .await
}

/// The streams to sync, among `known`: the catalog's selection, or every stream.
fn selection(cli: &Cli, known: &[StreamInfo]) -> Result<Vec<Selected>> {
    let Some(path) = cli.catalog_file() else {
        return Ok(catalog::select_all(known));
    };
    let selected = parse_file(path, "catalog", |v| catalog::select_from(&v, known))?;
    if selected.is_empty() {
        tracing::warn!("the catalog selects no stream, so nothing is synced: every stream is \"selected\": false, or says neither \"selected\" nor \"selected-by-default\"; set \"selected\": true in the metadata of each wanted stream's [] breadcrumb");
    }
    Ok(selected)
}

/// The state to start from: the `--state` file's, or none (no file given, or one that does not
/// exist yet: a first run).
fn state(path: Option<&Path>) -> Result<State> {
    match path {
        Some(path) if state_exists(path) => parse_file(path, "state", State::from_value),
        _ => Ok(State::default()),
    }
}

/// A sync (or a connection test): config, state and catalog are read and checked first (the
/// catalog against the account's typed attribute columns, learnt with one request); the session
/// and the engine do the rest.
async fn sync(
    cli: &Cli,
    out: impl Write + Send + 'static,
    test: Option<TestMode>,
    tally: Tally,
) -> Result<()> {
    let session = open(cli, tally).await?;
    let state = state(cli.state.as_deref())?;
    if let Some(path) = cli.catalog_file() {
        // a catalog that is not JSON fails before any request
        parse_file(path, "catalog", Ok)?;
    }
    let config = &session.config;
    let typed = session.typed_columns().await?;
    let known = discover::known_with(
        config.timestamp_format,
        typed,
        config.contact_attributes_object,
    )?;
    let selected = selection(cli, &known)?;
    let state_path = cli.state.clone();
    let how = How {
        test,
        had_state: state_path.is_some(),
        state_error: state_error(state_path),
    };
    let mut writer = Writer::new(out);
    let synced = session.sync(&selected, state, &mut writer, how).await;
    // the lines handed over are all written before the process ends (a failed run's, if it can)
    let written = writer.finish();
    synced?;
    Ok(written?)
}
