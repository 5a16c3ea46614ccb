//! Faults, limits, OAuth, signals, broken pipes and secrets, against the emulator's fault injection.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use drift_emulator::{Dataset, Faults, OAuthApp, Options, Storm};
use serde_json::{json, Value};

use crate::support::*;

/// Requests a sync of `small()` makes without faults.
async fn ideal_requests() -> usize {
    let (emu, out, _dir) = sync_with(Faults::default(), json!({})).await;
    assert!(out.status.success());
    emu.requests().len()
}

async fn sync_with(
    faults: Faults,
    extra: Value,
) -> (drift_emulator::Emulator, std::process::Output, TempDir) {
    let dir = TempDir::new(&format!(
        "faults-{}-{}",
        faults.seed, faults.server_error_percent
    ));
    let emu = emulator_with(
        small(),
        Options {
            faults,
            ..Options::new(TOKEN)
        },
    )
    .await;
    let cfg = dir.json("config.json", &config_for(&emu, extra));
    let out = tap(args(&[&"--config", &cfg])).await;
    (emu, out, dir)
}

fn assert_complete(emu: &drift_emulator::Emulator, out: &std::process::Output) {
    assert!(out.status.success(), "{}", stderr(out));
    let synced = check_output(out); // also asserts every key is unique: nothing emitted twice
    for stream in top_level_streams() {
        assert_eq!(
            synced.records.get(stream).cloned().unwrap_or_default(),
            truth(emu, stream),
            "{stream}"
        );
    }
}

