//! The `tap-drift` front door: [`run`] dispatches over the [`Mode`](cli::Mode) the command line
//! asks for (`--about`, `--discover`, `--estimate`, a sync or a connection test), reading the
//! config, catalog and state files and handing a sync to the session. `source-drift`'s front door
//! is `airbyte/`. Never writes stdout except through the writer it is given.

pub mod about;
pub mod cli;

use std::io::Write;
use std::path::Path;

use crate::config::Config;
use crate::error::Result;
use crate::input::{parse_file, state_error, state_exists};
use crate::out::tally::Tally;
use crate::session::persist;
use crate::session::{How, Session};
use crate::singer::catalog::{self, Selected};
use crate::singer::state::State;
use crate::singer::writer::Writer;
use crate::sync::{estimate, TestMode};
use crate::tap::cli::{Cli, Mode};
use crate::{config, discover, drift, streams, time};

/// Runs the tap as the command line asks, writing to `out` and counting in `tally`.
pub async fn run(cli: &Cli, mut out: impl Write + Send + 'static, tally: Tally) -> Result<()> {
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
            let session = open(cli).await?;
            let config = &session.config;
            let selected = selection(cli, config)?;
            let capped = streams::capped_endpoints();
            let client = drift::DriftClient::connect(config, None, &capped, tally).await?;
            let plan = estimate::run(&client, &selected, config, time::now_ms()).await?;
            out.write_all(plan.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Mode::Sync(test) => sync(cli, out, test, tally).await,
    }
}

/// The validated config, pointed at the built-in emulator (kept running by the session) with
/// `--sandbox`.
async fn open(cli: &Cli) -> Result<Session> {
    Session::open(config::read_files(&cli.config)?, cli.sandbox).await
}

/// The streams to sync: the catalog's selection, or every stream.
fn selection(cli: &Cli, config: &Config) -> Result<Vec<Selected>> {
    let known = discover::known(config.timestamp_format)?;
    let Some(path) = cli.catalog_file() else {
        return Ok(catalog::select_all(&known));
    };
    let selected = parse_file(path, "catalog", |v| catalog::select_from(&v, &known))?;
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

/// A sync (or a connection test): config, selection and state are read and checked before the
/// first request; the session and the engine do the rest.
async fn sync(
    cli: &Cli,
    out: impl Write + Send + 'static,
    test: Option<TestMode>,
    tally: Tally,
) -> Result<()> {
    let session = open(cli).await?;
    let selected = selection(cli, &session.config)?;
    let state_path = cli.state.clone();
    let how = How {
        tally,
        test,
        had_state: state_path.is_some(),
        refresh_from: persist::source_of(&cli.config, "refresh_token"),
        state_error: state_error(state_path),
    };
    let mut writer = Writer::new(out);
    session
        .sync(&selected, state(cli.state.as_deref())?, &mut writer, how)
        .await
        .map(|_| ())
}
