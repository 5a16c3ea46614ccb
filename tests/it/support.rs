//! Shared helpers: start the emulator, run the binary, parse and check its Singer output.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use drift_emulator::{Bucket, Dataset, Emulator, Faults, Options};
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token-7f3a9c1e";

/// Every stream's name, from the tap's one stream table.
pub fn all_streams() -> Vec<&'static str> {
    tap_drift::streams::STREAMS.iter().map(|s| s.name).collect()
}

/// The streams read whole by default (FULL_TABLE, with ACTIVATE_VERSION): not incremental, and not
/// the referenced contacts; from the stream table.
pub fn read_whole_by_default() -> Vec<&'static str> {
    tap_drift::streams::STREAMS
        .iter()
        .filter(|s| !s.incremental_by_default && s.name != "contacts")
        .map(|s| s.name)
        .collect()
}

/// A stream's key field, from the stream table.
pub fn key_of(stream: &str) -> &'static str {
    tap_drift::streams::find(stream).expect("a stream").key
}

/// An attribute's value as its typed column holds it, worked out from the emulator's contact.
pub fn typed_value(ty: &str, v: &Value) -> Value {
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        ("NUMERIC", Value::String(s)) => json!(s.parse::<f64>().expect("a numeric string")),
        ("DATETIME", Value::String(s)) => json!(chrono::DateTime::parse_from_rfc3339(s)
            .expect("RFC 3339")
            .timestamp_millis()),
        ("NUMERIC" | "BOOLEAN" | "DATETIME", _) | (_, Value::String(_)) => v.clone(),
        (_, other) => json!(other.to_string()),
    }
}

/// The requests that fetched one contact (not the list of contact attributes).
pub fn contact_fetches(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .into_iter()
        .filter(|r| r.starts_with("/contacts/") && !r.starts_with("/contacts/attributes"))
        .collect()
}

/// The emulator's records of a stream as the tap must emit them, whole (a contact with a typed
/// column per attribute the account lists): a message carries its
/// conversation's updatedAt (`conversationUpdatedAt`), and a booked meeting the key the README
/// documents (`meetingId`: the JSON array of its slug, eventId, agentId, schedulerId and slotStart,
/// null where absent, as text).
pub fn truth(emu: &Emulator, stream: &str) -> Vec<Value> {
    let mut records = emu.records(stream);
    match stream {
        "messages" => {
            let updated: HashMap<String, Value> = emu
                .records("conversations")
                .iter()
                .map(|c| (c["id"].to_string(), c["updatedAt"].clone()))
                .collect();
            for m in &mut records {
                m["conversationUpdatedAt"] = updated[&m["conversationId"].to_string()].clone();
            }
        }
        "meetings" => {
            for m in &mut records {
                let id = json!([
                    m["slug"],
                    m["eventId"],
                    m["agentId"],
                    m["schedulerId"],
                    m["slotStart"]
                ])
                .to_string();
                let mut with_key = serde_json::Map::new();
                with_key.insert("meetingId".into(), json!(id));
                with_key.extend(m.as_object().cloned().unwrap_or_default());
                *m = Value::Object(with_key);
            }
        }
        // real bodies carry no orgId: the tap fills it with the token's organization
        "conversations" => {
            for c in &mut records {
                c["orgId"] = json!(drift_emulator::ORG_ID);
            }
        }
        // each attribute the account lists, a column holding its value in the column's type
        "contacts" => {
            for c in &mut records {
                let attributes = c["attributes"].clone();
                for (name, ty, _) in drift_emulator::CONTACT_ATTRIBUTES {
                    if let Some(v) = attributes.get(*name) {
                        c[*name] = typed_value(ty, v);
                    }
                }
            }
        }
        // the report's order: oldest updatedAt first (ties by id)
        "conversation_metrics" => {
            records.sort_by_key(|m| (m["updatedAt"].as_i64(), m["conversationId"].as_i64()))
        }
        _ => {}
    }
    records
}

/// The values of a field of these records, as JSON text.
pub fn ids_of(records: &[Value], key: &str) -> std::collections::BTreeSet<String> {
    records.iter().map(|r| r[key].to_string()).collect()
}

/// The keys of the emulator's records of a stream, in its order.
pub fn truth_keys(emu: &Emulator, stream: &str) -> Vec<Value> {
    truth(emu, stream)
        .iter()
        .map(|r| r[key_of(stream)].clone())
        .collect()
}

/// The top-level streams (read from their own list), from the tap's stream table.
pub fn top_level_streams() -> Vec<&'static str> {
    tap_drift::streams::STREAMS
        .iter()
        .filter(|s| s.parent.is_none())
        .map(|s| s.name)
        .collect()
}

pub async fn emulator(data: Dataset) -> Emulator {
    Emulator::start(data, Options::new(TOKEN))
        .await
        .expect("emulator starts")
}

