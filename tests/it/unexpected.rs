//! Nothing unexpected is silent: a shape the tap did not expect either works, or fails loudly
//! saying what it saw. A detail or contact answered for another id, a Drift that was never
//! reached, states in shapes the tap does not know (or a state file not there yet), config values
//! that cannot form a request, and a catalog that leaves `selected` to `selected-by-default`, each
//! against the emulator's truth and its request log. (Numeric cursors are in `matrix.rs`.)

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use drift_emulator::{Emulator, Faults, Options};
use serde_json::{json, Value};

use crate::support::*;

/// The WARN lines of a run's stderr that contain `needle`.
fn warnings(out: &Output, needle: &str) -> Vec<String> {
    lines(out, "WARN", needle)
}

/// The lines of a run's stderr at `level` that contain `needle`.
fn lines(out: &Output, level: &str, needle: &str) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with(level) && l.contains(needle))
        .map(String::from)
        .collect()
}

/// Every stream came whole: the records equal the emulator's truth.
fn assert_whole(emu: &Emulator, synced: &Synced) {
    for stream in all_streams() {
        let got = synced.records.get(stream).cloned().unwrap_or_default();
        assert_eq!(
            got,
            truth(emu, stream),
            "{stream} records equal the emulator's"
        );
    }
}

/// A full sync of `small()` through these faults, with `extra` config; its output.
async fn sync_with_faults(name: &str, faults: Faults) -> (Emulator, Output) {
    let options = Options {
        faults,
        ..Options::new(TOKEN)
    };
    let emu = emulator_with(small(), options).await;
    let dir = TempDir::new(name);
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let out = tap(args(&[&"--config", &cfg])).await;
    (emu, out)
}

/// One warning names both ids of an answer for another record.
fn assert_named(out: &Output, stream: &str, asked: &Value, answered: &Value) {
    let needle = format!("record {answered} when asked for record {asked}");
    let found = warnings(out, &needle);
    assert_eq!(found.len(), 1, "{stream}: `{needle}` once: {}", stderr(out));
    assert!(
        found[0].contains(&format!("stream={stream}")),
        "{}",
        found[0]
    );
}

#[tokio::test]
async fn a_detail_or_contact_for_another_id_is_a_warning_and_the_listed_record_is_kept() {
    let faults = Faults {
        misdirect_every: Some(7),
        ..Faults::default()
    };
    let (emu, out) = sync_with_faults("misdirected", faults).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // every key once (check_output refuses a duplicate)
    let synced = check_output(&out);
    let misdirected = emu.misdirections("conversations");
    assert!(!misdirected.is_empty(), "the fault misdirects some details");
    let detail = tap_drift::streams::find("conversations")
        .and_then(|d| d.detail)
        .expect("conversations have a detail endpoint");
    let got = &synced.records["conversations"];
    let listed = truth(&emu, "conversations");
    assert_eq!(got.len(), listed.len(), "every listed conversation, once");
    for (record, whole) in got.iter().zip(&listed) {
        let Some((asked, answered)) = misdirected.iter().find(|(a, _)| *a == whole["id"]) else {
            assert_eq!(record, whole, "completed from its own detail");
            continue;
        };
        let mut listed = whole.clone();
        for field in detail.fields {
            listed.as_object_mut().expect("an object").remove(*field);
        }
        assert_eq!(record, &listed, "kept as the list gave it");
        assert_named(&out, "conversations", asked, answered);
    }
    // a contact answered for another id is not emitted in its place
    let referenced: Vec<Value> = truth_keys(&emu, "contacts");
    let wrong: Vec<(Value, Value)> = emu
        .misdirections("contacts")
        .into_iter()
        .filter(|(asked, _)| referenced.contains(asked))
        .collect();
    assert!(!wrong.is_empty(), "the fault misdirects some contacts");
    let expected: Vec<Value> = truth(&emu, "contacts")
        .into_iter()
        .filter(|c| !wrong.iter().any(|(asked, _)| *asked == c["id"]))
        .collect();
    assert_eq!(synced.records["contacts"], expected);
    for (asked, answered) in &wrong {
        assert_named(&out, "contacts", asked, answered);
    }
}

