//! `source-drift`, the Airbyte source: spec, check, discover and read against the emulator, checked
//! against its data and request log; a read's state fed to the next gives an incremental read, in
//! the protocol's STREAM, GLOBAL and LEGACY shapes; failures end in a TRACE ERROR with the right
//! failure type. Everything is on stdout, as Airbyte reads nothing else. (CI also validates these
//! messages with Airbyte's own protocol models and runs PyAirbyte on them.)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use drift_emulator::{Emulator, Options, EPOCH_END_MS};
use serde_json::{json, Value};

use crate::support::*;

/// The messages and exit status of one `source-drift` command.
pub(crate) struct Run {
    pub(crate) messages: Vec<Value>,
    pub(crate) ok: bool,
}

impl Run {
    pub(crate) fn of(&self, kind: &str) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == kind).collect()
    }

    pub(crate) fn records(&self, stream: &str) -> Vec<&Value> {
        self.of("RECORD")
            .into_iter()
            .filter(|m| m["record"]["stream"] == stream)
            .map(|m| &m["record"]["data"])
            .collect()
    }

    /// Each stream's last STATE, as Airbyte keeps them for the next read.
    fn kept_states(&self) -> Value {
        let mut last: Vec<(String, Value)> = Vec::new();
        for s in self.of("STATE") {
            let name = s["state"]["stream"]["stream_descriptor"]["name"]
                .as_str()
                .expect("a name")
                .to_string();
            last.retain(|(n, _)| *n != name);
            last.push((name, s["state"].clone()));
        }
        Value::Array(last.into_iter().map(|(_, s)| s).collect())
    }

    /// A stream's statuses in order.
    pub(crate) fn statuses(&self, stream: &str) -> Vec<String> {
        self.of("TRACE")
            .into_iter()
            .filter(|t| t["trace"]["type"] == "STREAM_STATUS")
            .filter(|t| t["trace"]["stream_status"]["stream_descriptor"]["name"] == stream)
            .map(|t| {
                t["trace"]["stream_status"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }
}

pub(crate) async fn source(args: Vec<String>) -> Run {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_source-drift"))
            .args(&args)
            .env_remove("TAP_DRIFT_LOGLEVEL")
            .env_remove("LOGLEVEL")
            .output()
            .expect("source-drift runs")
    })
    .await
    .expect("join");
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", stderr(&out));
    keep_for_ci(&out.stdout);
    let messages = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect::<Vec<Value>>();
    for m in &messages {
        let known = [
            "SPEC",
            "CONNECTION_STATUS",
            "CATALOG",
            "RECORD",
            "STATE",
            "LOG",
            "TRACE",
        ];
        assert!(
            known.contains(&m["type"].as_str().unwrap_or_default()),
            "{m}"
        );
    }
    Run {
        messages,
        ok: out.status.success(),
    }
}

/// With `SOURCE_DRIFT_MESSAGES_DIR` set, each command's messages are saved there as one file, for
/// CI to validate them with Airbyte's protocol models (the emulator's faults reach no sandbox).
fn keep_for_ci(stdout: &[u8]) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let Some(dir) = std::env::var_os("SOURCE_DRIFT_MESSAGES_DIR") else {
        return;
    };
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = Path::new(&dir).join(format!("run-{}-{n}.jsonl", std::process::id()));
    std::fs::write(&path, stdout).expect("the messages directory takes the file");
}

/// `read` with a config, a configured catalog and maybe a state.
pub(crate) async fn read(config: &Path, catalog: &Path, state: Option<&Path>) -> Run {
    let mut argv = args(&[&"read", &"--config", &config, &"--catalog", &catalog]);
    if let Some(state) = state {
        argv.extend(args(&[&"--state", &state]));
    }
    source(argv).await
}

/// A configured catalog of every discovered stream: incremental where it can be, and `users`
/// limited to a few fields.
pub(crate) fn configured(catalog: &Value) -> Value {
    let streams: Vec<Value> = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if s["name"] == "users" {
                s["json_schema"]["properties"] = json!({"id": {}, "email": {}});
            }
            let incremental = s["supported_sync_modes"].as_array().is_some_and(|m| m.contains(&json!("incremental")));
            json!({"stream": s, "sync_mode": if incremental { "incremental" } else { "full_refresh" },
                "cursor_field": s.get("default_cursor_field").cloned().unwrap_or(json!([])),
                "destination_sync_mode": if incremental { "append_dedup" } else { "overwrite" }})
        })
        .collect();
    json!({"streams": streams})
}

