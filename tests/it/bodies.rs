//! Shapes nobody expected either work or fail loudly, never silently: a report whose `count`
//! never matches its rows, booked meetings that share a slot (their key, a state keyed the old
//! way, a later sandbox of the same world), and a stop while the target has stopped reading
//! stdout. Each checked against the emulator's truth and its request log.

use drift_emulator::{Dataset, Variants};
use serde_json::{json, Value};

use crate::more_streams::{catalog_of, requests_to, with};
use crate::support::*;

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
    assert_eq!(ids_of(got, "conversationId").len(), got.len());
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

const DAY_MS: i64 = 86_400_000;
const LOOKBACK_MS: i64 = 300_000;

fn slot(m: &Value) -> i64 {
    m["slotStart"].as_i64().unwrap_or_default()
}

/// The key earlier versions gave a booked meeting: its eventId, else agentId:slotStart:schedulerId.
fn old_key(m: &Value) -> Value {
    match m["eventId"].as_str() {
        Some(event) => json!(event),
        None => json!(format!(
            "{}:{}:{}",
            m["agentId"], m["slotStart"], m["schedulerId"]
        )),
    }
}

fn by_key(records: &[Value]) -> Vec<Value> {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|m| m["meetingId"].to_string());
    sorted
}

/// A sync of the meetings alone against `emu`, from `state` if given: its checked output.
async fn meetings_run(
    emu: &drift_emulator::Emulator,
    dir: &TempDir,
    state: Option<&Value>,
) -> Synced {
    let cfg = dir.json("config.json", &config_for(emu, json!({})));
    let cat = dir.json("catalog.json", &catalog_of(&["meetings"]));
    let mut a = args(&[&"--config", &cfg, &"--catalog", &cat]);
    if let Some(state) = state {
        let s = dir.json("state.json", state);
        a.extend(args(&[&"--state", &s]));
    }
    let out = tap(a).await;
    assert!(out.status.success(), "{}", stderr(&out));
    check_output(&out)
}

#[tokio::test]
async fn every_meeting_arrives_however_many_share_a_slot() {
    for shared_meeting_slugs in [false, true] {
        // three users for slots of up to four meetings: a user is in some slot twice
        let data = Dataset {
            seed: 21,
            users: 3,
            meetings: 300,
            ..Dataset::default()
        };
        let variants = Variants {
            shared_meeting_slugs,
            ..Variants::default()
        };
        let emu = with(data, variants).await;
        let served = truth(&emu, "meetings");
        let mut slots: std::collections::BTreeMap<i64, Vec<&Value>> = Default::default();
        for m in &served {
            slots.entry(slot(m)).or_default().push(m);
        }
        assert!(slots.values().any(|s| s.len() == 4), "slots of four");
        let same_user = |s: &Vec<&Value>| {
            let users: std::collections::BTreeSet<String> =
                s.iter().map(|m| m["agentId"].to_string()).collect();
            users.len() < s.len()
        };
        assert!(slots.values().any(same_user), "a user twice in a slot");
        let dir = TempDir::new(&format!("meetings-shared-{shared_meeting_slugs}"));
        let synced = meetings_run(&emu, &dir, None).await;
        let arrived = &synced.records["meetings"];
        assert_eq!(arrived.len(), served.len(), "served vs arrived");
        assert!(
            by_key(arrived) == by_key(&served),
            "every meeting Drift served, whole (slugs shared: {shared_meeting_slugs})"
        );
    }
}

#[tokio::test]
async fn a_state_keyed_the_old_way_loses_no_meeting_and_sends_none_twice() {
    let data = Dataset {
        seed: 22,
        users: 2,
        meetings: 120,
        ..Dataset::default()
    };
    let emu = with(data, Variants::default()).await;
    let served = truth(&emu, "meetings");
    // what an earlier version remembered after its run two days ago: the meetings from then on,
    // under its keys, but for every fifth one (booked since, or lost by that version)
    let then = emu.now_ms() - 2 * DAY_MS;
    let window: Vec<Value> = served
        .iter()
        .filter(|m| slot(m) >= then - LOOKBACK_MS)
        .cloned()
        .collect();
    let new: Vec<Value> = window.iter().step_by(5).cloned().collect();
    let remembered: Vec<&Value> = window
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 != 0)
        .map(|(_, m)| m)
        .collect();
    let recent: Vec<Value> = remembered
        .iter()
        .map(|m| json!([old_key(m), m["slotStart"]]))
        .collect();
    let state = json!({"bookmarks": {"meetings": {"replication_key": "slotStart",
        "replication_key_value": then, "recent": recent}}});
    let dir = TempDir::new("meetings-old-keys");
    let run = meetings_run(&emu, &dir, Some(&state)).await;
    let sent: Vec<Value> = run.records.get("meetings").cloned().unwrap_or_default();
    assert!(!new.is_empty() && !remembered.is_empty());
    assert!(
        by_key(&sent) == by_key(&new),
        "exactly the meetings the old state had not sent: {:?}",
        ids_of(&sent, "meetingId")
    );
    // the state now remembers them all under their new keys: a run from it sends nothing
    let next = run.last_state();
    let recent = next["bookmarks"]["meetings"]["recent"]
        .as_array()
        .expect("recent");
    assert!(
        recent
            .iter()
            .all(|p| p[0].as_str().is_some_and(|k| k.starts_with('['))),
        "{recent:?}"
    );
    let again = meetings_run(&emu, &dir, Some(&next)).await;
    assert!(again.records.get("meetings").is_none_or(Vec::is_empty));
}

