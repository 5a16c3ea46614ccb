//! What people see: a sandbox sync on a pseudo-terminal (made by util-linux `script`) draws a live
//! display and ends in a short summary table; without a terminal, the logs are plain lines with the
//! same summary at the end, one line per kind of repeated warning, and no per-request lines unless
//! `metrics_log_level` asks for them. Counts are checked against the emulator's data.

use std::path::Path;
use std::process::{Command, Stdio};

use drift_emulator::{Dataset, Emulator, Options};
use serde_json::{json, Value};

use crate::support::*;

/// A terminal's screen after a byte stream, with unlimited height (every line a program ever
/// printed stays): enough of VT100 for what progress bars send (text, CR, LF, cursor up and down,
/// column moves, line and screen erases, ignored colours), with xterm's deferred wrap.
struct Screen {
    width: usize,
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    wrap_pending: bool,
}

impl Screen {
    fn new(width: usize) -> Screen {
        Screen {
            width,
            rows: vec![Vec::new()],
            row: 0,
            col: 0,
            wrap_pending: false,
        }
    }

    fn line(&mut self) -> &mut Vec<char> {
        while self.rows.len() <= self.row {
            self.rows.push(Vec::new());
        }
        &mut self.rows[self.row]
    }

    fn put(&mut self, c: char) {
        if self.wrap_pending {
            (self.row, self.col, self.wrap_pending) = (self.row + 1, 0, false);
        }
        let col = self.col;
        let line = self.line();
        if line.len() <= col {
            line.resize(col + 1, ' ');
        }
        line[col] = c;
        if self.col + 1 == self.width {
            self.wrap_pending = true;
        } else {
            self.col += 1;
        }
    }

    fn csi(&mut self, params: &str, command: char) {
        let n: usize = params
            .trim_start_matches('?')
            .split(';')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        self.wrap_pending = false;
        match command {
            'A' => self.row = self.row.saturating_sub(n.max(1)),
            'B' => self.row += n.max(1),
            'C' => self.col = (self.col + n.max(1)).min(self.width - 1),
            'D' => self.col = self.col.saturating_sub(n.max(1)),
            'G' => self.col = n.max(1) - 1,
            'K' => {
                let col = self.col;
                let line = self.line();
                match n {
                    0 => line.truncate(col),
                    1 => line.iter_mut().take(col + 1).for_each(|c| *c = ' '),
                    _ => line.clear(),
                }
            }
            'J' if n == 0 => {
                let (row, col) = (self.row, self.col);
                self.line().truncate(col);
                self.rows.truncate(row + 1);
            }
            _ => {} // colours, cursor visibility, …
        }
    }

