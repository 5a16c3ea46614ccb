//! The matrix: for every variant of what nobody knows about Drift (one emulator switch each, and
//! all of them at once), a full sync, then K records changed and M added (and, with the deletions
//! scenario, some deleted), then two incremental runs. Every assertion is against the emulator's
//! truth and its request log: per stream the emitted ids equal the truth, no changed record is
//! missed, and records sent again stay within the lookback.

use std::collections::BTreeSet;

use drift_emulator::{Emulator, Options, Variants, EPOCH_END_MS};
use serde_json::{json, Value};

use crate::support::*;

/// When the changes happen: a day after the dataset (and long before now).
const AT: i64 = EPOCH_END_MS + 86_400_000;
const LOOKBACK_MS: i64 = 300_000;

fn ids(records: &[Value], key: &str) -> BTreeSet<String> {
    records.iter().map(|r| r[key].to_string()).collect()
}

/// The ids a run emitted for a stream.
fn emitted(run: &Synced, stream: &str) -> BTreeSet<String> {
    ids(
        &run.records.get(stream).cloned().unwrap_or_default(),
        key_of(stream),
    )
}

/// The truth's ids of a stream.
fn truth_ids(emu: &Emulator, stream: &str) -> BTreeSet<String> {
    ids(&truth(emu, stream), key_of(stream))
}

/// Conversation list requests served from position `from` up to `to` of the log.
fn list_requests(emu: &Emulator, from: usize, to: Option<usize>) -> Vec<String> {
    let log = emu.requests();
    log[from..to.unwrap_or(log.len())]
        .iter()
        .filter(|r| r.starts_with("/conversations/list"))
        .cloned()
        .collect()
}

/// Changes K records and adds M in every top-level stream, and deletes some users and accounts.
fn change(emu: &Emulator, deletions: bool) {
    emu.touch("conversations", &[0, 17, 90, 136], AT);
    emu.add("conversations", 3, AT + 5);
    emu.touch("accounts", &[2, 40], AT);
    emu.add("accounts", 2, AT);
    emu.touch("users", &[1], AT);
    emu.add("users", 1, AT);
    if deletions {
        emu.delete("users", &[3, 4]);
        emu.delete("accounts", &[5]);
    }
}

/// The records the changes made new: changed conversations' messages and contacts included.
fn changed(emu: &Emulator, stream: &str) -> BTreeSet<String> {
    let conversations: BTreeSet<String> = emu
        .changed_since("conversations", AT)
        .iter()
        .map(Value::to_string)
        .collect();
    let of_changed = |r: &&Value, field: &str| conversations.contains(&r[field].to_string());
    match stream {
        "messages" => ids(
            &emu.records("messages")
                .iter()
                .filter(|m| of_changed(m, "conversationId"))
                .cloned()
                .collect::<Vec<_>>(),
            "id",
        ),
        "contacts" => {
            let referenced: BTreeSet<String> = emu
                .records("conversations")
                .iter()
                .filter(|c| of_changed(c, "id"))
                .map(|c| c["contactId"].to_string())
                .collect();
            truth_ids(emu, "contacts")
                .intersection(&referenced)
                .cloned()
                .collect()
        }
        "conversation_metrics" => conversations,
        s => emu
            .changed_since(s, AT)
            .iter()
            .map(Value::to_string)
            .collect(),
    }
}

/// Records with a replication value within the lookback below `bookmark` (for a child stream:
/// the children of such parents): what may come again.
fn within_lookback(emu: &Emulator, stream: &str, bookmark: Option<i64>) -> usize {
    let (Some(bm), Some(def)) = (bookmark, tap_drift::streams::find(stream)) else {
        return 0;
    };
    let in_window = |r: &&Value, rk: &str| {
        r[rk]
            .as_i64()
            .is_some_and(|v| v >= bm - LOOKBACK_MS && v <= bm)
    };
    if def.parent.is_none() {
        let rk = def.replication_key.unwrap_or_default();
        return emu
            .records(stream)
            .iter()
            .filter(|r| in_window(r, rk))
            .count();
    }
    let parents: BTreeSet<String> = emu
        .records("conversations")
        .iter()
        .filter(|c| in_window(c, "updatedAt"))
        .map(|c| c["id"].to_string())
        .collect();
    emu.records("messages")
        .iter()
        .filter(|m| parents.contains(&m["conversationId"].to_string()))
        .count()
}

