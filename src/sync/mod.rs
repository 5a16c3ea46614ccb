//! The sync engine, the only room that joins Drift and Singer: selected streams → one pass per
//! top-level stream → events on the [`Output`](crate::out::output::Output) seam. This module plans:
//! bookmarks are read once, into windows (`window.rs`), before any request is sent. `run.rs` is the
//! run itself (its passes, scopes, skips, bookmarks and the last good STATE), `pass.rs` what a pass
//! decides page by page (pure), `progress.rs` the checkpoint cadence and progress lines, and
//! `estimate.rs` what a sync would cost. A stream the token may not read (its scope missing, or a
//! 403 mid-run) is skipped with one warning, keeping its bookmark, unless `on_missing_scope` is
//! `fail`.

mod ahead;
pub mod estimate;
mod pass;
pub mod progress;
mod run;
mod shape;
pub mod window;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::singer::catalog::{Replication, Selected};
use crate::singer::state::State;
use crate::streams::attributes::TypedColumn;
use crate::streams::{self, Child, StreamDef};
use pass::Member;
pub use run::Run;
use window::{BookmarkWindow, ResumePoint};

/// What a sync that did not fail did with its streams.
#[derive(Debug, Default)]
pub struct Synced {
    /// Streams read to their end.
    pub read: Vec<&'static str>,
    /// Streams skipped, with the reason.
    pub skipped: Vec<(&'static str, String)>,
    /// Streams whose list ended early, with the reason: what was read was written, but their
    /// bookmarks did not move.
    pub cut_short: Vec<(&'static str, String)>,
}

impl Synced {
    /// Adds what another part of the run did.
    fn extend(&mut self, other: Synced) {
        self.read.extend(other.read);
        self.skipped.extend(other.skipped);
        self.cut_short.extend(other.cut_short);
    }

    /// The run's verdict once every pass is done: an error when any list ended early, or when
    /// streams were asked for and none was read (each was skipped). A stream read to its end is
    /// read, even when Drift answered it with no records: an empty account is not an error.
    fn verdict(self, test: Option<TestMode>) -> Result<Synced> {
        let list = |l: &[(&str, String)]| {
            let each: Vec<String> = l.iter().map(|(s, why)| format!("{s} ({why})")).collect();
            each.join("; ")
        };
        if !self.cut_short.is_empty() {
            return Err(Error::CutShort {
                streams: list(&self.cut_short),
            });
        }
        if self.read.is_empty() && !self.skipped.is_empty() && test != Some(TestMode::SchemaOnly) {
            return Err(Error::NothingRead {
                skipped: list(&self.skipped),
            });
        }
        Ok(self)
    }
}

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

/// A bookmark after `end_date` leaves its stream nothing to read: said once, as a backfill that
/// was handed the regular schedule's state would otherwise read nothing silently.
fn before_end(bookmark: Option<i64>, stream: &str, end: Option<i64>) -> Option<i64> {
    if let (Some(b), Some(e)) = (bookmark, end) {
        if b > e {
            tracing::warn!(stream, "the bookmark is after end_date: none of the stream's records is read (a backfill of an earlier range wants a state of its own)");
        }
    }
    bookmark
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
                before_end(
                    not_in_future(state, sel.name, k, started_ms)?,
                    sel.name,
                    config.end_date_ms,
                ),
                config.start_date_ms,
                state.recent(sel.name),
                config.lookback_ms,
                started_ms,
            )
            .resuming(state.progress(sel.name).and_then(ResumePoint::from_value))
            .until(config.end_date_ms),
            // what a stream read whole does not emit is taken as deleted: no date bounds it
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

/// Removes the first planned stream matching `pick`, as a pass member shaped by `config` (and
/// filling the `typed` attribute columns, if it is the stream they are of).
fn take<'s>(
    planned: &mut Vec<Planned<'s>>,
    (config, typed): (&Config, &[TypedColumn]),
    pick: impl Fn(&Planned<'s>) -> bool,
) -> Option<Member<'s>> {
    let i = planned.iter().position(pick)?;
    let p = planned.remove(i);
    let shape = shape::Shape::new(p.sel, p.def, config, typed);
    Some(Member::new(p.sel, p.def, p.window, p.version, shape))
}