/// A loopback port nothing listens on: bound, noted, released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// Runs the binary on `config` (default settings otherwise), killing it (and failing the test) if
/// it is not done within a generous bound: the old behaviour took twenty minutes.
async fn run_bounded(dir: &TempDir, name: &str, config: &Path) -> Output {
    let (out, err) = (
        dir.0.join(format!("{name}.out")),
        dir.0.join(format!("{name}.err")),
    );
    let file = |p: &Path| Stdio::from(std::fs::File::create(p).expect("an output file"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tap-drift"))
        .arg("--config")
        .arg(config)
        .env_remove("TAP_DRIFT_LOGLEVEL")
        .env_remove("LOGLEVEL")
        .stdout(file(&out))
        .stderr(file(&err))
        .spawn()
        .expect("tap starts");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name}: still running after 180 s: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Output {
        status,
        stdout: std::fs::read(&out).expect("stdout"),
        stderr: std::fs::read(&err).expect("stderr"),
    }
}

#[tokio::test]
async fn a_drift_never_reached_fails_fast_naming_api_url() {
    let dir = TempDir::new("unreachable");
    let api_url = format!("http://127.0.0.1:{}", closed_port());
    let token = dir.json(
        "token.json",
        &json!({"access_token": TOKEN, "api_url": api_url}),
    );
    // without an access token the first request is the OAuth2 refresh
    let oauth = dir.json(
        "oauth.json",
        &json!({"client_id": "cid", "client_secret": "csecret-3e1f", "refresh_token": "rt-77a0", "api_url": api_url}),
    );
    let (by_token, by_oauth) = tokio::join!(
        run_bounded(&dir, "token", &token),
        run_bounded(&dir, "oauth", &oauth)
    );
    for out in [by_token, by_oauth] {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        let critical = lines(&out, "CRITICAL", "");
        assert_eq!(critical.len(), 1, "one CRITICAL line: {err}");
        for needle in ["api_url", &api_url, "onnection refused"] {
            assert!(
                critical[0].contains(needle),
                "`{needle}` in {}",
                critical[0]
            );
        }
        // the short patience is said once, with its length
        assert_eq!(warnings(&out, "retried for").len(), 1, "{err}");
        assert!(
            !err.contains("could not learn the token's scopes"),
            "token_info's failure is not passed over: {err}"
        );
        for secret in [TOKEN, "csecret-3e1f", "rt-77a0"] {
            assert!(!err.contains(secret), "no secret in: {err}");
        }
    }
}

/// A full sync, then a run from `state` (a value written to a file); the second run's output.
async fn from_state(name: &str, state: impl Fn(Value) -> Value) -> (Emulator, Output) {
    let emu = emulator(small()).await;
    let dir = TempDir::new(name);
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let first = check_output(&tap(args(&[&"--config", &cfg])).await);
    let file = dir.json("state.json", &state(first.last_state()));
    let out = tap(args(&[&"--config", &cfg, &"--state", &file])).await;
    (emu, out)
}

#[tokio::test]
async fn a_meltano_wrapped_state_is_unwrapped_with_one_info_line() {
    let (_, out) = from_state("state-wrapped", |v| json!({"singer_state": v})).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        lines(&out, "INFO", "singer_state").len(),
        1,
        "{}",
        stderr(&out)
    );
    let synced = check_output(&out);
    assert!(
        synced
            .records
            .keys()
            .all(|s| read_whole_by_default().contains(&s.as_str())),
        "the bookmarks were used: nothing changed, so only the streams read whole came"
    );
    assert!(
        synced.last_state().get("singer_state").is_none(),
        "not nested"
    );
}

