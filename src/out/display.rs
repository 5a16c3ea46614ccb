//! The live display of a sync on a terminal: one line per stream (records, pages, requests, pace,
//! and progress with an ETA where Drift says how many records a list holds) and a total line,
//! redrawn from the run's counters (`tally.rs`) several times a second, with log lines printed
//! above it; at the end, a summary table in their place. Used only when stderr is a terminal. With
//! the logger, the only writer of stderr; reads the counters, never changes them.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::human;
use crate::out::tally::{Ended, Row, Tally};

/// How often the lines are redrawn from the counters.
const REDRAW: Duration = Duration::from_millis(100);

/// Whether a live display suits this run: stderr is a terminal that draws, stdout is not that
/// terminal too (records would scroll through the display), and logs are not asked for as JSON (a
/// program reads those).
pub fn wanted() -> bool {
    std::io::stderr().is_terminal()
        && !std::io::stdout().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
        && !crate::out::logging::json_lines()
}

struct Bars {
    multi: MultiProgress,
    streams: Vec<(String, ProgressBar)>,
    total: ProgressBar,
}

/// The display: cheap to clone; every clone draws on the same lines.
#[derive(Clone)]
pub struct Display {
    lines: Arc<Mutex<Bars>>,
    stop: Arc<AtomicBool>,
    redrawer: Arc<Mutex<Option<JoinHandle<()>>>>,
    started: Instant,
    tally: Tally,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Display {
    /// Starts drawing on stderr.
    pub fn start(tally: Tally) -> Display {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let total = multi.add(ProgressBar::new_spinner().with_style(style("  {msg}")));
        let display = Display {
            lines: Arc::new(Mutex::new(Bars {
                multi,
                streams: Vec::new(),
                total,
            })),
            stop: Arc::new(AtomicBool::new(false)),
            redrawer: Arc::new(Mutex::new(None)),
            started: Instant::now(),
            tally,
        };
        let d = display.clone();
        let handle = std::thread::spawn(move || {
            while !d.stop.load(Ordering::Relaxed) {
                d.redraw();
                std::thread::sleep(REDRAW);
            }
        });
        *display.redrawer.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        display
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, Bars> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prints a log line above the display.
    pub fn println(&self, line: &str) {
        // a line that cannot be drawn has nowhere else to go
        let _ = self.lines().multi.println(line);
    }

    /// Redraws every line from the counters, adding a line for each stream that started.
    fn redraw(&self) {
        let rows = self.tally.rows();
        let mut lines = self.lines();
        for row in rows.iter().filter(|r| r.is_stream) {
            let i = match lines.streams.iter().position(|(s, _)| *s == row.stream) {
                Some(i) => i,
                None => {
                    let bar = ProgressBar::new_spinner()
                        .with_style(style("{spinner:.cyan} {prefix:22.bold} {msg}"))
                        .with_prefix(row.stream.clone());
                    let bar = lines.multi.insert_before(&lines.total, bar);
                    lines.streams.push((row.stream.clone(), bar));
                    lines.streams.len() - 1
                }
            };
            let bar = &lines.streams[i].1;
            if bar.is_finished() {
                continue;
            }
            match &row.ended {
                None => {
                    bar.set_message(running(row));
                    bar.tick();
                }
                Some((_, how)) => {
                    let mark = if *how == Ended::Complete {
                        "✔"
                    } else {
                        "✘"
                    };
                    bar.set_style(style(&format!("{mark} {{prefix:22.bold}} {{msg}}")));
                    bar.finish_with_message(done(row));
                }
            }
        }
        lines
            .total
            .set_message(totals(&rows, self.started.elapsed()));
        lines.total.tick();
    }

    /// Stops drawing, clears the lines and prints the summary table in their place.
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self
            .redrawer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        let lines = self.lines();
        for (_, bar) in &lines.streams {
            bar.finish_and_clear();
        }
        lines.total.finish_and_clear();
        let _ = lines.multi.clear();
        let rows = self.tally.rows();
        if rows.iter().any(|r| r.is_stream) {
            let table = table(&rows, self.started.elapsed());
            let _ = std::io::stderr().lock().write_all(table.as_bytes());
        }
    }
}

/// A running stream's line.
fn running(row: &Row) -> String {
    let mut line = format!("{} records", HumanCount(row.records));
    if let Some(total) = row.total.filter(|t| *t > 0) {
        let pct = (row.records * 100 / total).min(100);
        let _ = write!(line, " of {} ({pct} %)", HumanCount(total));
    }
    let _ = write!(
        line,
        " · {} pages · {} requests",
        HumanCount(row.pages),
        HumanCount(row.requests)
    );
    if let Some(pace) = row.pace() {
        let _ = write!(line, " · {}/min", HumanCount(pace.round() as u64));
    }
    if let Some(eta) = row.eta() {
        let _ = write!(line, " · about {} left", human(eta));
    }
    line
}

/// An ended stream's line.
fn done(row: &Row) -> String {
    match &row.ended {
        Some((_, Ended::Skipped(why))) => format!("skipped: {why}"),
        _ => format!(
            "{} records · {} pages · {} requests · {}",
            HumanCount(row.records),
            HumanCount(row.pages),
            HumanCount(row.requests),
            human(row.elapsed())
        ),
    }
}

/// The total line: every request counts, the scope check's and token refreshes' too.
fn totals(rows: &[Row], elapsed: Duration) -> String {
    let records: u64 = rows.iter().map(|r| r.records).sum();
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    let pace = requests as f64 * 60.0 / elapsed.as_secs_f64().max(1.0);
    format!(
        "total: {} records · {} requests · {}/min · {}",
        HumanCount(records),
        HumanCount(requests),
        HumanCount(pace.round() as u64),
        human(elapsed)
    )
}

/// The width the summary table keeps within: an 80-column terminal's, less one.
const TABLE_WIDTH: usize = 79;

/// `text` wrapped at spaces into lines of at most `width` characters, each starting with `indent`.
fn wrapped(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split(' ') {
        if line.len() > indent.len() && line.chars().count() + 1 + word.chars().count() > width {
            out += &line;
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line += word;
    }
    out + &line + "\n"
}

/// The summary table that replaces the display at the end, within [`TABLE_WIDTH`] columns: a
/// stream's status is one word, its reason (a skipped stream's, say) wrapped on the lines below.
pub fn table(rows: &[Row], elapsed: Duration) -> String {
    let mut t = format!(
        "\n{:<20} {:>9} {:>7} {:>9} {:>7} {:>11} {}\n",
        "stream", "records", "pages", "requests", "/min", "time", "status"
    );
    for row in rows.iter().filter(|r| r.is_stream) {
        let status = row.status();
        let (word, why) = status.split_once(": ").unwrap_or((&status, ""));
        let _ = writeln!(
            t,
            "{:<20} {:>9} {:>7} {:>9} {:>7} {:>11} {word}",
            row.stream,
            HumanCount(row.records).to_string(),
            HumanCount(row.pages).to_string(),
            HumanCount(row.requests).to_string(),
            row.pace()
                .map_or("-".into(), |p| HumanCount(p.round() as u64).to_string()),
            human(row.elapsed()),
        );
        if !why.is_empty() {
            t += &wrapped(why, "    ", TABLE_WIDTH);
        }
    }
    t += &wrapped(&totals(rows, elapsed), "", TABLE_WIDTH);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of a long run: the longest stream name, large counts, an hour's time.
    fn row(stream: &str, how: Ended) -> Row {
        let tally = Tally::new();
        tally.start(stream);
        let mut row = tally.rows().remove(0);
        row.is_stream = true;
        row.records = 9_999_999;
        row.pages = 999_999;
        row.requests = 9_999_999;
        row.ended = Some((row.started + Duration::from_secs(3599), how));
        row
    }

    #[test]
    fn the_summary_fits_an_80_column_terminal() {
        let rows = [
            row("conversation_metrics", Ended::Complete),
            row("conversations", Ended::CutShort("Drift's list ended before its total: the bookmark stays where it was, and the next run reads again".into())),
            row("accounts", Ended::Skipped("the token lacks the account_read scope (Drift grants it only on paid plans)".into())),
        ];
        let table = table(&rows, Duration::from_secs(3599));
        for line in table.lines() {
            assert!(
                line.chars().count() <= 79,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        // every stream, its status word, and its reason, in full
        assert!(table.contains("conversation_metrics"));
        assert!(
            table.contains(" complete\n")
                && table.contains(" incomplete\n")
                && table.contains(" skipped\n")
        );
        assert!(table.contains("    the token lacks the account_read scope"));
        let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words(&table).contains("the bookmark stays where it was, and the next run reads again")
        );
        assert!(table.contains("59 min 59 s") && table.contains("9,999,999"));
    }
}
