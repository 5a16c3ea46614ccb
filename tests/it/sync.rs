//! Syncs against the emulator: counts, ids and values equal the emulator's truth; selection;
//! pagination edge cases; bookmarks.

use drift_emulator::{Dataset, Emulator, Options, Variants};
use serde_json::{json, Value};

use crate::support::*;

/// Incremental streams end at the emulator's newest replication value; streams read whole keep no
/// bookmark and activate the version their records carry.
fn assert_bookmarks(emu: &Emulator, synced: &Synced) {
    let state = synced.last_state();
    for (stream, key) in [
        ("accounts", "updateDateTime"),
        ("conversations", "updatedAt"),
        ("messages", "updatedAt"),
    ] {
        let source = if stream == "messages" {
            "conversations"
        } else {
            stream
        };
        let rk = if stream == "messages" {
            "conversationUpdatedAt"
        } else {
            key
        };
        if let Some(truth_max) = emu
            .records(source)
            .iter()
            .filter_map(|r| r[key].as_i64())
            .max()
        {
            assert_eq!(
                state["bookmarks"][stream]["replication_key_value"],
                json!(truth_max),
                "{stream} bookmark"
            );
            assert_eq!(state["bookmarks"][stream]["replication_key"], json!(rk));
        }
    }
    // streams read whole keep no bookmark, and activate the version their records carry
    for stream in read_whole_by_default() {
        assert!(
            state["bookmarks"].get(stream).is_none(),
            "{stream} bookmark"
        );
        assert_eq!(
            synced.activated.get(stream),
            synced.versions.get(stream).or(synced.activated.get(stream)),
            "{stream}: ACTIVATE_VERSION with the records' version"
        );
        assert!(
            synced.activated.contains_key(stream),
            "{stream} ACTIVATE_VERSION"
        );
    }
    for stream in ["accounts", "conversations", "messages", "contacts"] {
        assert!(
            !synced.activated.contains_key(stream) && !synced.versions.contains_key(stream),
            "{stream} is not read whole: no version"
        );
    }
}

async fn full_sync(data: Dataset, options: Options, page_size: u32) {
    let dir = TempDir::new(&format!(
        "full-{}-{page_size}-{}",
        data.conversations, options.variants.links_style
    ));
    let emu = emulator_with(data.clone(), options).await;
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"page_size": page_size, "max_concurrency": 4})),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    for stream in all_streams() {
        // conversations newest updated first and completed from GET /conversations/{id}; messages by
        // conversation, each with its conversation's updatedAt; contacts in order of first reference
        let truth = truth(&emu, stream);
        let got = synced.records.get(stream).cloned().unwrap_or_default();
        assert_eq!(got.len(), truth.len(), "{stream} count");
        assert_eq!(got, truth, "{stream} records equal the emulator's");
    }
    // each referenced contact is fetched once; missing ones (404) are skipped, not fatal
    let contact_requests = contact_fetches(&emu);
    let distinct: std::collections::HashSet<&String> = contact_requests.iter().collect();
    assert_eq!(
        distinct.len(),
        contact_requests.len(),
        "no contact fetched twice"
    );
    if contact_requests.len() > emu.records("contacts").len() {
        assert!(
            stderr(&out).contains("not found (404)"),
            "a missing contact is logged"
        );
    }
    assert_bookmarks(&emu, &synced);
}

#[tokio::test]
async fn full_sync_equals_emulator_truth_cursor_pagination() {
    // 137 conversations and 53 accounts: page size 10 divides neither
    full_sync(small(), Options::new(TOKEN), 10).await;
}

#[tokio::test]
async fn full_sync_equals_emulator_truth_links_pagination() {
    full_sync(
        small(),
        Options {
            variants: Variants {
                links_style: true,
                ..Variants::default()
            },
            ..Options::new(TOKEN)
        },
        7,
    )
    .await;
}

#[tokio::test]
async fn empty_streams_and_single_pages() {
    full_sync(
        Dataset {
            seed: 3,
            users: 0,
            accounts: 0,
            conversations: 0,
            ..Dataset::default()
        },
        Options::new(TOKEN),
        10,
    )
    .await;
    // everything fits in one page
    full_sync(
        Dataset {
            seed: 4,
            users: 3,
            accounts: 5,
            conversations: 9,
            ..Dataset::default()
        },
        Options::new(TOKEN),
        100,
    )
    .await;
    // the page size divides the counts exactly
    full_sync(
        Dataset {
            seed: 5,
            users: 3,
            accounts: 20,
            conversations: 30,
            ..Dataset::default()
        },
        Options {
            variants: Variants {
                links_style: true,
                ..Variants::default()
            },
            ..Options::new(TOKEN)
        },
        10,
    )
    .await;
}

#[tokio::test]
async fn catalog_deselects_a_stream_and_a_field() {
    let dir = TempDir::new("select");
    let data = small();
    let emu = emulator(data.clone()).await;
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let mut catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.json"))
            .expect("catalog"),
    )
    .expect("json");
    for entry in catalog["streams"].as_array_mut().expect("streams") {
        let selected = entry["stream"] != "accounts";
        let is_users = entry["stream"] == "users";
        for md in entry["metadata"].as_array_mut().expect("md") {
            if md["breadcrumb"] == json!([]) {
                md["metadata"]["selected"] = json!(selected);
            }
            if is_users && md["breadcrumb"] == json!(["properties", "email"]) {
                md["metadata"]["selected"] = json!(false);
            }
        }
    }
    let cat = dir.json("catalog.json", &catalog);
    for flag in ["--catalog", "--properties"] {
        let out = tap(args(&[&"--config", &cfg, &flag, &cat])).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let synced = check_output(&out);
        assert!(
            !synced.schemas.contains_key("accounts") && !synced.records.contains_key("accounts")
        );
        assert_eq!(
            synced.keys("conversations").len(),
            data.conversations as usize
        );
        assert!(synced.schemas["users"]["schema"]["properties"]
            .get("email")
            .is_none());
        let users = &synced.records["users"];
        assert_eq!(users.len(), data.users as usize);
        assert!(users
            .iter()
            .all(|u| u.get("email").is_none() && u.get("name").is_some()));
    }
}

