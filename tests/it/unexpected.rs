//! Shapes nobody expected either work or fail loudly, never silently: a report whose `count`
//! never matches its rows, booked meetings that share a slot (their key, a state keyed the old
//! way, a later sandbox of the same world), and a stop while the target has stopped reading
//! stdout. Each checked against the emulator's truth and its request log.

use std::collections::BTreeSet;

use drift_emulator::{Dataset, Variants};
use serde_json::{json, Value};

use crate::more_streams::{catalog_of, requests_to, with};
use crate::support::*;

fn ids(records: &[Value], key: &str) -> BTreeSet<String> {
    records.iter().map(|r| r[key].to_string()).collect()
}

/// The warning lines of a run that contain `text`.
fn warnings<'a>(err: &'a str, text: &str) -> Vec<&'a str> {
    err.lines().filter(|l| l.contains(text)).collect()
}

#[tokio::test]
async fn a_report_whose_count_never_matches_ends_after_three_requests_keeping_every_row() {
    // the sandbox's world, and no start_date: the default window, from 1970 to now
    let variants = Variants {
        report_count_excess: Some(47),
        ..Variants::default()
    };
    let emu = with(Dataset::sandbox(), variants).await;
    let dir = TempDir::new("report-excess");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let cat = dir.json("catalog.json", &catalog_of(&["conversation_metrics"]));
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // every conversationId at most once (checked), and each with the emulator's metrics
    let synced = check_output(&out);
    let truth = truth(&emu, "conversation_metrics");
    assert_eq!(
        synced.records["conversation_metrics"], truth,
        "every row the report served"
    );
    let calls = requests_to(&emu, "/reports/conversations", 0).len();
    assert_eq!(calls, 3, "the window and its two halves");
    let err = stderr(&out);
    let counted = truth.len() + 47;
    let warned = warnings(&err, "the report counted");
    assert_eq!(warned.len(), 1, "{err}");
    assert!(
        warned[0].contains(&format!("counted {counted} rows"))
            && warned[0].contains(&format!("answered {} distinct", truth.len())),
        "{}",
        warned[0]
    );
}

#[tokio::test]
async fn drifts_own_example_a_count_above_a_single_row_keeps_the_rows_and_says_so() {
    // Drift's example answers a count far above its one row, whatever the window
    let variants = Variants {
        report_count_excess: Some(47),
        report_row_cap: Some(1),
        ..Variants::default()
    };
    let emu = with(small(), variants).await;
    let dir = TempDir::new("report-example");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let cat = dir.json("catalog.json", &catalog_of(&["conversation_metrics"]));
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await;
    assert!(out.status.success(), "rows were read: {}", stderr(&out));
    let synced = check_output(&out);
    let calls = requests_to(&emu, "/reports/conversations", 0).len();
    assert_eq!(calls, 3, "the split ends at the first pair of halves");
    let got = &synced.records["conversation_metrics"];
    assert!(
        !got.is_empty() && got.len() <= calls,
        "one row an answer: {got:?}"
    );
    // the rows received are the emulator's, each once
    let truth = truth(&emu, "conversation_metrics");
    for row in got {
        assert!(truth.contains(row), "{row}");
    }
    assert_eq!(ids(got, "conversationId").len(), got.len());
    let err = stderr(&out);
    let warned = warnings(&err, "the report counted");
    assert_eq!(warned.len(), 1, "{err}");
    assert!(
        warned[0].contains(&format!("counted {} rows", truth.len() + 47))
            && warned[0].contains(&format!("answered {} distinct", got.len())),
        "{}",
        warned[0]
    );
}
