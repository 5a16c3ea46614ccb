//! Command-line behaviour: discovery, bad input, exit codes, one clear error line, no secrets.

use drift_emulator::Dataset;
use serde_json::json;

use crate::support::*;

fn catalog_json() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.json"))
        .expect("catalog.json")
}

#[tokio::test]
async fn discover_prints_catalog_json_byte_for_byte() {
    let dir = TempDir::new("discover");
    // a config that cannot reach Drift (no credentials): only timestamp_format would matter
    let cfg = dir.json("config.json", &json!({"timestamp_format": "epoch_ms"}));
    let state = dir.json("state.json", &json!({"bookmarks": {}}));
    for a in [
        args(&[&"--config", &cfg, &"--discover"]),
        args(&[&"--config", &cfg, &"--state", &state, &"--discover"]),
        args(&[&"--discover"]),
    ] {
        let out = tap(a.clone()).await;
        assert!(out.status.success(), "{a:?}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8(out.stdout).expect("utf8"),
            catalog_json(),
            "{a:?}"
        );
    }
}

#[test]
fn catalog_metadata_follows_the_singer_rules() {
    let cat: serde_json::Value = serde_json::from_str(&catalog_json()).expect("catalog parses");
    for entry in cat["streams"].as_array().expect("streams") {
        assert_eq!(entry["tap_stream_id"], entry["stream"]);
        let md = entry["metadata"].as_array().expect("metadata");
        assert_eq!(
            md[0]["breadcrumb"],
            json!([]),
            "stream-level metadata first"
        );
        let top = &md[0]["metadata"];
        assert_eq!(top["inclusion"], "available");
        assert_eq!(top["selected-by-default"], true);
        assert_eq!(top["table-key-properties"], entry["key_properties"]);
        assert!(
            top["valid-replication-keys"]
                .as_array()
                .is_some_and(|k| k.len() == 1)
                || top["forced-replication-method"].is_string()
        );
        for m in md {
            assert!(
                m["metadata"].get("selected").is_none(),
                "no `selected` key in discovery"
            );
        }
        let key = entry["key_properties"][0].as_str().expect("key");
        let key_md = md
            .iter()
            .find(|m| m["breadcrumb"] == json!(["properties", key]))
            .expect("key metadata");
        assert_eq!(key_md["metadata"]["inclusion"], "automatic");
    }
}

fn assert_one_critical_line(out: &std::process::Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit code 1; stderr: {}",
        stderr(out)
    );
    let err = stderr(out);
    let critical: Vec<&str> = err.lines().filter(|l| l.starts_with("CRITICAL")).collect();
    assert_eq!(critical.len(), 1, "one CRITICAL line: {err}");
    assert!(
        critical[0].contains(needle),
        "`{needle}` in: {}",
        critical[0]
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(TOKEN),
        "token on stdout"
    );
    assert!(!err.contains(TOKEN), "token on stderr");
}

#[tokio::test]
async fn bad_config_fails_with_one_clear_line() {
    let dir = TempDir::new("badconfig");
    let emu = emulator(small()).await;
    let missing = dir.json("missing.json", &json!({"api_url": emu.base_url}));
    assert_one_critical_line(&tap(args(&[&"--config", &missing])).await, "access_token");

    let malformed = dir.write("malformed.json", "{\"access_token\": ");
    assert_one_critical_line(
        &tap(args(&[&"--config", &malformed])).await,
        "not valid JSON",
    );

    let bad_url = dir.json(
        "url.json",
        &json!({"access_token": TOKEN, "api_url": "not a url"}),
    );
    assert_one_critical_line(&tap(args(&[&"--config", &bad_url])).await, "api_url");

    let bad_start = dir.json(
        "start.json",
        &json!({"access_token": TOKEN, "start_date": "last tuesday"}),
    );
    assert_one_critical_line(&tap(args(&[&"--config", &bad_start])).await, "start_date");

    let nofile = dir.0.join("nope.json");
    assert_one_critical_line(&tap(args(&[&"--config", &nofile])).await, "nope.json");

    let wrong_token = dir.json(
        "wrong.json",
        &config_for(&emu, json!({"access_token": "wrong-token-123"})),
    );
    let out = tap(args(&[&"--config", &wrong_token])).await;
    assert_one_critical_line(&out, "401");
    assert!(
        !stderr(&out).contains("wrong-token-123"),
        "the rejected token is not printed"
    );
}

#[tokio::test]
async fn config_files_merge_left_to_right() {
    let dir = TempDir::new("merge");
    let emu = emulator(small()).await;
    let base = dir.json(
        "a.json",
        &json!({"access_token": "wrong", "api_url": "http://127.0.0.1:9"}),
    );
    let over = dir.json("b.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &base, &"--config", &over])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert_eq!(synced.keys("users").len(), small().users as usize);
}

#[tokio::test]
async fn bad_catalog_and_state_fail_clearly() {
    let dir = TempDir::new("badinput");
    let emu = emulator(Dataset {
        seed: 1,
        users: 2,
        accounts: 1,
        conversations: 1,
        ..Dataset::default()
    })
    .await;
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let cat = dir.json("cat.json", &json!({"nothing": []}));
    assert_one_critical_line(
        &tap(args(&[&"--config", &cfg, &"--catalog", &cat])).await,
        "streams",
    );
    let state = dir.json("state.json", &json!({"bookmarks": {"accounts": {"replication_key": "updateDateTime", "replication_key_value": "soon"}}}));
    assert_one_critical_line(
        &tap(args(&[&"--config", &cfg, &"--state", &state])).await,
        "bookmarks.accounts",
    );
}

#[tokio::test]
async fn version_and_help() {
    let out = tap(args(&[&"--version"])).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = tap(args(&[&"--help"])).await;
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    for flag in [
        "--config",
        "--discover",
        "--catalog",
        "--properties",
        "--state",
        "--sandbox",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
}