fn key_set<'a>(records: impl IntoIterator<Item = &'a Value>, key: &str) -> BTreeSet<String> {
    records.into_iter().map(|r| r[key].to_string()).collect()
}

pub(crate) async fn discover(cfg: &Path) -> Value {
    let run = source(args(&[&"discover", &"--config", &cfg])).await;
    assert!(run.ok);
    run.of("CATALOG")[0]["catalog"].clone()
}

#[tokio::test]
async fn spec_check_and_discover() {
    let run = source(args(&[&"spec"])).await;
    assert!(run.ok);
    let spec = &run.of("SPEC")[0]["spec"]["connectionSpecification"];
    for s in tap_drift::config::SETTINGS {
        assert!(
            spec["properties"][s.name].is_object(),
            "{} in the spec",
            s.name
        );
    }
    for secret in ["access_token", "client_secret", "refresh_token"] {
        assert_eq!(
            spec["properties"][secret]["airbyte_secret"], true,
            "{secret}"
        );
    }

    let emu = emulator(small()).await;
    let dir = TempDir::new("airbyte-check");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let run = source(args(&[&"check", &"--config", &cfg])).await;
    let status = &run.of("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "SUCCEEDED", "{status}");
    let bad = dir.json(
        "bad.json",
        &config_for(&emu, json!({"access_token": "wrong-token-123"})),
    );
    let run = source(args(&[&"check", &"--config", &bad])).await;
    let status = &run.of("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED");
    assert!(
        !status.to_string().contains("wrong-token-123"),
        "no secret: {status}"
    );

    let catalog = discover(&cfg).await;
    let streams = catalog["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), all_streams().len());
    for def in tap_drift::streams::STREAMS {
        let s = streams
            .iter()
            .find(|s| s["name"] == def.name)
            .expect("discovered");
        assert_eq!(s["source_defined_primary_key"], json!([[def.key]]));
        match def.replication_key {
            Some(rk) => {
                assert_eq!(s["default_cursor_field"], json!([rk]));
                assert_eq!(s["source_defined_cursor"], true);
                assert_eq!(
                    s["supported_sync_modes"],
                    json!(["full_refresh", "incremental"])
                );
            }
            None => assert_eq!(s["supported_sync_modes"], json!(["full_refresh"])),
        }
        assert_eq!(
            s["is_resumable"],
            def.replication_key.is_some(),
            "{}",
            def.name
        );
    }
}

#[tokio::test]
async fn a_token_without_some_scopes_checks_as_partial() {
    let options = Options {
        scopes: Some(vec!["conversation_read".into(), "user_read".into()]),
        token_info: true,
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options).await;
    let dir = TempDir::new("airbyte-scopes");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let run = source(args(&[&"check", &"--config", &cfg])).await;
    let status = &run.of("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "SUCCEEDED");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cannot read accounts") && message.contains("account_read"),
        "{message}"
    );
}

/// Reads everything, then (after K changes) again from the states Airbyte kept: exactly the changes.
async fn read_twice(name: &str, state_shape: fn(&Value) -> Value) {
    let emu = emulator(small()).await;
    let dir = TempDir::new(name);
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let catalog = dir.json("catalog.json", &configured(&discover(&cfg).await));
    let run1 = read(&cfg, &catalog, None).await;
    assert!(run1.ok);
    for stream in all_streams() {
        let key = key_of(stream);
        let got = run1.records(stream);
        assert_eq!(
            key_set(got.iter().copied(), key),
            key_set(&truth(&emu, stream), key),
            "{stream}"
        );
        assert_eq!(
            got.len(),
            truth(&emu, stream).len(),
            "{stream}: each record once"
        );
        let statuses = run1.statuses(stream);
        assert_eq!(
            statuses.first().map(String::as_str),
            Some("STARTED"),
            "{stream}"
        );
        assert_eq!(
            statuses.last().map(String::as_str),
            Some("COMPLETE"),
            "{stream}"
        );
    }
    // `users` has only the fields its configured schema lists
    let user = run1.records("users")[0].as_object().expect("an object");
    let fields: BTreeSet<&str> = user.keys().map(String::as_str).collect();
    assert_eq!(fields, BTreeSet::from(["email", "id", "updatedAt"]));
    assert!(run1
        .of("RECORD")
        .iter()
        .all(|r| r["record"]["emitted_at"].is_i64()));

    let at = EPOCH_END_MS + 86_400_000;
    emu.touch("conversations", &[3, 50], at);
    emu.touch("users", &[1], at);
    let state = dir.json("state.json", &state_shape(&run1.kept_states()));
    let before = emu.requests().len();
    let run2 = read(&cfg, &catalog, Some(&state)).await;
    assert!(run2.ok);
    for stream in ["conversations", "users"] {
        let key = key_of(stream);
        let changed: BTreeSet<String> = emu
            .changed_since(stream, at)
            .iter()
            .map(Value::to_string)
            .collect();
        assert_eq!(
            key_set(run2.records(stream), key),
            changed,
            "{stream}: exactly the changes"
        );
    }
    assert!(
        run2.records("accounts").is_empty(),
        "nothing changed in accounts"
    );
    assert_incremental_requests(&emu, before, at);
}

/// The second read asked Drift for the messages of the changed conversations only.
fn assert_incremental_requests(emu: &Emulator, before: usize, at: i64) {
    let served = emu.requests()[before..].to_vec();
    let read_for = messages_read_for(&served);
    let changed: BTreeSet<String> = emu
        .changed_since("conversations", at)
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(
        read_for, changed,
        "messages read for the changed conversations only"
    );
}

#[tokio::test]
async fn a_reads_stream_states_give_the_next_an_incremental_read() {
    read_twice("airbyte-stream-state", Value::clone).await;
}

#[tokio::test]
async fn global_and_legacy_states_are_read_too() {
    read_twice("airbyte-global-state", |states| {
        let stream_states: Vec<Value> = states
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| s["stream"].clone())
            .collect();
        json!({"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": stream_states}})
    })
    .await;
    read_twice("airbyte-legacy-state", |states| {
        let mut bookmarks = serde_json::Map::new();
        for s in states.as_array().expect("a list") {
            let name = s["stream"]["stream_descriptor"]["name"]
                .as_str()
                .expect("a name");
            bookmarks.insert(name.into(), s["stream"]["stream_state"].clone());
        }
        json!({"type": "LEGACY", "data": {"bookmarks": bookmarks}})
    })
    .await;
}

