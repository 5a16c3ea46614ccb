//! A run's exit code tells whether it read what was selected: a token whose scopes Drift names in
//! words we do not know is "scopes unknown" and reads everything; a run that skips every selected
//! stream fails with one line, while an empty account that answers every list is a success; a list
//! that ends early (a loop, a shortfall against its total) fails the run, writes what it read, and
//! leaves its stream's bookmark where it was, so the next run reads it again.

use std::process::Output;

use drift_emulator::{Dataset, Emulator, Faults, Options, Variants};
use serde_json::{json, Value};

use crate::support::*;

async fn sync_with(name: &str, emu: &Emulator, state: Option<&Value>) -> Output {
    let dir = TempDir::new(&format!("verdict-{name}"));
    let cfg = dir.json("config.json", &config_for(emu, json!({})));
    let mut argv = args(&[&"--config", &cfg]);
    if let Some(state) = state {
        argv.extend(args(&[&"--state", &dir.json("state.json", state)]));
    }
    tap(argv).await
}

/// The one CRITICAL line of a failed run.
fn critical(out: &Output) -> String {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("CRITICAL")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

#[tokio::test]
async fn scopes_named_in_words_drift_does_not_use_are_unknown_and_every_stream_is_read() {
    let options = Options {
        token_info_scope: Some("read write".into()),
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options).await;
    let out = sync_with("read-write", &emu, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_every_stream_is_the_truth(&emu, &check_output(&out));
    let err = stderr(&out);
    assert!(!err.contains("stream skipped"), "{err}");
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("name none of Drift's"))
        .collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(warned[0].contains("scope=read write"), "{}", warned[0]);
}

#[tokio::test]
async fn a_run_that_may_read_no_selected_stream_fails_with_one_line() {
    // told up front (token_info), and learnt from a 403 on every stream
    for token_info in [true, false] {
        let options = Options {
            scopes: Some(vec!["conversation_write".into()]),
            token_info,
            ..Options::new(TOKEN)
        };
        let emu = emulator_with(small(), options).await;
        let out = sync_with(&format!("no-scope-{token_info}"), &emu, None).await;
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let line = critical(&out);
        assert!(line.contains("no selected stream could be read"), "{line}");
        for stream in top_level_streams() {
            assert!(line.contains(stream), "{stream} named: {line}");
        }
        let synced = check_output(&out);
        assert!(synced.records.is_empty());
    }
}

#[tokio::test]
async fn an_empty_account_is_read_and_is_a_success() {
    let empty = Dataset {
        seed: 3,
        ..Dataset::default()
    };
    let emu = emulator(empty).await;
    let out = sync_with("empty", &emu, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert_every_stream_is_the_truth(&emu, &synced);
    // every list was asked for and answered
    for stream in top_level_streams() {
        assert!(synced.schemas.contains_key(stream), "{stream}");
    }
    assert!(!stderr(&out).contains("stream skipped"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_list_that_goes_round_in_circles_fails_the_run_and_keeps_its_bookmark() {
    let faults = Faults {
        cursor_loop: true,
        ..Faults::default()
    };
    let looping = emulator_with(
        small(),
        Options {
            faults,
            ..Options::new(TOKEN)
        },
    )
    .await;
    let bookmark = looping.records("conversations")[100]["updatedAt"].clone();
    let before = json!({"bookmarks": {"conversations": {"replication_key": "updatedAt",
        "replication_key_value": bookmark}}});
    let out = sync_with("circles", &looping, Some(&before)).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line = critical(&out);
    assert!(
        line.contains("conversations") && line.contains("round in circles"),
        "{line}"
    );
    let synced = check_output(&out); // no record twice
    let first = synced.keys("conversations");
    assert_eq!(first.len(), 10, "the first page, once");
    let after = synced.last_state();
    assert_eq!(
        after["bookmarks"]["conversations"]["replication_key_value"], bookmark,
        "the bookmark did not move over unread records"
    );
    assert!(after["bookmarks"].get("messages").is_none(), "{after}");
    assert!(
        stderr(&out).contains("status=incomplete"),
        "the summary says so: {}",
        stderr(&out)
    );

    // the next run, on a Drift that pages properly, reads every conversation from that bookmark
    // that the first did not write
    let fine = emulator(small()).await;
    let out = sync_with("circles-next", &fine, Some(&after)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut want: Vec<String> = fine
        .records("conversations")
        .iter()
        .filter(|r| r["updatedAt"].as_i64() >= bookmark.as_i64())
        .map(|r| r["id"].to_string())
        .collect();
    let mut got: Vec<String> = check_output(&out)
        .keys("conversations")
        .iter()
        .chain(&first)
        .map(Value::to_string)
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn accounts_short_of_their_total_after_a_second_read_fail_the_run_and_keep_their_bookmark() {
    let options = Options {
        variants: Variants {
            accounts_total_extra: Some(3),
            ..Variants::default()
        },
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options).await;
    let out = sync_with("short", &emu, None).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line = critical(&out);
    assert!(
        line.contains("accounts") && line.contains("of the 56 records"),
        "{line}"
    );
    let synced = check_output(&out);
    // what Drift listed is all written, and every other stream is whole
    assert_every_stream_is_the_truth(&emu, &synced);
    let state = synced.last_state();
    assert!(state["bookmarks"].get("accounts").is_none(), "{state}");
    assert!(state["bookmarks"]["conversations"].is_object(), "{state}");
}

#[tokio::test]
async fn a_message_list_that_goes_round_in_circles_fails_the_run_and_keeps_the_messages_bookmark() {
    let faults = Faults {
        messages_loop: true,
        ..Faults::default()
    };
    // pages of 3 messages: a conversation with more has messages the loop leaves unread
    let options = Options {
        faults,
        variants: Variants {
            messages_page: Some(3),
            ..Variants::default()
        },
        ..Options::new(TOKEN)
    };
    let looping = emulator_with(small(), options).await;
    let out = sync_with("messages-circles", &looping, None).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line = critical(&out);
    assert!(
        line.contains("messages") && line.contains("round in circles"),
        "{line}"
    );
    assert!(!line.contains("conversations ("), "{line}");
    let synced = check_output(&out);
    let first = synced.keys("messages");
    assert!(first.len() < truth(&looping, "messages").len());
    let state = synced.last_state();
    assert!(state["bookmarks"].get("messages").is_none(), "{state}");
    assert!(state["bookmarks"]["conversations"].is_object(), "{state}");

    // the next run reads the messages again, and between them the two runs wrote every one
    let fine = emulator(small()).await;
    let out = sync_with("messages-circles-next", &fine, Some(&state)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut got: Vec<String> = check_output(&out)
        .keys("messages")
        .iter()
        .chain(&first)
        .map(Value::to_string)
        .collect();
    got.sort();
    got.dedup();
    let mut want: Vec<String> = truth_keys(&fine, "messages")
        .iter()
        .map(Value::to_string)
        .collect();
    want.sort();
    assert_eq!(got, want);
}
