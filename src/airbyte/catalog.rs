//! The Airbyte protocol's inputs and descriptions, translated to and from the tap's own: the
//! discovered catalog, a configured catalog → the streams to sync, and an Airbyte state (STREAM,
//! GLOBAL or LEGACY) → the tap's Singer-shaped state. Pure: the caller reads files and names them
//! in errors.

use serde_json::{json, Map, Value};

use crate::singer::catalog::{selected, Replication, Selected, StreamInfo};
use crate::singer::state::PACE_KEY;

/// One stream of the discovered catalog.
pub fn stream(info: &StreamInfo) -> Value {
    // a stream with a cursor resumes where its last STATE left it; one read whole starts over
    let mut s = json!({"name": info.name, "json_schema": info.schema,
        "supported_sync_modes": ["full_refresh"], "source_defined_primary_key": [[info.key]],
        "is_resumable": info.replication_key.is_some()});
    if let Some(rk) = info.replication_key {
        s["supported_sync_modes"] = json!(["full_refresh", "incremental"]);
        s["source_defined_cursor"] = json!(true);
        s["default_cursor_field"] = json!([rk]);
    }
    s
}

/// A configured catalog → the streams to sync: only those it lists, in their sync mode (a stream
/// without a cursor asked for incrementally is read whole), with the fields of their `json_schema`
/// (key and cursor always). The result is in the order of `known`.
pub fn select(configured: &Value, known: &[StreamInfo]) -> Result<Vec<Selected>, String> {
    let entries = configured
        .get("streams")
        .and_then(Value::as_array)
        .ok_or("it has no \"streams\" array: pass a configured catalog")?;
    let mut chosen = Vec::new();
    for entry in entries {
        let name = entry
            .pointer("/stream/name")
            .and_then(Value::as_str)
            .ok_or("a configured stream has no stream.name")?;
        let Some(info) = known.iter().find(|i| i.name == name) else {
            tracing::warn!("skipping unknown stream `{name}` named in the configured catalog");
            continue;
        };
        chosen.push(configured_stream(entry, info)?);
    }
    chosen.sort_by_key(|s: &Selected| known.iter().position(|i| i.name == s.name));
    Ok(chosen)
}

fn configured_stream(entry: &Value, info: &StreamInfo) -> Result<Selected, String> {
    let name = info.name;
    let replication = match (
        entry.get("sync_mode").and_then(Value::as_str),
        info.replication_key,
    ) {
        (Some("incremental"), Some(rk)) => {
            let cursor = entry.get("cursor_field").and_then(Value::as_array);
            let asked: Vec<&str> = cursor
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !asked.is_empty() && asked != [rk] {
                return Err(format!(
                    "stream `{name}` asks for cursor {asked:?}; its cursor is [\"{rk}\"]"
                ));
            }
            Replication::Incremental(rk)
        }
        // as Airbyte's own sources do (and PyAirbyte asks incremental of every stream)
        (Some("incremental"), None) => {
            tracing::info!("stream `{name}` has no cursor: it is read whole (full_refresh)");
            Replication::FullTable
        }
        (Some("full_refresh") | None, _) => Replication::FullTable,
        (Some(other), _) => {
            return Err(format!(
                "stream `{name}` has sync_mode `{other}`; use incremental or full_refresh"
            ))
        }
    };
    let wanted = entry
        .pointer("/stream/json_schema/properties")
        .and_then(Value::as_object);
    let automatic = |f: &str| f == info.key || Some(f) == info.replication_key;
    let keep = |f: &str| automatic(f) || wanted.is_none_or(|w| w.contains_key(f));
    Ok(selected(info, keep, replication))
}

/// Keys that make an object an Airbyte state (or a message carrying one).
const AIRBYTE_KEYS: &[&str] = &["type", "stream", "global", "data", "state"];

