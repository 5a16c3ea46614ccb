//! The run's counters per stream: records, pages, requests, a known total, how the stream ended,
//! and warnings of one kind counted with their first ids instead of printed one by one. Fed by the
//! client (requests), the page walker (pages, totals) and the engine (records, ends, warnings); read
//! by whoever shows the run: the terminal display, and the summary lines at the end. One [`Tally`]
//! per run, made by the front door and carried by the client (so by the run); its clones share the
//! counters. Writes nothing itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many ids a summarised warning names.
const FIRST_IDS: usize = 5;

/// How a stream's part of the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Read to its end.
    Complete,
    /// Skipped, and why.
    Skipped(String),
    /// Read in part: the list ended early, and why (its bookmark did not move).
    CutShort(String),
}

/// Warnings of one kind in one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Note {
    /// How many.
    pub count: u64,
    /// The first few ids they concern.
    pub ids: Vec<String>,
}

/// One stream's counters.
#[derive(Debug, Clone)]
pub struct Row {
    /// The stream.
    pub stream: String,
    /// Records written.
    pub records: u64,
    /// List pages read.
    pub pages: u64,
    /// Requests sent on its behalf (retries included).
    pub requests: u64,
    /// The number of records the API says the list holds, when it says.
    pub total: Option<u64>,
    /// Whether it is a stream of the run (else a tag of other requests, such as the scope check).
    pub is_stream: bool,
    /// When its first count came.
    pub started: Instant,
    /// When it ended, and how.
    pub ended: Option<(Instant, Ended)>,
    /// Warnings by kind, not yet logged.
    notes: BTreeMap<String, Note>,
}

impl Row {
    fn new(stream: &str) -> Row {
        Row {
            stream: stream.to_string(),
            records: 0,
            pages: 0,
            requests: 0,
            total: None,
            is_stream: false,
            started: Instant::now(),
            ended: None,
            notes: BTreeMap::new(),
        }
    }

    /// How long it has run (or ran).
    pub fn elapsed(&self) -> Duration {
        match &self.ended {
            Some((at, _)) => at.duration_since(self.started),
            None => self.started.elapsed(),
        }
    }

    /// Its requests per minute over its time, once there are enough of them to tell (a stream of a
    /// few quick requests has no pace to speak of).
    pub fn pace(&self) -> Option<f64> {
        let seconds = self.elapsed().as_secs_f64();
        (self.requests >= 10 && seconds >= 0.1).then(|| self.requests as f64 * 60.0 / seconds)
    }

    /// [`Row::pace`] for people and logs: a whole number, or `-`.
    pub fn pace_text(&self) -> String {
        self.pace()
            .map_or("-".into(), |p| format!("{}", p.round() as u64))
    }

    /// The time left, from the pace of its records so far, when its total is known.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        if self.ended.is_some() || self.records == 0 || self.records >= total {
            return None;
        }
        let per_record = self.elapsed().as_secs_f64() / self.records as f64;
        Some(Duration::from_secs_f64(
            per_record * (total - self.records) as f64,
        ))
    }

    /// `complete`, `skipped: why` or `running`.
    pub fn status(&self) -> String {
        match &self.ended {
            Some((_, Ended::Complete)) => "complete".into(),
            Some((_, Ended::Skipped(why))) => format!("skipped: {why}"),
            Some((_, Ended::CutShort(why))) => format!("incomplete: {why}"),
            None => "stopped".into(),
        }
    }
}

/// The run's counters, per stream in the order they started. Cheap to clone: clones share them.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    rows: Arc<Mutex<Vec<Row>>>,
}

impl Tally {
    /// Empty counters.
    pub fn new() -> Tally {
        Tally::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Row>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a stream's row, made when it is first counted.
    fn with(&self, stream: &str, f: impl FnOnce(&mut Row)) {
        let mut rows = self.lock();
        let i = match rows.iter().position(|r| r.stream == stream) {
            Some(i) => i,
            None => {
                rows.push(Row::new(stream));
                rows.len() - 1
            }
        };
        f(&mut rows[i]);
    }

    /// A stream starts (its clock starts now, if nothing counted it yet).
    pub fn start(&self, stream: &str) {
        self.with(stream, |r| r.is_stream = true);
    }

    /// One request on a stream's behalf.
    pub fn request(&self, stream: &str) {
        self.with(stream, |r| r.requests += 1);
    }

    /// One list page of a stream.
    pub fn page(&self, stream: &str) {
        self.with(stream, |r| r.pages += 1);
    }

    /// The number of records a stream's list says it holds.
    pub fn total(&self, stream: &str, total: u64) {
        self.with(stream, |r| r.total = Some(total));
    }

    /// The number of records a stream's list says it holds, once known.
    pub fn total_of(&self, stream: &str) -> Option<u64> {
        self.lock().iter().find(|r| r.stream == stream)?.total
    }

    /// One record written.
    pub fn record(&self, stream: &str) {
        self.with(stream, |r| r.records += 1);
    }

    /// A stream's part of the run ended.
    pub fn end(&self, stream: &str, how: Ended) {
        self.with(stream, |r| r.ended = Some((Instant::now(), how)));
    }

    /// One more warning of a kind (`what`: its text, the same for every one of the kind) about
    /// `id`.
    pub fn note(&self, stream: &str, what: &str, id: &str) {
        self.with(stream, |r| {
            let n = r.notes.entry(what.to_string()).or_default();
            n.count += 1;
            if n.ids.len() < FIRST_IDS {
                n.ids.push(id.to_string());
            }
        });
    }

    /// Takes a stream's counted warnings, each as one line: what, how many, the first ids.
    pub fn take_notes(&self, stream: &str) -> Vec<String> {
        let mut lines = Vec::new();
        self.with(stream, |r| {
            for (what, n) in std::mem::take(&mut r.notes) {
                let mut line = format!(
                    "{what} ({} time{}: {}",
                    n.count,
                    plural(n.count),
                    n.ids.join(", ")
                );
                if n.count > n.ids.len() as u64 {
                    let _ = write!(line, " and {} more", n.count - n.ids.len() as u64);
                }
                line.push(')');
                lines.push(line);
            }
        });
        lines
    }

    /// Every stream's counters so far, in the order they started.
    pub fn rows(&self) -> Vec<Row> {
        self.lock().clone()
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_of_a_kind_are_counted_with_their_first_ids() {
        let tally = Tally::new();
        for id in 0..8 {
            tally.note("t_notes", "not found (404): skipped", &id.to_string());
        }
        tally.note("t_notes", "value does not fit the schema", "x");
        let lines = tally.take_notes("t_notes");
        assert_eq!(
            lines,
            [
                "not found (404): skipped (8 times: 0, 1, 2, 3, 4 and 3 more)",
                "value does not fit the schema (1 time: x)"
            ]
        );
        assert!(tally.take_notes("t_notes").is_empty());
    }

    #[test]
    fn an_eta_needs_a_total_and_some_records() {
        let mut row = Row::new("t_eta");
        assert_eq!(row.eta(), None);
        row.total = Some(10);
        row.records = 5;
        row.started = Instant::now() - Duration::from_secs(10);
        let eta = row.eta().map(|d| d.as_secs_f64().round());
        assert_eq!(eta, Some(10.0));
    }
}