pub async fn emulator_with(data: Dataset, options: Options) -> Emulator {
    Emulator::start(data, options)
        .await
        .expect("emulator starts")
}

/// An emulator whose rate limit is a leaky bucket of `per_minute`, holding `capacity`, without
/// `Retry-After` (Drift promises none).
pub async fn emulator_with_bucket(data: Dataset, per_minute: u32, capacity: u32) -> Emulator {
    emulator_with(data, bucket_options(per_minute, capacity, false)).await
}

/// The emulator's options for a leaky bucket of `per_minute`, holding `capacity`.
pub fn bucket_options(per_minute: u32, capacity: u32, retry_after: bool) -> Options {
    let bucket = Bucket {
        per_minute,
        capacity,
        retry_after,
    };
    let faults = Faults {
        bucket: Some(bucket),
        ..Faults::default()
    };
    Options {
        faults,
        ..Options::new(TOKEN)
    }
}

/// Every stream's records are the emulator's, as sets of keys: nothing lost.
pub fn assert_every_stream_is_the_truth(emu: &Emulator, synced: &Synced) {
    for stream in all_streams() {
        let mut want: Vec<String> = truth_keys(emu, stream)
            .iter()
            .map(Value::to_string)
            .collect();
        let mut got: Vec<String> = synced.keys(stream).iter().map(Value::to_string).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{stream}");
    }
}

pub fn small() -> Dataset {
    // counts that no page size of the tests divides; a collection not named here has the sandbox's
    // count, so that every stream has records
    Dataset {
        seed: 11,
        users: 9,
        accounts: 53,
        conversations: 137,
        playbooks: 12,
        teams: 3,
        meetings: 25,
        ..Dataset::sandbox()
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tap-drift-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
    pub fn write(&self, file: &str, content: &str) -> PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, content).expect("write temp file");
        p
    }
    pub fn json(&self, file: &str, v: &Value) -> PathBuf {
        self.write(file, &v.to_string())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn config_for(emu: &Emulator, extra: Value) -> Value {
    let mut c = json!({"access_token": TOKEN, "api_url": emu.base_url, "page_size": 10,
        "requests_per_minute": 100000, "backoff_base_ms": 1});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

/// Starts the binary on a config with stdout piped, for tests that read it as it streams.
pub fn spawn_tap(config: &std::path::Path, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tap-drift"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("tap starts")
}

/// Runs the binary with these arguments (off the async runtime, so the emulator keeps serving).
pub async fn tap(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tap-drift"))
            .args(&args)
            .env_remove("TAP_DRIFT_LOGLEVEL")
            .env_remove("LOGLEVEL")
            .output()
            .expect("tap runs")
    })
    .await
    .expect("join")
}

pub fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<String> {
    list.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect()
}

/// The parsed stdout of a sync, checked against the Singer contract.
pub struct Synced {
    pub messages: Vec<Value>,
    pub records: HashMap<String, Vec<Value>>,
    pub schemas: HashMap<String, Value>,
    /// The version each stream's records carried (streams read whole).
    pub versions: HashMap<String, i64>,
    /// The ACTIVATE_VERSION of each stream.
    pub activated: HashMap<String, i64>,
}

impl Synced {
    pub fn keys(&self, stream: &str) -> Vec<Value> {
        let key = self.schemas[stream]["key_properties"][0]
            .as_str()
            .expect("key")
            .to_string();
        self.records
            .get(stream)
            .map(|r| r.iter().map(|r| r[&key].clone()).collect())
            .unwrap_or_default()
    }
    pub fn states(&self) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "STATE")
            .map(|m| &m["value"])
            .collect()
    }
    pub fn last_state(&self) -> Value {
        self.states().last().map(|v| (*v).clone()).expect("a STATE")
    }
}

type Validators = HashMap<String, (jsonschema::Validator, jsonschema::Validator)>;

/// An ACTIVATE_VERSION: after its stream's SCHEMA, once, with the version its records carried.
fn check_activate_version(msg: &Value, synced: &mut Synced) {
    let stream = msg["stream"].as_str().expect("stream").to_string();
    assert!(
        synced.schemas.contains_key(&stream),
        "ACTIVATE_VERSION of {stream} before its SCHEMA"
    );
    let version = msg["version"].as_i64().expect("an integer version");
    let records = synced.records.get(&stream).map_or(0, Vec::len);
    let versioned = synced.versions.get(&stream).copied();
    assert!(
        records == 0 || versioned == Some(version),
        "{stream}: records carry version {versioned:?}, ACTIVATE_VERSION {version}"
    );
    assert!(
        synced.activated.insert(stream, version).is_none(),
        "one ACTIVATE_VERSION per stream"
    );
}