#[tokio::test]
async fn five_xx_a_429_storm_and_truncated_bodies_lose_nothing() {
    let storm = Storm {
        after: 25,
        length: 8,
        retry_after_seconds: 0,
    };
    let faults = Faults {
        seed: 5,
        server_error_percent: 20,
        storm: Some(storm),
        truncate_first_page: true,
        ..Faults::default()
    };
    let (emu, out, _dir) =
        sync_with(faults, json!({"max_attempts": 12, "max_concurrency": 4})).await;
    assert_complete(&emu, &out);
    // bound: 20 % failures cost 1/0.8 = 1.25 attempts a request on average; allow 1.6, plus the
    // storm and one truncated page per list endpoint
    let ideal = ideal_requests().await;
    let served = emu.requests().len();
    assert!(
        served <= ideal * 16 / 10 + 8 + 2,
        "{served} requests for {ideal} ideal"
    );
    let err = stderr(&out);
    assert!(
        err.contains("retrying") && err.contains("429") && err.contains("body cut short"),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_bodies_html_pages_and_hangs_are_retried() {
    let faults = Faults {
        seed: 8,
        server_error_percent: 10,
        malformed_first_page: true,
        hang_every: Some(45),
        hang: Duration::from_secs(3),
        ..Faults::default()
    };
    let (emu, out, _dir) = sync_with(
        faults,
        json!({"max_attempts": 8, "request_timeout_seconds": 1}),
    )
    .await;
    assert_complete(&emu, &out);
    let err = stderr(&out);
    assert!(
        err.contains("unexpected body") && err.contains("timed out") && err.contains("502"),
        "{err}"
    );
    assert!(
        !err.contains("<html>"),
        "an HTML page is cut to one line: {err}"
    );
}

#[tokio::test]
async fn persistent_500_fails_within_the_budget_after_the_last_state() {
    let faults = Faults {
        always_fail_prefix: Some("/conversations".into()),
        ..Faults::default()
    };
    let started = Instant::now();
    let (_emu, out, _dir) =
        sync_with(faults, json!({"max_attempts": 3, "backoff_base_ms": 10})).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last: Value = serde_json::from_str(stdout.lines().last().expect("output")).expect("json");
    assert_eq!(last["type"], "STATE", "the last line is a STATE");
    assert!(
        last["value"]["bookmarks"]["accounts"].is_object(),
        "accounts finished before the failure"
    );
    let err = stderr(&out);
    let critical: Vec<&str> = err.lines().filter(|l| l.starts_with("CRITICAL")).collect();
    assert_eq!(critical.len(), 1, "{err}");
    assert!(
        critical[0].contains("/conversations/list")
            && critical[0].contains("3 attempts")
            && critical[0].contains("500"),
        "{}",
        critical[0]
    );
}

#[tokio::test]
async fn rate_limit_is_never_exceeded() {
    // the emulator's leaky bucket of 1 200 a minute, holding 20 (Drift's shape): a tap that sent
    // faster than its fixed requests_per_minute would meet 429s (the exact spacing of the slots
    // is the limiter's unit test, in virtual time)
    let data = Dataset {
        seed: 2,
        users: 3,
        accounts: 12,
        conversations: 40,
        ..Dataset::default()
    };
    let emu = emulator_with_bucket(data, 1_200, 20).await;
    let dir = TempDir::new("ratelimit");
    let cfg = dir.json(
        "config.json",
        &config_for(
            &emu,
            json!({"requests_per_minute": 1200, "max_concurrency": 8}),
        ),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let statuses = emu.statuses();
    assert!(statuses.len() > 40);
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(throttled, 0, "{}", stderr(&out));
}

fn oauth_app(rotate: bool) -> OAuthApp {
    OAuthApp {
        client_id: "cid".into(),
        client_secret: "csecret-9d8e".into(),
        refresh_token: "rtoken-4c5b".into(),
        rotate,
        access_lifetime: None,
        camel_case: false,
    }
}

#[tokio::test]
async fn expired_token_is_refreshed_once_and_the_sync_completes() {
    let faults = Faults {
        expire_token_after: Some(30),
        ..Faults::default()
    };
    let emu = emulator_with(
        small(),
        Options {
            faults,
            oauth: Some(oauth_app(true)),
            ..Options::new(TOKEN)
        },
    )
    .await;
    let dir = TempDir::new("oauth");
    let cfg = dir.json("config.json", &config_for(&emu, json!({"client_id": "cid", "client_secret": "csecret-9d8e", "refresh_token": "rtoken-4c5b"})));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert_complete(&emu, &out);
    assert_eq!(
        emu.requests()
            .iter()
            .filter(|r| r.starts_with("/oauth2/token"))
            .count(),
        1,
        "one refresh"
    );
    let err = stderr(&out);
    assert!(err.contains("replaced the refresh token"), "{err}");
    for secret in [
        TOKEN,
        "csecret-9d8e",
        "rtoken-4c5b",
        "emu-access-1",
        "emu-refresh-1",
    ] {
        assert!(
            !err.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret),
            "{secret} leaked"
        );
    }

    // no access token at all: obtained at start
    let emu = emulator_with(
        small(),
        Options {
            oauth: Some(oauth_app(false)),
            ..Options::new("never-valid")
        },
    )
    .await;
    let cfg = dir.json(
        "config2.json",
        &json!({"api_url": emu.base_url, "client_id": "cid", "client_secret": "csecret-9d8e",
        "refresh_token": "rtoken-4c5b", "requests_per_minute": 100000}),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    assert_complete(&emu, &out);
}

#[tokio::test]
async fn bad_refresh_token_fails_fast() {
    let emu = emulator_with(
        small(),
        Options {
            oauth: Some(oauth_app(false)),
            ..Options::new(TOKEN)
        },
    )
    .await;
    let dir = TempDir::new("badrefresh");
    let cfg = dir.json("config.json", &json!({"api_url": emu.base_url, "client_id": "cid", "client_secret": "csecret-9d8e", "refresh_token": "wrong-rt"}));
    let out = tap(args(&[&"--config", &cfg])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l.starts_with("CRITICAL")
            && l.contains("refresh")
            && l.contains("refresh_token")),
        "{err}"
    );
    assert_eq!(emu.requests().len(), 1, "one token request, no retries");
    assert!(!err.contains("wrong-rt") && !err.contains("csecret-9d8e"));
}

#[tokio::test]
async fn wrong_value_types_are_coerced_or_nulled_with_a_warning() {
    let faults = Faults {
        wrong_types: true,
        ..Faults::default()
    };
    let (emu, out, _dir) = sync_with(faults, json!({})).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out); // every record still validates
    assert_eq!(
        synced.keys("conversations").len(),
        emu.records("conversations").len()
    );
    let odd: Vec<&Value> = synced.records["conversations"]
        .iter()
        .filter(|c| c["orgId"].is_null())
        .collect();
    assert!(!odd.is_empty());
    assert!(odd
        .iter()
        .all(|c| c["inboxId"].is_i64() && c["status"] == "3"));
    assert!(stderr(&out).contains("does not fit the schema"));
}

#[tokio::test]
async fn a_closed_pipe_ends_the_tap_cleanly() {
    let emu = emulator(Dataset {
        seed: 3,
        users: 5,
        accounts: 20,
        conversations: 2_000,
        ..Dataset::default()
    })
    .await;
    let dir = TempDir::new("epipe");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let (status, err) = tokio::task::spawn_blocking(move || {
        let mut child = spawn_tap(&cfg, Stdio::piped());
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("line");
        // the reader is dropped here: the target has gone away
        let mut err = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("stderr");
        (child.wait().expect("wait"), err)
    })
    .await
    .expect("join");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write to stdout"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn sigterm_writes_the_last_state_and_exits_promptly() {
    let emu = emulator(Dataset {
        seed: 4,
        users: 5,
        accounts: 20,
        conversations: 3_000,
        ..Dataset::default()
    })
    .await;
    let dir = TempDir::new("sigterm");
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"requests_per_minute": 12000})),
    );
    let (status, lines, elapsed) = tokio::task::spawn_blocking(move || {
        let mut child = spawn_tap(&cfg, Stdio::null());
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut lines = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).expect("read") > 0 {
            let conversations = line.contains(r#""stream":"conversations""#);
            lines.push(std::mem::take(&mut line));
            if conversations && lines.len() > 100 {
                break;
            }
        }
        let sent = Instant::now();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).expect("rest");
        lines.extend(rest.lines().map(|l| format!("{l}\n")));
        (child.wait().expect("wait"), lines, sent.elapsed())
    })
    .await
    .expect("join");
    assert_eq!(status.code(), Some(143));
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let last: Value =
        serde_json::from_str(lines.last().expect("lines")).expect("whole JSON lines only");
    assert_eq!(last["type"], "STATE");
    for l in &lines {
        serde_json::from_str::<Value>(l).expect("every line is whole JSON");
    }
}