#[tokio::test]
async fn start_date_filters_and_future_start_date_emits_nothing() {
    let dir = TempDir::new("startdate");
    let data = small();
    let emu = emulator(data.clone()).await;
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"start_date": "2099-01-01T00:00:00Z"})),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    // streams read whole ignore start_date (what they do not emit would be taken as deleted)
    let whole = read_whole_by_default();
    assert!(
        synced.records.keys().all(|s| whole.contains(&s.as_str())),
        "{:?}",
        synced.records.keys()
    );
    let cutoff = "2024-01-01T00:00:00Z";
    let cutoff_ms = chrono::DateTime::parse_from_rfc3339(cutoff)
        .expect("ts")
        .timestamp_millis();
    let cfg = dir.json(
        "config2.json",
        &config_for(&emu, json!({"start_date": cutoff})),
    );
    let synced = check_output(&tap(args(&[&"--config", &cfg])).await);
    let truth = (0..data.conversations)
        .filter(|i| data.conversation(*i, false)["updatedAt"].as_i64() >= Some(cutoff_ms))
        .count();
    assert_eq!(synced.keys("conversations").len(), truth);
    assert!(truth > 0 && truth < data.conversations as usize);
}

#[cfg(feature = "sandbox")]
#[tokio::test]
async fn sandbox_runs_the_whole_sync_without_config() {
    let out = tap(args(&[&"--sandbox"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    // the same dataset, served here, is the truth
    let emu = emulator(Dataset::sandbox()).await;
    for stream in all_streams() {
        if stream == "meetings" {
            // booked meetings lie on a fixed grid, served around each emulator's own "now": two
            // emulators started moments apart differ at most by meetings at either end
            let (got, want) = (&synced.records[stream], truth(&emu, stream));
            let slot = |m: &Value| m["slotStart"].as_i64().unwrap_or_default();
            let last = got.iter().chain(&want).map(slot).max().unwrap_or_default();
            let horizon = emu.now_ms() - 30 * 86_400_000;
            let edge = |m: &Value| slot(m) < horizon + 86_400_000 || slot(m) > last - 86_400_000;
            let (got_ids, want_ids) = (ids_of(got, "meetingId"), ids_of(&want, "meetingId"));
            for m in got.iter().chain(&want) {
                let id = m["meetingId"].to_string();
                let both = got_ids.contains(&id) && want_ids.contains(&id);
                assert!(both || edge(m), "{stream}: {m} in one run only");
            }
            continue;
        }
        assert_eq!(synced.keys(stream), truth_keys(&emu, stream), "{stream}");
    }
}

#[tokio::test]
async fn date_time_option_emits_rfc3339_and_keeps_bookmarks_working() {
    let dir = TempDir::new("datetime");
    let emu = emulator(small()).await;
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"timestamp_format": "date-time"})),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    let truth = emu.records("conversations");
    for (stream, field) in [
        ("conversations", "updatedAt"),
        ("accounts", "createDateTime"),
        ("users", "createdAt"),
        ("messages", "createdAt"),
        ("contacts", "createdAt"),
    ] {
        let prop = &synced.schemas[stream]["schema"]["properties"][field];
        assert_eq!(prop["format"], "date-time", "{stream}.{field}");
        assert_eq!(prop["type"], json!(["null", "string"]));
        for r in &synced.records[stream] {
            let text = r[field]
                .as_str()
                .unwrap_or_else(|| panic!("{stream}.{field} is a string: {r}"));
            assert!(
                text.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                "{text}"
            );
        }
    }
    let first = &synced.records["conversations"][0];
    let ms = chrono::DateTime::parse_from_rfc3339(first["updatedAt"].as_str().expect("s"))
        .expect("t")
        .timestamp_millis();
    assert_eq!(
        Some(ms),
        truth[0]["updatedAt"].as_i64(),
        "the same instant, to the millisecond"
    );
    // bookmarks stay epoch milliseconds, so switching the option never breaks a state
    let state = synced.last_state();
    assert!(state["bookmarks"]["conversations"]["replication_key_value"].is_i64());
    let s = dir.json("state.json", &state);
    let again = check_output(&tap(args(&[&"--config", &cfg, &"--state", &s])).await);
    let whole = read_whole_by_default();
    assert!(again.records.keys().all(|s| whole.contains(&s.as_str())));
    // discovery with this config describes the same schemas
    let disc = tap(args(&[&"--config", &cfg, &"--discover"])).await;
    let catalog: Value = serde_json::from_slice(&disc.stdout).expect("catalog");
    let conv = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["stream"] == "conversations")
        .expect("conv");
    assert_eq!(
        conv["schema"]["properties"]["updatedAt"]["format"],
        "date-time"
    );
    let bad = dir.json(
        "bad.json",
        &config_for(&emu, json!({"timestamp_format": "iso"})),
    );
    let out = tap(args(&[&"--config", &bad])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("timestamp_format"));
}
