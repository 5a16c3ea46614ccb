//! What the Airbyte platform shows users of `source-drift`, against the emulator: a config saved
//! for Airbyte's own Drift connector (`credentials` in either of its shapes, and `email`) checks
//! and reads, and validates against the SPEC, which carries `documentationUrl` and `advanced_auth`;
//! ESTIMATE traces say the emulator's list totals; a stream is RUNNING with reason RATE_LIMITED
//! while the emulator's bucket throttles; a value nulled to fit its schema is in `meta.changes`;
//! each STATE's `sourceStats.recordCount` counts the records since the stream's previous STATE.

use std::collections::HashMap;

use drift_emulator::{Dataset, Emulator, Faults, OAuthApp, Options};
use serde_json::{json, Value};

use crate::airbyte::{configured, discover, read, source, Run};
use crate::support::*;

fn oauth_app() -> OAuthApp {
    OAuthApp {
        client_id: "cid-ab".into(),
        client_secret: "csecret-ab-7f".into(),
        refresh_token: "rtoken-ab-3e".into(),
        rotate: false,
        access_lifetime: None,
        camel_case: false,
    }
}

/// The config for `emu` with its token moved into Airbyte's `credentials` object (`credentials`:
/// the object itself), and Airbyte's `email`.
fn airbyte_config(emu: &Emulator, credentials: Value) -> Value {
    let mut c = config_for(
        emu,
        json!({"email": "someone@example.com", "credentials": credentials}),
    );
    c.as_object_mut().expect("object").remove("access_token");
    c
}