#[tokio::test]
async fn a_later_sandbox_of_the_same_world_sends_only_the_meetings_booked_since() {
    let data = Dataset {
        seed: 23,
        users: 5,
        meetings: 60,
        ..Dataset::default()
    };
    let first = emulator(data.clone()).await;
    let dir = TempDir::new("meetings-later");
    let run1 = meetings_run(&first, &dir, None).await;
    // the same account a day and an hour later (one meeting a day)
    let later = emulator_with(
        data,
        drift_emulator::Options {
            now_ms: Some(first.now_ms() + DAY_MS + 3_600_000),
            ..drift_emulator::Options::new(TOKEN)
        },
    )
    .await;
    let state = run1.last_state();
    let run2 = meetings_run(&later, &dir, Some(&state)).await;
    let bookmark = state["bookmarks"]["meetings"]["replication_key_value"]
        .as_i64()
        .expect("a bookmark");
    let before = ids_of(&truth(&first, "meetings"), "meetingId");
    let booked_since: Vec<Value> = truth(&later, "meetings")
        .into_iter()
        .filter(|m| slot(m) >= bookmark - LOOKBACK_MS)
        .filter(|m| !before.contains(&m["meetingId"].to_string()))
        .collect();
    assert!(
        booked_since.len() <= 2,
        "a day on, the grid holds a place or two more: {booked_since:?}"
    );
    let sent = run2.records.get("meetings").cloned().unwrap_or_default();
    assert!(
        by_key(&sent) == by_key(&booked_since),
        "only the meetings booked since: {:?}",
        ids_of(&sent, "meetingId")
    );
}

/// A tap whose stdout nobody reads, blocked once the pipe is full.
struct Blocked {
    /// The tap, its stdout unread.
    child: std::process::Child,
    /// Its stderr, collected by a thread until it ends.
    stderr: std::thread::JoinHandle<String>,
    /// What it runs against, kept until the test ends.
    _emu: drift_emulator::Emulator,
    _dir: TempDir,
}

async fn a_blocked_tap(name: &str) -> Blocked {
    let emu = emulator(Dataset {
        seed: 4,
        users: 5,
        accounts: 20,
        conversations: 3_000,
        ..Dataset::default()
    })
    .await;
    let dir = TempDir::new(name);
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let mut child = spawn_tap(&cfg, std::process::Stdio::piped());
    let mut err = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
        text
    });
    // the output is megabytes: once the pipe is full the sync stops asking Drift for more
    let (mut served, mut still) = (0, 0);
    while still < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = emu.requests().len();
        still = if now == served && now > 0 {
            still + 1
        } else {
            0
        };
        served = now;
        if child.try_wait().expect("try_wait").is_some() {
            panic!("the tap ended before its stdout filled");
        }
    }
    Blocked {
        child,
        stderr,
        _emu: emu,
        _dir: dir,
    }
}

fn sigterm(child: &std::process::Child) {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
}

/// The one line saying what a stop left on stdout.
fn stop_line(err: &str) -> String {
    let lines = warnings(err, "SIGTERM received");
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

#[tokio::test]
async fn a_stop_while_stdout_is_blocked_finishes_the_line_once_the_pipe_takes_it() {
    let Blocked {
        mut child,
        stderr,
        _emu,
        _dir,
    } = a_blocked_tap("stop-blocked-read").await;
    sigterm(&child);
    // the target reads again: everything the tap still writes comes out
    let (status, out) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut stdout = child.stdout.take().expect("stdout");
        std::io::Read::read_to_end(&mut stdout, &mut out).expect("read");
        (child.wait().expect("wait"), out)
    })
    .await
    .expect("join");
    let err = stderr.join().expect("stderr");
    assert_eq!(status.code(), Some(143), "{err}");
    let out = String::from_utf8(out).expect("UTF-8");
    assert!(out.ends_with('\n'), "the output ends with a whole line");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let said = stop_line(&err);
    if said.contains("the last STATE was written") {
        assert_eq!(lines.last().expect("lines")["type"], "STATE", "{said}");
    } else {
        assert!(said.contains("no last STATE was written"), "{said}");
    }
}

#[tokio::test]
async fn a_stop_while_stdout_stays_blocked_says_no_state_and_where_the_bytes_end() {
    let Blocked {
        mut child,
        stderr,
        _emu,
        _dir,
    } = a_blocked_tap("stop-blocked-unread").await;
    sigterm(&child);
    // the target never reads again before the tap is gone
    let status = tokio::task::spawn_blocking({
        let mut stdout = child.stdout.take().expect("stdout");
        move || {
            let status = child.wait().expect("wait");
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut stdout, &mut out).expect("read");
            (status, out)
        }
    })
    .await
    .expect("join");
    let (status, out) = status;
    let err = stderr.join().expect("stderr");
    assert_eq!(status.code(), Some(143), "{err}");
    let said = stop_line(&err);
    assert!(
        said.contains("no last STATE was written") && said.contains("stdout is blocked"),
        "{said}"
    );
    let out = String::from_utf8_lossy(&out).into_owned();
    let whole = out.ends_with('\n');
    assert_eq!(
        said.contains("in the middle of a line"),
        !whole,
        "{said}; the output ends with {:?}",
        &out[out.len().saturating_sub(80)..]
    );
    let lines: Vec<&str> = out.lines().collect();
    let complete = if whole { lines.len() } else { lines.len() - 1 };
    for line in &lines[..complete] {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}
