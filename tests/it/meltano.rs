//! What Meltano relies on: --about, --config ENV, --test, METRIC lines, log level and JSON logs.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn about_json_has_the_sdk_keys_and_marks_secrets() {
    let out = tap(args(&[&"--about", &"--format", &"json"])).await;
    assert!(out.status.success());
    let about: Value = serde_json::from_slice(&out.stdout).expect("about is JSON");
    let keys: Vec<&str> = about
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "description",
            "version",
            "sdk_version",
            "supported_python_versions",
            "capabilities",
            "settings"
        ]
    );
    assert_eq!(about["name"], "tap-drift");
    for cap in ["catalog", "discover", "state", "about", "test"] {
        assert!(about["capabilities"]
            .as_array()
            .expect("caps")
            .contains(&json!(cap)));
    }
    let settings = &about["settings"];
    assert_eq!(settings["anyOf"][0]["required"], json!(["access_token"]));
    for secret in ["access_token", "client_secret", "refresh_token"] {
        assert_eq!(settings["properties"][secret]["secret"], true, "{secret}");
        assert_eq!(
            settings["properties"][secret]["writeOnly"], true,
            "{secret}"
        );
    }
    assert_eq!(settings["properties"]["start_date"]["format"], "date-time");
    assert_eq!(settings["properties"]["page_size"]["default"], 100);
    assert_eq!(settings["properties"]["page_size"]["maximum"], 100);
    assert!(about["capabilities"]
        .as_array()
        .expect("caps")
        .contains(&json!("activate-version")));
    // every setting is documented in the README
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for name in settings["properties"].as_object().expect("props").keys() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README documents `{name}`"
        );
    }
    let md = tap(args(&[&"--about", &"--format", &"markdown"])).await;
    let md = String::from_utf8_lossy(&md.stdout).into_owned();
    assert!(
        md.starts_with("# `tap-drift`")
            && md.contains("## Capabilities")
            && md.contains("| Setting | Required | Default | Description |")
    );
    let text = tap(args(&[&"--about"])).await;
    assert!(String::from_utf8_lossy(&text.stdout)
        .contains("Environment Variable: TAP_DRIFT_ACCESS_TOKEN"));
}

#[tokio::test]
async fn config_env_reads_typed_tap_drift_variables() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("envcfg");
    dir.write(".env", "TAP_DRIFT_PAGE_SIZE=not-used-because-env-wins\n");
    let base = emu.base_url.clone();
    let out = tokio::task::spawn_blocking({
        let cwd = dir.0.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_tap-drift"))
                .args(["--config", "ENV"])
                .current_dir(cwd)
                .env("TAP_DRIFT_ACCESS_TOKEN", TOKEN)
                .env("TAP_DRIFT_API_URL", base)
                .env("TAP_DRIFT_PAGE_SIZE", "7")
                .env("TAP_DRIFT_REQUESTS_PER_MINUTE", "100000")
                .output()
                .expect("runs")
        }
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert_eq!(
        synced.keys("conversations").len(),
        small().conversations as usize
    );
    // page size 7 from the environment: ceil(137 / 7) = 20 list pages
    let pages = emu
        .requests()
        .iter()
        .filter(|r| r.starts_with("/conversations/list"))
        .count();
    assert_eq!(pages, 20);
}

