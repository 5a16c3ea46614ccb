//! The Airbyte source (`source-drift`): its command line (`spec`, `check`, `discover`, `read`) and
//! each command, from files to messages on stdout. Reads and writes through the same session, sync
//! engine and stdout owner as the Singer tap; translates only at the edges (`catalog.rs` for what
//! comes in, `spec.rs` for the SPEC, `writer.rs` and `message.rs` for what goes out), and shows the
//! rate limiter's waits (its public watch) as RATE_LIMITED statuses. Never touches `drift/` or
//! `sync/` internals, and writes nothing on stderr: Airbyte reads stdout only.

pub mod catalog;
pub mod message;
pub mod spec;
pub mod writer;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};

use crate::drift::rate_limit::Waiting;
use crate::error::{Error, Result};
use crate::input::{bad_file, parse_json_file, state_error, state_exists};
use crate::out::output::Schemas;
use crate::out::stdout::Lines;
use crate::out::tally::Tally;
use crate::session::persist;
use crate::session::{How, Session};
use crate::singer::catalog::StreamInfo;
use crate::singer::state::State;
use crate::sync::{Synced, TestMode};
use crate::{config, discover};

/// Airbyte source for Drift: the tap-drift sync engine speaking the Airbyte protocol on stdout.
#[derive(Debug, Parser)]
#[command(name = "source-drift", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The Airbyte protocol's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the connection specification (SPEC).
    Spec,
    /// Check the config: can Drift be reached, and which streams may the token read (CONNECTION_STATUS).
    Check(ConfigArgs),
    /// Print the streams, their schemas and sync modes (CATALOG).
    Discover(ConfigArgs),
    /// Read the configured catalog's streams (RECORD, STATE, TRACE and LOG messages).
    Read(ReadArgs),
}

/// `--config`, and the sandbox.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Config JSON file (the connection specification's keys).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Run against the built-in Drift emulator (as does `"sandbox": true` in the config).
    #[arg(long)]
    pub sandbox: bool,
}

/// The arguments of `read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Config and sandbox.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Configured catalog JSON file: the streams to read, their sync modes and fields.
    #[arg(long, value_name = "FILE")]
    pub catalog: PathBuf,
    /// State JSON file (a list of STREAM states; GLOBAL and LEGACY states are read too).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// Runs a command, writing its messages to `lines`. An error is returned for the caller to report
/// as a TRACE ERROR.
pub async fn run(cli: &Cli, lines: &Lines) -> Result<()> {
    match &cli.command {
        Command::Spec => Ok(lines.json(&message::spec(spec::spec()))?),
        Command::Check(c) => {
            let status = match check(c).await {
                Ok(outcome) => checked(&outcome),
                // a config Drift refuses is the check's answer, not a failure of the command
                Err(e) => (false, crate::secret::scrub(&e.to_string())),
            };
            Ok(lines.json(&message::connection_status(status.0, &status.1))?)
        }
        Command::Discover(c) => {
            let known = discovered(c).await?;
            let streams = known.iter().map(catalog::stream).collect();
            Ok(lines.json(&message::catalog(streams))?)
        }
        Command::Read(r) => read(r, lines).await,
    }?;
    lines.flush()?;
    Ok(())
}

/// The streams with the account's typed attribute columns (one request).
async fn known(session: &Session) -> Result<Vec<StreamInfo>> {
    let config = &session.config;
    let typed = session.typed_columns().await?;
    discover::known_with(
        config.timestamp_format,
        typed,
        config.contact_attributes_object,
    )
}

/// The catalog's streams: the static schemas for a config that cannot reach Drift, else with the
/// account's typed attribute columns.
async fn discovered(c: &ConfigArgs) -> Result<Vec<StreamInfo>> {
    let (raw, sandbox) = raw_config(c)?;
    if !sandbox && !config::has_credentials(&raw) {
        return discover::known(config::timestamp_format(&raw)?);
    }
    let mut session = open(c).await?;
    match known(&session).await {
        Ok(known) => {
            // the sample's schemas are compared with the catalog's, which is never flattened
            session.config.flattening = None;
            Ok(sampled(&session, known).await)
        }
        Err(e) => {
            tracing::warn!("could not ask Drift for the account's contact attributes ({e}): the catalog has the column tables' schemas only");
            let config = &session.config;
            discover::known_with(
                config.timestamp_format,
                &[],
                config.contact_attributes_object,
            )
        }
    }
}

/// The streams grown by the fields a sample of the account carries that their column tables
/// lack: one record of each stream, read as `check` reads them. So a field Drift started to send
/// (which `read`'s records carry already) is in the catalog from the next `discover` on. With
/// `new_fields: drop`, or when the sample cannot be read, the streams stay as they are.
async fn sampled(session: &Session, mut known: Vec<StreamInfo>) -> Vec<StreamInfo> {
    if !session.config.add_new_fields {
        return known;
    }
    let seen = match one_record_each(session, &known).await {
        Ok((_, seen)) => seen,
        Err(e) => {
            tracing::warn!("could not sample the account's records ({e}): the catalog has only the fields the tap's tables know");
            return known;
        }
    };
    for info in &mut known {
        let sampled = seen.0.get(info.name).and_then(|s| s.get("properties"));
        let props = info.schema.get_mut("properties");
        let (Some(Value::Object(sampled)), Some(Value::Object(props))) = (sampled, props) else {
            continue;
        };
        for (field, schema) in sampled {
            props.entry(field).or_insert_with(|| schema.clone());
        }
    }
    known
}