/// An Airbyte state (a list of STREAM states, a GLOBAL one, a LEGACY one, or one of them alone) →
/// the tap's Singer-shaped state value. An object that is no Airbyte state is read as a Singer
/// state (its bookmarks, a Meltano-wrapped one, or keys the state reader names and drops); a
/// LEGACY state without bookmarks is said in a warning naming what it holds. The remembered pace
/// rides in each stream's state (the platform keeps those whole; see [`with_pace`]), or in a
/// GLOBAL state's `shared_state` or a LEGACY state's data: the latest copy is the state's pace.
pub fn state(input: Value) -> Result<Value, String> {
    let messages = match input {
        Value::Array(items) => items,
        Value::Object(m) if !m.keys().any(|k| AIRBYTE_KEYS.contains(&k.as_str())) => {
            return Ok(Value::Object(m))
        }
        other => vec![other],
    };
    let (mut bookmarks, mut paces) = (Map::new(), Vec::new());
    for m in messages {
        let m = m.get("state").cloned().unwrap_or(m); // a whole STATE message, or its state
        match m.get("type").and_then(Value::as_str) {
            Some("STREAM") => add(&mut bookmarks, &mut paces, m.get("stream"))?,
            Some("GLOBAL") => {
                paces.extend(
                    m.pointer(&format!("/global/shared_state/{PACE_KEY}"))
                        .cloned(),
                );
                let states = m.pointer("/global/stream_states").and_then(Value::as_array);
                for s in states.ok_or("a GLOBAL state has no global.stream_states list")? {
                    add(&mut bookmarks, &mut paces, Some(s))?;
                }
            }
            Some("LEGACY") | None => {
                let data = m.get("data").cloned().unwrap_or(m);
                paces.extend(data.get(PACE_KEY).cloned());
                match data.get("bookmarks").and_then(Value::as_object) {
                    Some(b) => bookmarks.extend(b.clone()),
                    None => tracing::warn!(
                        "a LEGACY state holds no bookmarks (found: {}): no stream resumes from it",
                        keys_of(&data)
                    ),
                }
            }
            Some(other) => {
                return Err(format!(
                    "a state message has type {other:?}: expected STREAM, GLOBAL or LEGACY"
                ))
            }
        }
    }
    let mut singer = json!({"bookmarks": bookmarks});
    if let Some(pace) = latest(paces) {
        singer[PACE_KEY] = pace;
    }
    Ok(singer)
}

/// The copy of the pace written by the latest run (by its `run_started_at`; RFC 3339 in UTC, as
/// the tap writes it, sorts as text).
fn latest(paces: Vec<Value>) -> Option<Value> {
    let at = |p: &Value| {
        p.get("run_started_at")
            .and_then(Value::as_str)
            .map(String::from)
    };
    paces.into_iter().filter(|p| !p.is_null()).max_by_key(at)
}

/// A stream's state as `source-drift` writes it: its bookmark, with the run's pace beside it.
pub fn with_pace(bookmark: &Value, pace: Option<&Value>) -> Value {
    let mut state = bookmark.clone();
    if let (Value::Object(s), Some(pace)) = (&mut state, pace) {
        s.insert(PACE_KEY.into(), pace.clone());
    }
    state
}

/// An object's keys for a message ("a, b", or what the value is when it is no object).
fn keys_of(v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m.keys().cloned().collect::<Vec<_>>().join(", "),
        Some(_) => "nothing".into(),
        None => v.to_string(),
    }
}