/// After the changes: every changed record came in run 2 or 3, nothing else came but records
/// within the lookback, and streams read whole came whole, their deletions activated.
fn assert_incremental(emu: &Emulator, run1: &Synced, run2: &Synced, run3: &Synced) {
    for stream in all_streams() {
        let got: BTreeSet<String> = emitted(run2, stream)
            .union(&emitted(run3, stream))
            .cloned()
            .collect();
        if read_whole_by_default().contains(&stream) {
            for run in [run2, run3] {
                assert_eq!(
                    emitted(run, stream),
                    truth_ids(emu, stream),
                    "{stream} read whole"
                );
                assert!(
                    run.activated.contains_key(stream),
                    "{stream} ACTIVATE_VERSION"
                );
            }
            continue;
        }
        let new = changed(emu, stream);
        let missed: Vec<&String> = new.difference(&got).collect();
        assert!(
            missed.is_empty(),
            "{stream}: changed records missed: {missed:?}"
        );
        let again = got.difference(&new).count();
        let bookmark = run1.last_state()["bookmarks"][stream]["replication_key_value"].as_i64();
        assert!(
            again <= within_lookback(emu, stream, bookmark),
            "{stream}: {again} unchanged records sent again, beyond the lookback"
        );
    }
}

/// One scenario: a full sync, changes, two incremental runs; returns the three runs and the
/// request-log positions where runs 2 and 3 began.
async fn play(
    name: &str,
    variants: Variants,
    deletions: bool,
) -> (Emulator, [Synced; 3], [usize; 2]) {
    let data = small();
    let emu = emulator_with(
        data,
        Options {
            variants,
            ..Options::new(TOKEN)
        },
    )
    .await;
    let dir = TempDir::new(&format!("matrix-{name}"));
    let cfg = dir.json("config.json", &config_for(&emu, json!({"page_size": 100})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let run1 = check_output(&out);
    for stream in all_streams() {
        assert_eq!(
            emitted(&run1, stream),
            truth_ids(&emu, stream),
            "{name}: {stream} full sync"
        );
    }
    change(&emu, deletions);
    let mut marks = [0; 2];
    let mut runs = Vec::new();
    let mut state = run1.last_state();
    for (i, mark) in marks.iter_mut().enumerate() {
        *mark = emu.requests().len();
        let s = dir.json(&format!("state{i}.json"), &state);
        let out = tap(args(&[&"--config", &cfg, &"--state", &s])).await;
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let run = check_output(&out);
        state = run.last_state();
        runs.push(run);
    }
    let run3 = runs.pop().expect("run 3");
    let run2 = runs.pop().expect("run 2");
    assert_incremental(&emu, &run1, &run2, &run3);
    (emu, [run1, run2, run3], marks)
}

#[tokio::test]
async fn matrix_believed_behaviour_stops_early() {
    let (emu, _, [second, third]) = play("believed", Variants::default(), false).await;
    for (from, to) in [(second, Some(third)), (third, None)] {
        let list = list_requests(&emu, from, to);
        assert_eq!(
            list,
            ["/conversations/list?limit=50"],
            "strict order: one page, then stop"
        );
    }
}

#[tokio::test]
async fn matrix_links_style() {
    let variants = Variants {
        links_style: true,
        ..Variants::default()
    };
    let (emu, _, [second, third]) = play("links", variants, false).await;
    let first_run = list_requests(&emu, 0, Some(second));
    assert_eq!(first_run[0], "/conversations/list?limit=50");
    assert_eq!(
        first_run[1], "/conversations/list?limit=100",
        "restarted at the links style's size"
    );
    assert!(
        first_run[2].contains("limit=100&page_token="),
        "{first_run:?}"
    );
    assert_eq!(first_run.len(), 3, "one page of 50, two of 100");
    assert_eq!(
        list_requests(&emu, second, Some(third)),
        ["/conversations/list?limit=50"],
        "strict order: one page, then stop"
    );
}

#[tokio::test]
async fn matrix_loose_order() {
    let variants = Variants {
        loose_order: true,
        ..Variants::default()
    };
    let (emu, [_, run2, run3], [second, third]) = play("loose", variants, false).await;
    // 144 conversations (one lagging) at 50 a page: the whole list, every run
    assert_eq!(list_requests(&emu, second, Some(third)).len(), 3);
    assert_eq!(list_requests(&emu, third, None).len(), 3);
    // the lagging conversation (changed at AT, listed only on the read after) came in run 3
    let lagging = emu
        .changed_since("conversations", AT)
        .iter()
        .map(Value::to_string)
        .filter(|id| !emitted(&run2, "conversations").contains(id))
        .collect::<Vec<_>>();
    assert_eq!(lagging.len(), 1, "run 2 missed the lagging conversation");
    assert!(
        emitted(&run3, "conversations").contains(&lagging[0]),
        "run 3 caught it"
    );
}

#[tokio::test]
async fn matrix_accounts_size_cap() {
    let variants = Variants {
        accounts_size_cap: Some(40),
        ..Variants::default()
    };
    let (emu, _, _) = play("accounts-cap", variants, false).await;
    let accounts: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("/accounts"))
        .collect();
    assert_eq!(accounts[0], "/accounts?index=0&size=65");
    assert!(
        accounts.contains(&"/accounts?index=0".to_string()),
        "the shortfall re-read: {accounts:?}"
    );
}

#[tokio::test]
async fn matrix_messages_fixed_pages() {
    let variants = Variants {
        messages_page: Some(50),
        ..Variants::default()
    };
    let (emu, _, _) = play("messages-fixed", variants, false).await;
    let messages: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.contains("/messages"))
        .collect();
    assert!(
        !messages.is_empty() && messages.iter().all(|r| !r.contains("limit")),
        "no limit sent"
    );
}