/// Checks and reads every stream with `config`; returns the read.
async fn check_and_read(dir: &TempDir, config: &Value) -> Run {
    let cfg = dir.json("config.json", config);
    let run = source(args(&[&"check", &"--config", &cfg])).await;
    let status = &run.of("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "SUCCEEDED", "{status}");
    let catalog = dir.json("catalog.json", &configured(&discover(&cfg).await));
    let run = read(&cfg, &catalog, None).await;
    assert!(run.ok, "{:?}", run.of("TRACE"));
    run
}

#[tokio::test]
async fn a_config_saved_for_airbytes_drift_connector_checks_and_reads() {
    let emu = emulator_with(
        small(),
        Options {
            oauth: Some(oauth_app()),
            ..Options::new(TOKEN)
        },
    )
    .await;
    let dir = TempDir::new("airbyte-shapes");
    let token = json!({"credentials": "access_token", "access_token": TOKEN});
    let run = check_and_read(&dir, &airbyte_config(&emu, token)).await;
    assert_eq!(
        key_set(run.records("accounts"), "accountId"),
        key_set(&emu.records("accounts"), "accountId")
    );
    let said: Vec<&Value> = run
        .of("LOG")
        .into_iter()
        .filter(|l| {
            l["log"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("`email`")
        })
        .collect();
    assert_eq!(said.len(), 1, "one info line for email");
    assert_eq!(said[0]["log"]["level"], "INFO");

    // the OAuth branch, with a stale access token: the refresh credentials are read from it
    let app = oauth_app();
    let oauth = json!({"credentials": "oauth2.0", "client_id": app.client_id, "client_secret": app.client_secret,
        "access_token": "stale-token-5", "refresh_token": app.refresh_token});
    let before = emu.requests().len();
    let run = check_and_read(&dir, &airbyte_config(&emu, oauth)).await;
    assert_eq!(
        key_set(run.records("users"), "id"),
        key_set(&emu.records("users"), "id")
    );
    let refreshed = emu.requests()[before..]
        .iter()
        .filter(|r| r.starts_with("/oauth2/token"))
        .count();
    assert!(refreshed >= 1, "the stale token was refreshed");
    let text = serde_json::to_string(&run.messages).expect("json");
    assert!(!text.contains("csecret-ab-7f") && !text.contains("rtoken-ab-3e"));
}

fn key_set<'a>(records: impl IntoIterator<Item = &'a Value>, key: &str) -> Vec<String> {
    let mut keys: Vec<String> = records.into_iter().map(|r| r[key].to_string()).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_spec_links_its_docs_offers_oauth_and_validates_airbytes_configs() {
    let run = source(args(&[&"spec"])).await;
    assert!(run.ok);
    let spec = &run.of("SPEC")[0]["spec"];
    assert!(spec["documentationUrl"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://")));
    let auth = &spec["advanced_auth"];
    assert_eq!(auth["auth_flow_type"], "oauth2.0");
    assert_eq!(auth["predicate_key"], json!(["credentials", "credentials"]));
    assert_eq!(auth["predicate_value"], "oauth2.0");
    let outputs = &auth["oauth_config_specification"]["complete_oauth_output_specification"];
    assert_eq!(
        outputs["properties"]["refresh_token"]["path_in_connector_config"],
        json!(["credentials", "refresh_token"])
    );
    let validator = jsonschema::draft7::new(&spec["connectionSpecification"]).expect("draft 7");
    let token = json!({"credentials": {"credentials": "access_token", "access_token": "t"}, "email": "a@b.c"});
    let oauth = json!({"credentials": {"credentials": "oauth2.0", "client_id": "i", "client_secret": "s",
        "access_token": "t", "refresh_token": "r"}, "email": "a@b.c", "start_date": "2024-01-01T00:00:00Z"});
    for ok in [
        token,
        oauth,
        json!({"access_token": "t"}),
        json!({"sandbox": true}),
    ] {
        assert!(validator.is_valid(&ok), "{ok}");
    }
    let half_oauth = json!({"credentials": {"credentials": "oauth2.0", "access_token": "t"}});
    let other = json!({"credentials": {"credentials": "api_key", "access_token": "t"}});
    let bad_date = json!({"access_token": "t", "start_date": "yesterday"});
    for bad in [json!({}), half_oauth, other, bad_date] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

/// `source-drift read` of every stream of `emu` (with `extra` config), checked to succeed.
async fn read_all(emu: &Emulator, name: &str, extra: Value) -> Run {
    let dir = TempDir::new(name);
    let cfg = dir.json("config.json", &config_for(emu, extra));
    let catalog = dir.json("catalog.json", &configured(&discover(&cfg).await));
    let run = read(&cfg, &catalog, None).await;
    assert!(run.ok, "{:?}", run.of("TRACE"));
    run
}

fn traces<'a>(run: &'a Run, kind: &str) -> Vec<&'a Value> {
    run.of("TRACE")
        .into_iter()
        .filter(|t| t["trace"]["type"] == kind)
        .map(|t| &t["trace"])
        .collect()
}

#[tokio::test]
async fn estimates_are_the_lists_totals_before_their_records() {
    let emu = emulator(small()).await;
    let run = read_all(&emu, "airbyte-estimate", json!({})).await;
    let estimates = traces(&run, "ESTIMATE");
    // only the accounts list says its total
    assert_eq!(estimates.len(), 1, "{estimates:?}");
    let e = &estimates[0]["estimate"];
    assert_eq!(
        (e["name"].as_str(), e["type"].as_str()),
        (Some("accounts"), Some("STREAM"))
    );
    assert_eq!(e["row_estimate"], json!(emu.records("accounts").len()));
    let at = |pick: &dyn Fn(&Value) -> bool| run.messages.iter().position(pick);
    let estimated = at(&|m| m["trace"]["type"] == "ESTIMATE").expect("estimate");
    let first = at(&|m| m["record"]["stream"] == "accounts").expect("a record");
    assert!(estimated < first);
}

#[tokio::test]
async fn a_stream_is_running_rate_limited_while_the_bucket_throttles() {
    for retry_after in [true, false] {
        let options = bucket_options(3000, 5, retry_after);
        let data = Dataset {
            users: 3,
            accounts: 4,
            conversations: 12,
            ..Dataset::default()
        };
        let emu = emulator_with(data, options).await;
        let run = read_all(&emu, "airbyte-throttle", json!({})).await;
        let throttled = emu.statuses().iter().filter(|s| **s == 429).count();
        assert!(throttled >= 1, "the bucket was hit");
        let limited: Vec<&Value> = traces(&run, "STREAM_STATUS")
            .into_iter()
            .map(|t| &t["stream_status"])
            .filter(|s| s.get("reasons").is_some())
            .collect();
        assert!(
            !limited.is_empty(),
            "{throttled} 429s and no RATE_LIMITED status"
        );
        for s in &limited {
            assert_eq!(s["status"], "RUNNING");
            let reason = &s["reasons"][0];
            assert_eq!(reason["type"], "RATE_LIMITED");
            assert_eq!(
                reason["rate_limited"]["quota_reset"].is_i64(),
                retry_after,
                "{s}"
            );
            // only a stream between its STARTED and its last status is rate limited
            let statuses =
                run.statuses(s["stream_descriptor"]["name"].as_str().unwrap_or_default());
            assert_eq!(statuses.first().map(String::as_str), Some("STARTED"));
            assert_eq!(statuses.last().map(String::as_str), Some("COMPLETE"));
        }
    }
}

#[tokio::test]
async fn a_value_nulled_to_fit_its_schema_is_in_meta_changes() {
    let data = Dataset {
        conversations: 25,
        ..small()
    };
    let faults = Faults {
        wrong_types: true,
        ..Faults::default()
    };
    let options = Options {
        faults,
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(data, options).await;
    let run = read_all(&emu, "airbyte-meta", json!({})).await;
    let conversations: Vec<&Value> = run
        .of("RECORD")
        .into_iter()
        .map(|m| &m["record"])
        .filter(|r| r["stream"] == "conversations")
        .collect();
    assert_eq!(conversations.len(), emu.records("conversations").len());
    // every tenth conversation carries an `orgId` of the wrong type: nulled; its other odd values
    // were coerced without loss, which the protocol does not count as a change
    let changed: Vec<&&Value> = conversations
        .iter()
        .filter(|r| r.get("meta").is_some())
        .collect();
    assert_eq!(changed.len(), 25usize.div_ceil(10));
    for r in changed {
        assert_eq!(r["data"]["orgId"], Value::Null);
        assert_eq!(
            r["meta"]["changes"],
            json!([{"field": "orgId", "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}])
        );
    }
}

#[tokio::test]
async fn source_stats_count_the_records_since_the_streams_previous_state() {
    let data = Dataset {
        conversations: 40,
        ..small()
    };
    let emu = emulator(data).await;
    let run = read_all(&emu, "airbyte-stats", json!({})).await;
    let mut since: HashMap<String, u64> = HashMap::new();
    let mut states = 0;
    for m in &run.messages {
        match m["type"].as_str() {
            Some("RECORD") => {
                let stream = m["record"]["stream"].as_str().unwrap_or_default();
                *since.entry(stream.to_string()).or_default() += 1;
            }
            Some("STATE") => {
                let s = &m["state"];
                let stream = s["stream"]["stream_descriptor"]["name"]
                    .as_str()
                    .unwrap_or_default();
                let counted = since.remove(stream).unwrap_or(0);
                assert_eq!(
                    s["sourceStats"]["recordCount"],
                    json!(counted as f64),
                    "{stream}"
                );
                states += 1;
            }
            _ => {}
        }
    }
    assert!(states >= all_streams().len());
    assert!(
        since.values().all(|n| *n == 0),
        "every record is covered by a STATE: {since:?}"
    );
    let total: usize = all_streams().iter().map(|s| run.records(s).len()).sum();
    assert_eq!(total, run.of("RECORD").len());
}