#[tokio::test]
async fn a_state_the_tap_does_not_know_is_named_in_a_warning_and_dropped() {
    // the bookmarks without their "bookmarks" key, and a stray key: nothing the tap knows
    let (emu, out) = from_state("state-unknown-keys", |v| {
        let mut bare = v["bookmarks"].clone();
        bare["progress"] = json!(3);
        bare
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let found = warnings(&out, "no key tap-drift knows");
    assert_eq!(found.len(), 1, "{}", stderr(&out));
    for key in ["conversations", "accounts", "progress"] {
        assert!(found[0].contains(key), "{key} named: {}", found[0]);
    }
    let synced = check_output(&out);
    assert_whole(&emu, &synced);
    let last = synced.last_state();
    let keys: Vec<&String> = last.as_object().expect("an object").keys().collect();
    assert_eq!(
        keys,
        ["bookmarks"],
        "the stray keys are not carried: {last}"
    );

    // bookmarks only for streams the tap does not have (another tap's state)
    let (emu, out) = from_state("state-other-tap", |_| {
        json!({"bookmarks": {"tickets": {"replication_key": "updated_at", "replication_key_value": 5}}})
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let found = warnings(&out, "only for streams tap-drift does not have");
    assert_eq!(found.len(), 1, "{}", stderr(&out));
    assert!(found[0].contains("tickets"), "{}", found[0]);
    let synced = check_output(&out);
    assert_whole(&emu, &synced);
    assert!(synced
        .states()
        .iter()
        .all(|s| s["bookmarks"].get("tickets").is_none()));
}

#[tokio::test]
async fn a_state_file_not_there_yet_is_a_first_run_and_an_unreadable_one_an_error() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("state-first-run");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    let missing = dir.0.join("state.json");
    let out = tap(args(&[&"--config", &cfg, &"--state", &missing])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let said = lines(&out, "INFO", "does not exist yet");
    assert_eq!(said.len(), 1, "{}", stderr(&out));
    assert!(said[0].contains("state.json"), "{}", said[0]);
    assert_whole(&emu, &check_output(&out));

    let folder = dir.0.join("folder");
    std::fs::create_dir_all(&folder).expect("a folder");
    let broken = dir.write("broken.json", "{\"bookmarks\": ");
    for (bad, why) in [(&folder, "folder"), (&broken, "not valid JSON")] {
        let out = tap(args(&[&"--config", &cfg, &"--state", bad])).await;
        assert_eq!(out.status.code(), Some(1), "{why}: {}", stderr(&out));
        let critical = lines(&out, "CRITICAL", "state file");
        assert_eq!(critical.len(), 1, "{why}: {}", stderr(&out));
        assert!(
            critical[0].contains(&bad.display().to_string()),
            "{}",
            critical[0]
        );
    }
}

#[tokio::test]
async fn a_config_value_that_cannot_form_a_request_fails_before_the_first_request() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("unsendable");
    let oauth = json!({"access_token": null, "client_id": "cid", "client_secret": "cs-1", "refresh_token": "rt-1"});
    let cases = [
        (
            "access_token",
            json!({"access_token": "tok-a81f\ntok-b22e"}),
        ),
        (
            "refresh_token",
            json!({"refresh_token": "rt-c93d\r\nrt-d04a"}),
        ),
        (
            "client_secret",
            json!({"client_secret": "cs-e15b\tcs-f26c"}),
        ),
        (
            "api_url",
            json!({"api_url": format!("{}/?region=eu", emu.base_url)}),
        ),
        (
            "api_url",
            json!({"api_url": emu.base_url.replace("http://", "http://me:pw-9a7b@")}),
        ),
    ];
    for (i, (setting, value)) in cases.into_iter().enumerate() {
        let mut config = config_for(&emu, json!({}));
        if setting.ends_with("_token") && setting != "access_token" || setting == "client_secret" {
            config
                .as_object_mut()
                .expect("an object")
                .extend(oauth.as_object().cloned().unwrap_or_default());
        }
        config
            .as_object_mut()
            .expect("an object")
            .extend(value.as_object().cloned().unwrap_or_default());
        let cfg = dir.json(&format!("config{i}.json"), &config);
        let out = tap(args(&[&"--config", &cfg])).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{setting}: {err}");
        let critical = lines(&out, "CRITICAL", "");
        assert_eq!(critical.len(), 1, "{setting}: {err}");
        assert!(
            critical[0].contains(&format!("`{setting}`")),
            "{}",
            critical[0]
        );
        for secret in [
            "tok-a81f", "tok-b22e", "rt-c93d", "rt-d04a", "cs-e15b", "cs-f26c", "pw-9a7b",
        ] {
            assert!(!err.contains(secret), "{setting}: a secret printed: {err}");
        }
    }
    assert!(
        emu.requests().is_empty(),
        "no request was sent: {:?}",
        emu.requests()
    );
}

/// The catalog `--discover` prints.
fn discovered() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.json"))
        .expect("catalog.json");
    serde_json::from_str(&text).expect("a catalog")
}

/// The metadata of `stream`'s `breadcrumb` in a catalog.
fn metadata<'a>(catalog: &'a mut Value, stream: &str, breadcrumb: Value) -> &'a mut Value {
    let entry = catalog["streams"]
        .as_array_mut()
        .and_then(|s| s.iter_mut().find(|e| e["tap_stream_id"] == stream))
        .expect("the stream");
    let md = entry["metadata"]
        .as_array_mut()
        .and_then(|m| m.iter_mut().find(|m| m["breadcrumb"] == breadcrumb))
        .expect("the breadcrumb");
    &mut md["metadata"]
}