    fn feed(&mut self, text: &str) {
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => (self.col, self.wrap_pending) = (0, false),
                '\n' => (self.row, self.wrap_pending) = (self.row + 1, false),
                '\x1b' if chars.peek() == Some(&'[') => {
                    chars.next();
                    let mut params = String::new();
                    for p in chars.by_ref() {
                        if p.is_ascii_alphabetic() || p == '@' || p == '~' {
                            self.csi(&params, p);
                            break;
                        }
                        params.push(p);
                    }
                }
                c if c.is_control() => {}
                c => self.put(c),
            }
        }
    }

    /// The lines with something on them.
    fn lines(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|l| l.iter().collect::<String>().trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// Runs a command line under a pseudo-terminal 120 columns wide; returns everything the terminal
/// received and whether the command succeeded.
fn on_a_terminal(command: &str) -> (String, bool) {
    let out = Command::new("script")
        .args([
            "-qfec",
            &format!("stty cols 120 rows 50; {command}"),
            "/dev/null",
        ])
        .env("TERM", "xterm")
        .env_remove("TAP_DRIFT_LOG_FORMAT")
        .env_remove("TAP_DRIFT_LOGLEVEL")
        .env_remove("LOGLEVEL")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs (Debian's bsdutils)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    )
}

/// The records per stream in a file of Singer messages.
fn record_counts(path: &Path) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for line in std::fs::read_to_string(path).expect("stdout file").lines() {
        let m: Value = serde_json::from_str(line).expect("a JSON line");
        if m["type"] == "RECORD" {
            *counts
                .entry(m["stream"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    counts
}

#[tokio::test]
async fn a_sandbox_sync_on_a_terminal_draws_a_live_display_and_ends_in_a_short_summary() {
    // the sandbox's dataset, served here too, is the truth the summary must show
    let emu = emulator_with(Dataset::sandbox(), Options::new(TOKEN)).await;
    let dir = TempDir::new("terminal");
    // a pace that makes the run last over a second, so the display draws more than once
    let cfg = dir.json("config.json", &json!({"requests_per_minute": 120_000}));
    let stdout = dir.0.join("out.jsonl");
    let tap = env!("CARGO_BIN_EXE_tap-drift");
    let command = format!(
        "{tap} --sandbox --config {} > {}",
        cfg.display(),
        stdout.display()
    );
    let (raw, ok) = tokio::task::spawn_blocking(move || on_a_terminal(&command))
        .await
        .expect("join");
    assert!(ok, "the sync succeeds: {raw}");

    // a running stream's line: its spinner, its name, its counts
    let live = raw.lines().flat_map(|l| l.split('\r')).any(|l| {
        l.contains("records ·")
            && l.contains("requests")
            && l.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
    });
    assert!(live, "a stream's live line was drawn: {raw}");
    let mut screen = Screen::new(120);
    screen.feed(&raw);
    let lines = screen.lines();
    assert!(
        lines.len() < 30,
        "{} lines on the terminal: {lines:#?}",
        lines.len()
    );
    for noise in [
        "METRIC",
        "stream progress",
        "stream finished",
        "stream started",
        "sync finished",
    ] {
        assert!(
            lines.iter().all(|l| !l.contains(noise)),
            "no `{noise}` line: {lines:#?}"
        );
    }
    assert_the_summary_shows_the_truth(&lines, &emu, &stdout);
    assert!(
        lines.last().is_some_and(|l| l.starts_with("total:")),
        "{lines:#?}"
    );
    // 24 of the sandbox's referenced contacts are missing: one line says so, with the first ids
    let missing: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("not found (404)"))
        .collect();
    assert_eq!(missing.len(), 1, "{lines:#?}");
}

#[tokio::test]
async fn without_a_terminal_logs_are_plain_lines_ending_in_the_summary() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("no-terminal");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(!err.contains('\x1b'), "no terminal codes in logs: {err}");
    let requests = emu.requests().len();
    let lines = err.lines().count();
    assert!(
        lines * 4 < requests,
        "{lines} log lines for {requests} requests: no line per request\n{err}"
    );
    assert!(
        !err.contains("http_request_duration"),
        "per-request metrics only on request"
    );
    for stream in all_streams() {
        let truth = truth(&emu, stream).len();
        let summary = format!("stream summary stream={stream} status=complete records={truth} ");
        assert!(err.contains(&summary), "`{summary}` in\n{err}");
        assert!(
            err.contains(&format!(
                r#""metric":"record_count","value":{truth},"tags":{{"stream":"{stream}""#
            )),
            "{stream} record_count"
        );
    }
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("INFO  sync finished"), "{last}");
    let known: std::collections::HashSet<String> = emu
        .records("contacts")
        .iter()
        .map(|c| c["id"].to_string())
        .collect();
    let missing = contact_fetches(&emu)
        .iter()
        .filter_map(|r| r.strip_prefix("/contacts/"))
        .filter(|id| !known.contains(*id))
        .count();
    let lines_404: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("not found (404)"))
        .collect();
    if missing > 0 {
        assert_eq!(
            lines_404.len(),
            1,
            "one line for {missing} missing contacts: {lines_404:?}"
        );
        assert!(
            lines_404[0].contains(&format!("({missing} time")),
            "{}",
            lines_404[0]
        );
    }

    // asked for, every request has its METRIC line
    let emu = emulator(small()).await;
    let cfg = dir.json(
        "metrics.json",
        &config_for(&emu, json!({"metrics_log_level": "INFO"})),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    let timers = stderr(&out)
        .lines()
        .filter(|l| l.contains(r#""metric":"http_request_duration""#))
        .count();
    assert_eq!(timers, emu.requests().len(), "one METRIC line per request");
}

/// The summary table's row of each stream shows the emulator's count, as many as were written.
fn assert_the_summary_shows_the_truth(lines: &[String], emu: &Emulator, stdout: &Path) {
    let header = lines
        .iter()
        .position(|l| l.starts_with("stream ") && l.contains("records"))
        .expect("a summary table");
    let counts = record_counts(stdout);
    // every stream but those Drift keeps for so many days only (meetings lie around each
    // emulator's own "now", so this one and the sandbox's may differ at the edge)
    let streams = tap_drift::streams::STREAMS
        .iter()
        .filter(|s| s.history_days.is_none())
        .map(|s| s.name);
    for stream in streams {
        let truth = truth(emu, stream).len();
        assert_eq!(
            counts.get(stream).copied().unwrap_or(0),
            truth,
            "{stream}: records written"
        );
        let row = lines[header..]
            .iter()
            .find(|l| l.split_whitespace().next() == Some(stream))
            .expect("a row per stream");
        let shown: usize = row
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .replace(',', "")
            .parse()
            .expect("a count");
        assert_eq!(
            shown, truth,
            "{stream}: the summary shows the emulator's count: {row}"
        );
        assert!(row.ends_with("complete"), "{row}");
    }
}