#[tokio::test]
async fn failures_end_in_a_trace_error_with_their_failure_type() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("airbyte-errors");
    let catalog = dir.json("catalog.json", &json!({"streams": []}));
    let cases = [
        (
            json!({"api_url": emu.base_url}),
            "config_error",
            "access_token",
        ),
        (
            config_for(&emu, json!({"access_token": "wrong-token-123"})),
            "config_error",
            "rejected",
        ),
        (
            config_for(&emu, json!({"page_size": "many"})),
            "config_error",
            "page_size",
        ),
    ];
    for (i, (config, failure_type, says)) in cases.into_iter().enumerate() {
        let cfg = dir.json(&format!("config{i}.json"), &config);
        let full = dir.json(
            "full.json",
            &configured(&discover(&dir.json("ok.json", &config_for(&emu, json!({})))).await),
        );
        let run = read(&cfg, if i == 1 { &full } else { &catalog }, None).await;
        assert!(!run.ok, "case {i} fails");
        let errors = run.of("TRACE");
        let error = errors
            .iter()
            .find(|t| t["trace"]["type"] == "ERROR")
            .expect("a TRACE ERROR");
        assert_eq!(
            error["trace"]["error"]["failure_type"], failure_type,
            "case {i}"
        );
        assert!(error.to_string().contains(says), "case {i}: {error}");
        assert!(!error.to_string().contains("wrong-token-123"));
    }
    let bad_state = dir.json("state.json", &json!({"type": "STREAM"}));
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let run = read(&cfg, &catalog, Some(&bad_state)).await;
    let error = run
        .of("TRACE")
        .into_iter()
        .find(|t| t["trace"]["type"] == "ERROR")
        .expect("a TRACE ERROR")
        .clone();
    assert!(error.to_string().contains("stream_descriptor"), "{error}");
}

