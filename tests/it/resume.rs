//! Requests are what a user pays: a first sync killed several times resumes from its last STATE
//! without paying for its detail and messages requests again, and a detail request is spent only
//! when a field it adds is selected. Asserted on the emulator's request log.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use drift_emulator::{Dataset, Emulator};
use serde_json::{json, Value};

use crate::support::*;

fn data() -> Dataset {
    Dataset {
        seed: 21,
        users: 5,
        accounts: 30,
        conversations: 3_000,
        ..Dataset::default()
    }
}

/// Contact requests in a request log (not the one list of contact attributes).
fn contacts(log: &[String]) -> usize {
    log.iter()
        .filter(|r| r.starts_with("/contacts/") && !r.starts_with("/contacts/attributes"))
        .count()
}

/// Detail requests (`/conversations/{id}`) and messages requests in a request log.
fn costly(log: &[String]) -> (usize, usize) {
    let detail = log
        .iter()
        .filter(|r| {
            r.strip_prefix("/conversations/")
                .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    let messages = log.iter().filter(|r| r.contains("/messages")).count();
    (detail, messages)
}

/// Runs the tap (from `state`, if any) and SIGKILLs it once it has written `kill_after`
/// conversation records (never, if `None`); then reads what it wrote to the end, as a target would.
async fn run(cfg: PathBuf, state: Option<PathBuf>, kill_after: Option<usize>) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tap-drift"));
        command.arg("--config").arg(&cfg);
        if let Some(s) = &state {
            command.arg("--state").arg(s);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tap starts");
        let reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut messages = Vec::new();
        let mut conversations = 0;
        for line in reader.lines() {
            let line = line.expect("line");
            if line.contains(r#""type":"RECORD","stream":"conversations""#) {
                conversations += 1;
                if Some(conversations) == kill_after {
                    child.kill().expect("SIGKILL");
                }
            }
            // a line cut by the kill is not a message: the target drops it
            if let Ok(m) = serde_json::from_str::<Value>(&line) {
                messages.push(m);
            }
        }
        child.wait().expect("wait");
        messages
    })
    .await
    .expect("join")
}

fn keys(messages: &[Value], stream: &str, key: &str) -> BTreeSet<String> {
    messages
        .iter()
        .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
        .map(|m| m["record"][key].to_string())
        .collect()
}

fn truth(emu: &Emulator, stream: &str, key: &str) -> BTreeSet<String> {
    emu.records(stream)
        .iter()
        .map(|r| r[key].to_string())
        .collect()
}

#[tokio::test]
async fn a_first_sync_killed_three_times_pays_only_list_pages_again() {
    const PAGE: usize = 50;
    let settings = json!({"page_size": PAGE, "requests_per_minute": 30_000});
    // an uninterrupted first sync of the same account, for the cost to compare with
    let whole = emulator(data()).await;
    let dir = TempDir::new("resume");
    let cfg = dir.json("whole.json", &config_for(&whole, settings.clone()));
    run(cfg, None, None).await;
    let (whole_detail, whole_messages) = costly(&whole.requests());

    let emu = emulator(data()).await;
    let cfg = dir.json("config.json", &config_for(&emu, settings));
    let (mut all, mut state) = (Vec::new(), None);
    for (i, kill_after) in [Some(700), Some(800), Some(900), None]
        .into_iter()
        .enumerate()
    {
        let messages = run(cfg.clone(), state.clone(), kill_after).await;
        let last = messages
            .iter()
            .rev()
            .find(|m| m["type"] == "STATE")
            .map(|m| m["value"].clone())
            .expect("a STATE");
        if kill_after.is_some() {
            assert!(
                last["bookmarks"]["conversations"]["pass"].is_object(),
                "run {i}: the STATE says how far the pass got: {last}"
            );
        }
        state = Some(dir.json(&format!("state{i}.json"), &last));
        all.extend(messages);
    }
    for (stream, key) in [
        ("conversations", "id"),
        ("messages", "id"),
        ("contacts", "id"),
        ("accounts", "accountId"),
        ("users", "id"),
    ] {
        assert_eq!(
            keys(&all, stream, key),
            truth(&emu, stream, key),
            "{stream}: every record across the runs"
        );
    }
    let (detail, messages) = costly(&emu.requests());
    // what was in flight at each kill: at most two pages of parents (the one being written and the
    // one fetched ahead of it), each a detail and a messages request
    assert!(
        detail <= whole_detail + 3 * 2 * PAGE,
        "{detail} detail requests, {whole_detail} uninterrupted"
    );
    let (fetched, whole_fetched) = (contacts(&emu.requests()), contacts(&whole.requests()));
    assert!(
        fetched <= whole_fetched + 3 * 2 * PAGE,
        "{fetched} contact requests, {whole_fetched} uninterrupted"
    );
    assert!(
        messages <= whole_messages + 3 * 2 * PAGE,
        "{messages} messages requests, {whole_messages} uninterrupted"
    );
    let final_state = all
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .expect("state");
    assert!(
        final_state["value"]["bookmarks"]["conversations"]
            .get("pass")
            .is_none(),
        "the pass finished"
    );
}

#[tokio::test]
async fn without_the_detail_fields_no_detail_request_is_spent() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("no-detail");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let mut catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.json"))
            .expect("catalog"),
    )
    .expect("json");
    for entry in catalog["streams"].as_array_mut().expect("streams") {
        let conversations = entry["stream"] == "conversations";
        for md in entry["metadata"].as_array_mut().expect("md") {
            if md["breadcrumb"] == json!([]) {
                md["metadata"]["selected"] = json!(conversations);
            }
            let detail = ["participants", "conversationTags", "relatedPlaybookId"]
                .iter()
                .any(|f| md["breadcrumb"] == json!(["properties", f]));
            if conversations && detail {
                md["metadata"]["selected"] = json!(false);
            }
        }
    }
    let cat = dir.json("catalog.json", &catalog);
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert_eq!(
        synced.keys("conversations").len(),
        small().conversations as usize
    );
    assert_eq!(costly(&emu.requests()).0, 0, "no GET /conversations/{{id}}");
    assert!(synced.records["conversations"]
        .iter()
        .all(|c| c.get("participants").is_none()));
}
