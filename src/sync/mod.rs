//! The sync engine, the only room that joins Drift and Singer: selected streams → one pass per
//! top-level stream (`pass.rs`) → events on the [`Output`] seam. This module runs the passes in
//! order, writes the first and the final STATE, and is the one writer of the last good STATE when
//! a run fails or is stopped by a signal. Bookmarks are read once, into windows (`window.rs`),
//! before any request is sent. A stream the token may not read (its scope missing, or a 403 mid-run)
//! is skipped with one warning, keeping its bookmark, unless `on_missing_scope` is `fail`.

pub mod estimate;
mod pass;
pub mod progress;
pub mod window;

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::drift::DriftClient;
use crate::error::{Error, Result};
use crate::out::output::{Output, StreamEnd};
use crate::signal;
use crate::singer::catalog::{Replication, Selected};
use crate::singer::state::State;
use crate::streams::{self, Child, StreamDef, STREAMS};
use pass::{Member, Pass};
use window::{BookmarkWindow, ResumePoint};

/// What a connection test (`--test` and its values) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestMode {
    /// One record per stream.
    #[value(name = "all")]
    OneRecord,
    /// SCHEMA messages only.
    #[value(name = "schema")]
    SchemaOnly,
}

/// Everything a run needs.
pub struct Run<'o, O: Output> {
    /// The HTTP client (shared with concurrent requests).
    pub client: Arc<DriftClient>,
    /// Validated config.
    pub config: Config,
    /// Current state; bookmarks advance here.
    pub state: State,
    /// Where the events go.
    pub out: &'o mut O,
    /// The sync's start time in epoch ms; no bookmark goes past it.
    pub started_ms: i64,
    /// Connection-test mode (`--test`): no bookmark moves.
    pub test: Option<TestMode>,
    /// Streams skipped in this run, with the reason.
    pub skipped: Vec<(&'static str, String)>,
    /// Streams read to their end in this run.
    pub read: Vec<&'static str>,
}

/// One selected stream with its window.
pub struct Planned<'s> {
    sel: &'s Selected,
    def: &'static StreamDef,
    window: BookmarkWindow,
    /// The version its records carry when it is read whole (FULL_TABLE).
    version: Option<i64>,
}

/// Whether a FULL_TABLE read of a stream emits every record it has (so a target may drop what is
/// not in it): a stream read from its own list or per parent, not a stream of referenced records,
/// and not in a connection test.
fn read_whole(sel: &Selected, def: &StreamDef, test: Option<TestMode>) -> bool {
    let referenced = def
        .parent
        .is_some_and(|p| matches!(p.via, Child::Referenced { .. }));
    sel.replication == Replication::FullTable && !referenced && test.is_none()
}

/// A bookmark after the sync's start would hold its stream back until then: it is taken as now
/// (in the state too).
fn not_in_future(
    state: &mut State,
    stream: &str,
    key: &str,
    started_ms: i64,
) -> std::result::Result<Option<i64>, String> {
    match state.bookmark(stream, key)? {
        Some(b) if b > started_ms => {
            let when = crate::time::ms_to_rfc3339(b).unwrap_or_else(|| b.to_string());
            tracing::warn!(
                stream,
                "the bookmark ({when}) is in the future: reading from now instead"
            );
            state.rewind(stream, key, started_ms);
            Ok(Some(started_ms))
        }
        other => Ok(other),
    }
}

/// Reads every selected stream's bookmark once, into its window: from the bookmark minus the
/// lookback (skipping the records the state remembers sending), else from `start_date`;
/// FULL_TABLE streams read everything. Bookmarks never pass `started_ms`, which is also the version
/// of the streams read whole. An unreadable bookmark is an error naming it (the caller names the
/// state file).
pub fn plan<'s>(
    selected: &'s [Selected],
    state: &mut State,
    config: &Config,
    started_ms: i64,
    test: Option<TestMode>,
) -> std::result::Result<Vec<Planned<'s>>, String> {
    let mut planned = Vec::new();
    for sel in selected {
        let Some(def) = streams::find(sel.name) else {
            continue;
        };
        let window = match sel.replication {
            Replication::Incremental(k) => BookmarkWindow::new(
                not_in_future(state, sel.name, k, started_ms)?,
                config.start_date_ms,
                state.recent(sel.name),
                config.lookback_ms,
                started_ms,
            )
            .resuming(state.progress(sel.name).and_then(ResumePoint::from_value)),
            Replication::FullTable => BookmarkWindow::everything(),
        };
        let version = read_whole(sel, def, test).then_some(started_ms);
        planned.push(Planned {
            sel,
            def,
            window,
            version,
        });
    }
    Ok(planned)
}