/// One record of each of `known`'s streams, read as a connection test reads them: which streams
/// could be read, and the schemas their records left in.
async fn one_record_each(session: &Session, known: &[StreamInfo]) -> Result<(Synced, Schemas)> {
    let all = crate::singer::catalog::select_all(known);
    let mut seen = Schemas::default();
    let how = How {
        test: Some(TestMode::OneRecord),
        had_state: false,
        // no state goes in, so no bookmark can be wrong
        state_error: state_error(None),
    };
    let synced = session.sync(&all, State::default(), &mut seen, how).await?;
    Ok((synced, seen))
}

/// The raw config, without the `sandbox` key, and whether it asks for the sandbox.
fn raw_config(c: &ConfigArgs) -> Result<(Map<String, Value>, bool)> {
    let mut raw = config::read_files(std::slice::from_ref(&c.config))?;
    let sandbox = match raw.remove("sandbox") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(bad_file(
                "config",
                &c.config,
                "`sandbox` must be true or false",
            ))
        }
    };
    Ok((raw, sandbox || c.sandbox))
}

async fn open(c: &ConfigArgs) -> Result<Session> {
    open_counting(c, Tally::new()).await
}

/// A session whose requests, pages and lists' totals are counted in `tally`.
async fn open_counting(c: &ConfigArgs, tally: Tally) -> Result<Session> {
    let (raw, sandbox) = raw_config(c)?;
    let refresh_from = persist::source_of(std::slice::from_ref(&c.config), "refresh_token");
    Session::open(raw, sandbox, tally, refresh_from).await
}

/// A connection check: one record of every stream (a connection test), so that a bad token, an
/// unreachable API and every missing scope show.
async fn check(c: &ConfigArgs) -> Result<Synced> {
    let session = open(c).await?;
    let known = discover::known(session.config.timestamp_format)?;
    Ok(one_record_each(&session, &known).await?.0)
}

/// The check's status and message.
fn checked(outcome: &Synced) -> (bool, String) {
    let skipped: Vec<String> = outcome
        .skipped
        .iter()
        .map(|(s, why)| format!("{s} ({why})"))
        .collect();
    match (outcome.read.is_empty(), skipped.is_empty()) {
        (true, _) => (
            false,
            format!("no stream can be read: {}", skipped.join("; ")),
        ),
        (false, true) => (
            true,
            format!("every stream can be read: {}", outcome.read.join(", ")),
        ),
        (false, false) => (
            true,
            format!(
                "can read {}; cannot read {} (those are skipped)",
                outcome.read.join(", "),
                skipped.join("; ")
            ),
        ),
    }
}

/// `read`: the configured catalog's streams, from the state given, as Airbyte messages.
async fn read(r: &ReadArgs, lines: &Lines) -> Result<()> {
    let tally = Tally::new();
    let session = open_counting(&r.config, tally.clone()).await?;
    let known = known(&session).await?;
    let selected = parse_json_file(&r.catalog, "catalog", |v| catalog::select(&v, &known))?;
    let state = match &r.state {
        Some(path) if state_exists(path) => {
            parse_json_file(path, "state", |v| State::from_value(catalog::state(v)?))?
        }
        _ => State::default(),
    };
    let how = How {
        test: None,
        had_state: false,
        state_error: state_error(r.state.clone()),
    };
    let mut writer = writer::Writer::new(lines.clone(), tally);
    let watch = session.client().await?.throttle_watch();
    let shown = tokio::spawn(show_throttles(watch, writer.running(), lines.clone()));
    let synced = session.sync(&selected, state, &mut writer, how).await;
    shown.abort();
    synced.map(|_| ())
}

/// Writes a RUNNING status with reason RATE_LIMITED (and when the quota resets, when Drift said)
/// for every running stream when the limiter starts waiting out Drift's rate limit, and a plain
/// RUNNING when a request succeeds again; until the task is dropped or the limiter is.
async fn show_throttles(
    mut watch: tokio::sync::watch::Receiver<Option<Waiting>>,
    running: writer::Running,
    lines: Lines,
) {
    while watch.changed().await.is_ok() {
        let waiting = *watch.borrow_and_update();
        // a target that stopped reading: the sync itself says so
        let _ = running.write_each(&lines, |stream| match waiting {
            Some(w) => message::rate_limited(stream, w.reset_ms),
            None => message::stream_status(stream, "RUNNING"),
        });
    }
}

/// The protocol's failure type of an error: the user's to fix (config_error), worth another try
/// (transient_error), or the source's or Drift's fault (system_error).
pub fn failure_type(e: &Error) -> &'static str {
    match e {
        Error::Config { .. }
        | Error::InputFile { .. }
        | Error::Auth { .. }
        | Error::Scope { .. }
        | Error::NothingRead { .. }
        | Error::Refresh { .. }
        | Error::Unreachable { .. }
        | Error::NoSandbox => "config_error",
        Error::Interrupted(_)
        | Error::RetriesExhausted { .. }
        | Error::Throttled { .. }
        | Error::Output(_) => "transient_error",
        Error::Api { .. }
        | Error::Decode { .. }
        | Error::Record { .. }
        | Error::PaginationLoop { .. }
        | Error::CutShort { .. }
        | Error::BuiltIn { .. }
        | Error::Disk(_)
        | Error::Emulator(_) => "system_error",
    }
}

/// The TRACE ERROR message of a failed command, secrets scrubbed.
pub fn error_message(e: &Error) -> Value {
    message::error(&crate::secret::scrub(&e.to_string()), failure_type(e))
}
