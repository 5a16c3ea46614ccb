//! Streams the token may not read, rotating refresh tokens and expiring access tokens, and the input
//! mistakes people make: each handled without losing a run, each said in one line.

use std::process::Output;
use std::time::Duration;

use drift_emulator::{Emulator, OAuthApp, Options, EPOCH_END_MS};
use serde_json::{json, Value};

use crate::support::*;

/// A token with only these scopes (and, if `token_info`, Drift saying so up front).
async fn scoped(scopes: &[&str], token_info: bool) -> Emulator {
    let options = Options {
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        token_info,
        ..Options::new(TOKEN)
    };
    emulator_with(small(), options).await
}

fn warnings(out: &Output, needle: &str) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("WARN") && l.contains(needle))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn a_token_without_account_and_contact_scopes_syncs_the_rest() {
    for token_info in [true, false] {
        let emu = scoped(&["conversation_read", "user_read"], token_info).await;
        let dir = TempDir::new(&format!("scopes-{token_info}"));
        let cfg = dir.json("config.json", &config_for(&emu, json!({})));
        let out = tap(args(&[&"--config", &cfg])).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let synced = check_output(&out);
        for stream in ["conversations", "messages", "users"] {
            let want: Vec<Value> = emu
                .records(stream)
                .iter()
                .map(|r| r["id"].clone())
                .collect();
            assert!(synced.keys(stream) == want, "{stream} complete");
        }
        assert!(
            !synced.records.contains_key("accounts") && !synced.records.contains_key("contacts")
        );
        for (stream, scope) in [("accounts", "account_read"), ("contacts", "contact_read")] {
            let lines = warnings(&out, &format!("stream={stream}"));
            let skipped: Vec<&String> = lines
                .iter()
                .filter(|l| l.contains("stream skipped"))
                .collect();
            assert_eq!(skipped.len(), 1, "one warning for {stream}: {lines:?}");
            assert!(skipped[0].contains(scope), "{}", skipped[0]);
        }
        assert!(
            stderr(&out).contains("skipped=accounts,contacts"),
            "the closing line lists them"
        );
        // the skipped streams keep their (absent) bookmarks; the others have theirs
        let state = synced.last_state();
        assert!(state["bookmarks"].get("accounts").is_none());
        assert!(state["bookmarks"]["conversations"].is_object());
    }
}

#[tokio::test]
async fn on_missing_scope_fail_stops_with_one_line() {
    let emu = scoped(&["conversation_read", "user_read", "contact_read"], true).await;
    let dir = TempDir::new("scopes-fail");
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"on_missing_scope": "fail"})),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let critical: Vec<&str> = err.lines().filter(|l| l.starts_with("CRITICAL")).collect();
    assert_eq!(critical.len(), 1, "{err}");
    assert!(
        critical[0].contains("accounts") && critical[0].contains("account_read"),
        "{}",
        critical[0]
    );
}

#[tokio::test]
async fn the_connection_test_says_which_streams_can_be_read() {
    let emu = scoped(&["conversation_read", "user_read", "contact_read"], true).await;
    let dir = TempDir::new("scopes-test");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg, &"--test"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.lines().any(|l| l.contains("connection test: cannot be read") && l.contains("stream=accounts")), "{err}");
    for stream in ["conversations", "users", "messages", "contacts"] {
        assert!(
            err.lines()
                .any(|l| l.contains("connection test: can be read")
                    && l.contains(&format!("stream={stream}"))),
            "{stream}: {err}"
        );
    }
}

fn rotating_app(lifetime: Option<Duration>, camel_case: bool) -> OAuthApp {
    OAuthApp {
        client_id: "cid".into(),
        client_secret: "csecret-rot".into(),
        refresh_token: "rtoken-first".into(),
        rotate: true,
        access_lifetime: lifetime,
        camel_case,
    }
}