/// One stream's state (`{stream_descriptor, stream_state}`) into the bookmarks, and the pace it
/// carries into `paces` (a stream without a state has none to add).
fn add(
    bookmarks: &mut Map<String, Value>,
    paces: &mut Vec<Value>,
    stream: Option<&Value>,
) -> Result<(), String> {
    let name = stream
        .and_then(|s| s.pointer("/stream_descriptor/name"))
        .and_then(Value::as_str)
        .ok_or("a stream state has no stream_descriptor.name: pass the STATE messages source-drift wrote")?;
    match stream.and_then(|s| s.get("stream_state")) {
        None | Some(Value::Null) => {}
        Some(Value::Object(state)) => {
            let mut state = state.clone();
            paces.extend(state.remove(PACE_KEY));
            bookmarks.insert(name.to_string(), Value::Object(state));
        }
        Some(_) => return Err(format!("the state of stream `{name}` is not an object")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<StreamInfo> {
        let schema =
            json!({"type": "object", "properties": {"id": {}, "name": {}, "updatedAt": {}}});
        vec![StreamInfo {
            name: "users",
            key: "id",
            replication_key: Some("updatedAt"),
            incremental_by_default: false,
            schema,
        }]
    }

    #[test]
    fn a_configured_catalog_selects_streams_modes_and_fields() {
        let configured = json!({"streams": [{"stream": {"name": "users", "json_schema": {"properties": {"name": {}}}},
            "sync_mode": "incremental", "cursor_field": ["updatedAt"], "destination_sync_mode": "append_dedup"},
            {"stream": {"name": "nope"}, "sync_mode": "full_refresh"}]});
        let s = select(&configured, &known()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].replication, Replication::Incremental("updatedAt"));
        assert_eq!(s[0].fields, ["id", "name", "updatedAt"]);
        let bad = json!({"streams": [{"stream": {"name": "users"}, "sync_mode": "incremental", "cursor_field": ["name"]}]});
        assert!(select(&bad, &known()).unwrap_err().contains("cursor"));
        let mut no_cursor = known();
        no_cursor[0].replication_key = None;
        let asked = json!({"streams": [{"stream": {"name": "users"}, "sync_mode": "incremental"}]});
        let read = select(&asked, &no_cursor).unwrap();
        assert_eq!(read[0].replication, Replication::FullTable);
        assert_eq!(
            stream(&known()[0])["default_cursor_field"],
            json!(["updatedAt"])
        );
    }

    #[test]
    fn every_kind_of_airbyte_state_becomes_bookmarks() {
        let bm = json!({"replication_key": "updatedAt", "replication_key_value": 5});
        let streams = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, "stream_state": bm}}]);
        assert_eq!(state(streams).unwrap()["bookmarks"]["users"], bm);
        let global = json!({"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": [{"stream_descriptor": {"name": "users"}, "stream_state": bm}]}});
        assert_eq!(state(global).unwrap()["bookmarks"]["users"], bm);
        let legacy = json!({"type": "LEGACY", "data": {"bookmarks": {"users": bm}}});
        assert_eq!(state(legacy).unwrap()["bookmarks"]["users"], bm);
        let untyped = json!({"data": {"bookmarks": {"users": bm}}});
        assert_eq!(state(untyped).unwrap()["bookmarks"]["users"], bm);
        assert!(state(json!({"type": "NOPE"})).is_err());
        assert!(state(json!({"type": "STREAM"}))
            .unwrap_err()
            .contains("stream_descriptor"));
        let singer = json!({"singer_state": {"bookmarks": {"users": bm}}});
        assert_eq!(
            state(singer.clone()).unwrap(),
            singer,
            "left to the Singer state reader"
        );
        let none = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, "stream_state": null}}]);
        assert_eq!(state(none).unwrap()["bookmarks"], json!({}));
    }

    #[test]
    fn the_pace_rides_in_each_stream_state_and_the_latest_copy_wins() {
        let bm = json!({"replication_key": "updatedAt", "replication_key_value": 5});
        let old = json!({"requests_per_minute": 900, "run_started_at": "2026-01-01T00:00:00.000Z"});
        let new =
            json!({"requests_per_minute": 1200, "run_started_at": "2026-02-01T00:00:00.000Z"});
        let stream = |name: &str, pace: &Value| json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": with_pace(&bm, Some(pace))}});
        let singer = state(json!([stream("users", &old), stream("accounts", &new)])).unwrap();
        assert_eq!(singer["pace"], new);
        assert_eq!(singer["bookmarks"]["users"], bm, "the bookmark without it");
        let global = json!({"type": "GLOBAL", "global": {"shared_state": {"pace": new}, "stream_states": [{"stream_descriptor": {"name": "users"}, "stream_state": with_pace(&bm, Some(&old))}]}});
        assert_eq!(state(global).unwrap()["pace"], new);
        let legacy = json!({"type": "LEGACY", "data": {"bookmarks": {"users": bm}, "pace": old}});
        assert_eq!(state(legacy).unwrap()["pace"], old);
        assert!(state(json!([stream("users", &Value::Null)]))
            .unwrap()
            .get("pace")
            .is_none());
        assert_eq!(with_pace(&bm, None), bm);
    }
}
