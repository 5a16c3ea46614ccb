//! The rhythm of a pass: when a checkpoint (STATE) is due (every 10 000 records and every 60 s),
//! when a progress line is due (every 15 s), and the progress and closing log lines with their
//! Meltano SDK `record_count` metrics. Owns no output: it says when, the pass writes.

use crate::out::tally::Tally;
use std::time::{Duration, Instant};

/// How often a stream logs its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(15);
/// A STATE at least every this many records…
const CHECKPOINT_RECORDS: u64 = 10_000;
/// …and at least this often.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Counters and clocks of one pass.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    reported_at: Instant,
    checkpointed_at: Instant,
    written_at_checkpoint: u64,
    /// List pages read so far.
    pub pages: u64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// A pass starting now.
    pub fn new() -> Progress {
        let now = Instant::now();
        Progress {
            started: now,
            reported_at: now,
            checkpointed_at: now,
            written_at_checkpoint: 0,
            pages: 0,
        }
    }

    /// Whether a checkpoint is due, `written` records into the pass; if so, it counts as taken.
    pub fn checkpoint_due(&mut self, written: u64) -> bool {
        let due = written - self.written_at_checkpoint >= CHECKPOINT_RECORDS
            || self.checkpointed_at.elapsed() >= CHECKPOINT_INTERVAL;
        if due {
            (self.written_at_checkpoint, self.checkpointed_at) = (written, Instant::now());
        }
        due
    }

    /// Whether a progress report is due; if so, it counts as made.
    pub fn report_due(&mut self) -> bool {
        let due = self.reported_at.elapsed() >= PROGRESS_INTERVAL;
        if due {
            self.reported_at = Instant::now();
        }
        due
    }

    /// Logs one stream's progress, with the run's effective pace and 429s so far.
    pub fn report(&self, stream: &str, records: u64, pace: f64, throttled: u64) {
        let rate = records as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        tracing::info!(
            target: "tap_drift::progress",
            stream,
            records,
            pages = self.pages,
            records_per_second = rate.round() as u64,
            pace_per_minute = pace.round() as u64,
            throttled,
            "stream progress"
        );
        crate::out::logging::record_count(stream, records);
    }

    /// Logs one stream's end, and the warnings counted for it.
    pub fn finished(&self, tally: &Tally, stream: &str, records: u64) {
        crate::out::logging::record_count(stream, records);
        tracing::info!(target: "tap_drift::progress", stream, records, pages = self.pages, "stream finished");
        warn_notes(tally, stream);
    }
}

/// Logs the warnings counted for a stream and not logged yet: one line per kind.
pub fn warn_notes(tally: &Tally, stream: &str) {
    for line in tally.take_notes(stream) {
        tracing::warn!(stream, "{line}");
    }
}

/// Logs what is left of each stream's counted warnings, then one summary line per stream of the
/// run: how it ended, its records, pages, requests and pace.
pub fn summary(tally: &Tally) {
    let rows = tally.rows();
    for row in &rows {
        warn_notes(tally, &row.stream);
    }
    for row in rows.iter().filter(|r| r.is_stream) {
        tracing::info!(
            target: "tap_drift::summary",
            stream = row.stream.as_str(),
            status = row.status(),
            records = row.records,
            pages = row.pages,
            requests = row.requests,
            pace_per_minute = row.pace_text(),
            elapsed_ms = row.elapsed().as_millis() as u64,
            "stream summary"
        );
    }
}
