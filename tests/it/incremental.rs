//! Incremental sync: bookmarks, changed and added records, interruption, foreign state.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use drift_emulator::{Dataset, Emulator, EPOCH_END_MS};
use serde_json::{json, Value};

use crate::support::*;

/// The top-level streams incremental by default and their replication keys, from the tap's stream
/// table (but the booked meetings, which lie around the emulator's own now and are not changed
/// here, and the conversation metrics, which follow the conversations and are checked with them).
fn incremental_streams() -> Vec<(&'static str, &'static str)> {
    tap_drift::streams::STREAMS
        .iter()
        .filter(|s| s.parent.is_none() && s.incremental_by_default)
        .filter(|s| !matches!(s.name, "meetings" | "conversation_metrics"))
        .filter_map(|s| Some((s.name, s.replication_key?)))
        .collect()
}

fn keyset(v: &[Value]) -> BTreeSet<String> {
    v.iter().map(Value::to_string).collect()
}

/// Run 2 emitted exactly the changed and added records of each top-level stream, with their new
/// values, and moved every bookmark forward.
fn assert_exactly_the_changes(emu: &Emulator, run2: &Synced, state1: &Value, at: i64) {
    for (stream, key) in incremental_streams() {
        let expected = keyset(&emu.changed_since(stream, at));
        assert_eq!(
            keyset(&run2.keys(stream)),
            expected,
            "{stream}: exactly the changed and added records"
        );
        let bm1 = state1["bookmarks"][stream]["replication_key_value"]
            .as_i64()
            .expect("bm1");
        let bm2 = run2.last_state()["bookmarks"][stream]["replication_key_value"]
            .as_i64()
            .expect("bm2");
        assert!(bm2 > bm1, "{stream}: the bookmark moved forward");
        assert!(run2.records[stream]
            .iter()
            .all(|r| r[key].as_i64() >= Some(bm1)));
        // changed values arrived
        let want = truth(emu, stream);
        for r in &run2.records[stream] {
            let k = &run2.schemas[stream]["key_properties"][0];
            let t = want
                .iter()
                .find(|t| t[k.as_str().expect("k")] == r[k.as_str().expect("k")])
                .expect("in truth");
            assert_eq!(r, t);
        }
    }
}

/// Run 2's children: exactly the messages of the changed conversations (read for those only) and
/// the contacts they reference.
fn assert_children_of_the_changes(emu: &Emulator, run2: &Synced, served: &[String], at: i64) {
    let changed: BTreeSet<String> = keyset(&emu.changed_since("conversations", at));
    let expected_messages: BTreeSet<String> = emu
        .records("messages")
        .iter()
        .filter(|m| changed.contains(&m["conversationId"].to_string()))
        .map(|m| m["id"].to_string())
        .collect();
    assert_eq!(keyset(&run2.keys("messages")), expected_messages);
    let fetched_for = messages_read_for(served);
    assert_eq!(
        fetched_for, changed,
        "messages read only for the changed conversations"
    );
    // contacts: those the changed conversations reference (and that exist)
    let referenced: BTreeSet<String> = emu
        .records("conversations")
        .iter()
        .filter(|c| changed.contains(&c["id"].to_string()))
        .map(|c| c["contactId"].to_string())
        .collect();
    let existing: BTreeSet<String> = keyset(
        &emu.records("contacts")
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        keyset(&run2.keys("contacts")),
        referenced.intersection(&existing).cloned().collect()
    );
}