#[tokio::test]
async fn scopes_unknown_read_everything_and_no_readable_stream_fails_the_read() {
    // token_info names its scopes in words Drift does not use: every stream is read
    let options = Options {
        token_info_scope: Some("read write".into()),
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options).await;
    let dir = TempDir::new("airbyte-scopes-unknown");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let catalog = dir.json("catalog.json", &configured(&discover(&cfg).await));
    let run = read(&cfg, &catalog, None).await;
    assert!(run.ok);
    for stream in all_streams() {
        let key = key_of(stream);
        let got = key_set(run.records(stream), key);
        assert_eq!(got, key_set(&truth(&emu, stream), key), "{stream}");
    }

    // a token that may read none of them: the read fails, as a config error, and check says so
    let options = Options {
        scopes: Some(vec!["conversation_write".into()]),
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options).await;
    let cfg = dir.json("config2.json", &config_for(&emu, json!({})));
    let run = read(&cfg, &catalog, None).await;
    assert!(!run.ok);
    assert!(run.of("RECORD").is_empty());
    let error = &run.of("TRACE").last().expect("a TRACE ERROR")["trace"]["error"];
    assert_eq!(error["failure_type"], "config_error", "{error}");
    let says = error["message"].as_str().unwrap_or_default();
    assert!(says.contains("no selected stream could be read"), "{says}");
    let run = source(args(&[&"check", &"--config", &cfg])).await;
    let status = &run.of("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED", "{status}");
}

#[tokio::test]
async fn a_field_the_catalog_lacks_is_carried_by_the_records() {
    let options = Options {
        variants: drift_emulator::Variants {
            unknown_fields: true,
            ..Default::default()
        },
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options.clone()).await;
    let dir = TempDir::new("airbyte-new-fields");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let discovered = discover(&cfg).await;
    let catalog = dir.json("catalog.json", &configured(&discovered));
    let run = read(&cfg, &catalog, None).await;
    assert!(run.ok);
    let conversations = run.records("conversations");
    assert_eq!(conversations.len(), truth(&emu, "conversations").len());
    assert!(conversations.iter().all(|r| r["priority"] == "high"));
    // discover sampled a record of each stream: the new fields are in the catalog, typed from
    // the emulator's values; with new_fields: drop they are not
    let new = [
        ("conversations", "priority"),
        ("users", "teamIds"),
        ("messages", "reactions"),
        ("accounts", "segment"),
    ];
    let declared = |catalog: &Value, stream: &str, field: &str| {
        let streams = catalog["streams"].as_array().expect("streams");
        let s = streams.iter().find(|s| s["name"] == stream).expect(stream);
        s["json_schema"]["properties"][field]["type"].clone()
    };
    for (stream, field) in new {
        let mut probe = json!({});
        options.variants.shape(stream, &mut probe);
        let kind = match &probe[field] {
            Value::String(_) => "string",
            Value::Array(_) => "array",
            other => panic!("the emulator adds {stream}.{field}: {other}"),
        };
        let want = json!([kind, "null"]);
        assert_eq!(
            declared(&discovered, stream, field),
            want,
            "{stream}.{field}"
        );
    }
    let dropping = dir.json(
        "drop.json",
        &config_for(&emu, json!({"new_fields": "drop"})),
    );
    let plain = discover(&dropping).await;
    for (stream, field) in new {
        assert!(
            declared(&plain, stream, field).is_null(),
            "{stream}.{field}"
        );
    }
}