impl<O: Output> Run<'_, O> {
    /// Syncs the planned streams, pass by pass, then writes the final STATE. On failure or on a
    /// signal, the last good STATE is written before the error is returned.
    pub async fn sync(&mut self, planned: Vec<Planned<'_>>, had_state: bool) -> Result<()> {
        signal::watch();
        let started = Instant::now();
        let result = tokio::select! {
            r = self.passes(planned, had_state) => r,
            s = signal::stopped() => Err(Error::Interrupted(s)),
        };
        // a signal may also have surfaced as an output that gave up waiting
        let result = match (result, signal::stopping()) {
            (Err(_), Some(s)) => Err(Error::Interrupted(s)),
            (other, _) => other,
        };
        match &result {
            // the target is gone: there is nobody to write to
            Err(Error::Output(_)) => {}
            Err(Error::Interrupted(s)) => {
                // every line handed over is whole; they go out if stdout takes them in time
                let written = self
                    .out
                    .checkpoint(&self.state.to_value())
                    .and_then(|()| self.out.flush());
                match written {
                    Ok(()) => tracing::warn!("{s} received: the last STATE was written; stopping"),
                    Err(e) => tracing::warn!("{s} received: no last STATE was written, {e}; stopping (the next run starts from the last STATE the target took)"),
                }
            }
            Err(_) => {
                // best effort: the run already failed, and the error is what gets reported
                let _ = self.out.checkpoint(&self.state.to_value());
                let _ = self.out.flush();
            }
            Ok(()) => self.out.flush()?,
        }
        self.closing_lines(started, result.is_ok());
        result
    }

    async fn passes(&mut self, planned: Vec<Planned<'_>>, had_state: bool) -> Result<()> {
        if had_state {
            self.out.checkpoint(&self.state.to_value())?;
        }
        let mut planned = self.readable(planned).await?;
        for def in STREAMS.iter().filter(|d| d.parent.is_none()) {
            let own = take(&mut planned, |p| p.def.name == def.name);
            let mut kids = Vec::new();
            while let Some(kid) = take(&mut planned, |p| {
                p.def.parent.is_some_and(|parent| parent.stream == def.name)
            }) {
                kids.push(kid);
            }
            if own.is_none() && kids.is_empty() {
                continue;
            }
            self.pass(Pass::new(def, own, kids)).await?;
        }
        self.out.checkpoint(&self.state.to_value())?;
        Ok(())
    }

    /// The run's last log lines: warnings still counted, a summary line per stream and one for the
    /// run (the terminal display shows these as its table), and what a connection test found.
    fn closing_lines(&self, started: Instant, finished: bool) {
        progress::summary();
        if !finished {
            return;
        }
        let (pace, throttled) = self.client.pace();
        let skipped: Vec<&str> = self.skipped.iter().map(|(s, _)| *s).collect();
        tracing::info!(
            target: "tap_drift::summary",
            requests = self.client.request_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            pace_per_minute = pace.round() as u64,
            throttled,
            skipped = skipped.join(","),
            peak_rss_kb = crate::out::logging::peak_rss_kb(),
            "sync finished"
        );
        if self.test == Some(TestMode::OneRecord) {
            for (stream, why) in &self.skipped {
                tracing::warn!(stream, "connection test: cannot be read: {why}");
            }
            for stream in &self.read {
                tracing::info!(stream, "connection test: can be read");
            }
        }
    }

    /// The planned streams the token may read, as far as Drift says (`POST /app/token_info`);
    /// the others are skipped now (or fail the run).
    async fn readable<'s>(&mut self, planned: Vec<Planned<'s>>) -> Result<Vec<Planned<'s>>> {
        if planned.is_empty() || self.test == Some(TestMode::SchemaOnly) {
            return Ok(planned);
        }
        let Some(scopes) = self.client.scopes().await else {
            return Ok(planned);
        };
        let mut readable = Vec::new();
        for p in planned {
            if scopes.iter().any(|s| s == p.def.scope) {
                readable.push(p);
            } else {
                self.refuse(p.def, format!("the token lacks the {} scope", p.def.scope))?;
            }
        }
        Ok(readable)
    }

    /// Skips a stream the token may not read, with one warning saying how to fix it (or fails the
    /// run, with `on_missing_scope: fail`).
    fn refuse(&mut self, def: &'static StreamDef, why: String) -> Result<()> {
        if self.config.fail_on_missing_scope {
            return Err(Error::Scope {
                stream: def.name.into(),
                scope: def.scope.into(),
                why,
            });
        }
        tracing::warn!(
            stream = def.name,
            "stream skipped: {why}; to read it, give the Drift app the {} scope (developer settings, OAuth & Scopes), reinstall it and use the new token",
            def.scope
        );
        self.skip(def, why)
    }

    /// Skips the rest of a stream (its bookmark stays): the closing line lists it.
    fn skip(&mut self, def: &'static StreamDef, why: String) -> Result<()> {
        crate::out::tally::end(def.name, crate::out::tally::Ended::Skipped(why.clone()));
        self.skipped.push((def.name, why));
        self.out.stream_end(def.name, StreamEnd::Incomplete)?;
        Ok(())
    }
}

/// Removes the first planned stream matching `pick`, as a pass member.
fn take<'s>(
    planned: &mut Vec<Planned<'s>>,
    pick: impl Fn(&Planned<'s>) -> bool,
) -> Option<Member<'s>> {
    let i = planned.iter().position(pick)?;
    let p = planned.remove(i);
    Some(Member::new(p.sel, p.def, p.window, p.version))
}