#[tokio::test]
async fn changed_and_added_records_come_once_then_nothing() {
    let dir = TempDir::new("kplusm");
    let data = small();
    let emu = emulator(data.clone()).await;
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let run1 = check_output(&tap(args(&[&"--config", &cfg])).await);
    let state1 = run1.last_state();

    // mutate K and add M in every stream, at a time after the dataset (and before now)
    let at = EPOCH_END_MS + 86_400_000;
    emu.touch("conversations", &[0, 17, 90, 136], at);
    emu.add("conversations", 3, at + 5);
    emu.touch("accounts", &[2, 40], at);
    emu.add("accounts", 2, at);
    emu.touch("users", &[1], at);
    emu.add("users", 1, at);

    let before = emu.requests().len();
    let s1 = dir.json("state1.json", &state1);
    let out = tap(args(&[&"--config", &cfg, &"--state", &s1])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let run2 = check_output(&out);
    assert_eq!(
        run2.states()[0],
        &state1,
        "the input state is emitted first"
    );
    assert_exactly_the_changes(&emu, &run2, &state1, at);
    // conversations: the newest-first list is read only down to the bookmark, and only the changed
    // conversations are completed
    let served = emu.requests()[before..].to_vec();
    assert_eq!(
        served
            .iter()
            .filter(|r| r.starts_with("/conversations/list"))
            .count(),
        1,
        "{served:?}"
    );
    assert_eq!(
        served
            .iter()
            .filter(|r| r.starts_with("/conversations/3") && !r.contains("/messages"))
            .count(),
        7,
        "{served:?}"
    );
    assert_children_of_the_changes(&emu, &run2, &served, at);
    // the conversations' metrics: those of the changed conversations, from one report
    assert_eq!(
        keyset(&run2.keys("conversation_metrics")),
        keyset(&emu.changed_since("conversations", at))
    );
    assert_eq!(
        served
            .iter()
            .filter(|r| r.starts_with("/reports/conversations"))
            .count(),
        1
    );

    // run 3, no changes: no records at all, same bookmarks
    let s2 = dir.json("state2.json", &run2.last_state());
    let out = tap(args(&[&"--config", &cfg, &"--state", &s2])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let run3 = check_output(&out);
    let whole = read_whole_by_default();
    assert!(
        run3.records.keys().all(|s| whole.contains(&s.as_str())),
        "run 3 emitted {:?}",
        run3.records.keys()
    );
    for stream in whole {
        assert_eq!(
            run3.keys(stream).len(),
            emu.records(stream).len(),
            "{stream} read whole"
        );
    }
    assert_eq!(run3.last_state(), run2.last_state());
}

#[tokio::test]
async fn full_table_from_the_catalog_ignores_bookmarks() {
    let dir = TempDir::new("fulltable");
    let data = small();
    let emu = emulator(data.clone()).await;
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let run1 = check_output(&tap(args(&[&"--config", &cfg])).await);
    let state = dir.json("state.json", &run1.last_state());
    let catalog = dir.json(
        "catalog.json",
        &json!({"streams": [{"tap_stream_id": "users", "metadata": [
        {"breadcrumb": [], "metadata": {"selected": true, "replication-method": "FULL_TABLE"}}]}]}),
    );
    let out = tap(args(&[
        &"--config",
        &cfg,
        &"--catalog",
        &catalog,
        &"--state",
        &state,
    ]))
    .await;
    let run2 = check_output(&out);
    assert_eq!(run2.keys("users").len(), data.users as usize);
    assert!(run2.schemas["users"].get("bookmark_properties").is_none());
    // other streams' bookmarks are carried forward untouched
    assert_eq!(run2.last_state(), run1.last_state());
}

#[tokio::test]
async fn meltano_sdk_state_is_accepted() {
    let dir = TempDir::new("sdkstate");
    let data = small();
    let emu = emulator(data.clone()).await;
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let cutoff = EPOCH_END_MS - 200 * 86_400_000;
    let sdk_state = json!({"bookmarks": {
        "conversations": {"replication_key_signpost": "2026-11-23T23:55:43.957000+00:00", "starting_replication_value": null,
            "replication_key": "updatedAt", "replication_key_value": cutoff,
            "progress_markers": {"Note": "Progress is not resumable if interrupted.", "replication_key": "updatedAt", "replication_key_value": cutoff + 5}},
        "contacts": {}, "tickets": {"partitions": [{"context": {"conversation_id": 42}, "replication_key": "createdAt", "replication_key_value": 1}]}
    }, "currently_syncing": null});
    let state = dir.json("state.json", &sdk_state);
    let out = tap(args(&[&"--config", &cfg, &"--state", &state])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert_eq!(
        keyset(&synced.keys("conversations")),
        keyset(&emu.changed_since("conversations", cutoff))
    );
    let last = synced.last_state();
    // a stream tap-drift does not have: named in a warning, and not carried forward
    assert!(
        last["bookmarks"].get("tickets").is_none(),
        "unknown streams dropped"
    );
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.starts_with("WARN") && l.contains("does not have (found: tickets)")),
        "{}",
        stderr(&out)
    );
    assert_eq!(last["currently_syncing"], Value::Null);
    assert!(
        last["bookmarks"]["conversations"]
            .get("progress_markers")
            .is_none(),
        "leftovers dropped when the stream finishes"
    );
}

/// Runs the tap on `config` and SIGKILLs it after `conversations` conversation records: the lines
/// it wrote, and whether it was killed.
async fn run_until_killed(config: std::path::PathBuf, conversations: usize) -> (Vec<String>, bool) {
    tokio::task::spawn_blocking(move || {
        let mut child = spawn_tap(&config, Stdio::null());
        let reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut lines = Vec::new();
        let mut seen = 0;
        for line in reader.lines() {
            let line = line.expect("line");
            if line.contains(r#""type":"RECORD","stream":"conversations""#) {
                seen += 1;
            }
            lines.push(line);
            if seen == conversations {
                child.kill().expect("SIGKILL");
                break;
            }
        }
        let status = child.wait().expect("wait");
        (lines, !status.success())
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn killed_run_resumes_from_its_last_state_without_loss() {
    let dir = TempDir::new("kill");
    let data = Dataset {
        seed: 21,
        users: 5,
        accounts: 30,
        conversations: 3_000,
        ..Dataset::default()
    };
    let emu = emulator(data.clone()).await;
    // slow enough (about 2 ms a request) to be killed mid-stream
    let cfg = dir.json(
        "config.json",
        &config_for(
            &emu,
            json!({"requests_per_minute": 30_000, "page_size": 50}),
        ),
    );
    let (lines, killed) = run_until_killed(cfg.clone(), 600).await;
    assert!(killed, "the first run was killed mid-stream");
    let run1: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let last_state = run1
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .map(|m| m["value"].clone())
        .expect("a STATE before the kill");
    let state = dir.json("state.json", &last_state);
    let fast = dir.json("fast.json", &config_for(&emu, json!({"page_size": 50})));
    let out = tap(args(&[&"--config", &fast, &"--state", &state])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let run2 = check_output(&out);
    for (stream, _) in incremental_streams() {
        let mut union: BTreeSet<String> = run1
            .iter()
            .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
            .map(|m| {
                m["record"][run2.schemas[stream]["key_properties"][0]
                    .as_str()
                    .expect("k")]
                .to_string()
            })
            .collect();
        union.extend(keyset(&run2.keys(stream)));
        let truth: Vec<Value> = emu
            .records(stream)
            .iter()
            .map(|r| {
                r[run2.schemas[stream]["key_properties"][0]
                    .as_str()
                    .expect("k")]
                .clone()
            })
            .collect();
        assert_eq!(
            union,
            keyset(&truth),
            "{stream}: every record in the union of both runs"
        );
        let before = last_state["bookmarks"][stream]["replication_key_value"].as_i64();
        let after = run2.last_state()["bookmarks"][stream]["replication_key_value"].as_i64();
        assert!(
            after >= before,
            "{stream}: bookmark never goes back ({before:?} → {after:?})"
        );
    }
}

/// Every stream incremental by default, children included, and its replication key.
fn keyed_streams() -> Vec<(&'static str, &'static str)> {
    tap_drift::streams::STREAMS
        .iter()
        .filter(|s| s.incremental_by_default)
        .filter_map(|s| Some((s.name, s.replication_key?)))
        .collect()
}

fn value_of(record: &Value, rk: &str) -> i64 {
    record[rk]
        .as_i64()
        .unwrap_or_else(|| panic!("{rk} of {record}"))
}

#[tokio::test]
async fn end_date_bounds_every_keyed_stream_and_its_bookmark_and_the_schedule_takes_over_after() {
    let emu = emulator(small()).await;
    // conversations (and what follows them) lie in the past; booked meetings around now
    let mut split = BTreeSet::new();
    for (pivot, rk) in [("conversations", "updatedAt"), ("meetings", "slotStart")] {
        let mut values: Vec<i64> = truth(&emu, pivot).iter().map(|r| value_of(r, rk)).collect();
        values.sort_unstable();
        split.extend(backfill_then_schedule(&emu, values[values.len() / 2]).await);
    }
    for (stream, _) in keyed_streams() {
        assert!(
            split.contains(stream),
            "{stream}: some end_date split its records"
        );
    }
}

/// A backfill up to `end`, then the regular schedule from its state: the first emits exactly the
/// records up to `end` and no bookmark passes it; the second emits every record after it. Returns
/// the streams with records on both sides.
async fn backfill_then_schedule(emu: &Emulator, end: i64) -> Vec<&'static str> {
    let dir = TempDir::new(&format!("end-date-{end}"));
    let end_text = tap_drift::time::ms_to_rfc3339(end).expect("ms");
    let cfg = dir.json(
        "backfill.json",
        &config_for(emu, json!({"end_date": end_text})),
    );
    let backfill = check_output(&tap(args(&[&"--config", &cfg])).await);
    let state = backfill.last_state();
    let st = dir.json("state.json", &state);
    let cfg = dir.json("schedule.json", &config_for(emu, json!({})));
    let rest = check_output(&tap(args(&[&"--config", &cfg, &"--state", &st])).await);
    let mut split = Vec::new();
    for (stream, rk) in keyed_streams() {
        let (before, after): (Vec<Value>, Vec<Value>) = truth(emu, stream)
            .into_iter()
            .partition(|r| value_of(r, rk) <= end);
        let keys = |rs: &[Value]| -> BTreeSet<String> {
            rs.iter().map(|r| r[key_of(stream)].to_string()).collect()
        };
        assert_eq!(
            keyset(&backfill.keys(stream)),
            keys(&before),
            "{stream}: up to end_date"
        );
        let mark = &state["bookmarks"][stream]["replication_key_value"];
        assert!(
            mark.is_null() || mark.as_i64().is_some_and(|m| m <= end),
            "{stream}: {mark}"
        );
        assert!(
            keyset(&rest.keys(stream)).is_superset(&keys(&after)),
            "{stream}: the rest"
        );
        if !before.is_empty() && !after.is_empty() {
            split.push(stream);
        }
    }
    split
}
