//! One sync from its inputs, whatever the protocol: the raw config (pointed at the sandbox when
//! asked), the selected streams and the state, read and checked before the first request; then the
//! client (one per session, made at its first use) and the engine, writing to the protocol's
//! [`Output`]. The session also learns the account's contact attributes (its one request before a
//! sync), for discovery and selection. The Singer front door (`tap/`) and the Airbyte source
//! (`airbyte/`) both come through here; it reads no files itself.

pub mod persist;
pub mod sandbox;

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::drift::rate_limit::{Learnt, START_PACE};
use crate::drift::DriftClient;
use crate::error::Result;
use crate::out::output::Output;
use crate::out::tally::Tally;
use crate::singer::catalog::Selected;
use crate::singer::state::{Pace, State};
use crate::streams::attributes::{self, TypedColumn};
use crate::sync::{self, Run, Synced, TestMode};
use crate::{drift, streams, time};
use persist::Source;
use sandbox::Guard;

/// A sync's inputs, checked.
pub struct Session {
    /// The validated config.
    pub config: Config,
    /// The client, once made.
    client: OnceCell<Arc<DriftClient>>,
    /// The typed attribute columns, once learnt.
    typed: OnceCell<Vec<TypedColumn>>,
    /// The run's counters, which the client feeds.
    tally: Tally,
    /// Where the refresh token came from (a rotated one is saved there).
    refresh_from: Option<Source>,
    /// The emulator of a sandbox run (it stops when the session ends).
    _sandbox: Option<Guard>,
}

impl Session {
    /// Validates a raw config, first pointing it at the built-in emulator when `sandbox`. Its
    /// requests are counted in `tally`; a rotated refresh token is saved to `refresh_from`.
    pub async fn open(
        mut raw: Map<String, Value>,
        sandbox: bool,
        tally: Tally,
        refresh_from: Option<Source>,
    ) -> Result<Session> {
        let guard = match sandbox {
            true => Some(sandbox::start(&mut raw).await?),
            false => None,
        };
        Ok(Session {
            config: Config::from_raw(&raw)?,
            client: OnceCell::new(),
            typed: OnceCell::new(),
            tally,
            refresh_from,
            _sandbox: guard,
        })
    }

    /// The session's client, made (and, with refresh credentials, given a token) at first use.
    pub async fn client(&self) -> Result<Arc<DriftClient>> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let rotate = persist::on_rotate(self.refresh_from.clone());
                let capped = streams::capped_endpoints();
                let rotate = Some(Box::new(rotate) as _);
                let tally = self.tally.clone();
                DriftClient::connect(&self.config, rotate, &capped, tally)
                    .await
                    .map(Arc::new)
            })
            .await?;
        Ok(client.clone())
    }

    /// The account's contact attributes as typed columns (`GET /contacts/attributes`, scope
    /// `all_contact_read`), learnt once: none when `contact_attribute_columns` is off, or when
    /// Drift refuses or does not serve the list (one line says what the scope would add).
    pub async fn typed_columns(&self) -> Result<&[TypedColumn]> {
        let columns = self.typed.get_or_try_init(|| self.learn_columns()).await?;
        Ok(columns)
    }

    async fn learn_columns(&self) -> Result<Vec<TypedColumn>> {
        let Some((def, typed)) = streams::typed() else {
            return Ok(Vec::new());
        };
        if !self.config.contact_attribute_columns {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let answer = drift::read::listed_attributes(&client, typed.list, def.name, typed.scope);
        let Some(answer) = answer.await? else {
            return Ok(Vec::new());
        };
        let own = streams::own_fields(def);
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        match attributes::columns(&answer, &own) {
            Some(columns) => {
                tracing::info!(
                    stream = def.name,
                    columns = columns.len(),
                    "each attribute the account lists is a typed column"
                );
                Ok(columns)
            }
            None => {
                let seen: String = answer.to_string().chars().take(200).collect();
                tracing::warn!(stream = def.name, "{} answered in a shape the tap does not know ({seen}): the attributes stay one object", typed.list);
                Ok(Vec::new())
            }
        }
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
        let client = self.client().await?;
        start_pace(&client, state.pace(), &self.config);
        let typed = self.typed_columns().await?.to_vec();
        let run = Run::new(
            client,
            self.config.clone(),
            state,
            out,
            (started_ms, how.test),
            typed,
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
}