#[tokio::test]
async fn a_catalog_without_selected_follows_selected_by_default() {
    let emu = emulator(small()).await;
    let dir = TempDir::new("selected-by-default");
    let cfg = dir.json("config.json", &config_for(&emu, json!({})));
    // --discover's output as it is: every stream and field, as without a catalog
    let catalog = dir.json("discovered.json", &discovered());
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &catalog])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        warnings(&out, "selects no stream").is_empty(),
        "{}",
        stderr(&out)
    );
    assert_whole(&emu, &check_output(&out));

    let mut edited = discovered();
    metadata(&mut edited, "accounts", json!([]))["selected-by-default"] = json!(false);
    metadata(&mut edited, "teams", json!([]))["selected"] = json!(false);
    metadata(&mut edited, "users", json!(["properties", "email"]))["selected-by-default"] =
        json!(false);
    metadata(&mut edited, "users", json!(["properties", "name"]))["selected"] = json!(false);
    metadata(&mut edited, "users", json!(["properties", "id"]))["selected"] = json!(false);
    let catalog = dir.json("edited.json", &edited);
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &catalog])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let synced = check_output(&out);
    assert!(
        !synced.schemas.contains_key("accounts"),
        "selected-by-default: false"
    );
    assert!(!synced.schemas.contains_key("teams"), "selected: false");
    let users = &synced.records["users"];
    assert_eq!(users.len(), truth(&emu, "users").len());
    for user in users {
        assert!(
            user.get("email").is_none() && user.get("name").is_none(),
            "{user}"
        );
        assert!(
            user.get("id").is_some() && user.get("updatedAt").is_some(),
            "automatic: {user}"
        );
    }

    // nothing selected: said in one warning
    let mut none = discovered();
    for stream in all_streams() {
        metadata(&mut none, stream, json!([]))["selected"] = json!(false);
    }
    let catalog = dir.json("none.json", &none);
    let out = tap(args(&[&"--config", &cfg, &"--catalog", &catalog])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(check_output(&out).records.is_empty());
    let said = warnings(&out, "selects no stream");
    assert_eq!(said.len(), 1, "{}", stderr(&out));
    assert!(said[0].contains("\"selected\": true"), "{}", said[0]);
}
