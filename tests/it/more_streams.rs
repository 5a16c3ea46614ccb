//! The streams read by spans of time or from optional endpoints: booked meetings (Drift's 30-day
//! memory, its 1000 a request), conversation metrics (the Reporting API: its `count`, its bare
//! NaN), and landing pages (not every account has them). Each checked against the emulator's truth
//! and its request log; their full syncs are also in the sync tests and the matrix.

use drift_emulator::{Dataset, Emulator, Options, Variants, EPOCH_END_MS};
use serde_json::{json, Value};

use crate::support::*;

pub(crate) async fn with(data: Dataset, variants: Variants) -> Emulator {
    emulator_with(
        data,
        Options {
            variants,
            ..Options::new(TOKEN)
        },
    )
    .await
}

pub(crate) fn catalog_of(streams: &[&str]) -> Value {
    let mut catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.json"))
            .expect("catalog"),
    )
    .expect("json");
    for entry in catalog["streams"].as_array_mut().expect("streams") {
        let selected = streams.contains(&entry["stream"].as_str().unwrap_or_default());
        for md in entry["metadata"].as_array_mut().expect("md") {
            if md["breadcrumb"] == json!([]) {
                md["metadata"]["selected"] = json!(selected);
            }
        }
    }
    catalog
}

pub(crate) fn requests_to(emu: &Emulator, prefix: &str, from: usize) -> Vec<String> {
    emu.requests()[from..]
        .iter()
        .filter(|r| r.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test]
async fn meetings_beyond_drifts_1000_a_request_are_read_in_split_spans() {
    let data = Dataset {
        seed: 5,
        users: 4,
        meetings: 2_500,
        ..Dataset::default()
    };
    let emu = with(data, Variants::default()).await;
    let dir = TempDir::new("meetings-split");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let cat = dir.json("catalog.json", &catalog_of(&["meetings"]));
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    let mut got = synced.keys("meetings");
    let mut want = truth_keys(&emu, "meetings");
    got.sort_by_key(Value::to_string);
    want.sort_by_key(Value::to_string);
    assert!(
        want.len() > 1_000,
        "more than an answer holds: {}",
        want.len()
    );
    assert!(got == want, "every meeting Drift keeps");
    assert!(
        requests_to(&emu, "/users/meetings/org", 0).len() >= 3,
        "the span was split"
    );
    let warning = stderr(&out)
        .lines()
        .filter(|l| l.contains("keeps only the last 30 days"))
        .count();
    assert_eq!(
        warning,
        1,
        "the first run says older meetings are gone: {}",
        stderr(&out)
    );
}

#[tokio::test]
async fn an_incremental_run_asks_for_meetings_from_its_window_only() {
    let data = Dataset {
        seed: 6,
        users: 4,
        meetings: 40,
        ..Dataset::default()
    };
    let emu = with(data, Variants::default()).await;
    let dir = TempDir::new("meetings-window");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let cat = dir.json("catalog.json", &catalog_of(&["meetings"]));
    let run1 = check_output(&tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await);
    let bookmark = run1.last_state()["bookmarks"]["meetings"]["replication_key_value"]
        .as_i64()
        .expect("a meetings bookmark");
    let before = emu.requests().len();
    let s = dir.json("state.json", &run1.last_state());
    let out = tap(args(&[
        &"--config",
        &cfg,
        &"--catalog",
        &cat,
        &"--state",
        &s,
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let run2 = check_output(&out);
    let asked = requests_to(&emu, "/users/meetings/org", before);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains(&format!("min_start_time={}", bookmark - 300_000)),
        "{}",
        asked[0]
    );
    // nothing changed: what run 1 sent near its bookmark (and the meetings ahead) is not sent again
    assert!(
        run2.records.get("meetings").is_none_or(Vec::is_empty),
        "{:?}",
        run2.keys("meetings")
    );
    assert!(
        !stderr(&out).contains("keeps only the last 30 days"),
        "no warning within the 30 days"
    );
}

#[tokio::test]
async fn conversation_metrics_arrive_whole_when_the_report_caps_its_rows_and_writes_bare_nan() {
    let variants = Variants {
        report_row_cap: Some(20),
        bare_nan: true,
        ..Variants::default()
    };
    let emu = with(small(), variants).await;
    let dir = TempDir::new("metrics");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let cat = dir.json("catalog.json", &catalog_of(&["conversation_metrics"]));
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    // in the order the answers came: a full answer's rows first, then its halves' new ones
    let by_id = |mut rows: Vec<Value>| {
        rows.sort_by_key(|r| r["conversationId"].as_i64());
        rows
    };
    assert!(
        by_id(synced.records["conversation_metrics"].clone())
            == by_id(truth(&emu, "conversation_metrics")),
        "every row, NaN as null"
    );
    let calls = requests_to(&emu, "/reports/conversations", 0).len();
    assert!(
        calls >= (small().conversations as usize).div_ceil(20),
        "{calls} report calls"
    );
    assert!(synced.records["conversation_metrics"]
        .iter()
        .any(|m| m["timeToCloseMillis"].is_null()));
    // an incremental run after changes reads one window and sends the changed conversations' rows
    let at = EPOCH_END_MS + 86_400_000;
    emu.touch("conversations", &[1, 2], at);
    let before = emu.requests().len();
    let s = dir.json("state.json", &synced.last_state());
    let run2 = check_output(
        &tap(args(&[
            &"--config",
            &cfg,
            &"--catalog",
            &cat,
            &"--state",
            &s,
        ]))
        .await,
    );
    let changed: Vec<Value> = emu.changed_since("conversations", at);
    assert_eq!(run2.keys("conversation_metrics").len(), changed.len());
    assert_eq!(requests_to(&emu, "/reports/conversations", before).len(), 1);
}

#[tokio::test]
async fn landing_pages_that_drift_does_not_serve_are_skipped_with_a_warning() {
    let variants = Variants {
        absent: vec!["landing_pages"],
        ..Variants::default()
    };
    let emu = with(small(), variants).await;
    let dir = TempDir::new("no-landing");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert!(!synced.records.contains_key("landing_pages"));
    assert_eq!(synced.keys("playbooks"), truth_keys(&emu, "playbooks"));
    let err = stderr(&out);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("does not serve /playbooks/clp"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", stderr(&out));
    assert!(
        !synced.activated.contains_key("landing_pages"),
        "no deletions from a stream not read"
    );
}

#[tokio::test]
async fn the_estimate_is_close_to_what_a_first_sync_spends() {
    let data = Dataset {
        seed: 8,
        users: 6,
        accounts: 150,
        conversations: 600,
        playbooks: 5,
        teams: 2,
        meetings: 10,
        ..Dataset::default()
    };
    let planned = emulator(data.clone()).await;
    let dir = TempDir::new("estimate");
    let cfg = dir.json("config.json", &config_for(&planned, json!({})));
    let out = tap(args(&[&"--config", &cfg, &"--estimate"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    let first: f64 = plan
        .lines()
        .find_map(|l| l.strip_prefix("first sync: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a first-sync line: {plan}"));
    assert!(
        planned.requests().len() <= 12,
        "a few cheap calls: {:?}",
        planned.requests()
    );
    let synced = emulator(data).await;
    let cfg = dir.json("sync.json", &config_for(&synced, json!({})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success());
    let spent = synced.requests().len() as f64;
    assert!(
        (0.7..=1.5).contains(&(first / spent)),
        "estimated {first}, spent {spent}: {plan}"
    );
}
