//! Drift's pace found by the tap itself (`requests_per_minute` absent): the probe climbs above its
//! start and never above `max_requests_per_minute`; against the emulator's leaky bucket it settles
//! below the bucket's rate with few 429s; the pace it settled on travels in STATE, through
//! `tap-drift` and `source-drift`, and the next run starts a little below it; a stale pace far
//! above the bucket settles again; a fixed `requests_per_minute` never climbs and ignores the
//! remembered pace; a pass keeps the pipe full: a page's stages overlap, and the next list page
//! is asked for while the page before is still being fetched. Every assertion is on counts and
//! states: the emulator's 429s, the requests it had in flight as each came, the STATE's pace, the
//! log lines that say where the pace starts and ends.

use drift_emulator::{Dataset, Emulator, Faults, Options};
use serde_json::{json, Value};

use crate::support::*;

/// About three requests a conversation (its detail, messages and contact), and a dozen more.
fn account(conversations: u32) -> Dataset {
    Dataset {
        seed: 19,
        users: 4,
        accounts: 12,
        conversations,
        playbooks: 3,
        teams: 2,
        meetings: 6,
    }
}

/// The config the tests use, with the pace left to the tap (no `requests_per_minute`).
fn probing(emu: &Emulator, extra: Value) -> Value {
    let mut c = config_for(emu, json!({"requests_per_minute": null}));
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

/// A sync of `config` (and `state`, if given): its output, checked against the Singer contract.
async fn sync(
    dir: &TempDir,
    config: &Value,
    state: Option<&Value>,
) -> (std::process::Output, Synced) {
    let cfg = dir.json("config.json", config);
    let mut argv = args(&[&"--config", &cfg]);
    if let Some(state) = state {
        let path = dir.json("state.json", state);
        argv.extend(args(&[&"--state", &path]));
    }
    let out = tap(argv).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    (out, synced)
}

/// The number a log line gives a field (`key=N`), in the first line with `message`.
pub fn logged(log: &str, message: &str, key: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains(message))?;
    let value = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))?;
    value.parse().ok()
}

/// The log's 429 lines, to show what the pace did when an assertion fails.
fn throttle_lines(out: &std::process::Output) -> String {
    let log = stderr(out);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("429") || l.contains("pace"))
        .collect();
    lines.join("\n")
}

/// The pace the final STATE remembers, and whether a 429 came near it.
fn remembered(synced: &Synced) -> (u64, bool) {
    let pace = &synced.last_state()["pace"];
    let per_minute = pace["requests_per_minute"]
        .as_u64()
        .expect("a remembered pace");
    (
        per_minute,
        pace["limit_found"].as_bool().expect("limit_found"),
    )
}

fn throttled(emu: &Emulator) -> usize {
    emu.statuses().iter().filter(|s| **s == 429).count()
}

#[tokio::test]
async fn the_probe_climbs_above_its_start_and_never_above_max_requests_per_minute() {
    // the bucket allows more than the cap: a pace that stays within the cap meets no 429
    // about 200 requests: enough for the probe to climb for several seconds
    let emu = emulator_with_bucket(account(60), 2_400, 20).await;
    let dir = TempDir::new("pace-probe");
    let config = probing(&emu, json!({"max_requests_per_minute": 1_200}));
    let (out, synced) = sync(&dir, &config, None).await;
    assert_every_stream_is_the_truth(&emu, &synced);
    let log = stderr(&out);
    assert_eq!(
        logged(&log, "pace: none remembered", "start_per_minute"),
        Some(300)
    );
    assert_eq!(
        throttled(&emu),
        0,
        "within the cap, below the bucket: no 429"
    );
    assert_eq!(
        remembered(&synced),
        (1_200, false),
        "climbed to the cap, no higher"
    );
    assert_eq!(
        logged(&log, "sync finished", "pace_per_minute"),
        Some(1_200)
    );
}

#[tokio::test]
async fn against_a_bucket_below_the_start_the_pace_settles_below_it_with_few_429s() {
    // a bucket holding 2: it overflows soon after the pace passes its rate
    let emu = emulator_with_bucket(account(30), 240, 2).await;
    let dir = TempDir::new("pace-settle");
    let (out, synced) = sync(&dir, &probing(&emu, json!({})), None).await;
    assert_every_stream_is_the_truth(&emu, &synced);
    let (pace, limit_found) = remembered(&synced);
    assert!(limit_found, "a 429 came");
    let lines = throttle_lines(&out);
    assert!(
        (120..240).contains(&pace),
        "settled at {pace}, below the bucket's 240\n{lines}"
    );
    // a burst is a 429 and those of the requests already in flight (a few at this pace: the pace
    // times the answer time, plus 2); the first halves the pace, one soon after halves it again,
    // and 90 % of the pace of the third is below the bucket's rate whatever the first two were
    let bursts = throttled(&emu);
    assert!((1..=3 * 8).contains(&bursts), "{bursts} 429s");
    let log = stderr(&out);
    assert_eq!(
        logged(&log, "sync finished", "throttled"),
        Some(bursts as u64)
    );
}