#[tokio::test]
async fn a_state_file_not_there_yet_is_a_first_read_and_stray_stream_states_are_named() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("airbyte-state-shapes");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let catalog = dir.json("catalog.json", &configured(&discover(&cfg).await));
    let logs = |run: &Run, level: &str, needle: &str| -> Vec<String> {
        run.of("LOG")
            .into_iter()
            .filter(|l| l["log"]["level"] == level)
            .filter_map(|l| l["log"]["message"].as_str())
            .filter(|m| m.contains(needle))
            .map(String::from)
            .collect()
    };
    let whole = |run: &Run| {
        for stream in all_streams() {
            let key = key_of(stream);
            assert_eq!(
                key_set(run.records(stream), key),
                key_set(&truth(&emu, stream), key),
                "{stream}"
            );
        }
    };
    let missing = dir.0.join("state.json");
    let run = read(&cfg, &catalog, Some(&missing)).await;
    assert!(run.ok);
    assert_eq!(logs(&run, "INFO", "does not exist yet").len(), 1);
    whole(&run);

    let bm = json!({"replication_key": "updated_at", "replication_key_value": 5});
    let stray = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "tickets"}, "stream_state": bm}}]);
    let run = read(&cfg, &catalog, Some(&dir.json("stray.json", &stray))).await;
    assert!(run.ok);
    let said = logs(&run, "WARN", "tickets");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("does not have"), "{}", said[0]);
    whole(&run);
    assert!(run
        .of("STATE")
        .iter()
        .all(|s| !s.to_string().contains("tickets")));
}

#[tokio::test]
async fn the_pace_rides_in_every_stream_state_and_the_next_read_starts_from_it() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("airbyte-pace");
    let probing = json!({"requests_per_minute": null, "max_requests_per_minute": 3_000});
    let cfg = dir.json("config.json", &config_for(&emu, probing));
    let catalog = dir.json("catalog.json", &configured(&discover(&cfg).await));
    let run1 = read(&cfg, &catalog, None).await;
    assert!(run1.ok);
    let kept = run1.kept_states();
    let states = kept.as_array().expect("stream states");
    assert_eq!(states.len(), all_streams().len(), "one per stream read");
    for s in states {
        let pace = &s["stream"]["stream_state"]["pace"];
        assert_eq!(
            pace["requests_per_minute"], 3_000,
            "climbed to its cap: {s}"
        );
        assert_eq!(pace["limit_found"], false, "{s}");
    }
    let run2 = read(&cfg, &catalog, Some(&dir.json("state.json", &kept))).await;
    assert!(run2.ok);
    let started: Vec<&str> = run2
        .of("LOG")
        .into_iter()
        .filter_map(|l| l["log"]["message"].as_str())
        .filter(|m| m.contains("pace: starting a little below"))
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    let log = started[0];
    assert_eq!(
        crate::pace::logged(log, "pace", "remembered_per_minute"),
        Some(3_000)
    );
    assert_eq!(
        crate::pace::logged(log, "pace", "start_per_minute"),
        Some(2_700)
    );
    // the bookmarks came back without it: nothing changed in Drift, nothing read again
    assert!(run2.records("conversations").is_empty());
}

#[tokio::test]
async fn end_date_bounds_a_read_and_its_stream_states() {
    let emu = emulator(small()).await;
    let mut updated: Vec<i64> = truth(&emu, "conversations")
        .iter()
        .filter_map(|c| c["updatedAt"].as_i64())
        .collect();
    updated.sort_unstable();
    let end = updated[updated.len() / 3];
    let end_text = tap_drift::time::ms_to_rfc3339(end).expect("ms");
    let dir = TempDir::new("airbyte-end-date");
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"end_date": end_text})),
    );
    let catalog = dir.json("catalog.json", &configured(&discover(&cfg).await));
    let run = read(&cfg, &catalog, None).await;
    assert!(run.ok);
    let want = updated.iter().filter(|u| **u <= end).count();
    let got = run.records("conversations");
    assert_eq!(got.len(), want, "the conversations up to end_date");
    assert!(got.iter().all(|c| c["updatedAt"].as_i64() <= Some(end)));
    let marks: Vec<i64> = run
        .of("STATE")
        .iter()
        .map(|m| &m["state"]["stream"])
        .filter(|s| s["stream_descriptor"]["name"] == "conversations")
        .filter_map(|s| s["stream_state"]["replication_key_value"].as_i64())
        .collect();
    assert!(
        !marks.is_empty() && marks.iter().all(|m| *m <= end),
        "{marks:?}"
    );
}