#[tokio::test]
async fn test_modes_sync_one_record_or_only_schemas() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("testmode");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg, &"--test"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    for stream in all_streams() {
        assert_eq!(synced.records[stream].len(), 1, "{stream}");
    }
    assert_eq!(
        synced.last_state(),
        json!({"bookmarks": {}}),
        "a test run moves no bookmark"
    );
    let out = tap(args(&[&"--config", &cfg, &"--test=schema"])).await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text
        .lines()
        .all(|l| l.contains(r#""type":"SCHEMA""#) || l.contains(r#""type":"STATE""#)));
    assert_eq!(
        text.lines()
            .filter(|l| l.contains(r#""type":"SCHEMA""#))
            .count(),
        all_streams().len()
    );
}

#[tokio::test]
async fn logs_carry_sdk_metrics_and_honour_level_and_json_format() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("logs");
    // per-request metrics as Meltano users ask for them
    let cfg = dir.json(
        "config.json",
        &config_for(&emu, json!({"metrics_log_level": "INFO"})),
    );
    let out = tap(args(&[&"--config", &cfg])).await;
    let err = stderr(&out);
    let metric = |name: &str| {
        err.lines()
            .filter_map(|l| {
                l.split_once("METRIC: ")
                    .map(|(_, m)| serde_json::from_str::<Value>(m).expect("metric JSON"))
            })
            .filter(|m| m["metric"] == name)
            .collect::<Vec<_>>()
    };
    let counts = metric("record_count");
    assert!(counts
        .iter()
        .any(|m| m["tags"]["stream"] == "conversations" && m["value"] == 137));
    let timers = metric("http_request_duration");
    assert!(timers
        .iter()
        .any(|m| m["tags"]["endpoint"] == "/conversations/{id}"
            && m["tags"]["http_status_code"] == 200
            && m["tags"]["status"] == "succeeded"));
    assert!(err.lines().all(|l| !l.is_empty()));

    let run = |envs: Vec<(&'static str, &'static str)>| {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_tap-drift"))
                .arg("--config")
                .arg(cfg)
                .envs(envs)
                .output()
                .expect("runs")
        })
    };
    let quiet = run(vec![("TAP_DRIFT_LOGLEVEL", "warning")])
        .await
        .expect("join");
    assert!(quiet.status.success());
    assert!(
        stderr(&quiet).lines().all(|l| l.starts_with("WARN")),
        "no INFO at warning level: {}",
        stderr(&quiet)
    );
    let json_logs = run(vec![("TAP_DRIFT_LOG_FORMAT", "json"), ("LOGLEVEL", "info")])
        .await
        .expect("join");
    for line in stderr(&json_logs).lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in [
            "level",
            "pid",
            "logger_name",
            "ts",
            "thread_name",
            "app_name",
            "message",
            "extra",
        ] {
            assert!(v.get(key).is_some(), "{key} in {line}");
        }
    }
}

/// Meltano runs a plugin declaring `structured-logging` with `SINGER_SDK_LOG_CONFIG` naming a
/// logging config whose formatter is the SDK's StructuredFormatter, and parses its JSON lines;
/// for other plugins the formatter is a plain format string.
#[tokio::test]
async fn an_sdk_logging_config_from_meltano_sets_json_lines_and_the_level() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("sdk-log-config");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let logging = |name: &str, formatter: Value, level: &str| {
        dir.json(
            name,
            &json!({"version": 1, "disable_existing_loggers": false,
                "formatters": {"singer_formatter": formatter},
                "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "singer_formatter", "stream": "ext://sys.stderr"}},
                "root": {"handlers": ["console"], "level": level}}),
        )
    };
    let structured = logging(
        "structured.json",
        json!({"()": "singer_sdk.logging.StructuredFormatter"}),
        "INFO",
    );
    let plain = logging("plain.json", json!({"format": "%(message)s"}), "WARNING");
    let run = |log_config: std::path::PathBuf| {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_tap-drift"))
                .arg("--config")
                .arg(cfg)
                .env("SINGER_SDK_LOG_CONFIG", log_config)
                .env_remove("LOGLEVEL")
                .env_remove("TAP_DRIFT_LOGLEVEL")
                .env_remove("TAP_DRIFT_LOG_FORMAT")
                .output()
                .expect("runs")
        })
    };
    let json_run = run(structured).await.expect("join");
    assert!(json_run.status.success());
    let lines: Vec<Value> = stderr(&json_run)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // the message carries the fields, as Meltano's console shows only the message
    assert!(lines.iter().any(|v| v["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("stream finished stream=conversations records=137 "))));
    assert!(lines
        .iter()
        .any(|v| v["metric_info"]["metric"] == "record_count"
            && v["metric_info"]["tags"]["stream"] == "conversations"
            && v["metric_info"]["value"] == 137));
    let plain_run = run(plain).await.expect("join");
    assert!(plain_run.status.success());
    assert!(
        stderr(&plain_run).lines().all(|l| l.starts_with("WARN")),
        "plain lines at the config's WARNING level: {}",
        stderr(&plain_run)
    );
}