#[tokio::test]
async fn the_pace_travels_in_state_and_the_next_run_starts_a_little_below_it() {
    let emu = emulator(account(60)).await;
    let dir = TempDir::new("pace-state");
    let config = probing(&emu, json!({"max_requests_per_minute": 3_000}));
    let (_, first) = sync(&dir, &config, None).await;
    let (pace, _) = remembered(&first);
    assert_eq!(pace, 3_000);
    let state = first.last_state();
    assert!(state["pace"]["run_started_at"].is_string(), "{state}");
    let (out, second) = sync(&dir, &config, Some(&state)).await;
    let log = stderr(&out);
    assert_eq!(
        logged(
            &log,
            "pace: starting a little below",
            "remembered_per_minute"
        ),
        Some(3_000)
    );
    assert_eq!(
        logged(&log, "pace: starting a little below", "start_per_minute"),
        Some(2_700)
    );
    // the first STATE carries it on, whatever the run then learns
    assert_eq!(second.states()[0]["pace"]["requests_per_minute"], 3_000);
    assert_eq!(
        second.last_state()["bookmarks"],
        state["bookmarks"],
        "nothing changed in Drift"
    );
}

#[tokio::test]
async fn a_stale_pace_far_above_the_bucket_settles_again() {
    let emu = emulator_with_bucket(account(30), 600, 3).await;
    let dir = TempDir::new("pace-stale");
    let stale = json!({"pace": {"requests_per_minute": 60_000, "limit_found": true}});
    let (out, synced) = sync(&dir, &probing(&emu, json!({})), Some(&stale)).await;
    assert_every_stream_is_the_truth(&emu, &synced);
    let log = stderr(&out);
    // within max_requests_per_minute (6 000): 90 % of it
    assert_eq!(
        logged(&log, "pace: starting a little below", "start_per_minute"),
        Some(5_400)
    );
    let (pace, limit_found) = remembered(&synced);
    let lines = throttle_lines(&out);
    assert!(
        limit_found && pace < 2 * 600,
        "settled at {pace}, near the bucket's 600\n{lines}"
    );
    // halving from 5 400 to below 600 takes four bursts; a few more settle it
    let bursts = throttled(&emu);
    assert!((1..=8 * 8).contains(&bursts), "{bursts} 429s");
}

#[tokio::test]
async fn a_fixed_requests_per_minute_never_climbs_and_ignores_the_remembered_pace() {
    let emu = emulator_with_bucket(account(30), 6_000, 20).await;
    let dir = TempDir::new("pace-fixed");
    let config = config_for(&emu, json!({"requests_per_minute": 600}));
    let kept = json!({"requests_per_minute": 5_000, "limit_found": true, "run_started_at": "2026-01-01T00:00:00.000Z"});
    let (out, synced) = sync(&dir, &config, Some(&json!({"pace": kept}))).await;
    assert_every_stream_is_the_truth(&emu, &synced);
    let log = stderr(&out);
    assert!(log.contains("requests_per_minute fixes it"), "{log}");
    assert_eq!(logged(&log, "sync finished", "pace_per_minute"), Some(600));
    assert_eq!(throttled(&emu), 0);
    // a fixed pace learns nothing of Drift's: the state's pace is carried as it came
    for state in synced.states() {
        assert_eq!(state["pace"], kept);
    }
}

#[tokio::test]
async fn a_pass_keeps_the_pipe_full_its_stages_and_pages_overlap() {
    // answers take 100 ms, and pages hold 5 conversations: a pass that waited for each stage (a
    // page's details, then its messages, then its contacts, then the next list page) would never
    // have more than 5 of its requests in flight, nor a list page sent while others are
    let faults = Faults {
        latency: std::time::Duration::from_millis(100),
        ..Faults::default()
    };
    let options = Options {
        faults,
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(account(40), options).await;
    let dir = TempDir::new("pace-overlap");
    let config = config_for(&emu, json!({"page_size": 5, "max_concurrency": 32}));
    let (_, synced) = sync(&dir, &config, None).await;
    assert_every_stream_is_the_truth(&emu, &synced);
    let pass: Vec<(String, u32)> = emu
        .requests()
        .into_iter()
        .zip(emu.in_flight_at_arrival())
        .filter(|(r, _)| r.starts_with("/conversations"))
        .collect();
    let most = pass.iter().map(|(_, busy)| busy + 1).max().unwrap_or(0);
    assert!(most > 5, "at most {most} of the pass's requests in flight");
    let lists: Vec<u32> = pass
        .iter()
        .filter(|(r, _)| r.starts_with("/conversations/list"))
        .map(|(_, busy)| *busy)
        .collect();
    assert!(lists.len() >= 8, "{} list pages", lists.len());
    assert!(
        lists.iter().skip(1).any(|busy| *busy > 0),
        "every list page waited for the page before: {lists:?}"
    );
}