/// One RECORD: after its SCHEMA, valid against it (Draft 4 and 2020-12), no field outside it, its
/// key present and not seen before in its stream, `time_extracted` RFC 3339 UTC.
fn check_record(
    msg: &Value,
    validators: &Validators,
    schemas: &HashMap<String, Value>,
    seen_keys: &mut HashMap<String, std::collections::HashSet<String>>,
) {
    let stream = msg["stream"].as_str().expect("stream").to_string();
    let (v4, v2020) = validators
        .get(&stream)
        .unwrap_or_else(|| panic!("RECORD of {stream} before its SCHEMA"));
    let record = &msg["record"];
    if let Some(e) = v4.iter_errors(record).next() {
        panic!("{stream} record invalid (draft 4): {e}: {record}");
    }
    assert!(
        v2020.is_valid(record),
        "{stream} record invalid (2020-12): {record}"
    );
    let props = schemas[&stream]["schema"]["properties"]
        .as_object()
        .expect("props");
    for k in record.as_object().expect("record object").keys() {
        assert!(
            props.contains_key(k),
            "{stream} record has `{k}` outside its schema"
        );
    }
    let key = schemas[&stream]["key_properties"][0].as_str().expect("key");
    let kv = &record[key];
    assert!(!kv.is_null(), "{stream} record without key: {record}");
    assert!(
        seen_keys
            .entry(stream.clone())
            .or_default()
            .insert(kv.to_string()),
        "duplicate {stream} key {kv}"
    );
    let te = msg["time_extracted"].as_str().expect("time_extracted");
    assert!(
        te.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(te).is_ok(),
        "time_extracted {te}"
    );
}

/// Parses stdout and asserts the contract: only Singer JSON lines with upper-case types; SCHEMA
/// before records; one version per stream's records, and its ACTIVATE_VERSION after them; every record valid against its schema (Draft 4 and 2020-12); keys present,
/// non-null, unique per stream; `time_extracted` RFC 3339 UTC; the last line a STATE; no two
/// identical STATEs in a row.
pub fn check_output(out: &Output) -> Synced {
    let stdout = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    assert!(stdout.ends_with('\n'), "stdout ends with a newline");
    let mut synced = Synced {
        messages: vec![],
        records: HashMap::new(),
        schemas: HashMap::new(),
        versions: HashMap::new(),
        activated: HashMap::new(),
    };
    let mut validators: Validators = HashMap::new();
    let mut seen_keys: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    let mut previous_state: Option<Value> = None;
    for line in stdout.lines() {
        let msg: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        let ty = msg["type"].as_str().expect("type");
        match ty {
            "SCHEMA" => {
                let stream = msg["stream"].as_str().expect("stream").to_string();
                assert!(
                    msg["key_properties"].is_array(),
                    "SCHEMA has key_properties"
                );
                let schema = &msg["schema"];
                assert_eq!(schema["type"], "object");
                assert!(schema["properties"].is_object());
                let v4 = jsonschema::draft4::new(schema).expect("schema is valid draft 4");
                let v2020 = jsonschema::draft202012::new(schema).expect("schema is valid 2020-12");
                validators.insert(stream.clone(), (v4, v2020));
                synced.schemas.insert(stream, msg.clone());
                previous_state = None;
            }
            "RECORD" => {
                check_record(&msg, &validators, &synced.schemas, &mut seen_keys);
                let stream = msg["stream"].as_str().expect("stream").to_string();
                assert!(
                    !synced.activated.contains_key(&stream),
                    "{stream}: a RECORD after its ACTIVATE_VERSION"
                );
                if let Some(v) = msg.get("version") {
                    let v = v.as_i64().expect("an integer version");
                    let first = *synced.versions.entry(stream.clone()).or_insert(v);
                    assert_eq!(first, v, "{stream}: one version per run");
                }
                synced
                    .records
                    .entry(stream)
                    .or_default()
                    .push(msg["record"].clone());
                previous_state = None;
            }
            "STATE" => {
                assert!(msg["value"].is_object());
                assert_ne!(
                    previous_state.as_ref(),
                    Some(&msg["value"]),
                    "two identical STATEs in a row"
                );
                previous_state = Some(msg["value"].clone());
            }
            "ACTIVATE_VERSION" => check_activate_version(&msg, &mut synced),
            other => panic!("unexpected message type {other}"),
        }
        synced.messages.push(msg);
    }
    assert_eq!(
        synced.messages.last().map(|m| m["type"].clone()),
        Some(json!("STATE")),
        "the last line is a STATE"
    );
    synced
}

/// The conversations whose messages these served requests asked for.
pub fn messages_read_for(served: &[String]) -> std::collections::BTreeSet<String> {
    served
        .iter()
        .filter_map(|r| {
            r.strip_prefix("/conversations/")?
                .split_once("/messages")
                .map(|(id, _)| id.to_string())
        })
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