#[tokio::test]
async fn matrix_numeric_cursors() {
    // Drift's older list page types `next` as an integer: every page must still be followed (the
    // messages in pages of 3, so that conversations have several)
    let variants = Variants {
        numeric_cursors: true,
        messages_page: Some(3),
        ..Variants::default()
    };
    let (emu, _, [second, _]) = play("numeric-cursors", variants, false).await;
    let first_run = list_requests(&emu, 0, Some(second));
    assert!(
        first_run.len() >= 3 && first_run[1].contains("&next="),
        "137 conversations at 50 a page, followed by their numeric cursors: {first_run:?}"
    );
    let paged_messages = emu.requests()[..second]
        .iter()
        .filter(|r| r.contains("/messages?next="))
        .count();
    assert!(paged_messages > 0, "messages beyond a first page were read");
}

#[tokio::test]
async fn matrix_last_page_without_array() {
    let variants = Variants {
        last_page_without_array: true,
        ..Variants::default()
    };
    play("arrayless", variants, false).await;
}

#[tokio::test]
async fn matrix_sparse_records() {
    let variants = Variants {
        sparse_records: true,
        ..Variants::default()
    };
    let (_, [run1, _, _], _) = play("sparse", variants, false).await;
    assert!(run1.records["conversations"]
        .iter()
        .all(|c| c.get("status").is_none()));
}

#[tokio::test]
async fn matrix_unknown_fields() {
    let variants = Variants {
        unknown_fields: true,
        ..Variants::default()
    };
    play("unknown", variants, false).await;
}

#[tokio::test]
async fn matrix_error_object_bodies() {
    let variants = Variants {
        error_object_bodies: true,
        ..Variants::default()
    };
    play("error-object", variants, false).await;
}

#[tokio::test]
async fn matrix_deletions() {
    let (emu, [_, run2, _], _) = play("deletions", Variants::default(), true).await;
    assert_eq!(
        emitted(&run2, "users").len(),
        small().users as usize - 2 + 1
    );
    assert!(
        !emitted(&run2, "users").contains("1290039"),
        "a deleted user is gone"
    );
    assert_eq!(
        truth_ids(&emu, "users").len(),
        emitted(&run2, "users").len()
    );
}

#[tokio::test]
async fn matrix_all_switches_at_once() {
    play("all", Variants::all(), true).await;
}

/// A full sync and one incremental run after the changes, with `extra` config; the second run's
/// output and stderr.
async fn second_run(
    name: &str,
    variants: Variants,
    extra: Value,
) -> (Emulator, Synced, Synced, String) {
    let emu = emulator_with(
        small(),
        Options {
            variants,
            ..Options::new(TOKEN)
        },
    )
    .await;
    let dir = TempDir::new(&format!("second-{name}"));
    let cfg = dir.json("config.json", &config_for(&emu, extra));
    let run1 = check_output(&tap(args(&[&"--config", &cfg])).await);
    change(&emu, false);
    let s = dir.json("state.json", &run1.last_state());
    let out = tap(args(&[&"--config", &cfg, &"--state", &s])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    (emu, run1, check_output(&out), stderr(&out))
}

#[tokio::test]
async fn loose_order_is_named_once_and_the_whole_list_is_read() {
    let variants = Variants {
        loose_order: true,
        ..Variants::default()
    };
    let (_, _, _, err) = second_run("loose-log", variants, json!({"page_size": 100})).await;
    let inversions: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("not in strict newest-first order"))
        .collect();
    assert_eq!(inversions.len(), 1, "{err}");
    assert!(inversions[0].starts_with("WARN") && inversions[0].contains("came before record"));
    assert!(
        err.contains("read the whole list: order not strict"),
        "{err}"
    );
    let (_, _, _, err) =
        second_run("strict-log", Variants::default(), json!({"page_size": 100})).await;
    assert!(
        err.contains("stopped early after 1 pages stream=conversations"),
        "{err}"
    );
}