#[tokio::test]
async fn secrets_appear_in_no_output_of_any_mode() {
    let secret = "tok-SECRET-5ee1";
    let emu = emulator_with(
        small(),
        Options {
            oauth: Some(oauth_app(false)),
            ..Options::new(secret)
        },
    )
    .await;
    let dir = TempDir::new("secrets");
    let good = dir.json("good.json", &config_for(&emu, json!({"access_token": secret, "client_id": "cid", "client_secret": "csecret-9d8e", "refresh_token": "rtoken-4c5b"})));
    let wrong = dir.json(
        "wrong.json",
        &config_for(&emu, json!({"access_token": "tok-WRONG-77aa"})),
    );
    let bad_url = dir.json(
        "badurl.json",
        &json!({"access_token": secret, "api_url": "nope"}),
    );
    let dead = dir.json("dead.json", &json!({"access_token": secret, "api_url": "http://127.0.0.1:9", "max_attempts": 2, "backoff_base_ms": 1}));
    let runs: Vec<Vec<String>> = vec![
        args(&[&"--config", &good]),
        args(&[&"--config", &good, &"--discover"]),
        args(&[&"--config", &good, &"--about"]),
        args(&[&"--config", &good, &"--about", &"--format", &"json"]),
        args(&[&"--config", &good, &"--about", &"--format", &"markdown"]),
        args(&[&"--config", &good, &"--test"]),
        args(&[&"--config", &good, &"--test=schema"]),
        args(&[&"--config", &wrong]),
        args(&[&"--config", &bad_url]),
        args(&[&"--config", &dead]),
        args(&[&"--help"]),
        args(&[&"--version"]),
    ];
    for a in runs {
        let out = tokio::task::spawn_blocking({
            let a = a.clone();
            move || {
                Command::new(env!("CARGO_BIN_EXE_tap-drift"))
                    .args(&a)
                    .env("TAP_DRIFT_LOGLEVEL", "debug")
                    .output()
                    .expect("runs")
            }
        })
        .await
        .expect("join");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for s in [secret, "tok-WRONG-77aa", "csecret-9d8e", "rtoken-4c5b"] {
            assert!(!all.contains(s), "{s} printed by {a:?}");
        }
        assert!(!all.contains("panicked"), "{a:?}: {all}");
    }
}
