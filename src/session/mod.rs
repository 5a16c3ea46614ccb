//! One sync from its inputs, whatever the protocol: the raw config (pointed at the sandbox when
//! asked), the selected streams and the state, read and checked before the first request; then the
//! client and the engine, writing to the protocol's [`Output`]. The Singer CLI (`lib.rs`) and the
//! Airbyte source (`airbyte/`) both come through here; it reads no files itself.

pub mod persist;
pub mod sandbox;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::drift::rate_limit::{Learnt, START_PACE};
use crate::error::Result;
use crate::out::output::Output;
use crate::out::tally::Tally;
use crate::singer::catalog::Selected;
use crate::singer::state::{Pace, State};
use crate::sync::{self, Run, Synced, TestMode};
use crate::{drift, streams, time};
use persist::Source;
use sandbox::Guard;

/// A sync's inputs, checked.
pub struct Session {
    /// The validated config.
    pub config: Config,
    /// The emulator of a sandbox run (it stops when the session ends).
    _sandbox: Option<Guard>,
}

impl Session {
    /// Validates a raw config, first pointing it at the built-in emulator when `sandbox`.
    pub async fn open(mut raw: Map<String, Value>, sandbox: bool) -> Result<Session> {
        let guard = match sandbox {
            true => Some(sandbox::start(&mut raw).await?),
            false => None,
        };
        Ok(Session {
            config: Config::from_raw(&raw)?,
            _sandbox: guard,
        })
    }

    /// Syncs `selected` from `state` to `out`, as `how` says; returns which streams were read to
    /// their end and which were skipped.
    pub async fn sync<O: Output>(
        &self,
        selected: &[Selected],
        mut state: State,
        out: &mut O,
        how: How,
    ) -> Result<Synced> {
        let started_ms = time::now_ms();
        let names: Vec<&str> = streams::STREAMS.iter().map(|s| s.name).collect();
        state.keep_known(&names);
        let planned = sync::plan(selected, &mut state, &self.config, started_ms, how.test)
            .map_err(how.state_error)?;
        let rotate = persist::on_rotate(how.refresh_from);
        let capped = streams::capped_endpoints();
        let rotate = Some(Box::new(rotate) as _);
        let client = drift::DriftClient::connect(&self.config, rotate, &capped, how.tally).await?;
        start_pace(&client, state.pace(), &self.config);
        let run = Run::new(
            client,
            self.config.clone(),
            state,
            out,
            started_ms,
            how.test,
        );
        run.sync(planned, how.had_state).await
    }
}

/// Starts the client's pace from the one the state remembers, and says in one line where it
/// starts and why.
fn start_pace(client: &drift::DriftClient, remembered: Option<Pace>, config: &Config) {
    let max = config.max_requests_per_minute;
    let Some(last) = remembered else {
        if config.requests_per_minute.is_none() {
            let start = START_PACE.min(max);
            tracing::info!(start_per_minute = start, max_per_minute = max, "pace: none remembered in the state; starting at {start} requests a minute and climbing while drift allows");
        }
        return;
    };
    let learnt = Learnt {
        per_minute: last.per_minute,
        limit_found: last.limit_found,
    };
    let remembered = last.per_minute.round() as u64;
    match client.resume_pace(learnt) {
        Some(start) => tracing::info!(
            start_per_minute = start.round() as u64,
            remembered_per_minute = remembered,
            max_per_minute = max,
            limit_found = last.limit_found,
            "pace: starting a little below the pace the last run settled on (or reached, without a 429, when limit_found is false)"
        ),
        None => tracing::info!(
            remembered_per_minute = remembered,
            "pace: requests_per_minute fixes it; the pace the state remembers is ignored"
        ),
    }
}

/// How a sync runs, besides its streams and state.
pub struct How {
    /// A connection test (`--test`), if one.
    pub test: Option<TestMode>,
    /// Whether the state came from the user (it is written first).
    pub had_state: bool,
    /// Turns an unreadable bookmark's reason into the error naming the state's origin.
    pub state_error: Box<dyn Fn(String) -> crate::error::Error>,
    /// Where the refresh token came from (a rotated one is saved there).
    pub refresh_from: Option<Source>,
    /// The run's counters (shared with whoever shows them).
    pub tally: Tally,
}