#[tokio::test]
async fn rotating_refresh_tokens_survive_three_runs_from_one_config_file() {
    let options = Options {
        oauth: Some(rotating_app(None, true)),
        ..Options::new("no-static-token")
    };
    let emu = emulator_with(small(), options).await;
    let dir = TempDir::new("rotate");
    let text = format!(
        "{{\n  \"api_url\": \"{}\",\n  \"client_id\": \"cid\",\n  \"refresh_token\": \"rtoken-first\",\n  \"client_secret\": \"csecret-rot\",\n  \"requests_per_minute\": 100000\n}}\n",
        emu.base_url
    );
    let cfg = dir.write("config.json", &text);
    for run in 1..=3 {
        let out = tap(args(&[&"--config", &cfg])).await;
        assert!(out.status.success(), "run {run}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("emu-refresh"),
            "the new token is never logged"
        );
        assert!(
            stderr(&out).contains("saved in the config file"),
            "{}",
            stderr(&out)
        );
    }
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).expect("config")).expect("json");
    let keys: Vec<&str> = saved
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "api_url",
            "client_id",
            "refresh_token",
            "client_secret",
            "requests_per_minute"
        ]
    );
    assert_eq!(
        saved["refresh_token"], "emu-refresh-3",
        "the latest refresh token"
    );
    assert_eq!(saved["client_secret"], "csecret-rot");
    assert_eq!(saved["requests_per_minute"], 100_000);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn an_access_token_expiring_mid_run_is_refreshed_ahead_of_time() {
    let options = Options {
        oauth: Some(rotating_app(Some(Duration::from_secs(2)), false)),
        ..Options::new("no-static-token")
    };
    let emu = emulator_with(small(), options).await;
    let dir = TempDir::new("expiring");
    // about 3 requests a second: the run outlives several tokens
    let cfg = dir.json("config.json", &json!({"api_url": emu.base_url, "client_id": "cid",
        "client_secret": "csecret-rot", "refresh_token": "rtoken-first", "requests_per_minute": 6000,
        "page_size": 50}));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    check_output(&out);
    let refreshes = emu
        .requests()
        .iter()
        .filter(|r| r.starts_with("/oauth2/token"))
        .count();
    assert!(refreshes >= 2, "{refreshes} refreshes");
    assert!(
        !emu.statuses().contains(&401),
        "no request failed for an expired token"
    );
}

async fn run_with(emu: &Emulator, dir: &TempDir, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let cfg = dir.json("config.json", &config_for(emu, json!({})));
    let mut a = args(&[&"--config", &cfg]);
    a.extend(args(extra));
    tap(a).await
}

#[tokio::test]
async fn a_whole_state_message_as_the_state_is_unwrapped_with_a_warning() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("mistake-state");
    let first = run_with(&emu, &dir, &[]).await;
    let value = check_output(&first).last_state();
    let state = dir.json("state.json", &json!({"type": "STATE", "value": value}));
    let out = run_with(&emu, &dir, &[&"--state", &state]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert_eq!(
        warnings(&out, "whole STATE message").len(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(
        synced
            .records
            .keys()
            .all(|s| read_whole_by_default().contains(&s.as_str())),
        "the bookmarks were used"
    );
    assert!(
        synced.last_state().get("type").is_none() && synced.last_state().get("value").is_none(),
        "not nested"
    );
}

#[tokio::test]
async fn a_bookmark_in_the_future_is_taken_as_now_with_a_warning() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("mistake-future");
    let future = EPOCH_END_MS * 2;
    let state = dir.json("state.json", &json!({"bookmarks": {"conversations": {"replication_key": "updatedAt", "replication_key_value": future}}}));
    let out = run_with(&emu, &dir, &[&"--state", &state]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert_eq!(warnings(&out, "in the future").len(), 1, "{}", stderr(&out));
    assert!(!synced.records.contains_key("conversations"));
    let bookmark =
        synced.last_state()["bookmarks"]["conversations"]["replication_key_value"].as_i64();
    assert!(
        bookmark.is_some_and(|b| b < future),
        "no longer blocked: {bookmark:?}"
    );
}
