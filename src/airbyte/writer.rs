//! The Airbyte protocol's writer, an [`Output`] for the sync engine: RECORD with `emitted_at`,
//! per-stream STATE (the protocol's STREAM state: each stream's bookmark object with the run's
//! pace beside it, written when it changed and when the stream ends), and TRACE stream statuses (STARTED, RUNNING at its first
//! record, COMPLETE or INCOMPLETE). Through the one owner of stdout; no ACTIVATE_VERSION (Airbyte's
//! destinations handle full refreshes themselves). Lines are gathered in a batch, handed over at
//! every checkpoint and page end without waiting for them to be written (the command waits once,
//! at its end).

use std::collections::HashMap;
use std::io;

use serde_json::{Map, Value};

use crate::airbyte::{catalog, message};
use crate::out::output::{Output, StreamEnd, StreamStart};
use crate::out::stdout::{Batch, Lines};
use crate::singer::state::PACE_KEY;

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
}

impl Writer {
    /// Writes through a handle on stdout.
    pub fn new(lines: Lines) -> Writer {
        Writer {
            batch: Batch::new(lines),
            written: HashMap::new(),
            counts: HashMap::new(),
            started: Vec::new(),
            ended: Vec::new(),
            pace: None,
        }
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
            .json(&message::stream_status(start.stream, "STARTED"))
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
        _time_extracted: &str,
        _version: Option<i64>,
    ) -> io::Result<()> {
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
        self.batch.json(&message::record(stream, record))
    }

    fn checkpoint(&mut self, state: &Value) -> io::Result<()> {
        self.pace = state.get(PACE_KEY).cloned();
        for stream in self.started.clone() {
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
            self.batch.json(&message::stream_status(&stream, status))?;
        }
        Ok(())
    }
}
