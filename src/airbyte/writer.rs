//! The Airbyte protocol's writer, an [`Output`] for the sync engine: RECORD with `emitted_at` (and
//! `meta.changes` for the values nulled to fit the schema), per-stream STATE (the protocol's STREAM
//! state: each stream's bookmark object with the run's pace beside it, written when it changed and
//! when the stream ends, with `sourceStats.recordCount`), TRACE stream statuses (STARTED, RUNNING at
//! its first record, COMPLETE or INCOMPLETE), an ESTIMATE for a stream once its list's total is
//! known; [`Running`] names the streams running, for the RATE_LIMITED statuses written while the
//! run waits out Drift's rate limit. Through the one owner of stdout; no ACTIVATE_VERSION (Airbyte's
//! destinations handle full refreshes themselves). Lines are gathered in a batch, handed over at
//! every checkpoint and page end without waiting for them to be written (the command waits once,
//! at its end).

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use crate::airbyte::{catalog, message};
use crate::out::output::{Output, StreamEnd, StreamStart};
use crate::out::stdout::{Batch, Lines};
use crate::out::tally::Tally;
use crate::singer::state::PACE_KEY;

/// The streams started and not ended yet. Their statuses are written under its lock, so that no
/// RATE_LIMITED status follows a stream's last one.
#[derive(Debug, Clone, Default)]
pub struct Running(Arc<Mutex<Vec<String>>>);

impl Running {
    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `status` of each running stream, under the lock.
    pub fn write_each(&self, lines: &Lines, status: impl Fn(&str) -> Value) -> io::Result<()> {
        for stream in self.lock().iter() {
            lines.json(&status(stream))?;
        }
        Ok(())
    }
}

/// Writes Airbyte messages.
pub struct Writer {
    batch: Batch,
    /// Each stream's state as last written.
    written: HashMap<String, Value>,
    /// Records written per stream since its last STATE, and whether it has written one yet.
    counts: HashMap<String, (u64, bool)>,
    /// Streams started in this run (only their states are written).
    started: Vec<String>,
    /// Streams that ended, whose status is written after their last STATE (the next checkpoint).
    ended: Vec<(String, &'static str)>,
    /// The pace of the last checkpoint, which every stream's state carries.
    pace: Option<Value>,
    /// The run's counters, where a list's total shows.
    tally: Tally,
    /// Streams whose ESTIMATE was written.
    estimated: HashSet<String>,
    /// Streams running now.
    running: Running,
}

impl Writer {
    /// Writes through a handle on stdout; the lists' totals are read from `tally`.
    pub fn new(lines: Lines, tally: Tally) -> Writer {
        Writer {
            batch: Batch::new(lines),
            written: HashMap::new(),
            counts: HashMap::new(),
            started: Vec::new(),
            ended: Vec::new(),
            pace: None,
            tally,
            estimated: HashSet::new(),
            running: Running::default(),
        }
    }

    /// The streams running now, for statuses written from outside the sync.
    pub fn running(&self) -> Running {
        self.running.clone()
    }

    /// A stream's ESTIMATE, once: its list's total, when the list says it (the records a read of
    /// the whole list emits; an incremental read may emit fewer).
    fn estimate(&mut self, stream: &str) -> io::Result<()> {
        if self.estimated.contains(stream) {
            return Ok(());
        }
        let Some(total) = self.tally.total_of(stream) else {
            return Ok(());
        };
        self.estimated.insert(stream.to_string());
        self.batch.json(&message::estimate(stream, total))
    }

    /// A stream's STATE, when it differs from the last one written (or `force`).
    fn state_of(&mut self, stream: &str, state: &Value, force: bool) -> io::Result<()> {
        if !force && self.written.get(stream) == Some(state) {
            return Ok(());
        }
        let records = self.counts.get(stream).map_or(0, |c| c.0);
        self.batch
            .json(&message::stream_state(stream, state, records))?;
        self.written.insert(stream.to_string(), state.clone());
        if let Some(c) = self.counts.get_mut(stream) {
            c.0 = 0;
        }
        Ok(())
    }
}

/// A stream's part of a Singer-shaped state value (`{}` when it has none).
fn bookmark<'a>(state: &'a Value, stream: &str) -> Option<&'a Value> {
    state.get("bookmarks")?.get(stream)
}

impl Output for Writer {
    fn stream_start(&mut self, start: StreamStart<'_>) -> io::Result<()> {
        self.started.push(start.stream.to_string());
        self.counts.insert(start.stream.to_string(), (0, false));
        self.batch
            .json(&message::stream_status(start.stream, "STARTED"))?;
        // handed over before the stream counts as running: a RATE_LIMITED status, written
        // straight to stdout, never comes before it
        self.batch.hand_over()?;
        self.running.lock().push(start.stream.to_string());
        Ok(())
    }

    fn schema_changed(&mut self, _: StreamStart<'_>) -> io::Result<()> {
        // the protocol has no schema message in a read: the records carry the new field (the
        // catalog's objects allow additional properties)
        Ok(())
    }

    fn record(
        &mut self,
        stream: &str,
        record: &Map<String, Value>,
        time_extracted: &str,
        version: Option<i64>,
    ) -> io::Result<()> {
        self.record_nulled(stream, record, time_extracted, version, &[])
    }

    fn record_nulled(
        &mut self,
        stream: &str,
        record: &Map<String, Value>,
        _time_extracted: &str,
        _version: Option<i64>,
        nulled: &[String],
    ) -> io::Result<()> {
        self.estimate(stream)?;
        let running = self.counts.get_mut(stream).is_some_and(|c| {
            let first = !c.1;
            c.0 += 1;
            c.1 = true;
            first
        });
        if running {
            self.batch
                .json(&message::stream_status(stream, "RUNNING"))?;
        }
        self.batch.json(&message::record(stream, record, nulled))
    }

    fn checkpoint(&mut self, state: &Value) -> io::Result<()> {
        self.pace = state.get(PACE_KEY).cloned();
        for stream in self.started.clone() {
            self.estimate(&stream)?;
            if let Some(bm) = bookmark(state, &stream) {
                let with_pace = catalog::with_pace(bm, self.pace.as_ref());
                self.state_of(&stream, &with_pace, false)?;
            }
        }
        self.statuses()?;
        self.batch.hand_over()
    }

    fn stream_end(&mut self, stream: &str, end: StreamEnd) -> io::Result<()> {
        let status = match end {
            StreamEnd::Complete { .. } => "COMPLETE",
            StreamEnd::Incomplete => "INCOMPLETE",
        };
        self.ended.push((stream.to_string(), status));
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.statuses()?;
        self.batch.push()
    }
}

impl Writer {
    /// The statuses of the streams that ended, each after the stream's last STATE (an empty one for
    /// a stream that keeps none, as a full refresh does).
    fn statuses(&mut self) -> io::Result<()> {
        for (stream, status) in std::mem::take(&mut self.ended) {
            // a stream that stopped short keeps the state it had: nothing replaces it
            if status == "COMPLETE" && !self.written.contains_key(&stream) {
                let none = catalog::with_pace(&Value::Object(Map::new()), self.pace.as_ref());
                self.state_of(&stream, &none, true)?;
            }
            let mut running = self.running.lock();
            running.retain(|s| *s != stream);
            self.batch.json(&message::stream_status(&stream, status))?;
        }
        Ok(())
    }
}