#[tokio::test]
async fn without_lookback_a_record_the_list_showed_late_is_lost() {
    // the safeguard's counterfactual: the same lagging list, once with and once without lookback
    let variants = Variants {
        loose_order: true,
        ..Variants::default()
    };
    for (lookback, caught) in [(300, true), (0, false)] {
        let emu = emulator_with(
            small(),
            Options {
                variants: variants.clone(),
                ..Options::new(TOKEN)
            },
        )
        .await;
        let dir = TempDir::new(&format!("lookback-{lookback}"));
        let cfg = dir.json(
            "config.json",
            &config_for(&emu, json!({"lookback_seconds": lookback})),
        );
        let mut state = check_output(&tap(args(&[&"--config", &cfg])).await).last_state();
        change(&emu, false);
        let mut got = BTreeSet::new();
        for i in 0..2 {
            let s = dir.json(&format!("state{i}.json"), &state);
            let run = check_output(&tap(args(&[&"--config", &cfg, &"--state", &s])).await);
            got.extend(emitted(&run, "conversations"));
            state = run.last_state();
        }
        let missed = changed(&emu, "conversations").difference(&got).count();
        assert_eq!(missed == 0, caught, "lookback {lookback}: {missed} missed");
    }
}

/// The value the emulator's `unknown_fields` switch gives a stream's new field.
fn unknown_value(variants: &Variants, stream: &str, field: &str) -> Value {
    let mut probe = json!({});
    variants.shape(stream, &mut probe);
    probe[field].clone()
}

const NEW_FIELDS: [(&str, &str); 4] = [
    ("conversations", "priority"),
    ("users", "teamIds"),
    ("messages", "reactions"),
    ("accounts", "segment"),
];

#[tokio::test]
async fn a_field_the_schema_lacks_becomes_a_column_with_its_values() {
    let variants = Variants {
        unknown_fields: true,
        ..Variants::default()
    };
    let (_, run1, run2, err) = second_run("unknown-add", variants.clone(), json!({})).await;
    for (stream, field) in NEW_FIELDS {
        let want = unknown_value(&variants, stream, field);
        for run in [&run1, &run2] {
            // check_output has validated every record against its stream's latest SCHEMA, with
            // no field outside it: the grown SCHEMA came before the first record carrying it
            assert!(!run.records[stream].is_empty(), "{stream}");
            assert!(
                run.records[stream].iter().all(|r| r[field] == want),
                "{stream}.{field} carries {want}"
            );
            let declared = &run.schemas[stream]["schema"]["properties"][field]["type"];
            assert_eq!(
                declared[1], "null",
                "{stream}.{field} is nullable: {declared}"
            );
        }
        let added = err
            .lines()
            .filter(|l| l.starts_with("INFO") && l.contains("added as a new column"))
            .filter(|l| l.contains(&format!("stream={stream} field={field} ")))
            .count();
        assert_eq!(added, 1, "{stream}.{field}: one line a run: {err}");
    }
}

#[tokio::test]
async fn with_new_fields_drop_an_unknown_field_is_one_warning_per_stream_and_field_per_run() {
    let variants = Variants {
        unknown_fields: true,
        ..Variants::default()
    };
    let extra = json!({"new_fields": "drop"});
    let (_, run1, _, err) = second_run("unknown-log", variants, extra).await;
    for (stream, field) in NEW_FIELDS {
        let warnings = err
            .lines()
            .filter(|l| l.starts_with("WARN") && l.contains("does not have"))
            .filter(|l| {
                l.contains(&format!("stream={stream} ")) && l.ends_with(&format!("field={field}"))
            })
            .count();
        assert_eq!(warnings, 1, "{stream}.{field}: {err}");
        assert!(
            run1.records[stream].iter().all(|r| r.get(field).is_none()),
            "dropped"
        );
    }
}
