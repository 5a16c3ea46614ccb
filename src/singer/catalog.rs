//! The Singer catalog both ways: the catalog discovery writes, and the input catalog → which streams
//! and fields to sync, and how, following the Singer selection rules with the Meltano SDK's
//! per-field algorithm. Pure: streams arrive as [`StreamInfo`]; the caller reads files and names
//! them in errors (errors here are reasons, without a path).

use serde_json::{json, Map, Value};

/// What the tap says about one stream in its catalog.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// tap_stream_id, stream name and table name.
    pub name: &'static str,
    /// The key field (one).
    pub key: &'static str,
    /// The replication key, when the stream can be read incrementally.
    pub replication_key: Option<&'static str>,
    /// Whether it is read incrementally unless the catalog says otherwise.
    pub incremental_by_default: bool,
    /// The full JSON Schema.
    pub schema: Value,
}

/// How a stream is replicated in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// Read everything, ignore bookmarks.
    FullTable,
    /// Read from the bookmark on, by this key.
    Incremental(&'static str),
}

/// One stream to sync.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The stream's name.
    pub name: &'static str,
    /// Its key field.
    pub key: &'static str,
    /// The schema with deselected fields removed.
    pub schema: Value,
    /// Selected top-level field names, in schema order.
    pub fields: Vec<String>,
    /// Replication method for this run.
    pub replication: Replication,
}

impl Selected {
    /// The replication key, when this run reads the stream incrementally.
    pub fn incremental_key(&self) -> Option<&'static str> {
        match self.replication {
            Replication::Incremental(k) => Some(k),
            Replication::FullTable => None,
        }
    }
}

/// A stream to sync with the fields `keep` accepts (its schema pruned to them), whatever the
/// protocol that chose them.
pub fn selected(
    info: &StreamInfo,
    keep: impl Fn(&str) -> bool,
    replication: Replication,
) -> Selected {
    let mut schema = info.schema.clone();
    let mut fields = Vec::new();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|name, _| keep(name));
        fields = props.keys().cloned().collect();
    }
    Selected {
        name: info.name,
        key: info.key,
        schema,
        fields,
        replication,
    }
}

fn default_replication(info: &StreamInfo) -> Replication {
    match info.replication_key {
        Some(rk) if info.incremental_by_default => Replication::Incremental(rk),
        _ => Replication::FullTable,
    }
}

/// Without a catalog: every stream (all are selected by default), every field.
pub fn select_all(known: &[StreamInfo]) -> Vec<Selected> {
    known
        .iter()
        .map(|info| selected(info, |_| true, default_replication(info)))
        .collect()
}

fn metadata_for<'a>(entry: &'a Value, breadcrumb: &[&str]) -> Option<&'a Map<String, Value>> {
    entry.get("metadata")?.as_array()?.iter().find_map(|m| {
        let bc = m.get("breadcrumb")?.as_array()?;
        let same = bc.len() == breadcrumb.len()
            && bc
                .iter()
                .zip(breadcrumb)
                .all(|(a, b)| a.as_str() == Some(*b));
        if same {
            m.get("metadata")?.as_object()
        } else {
            None
        }
    })
}

fn flag(md: Option<&Map<String, Value>>, key: &str) -> Option<bool> {
    md?.get(key)?.as_bool()
}

fn text<'a>(md: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    md?.get(key)?.as_str()
}

/// Whether an input catalog entry selects its stream, as the Meltano SDK resolves it: the
/// breadcrumb-`[]` metadata's `selected`, else the legacy entry-level or `schema.selected`, else
/// the `[]` metadata's `selected-by-default` (so `--discover`'s output as it is selects every
/// stream); an entry without any metadata is selected, one whose metadata says neither is not.
fn entry_selected(entry: &Value) -> bool {
    let md = metadata_for(entry, &[]);
    let no_metadata = entry
        .get("metadata")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    flag(md, "selected")
        .or_else(|| entry.get("selected").and_then(Value::as_bool))
        .or_else(|| entry.pointer("/schema/selected").and_then(Value::as_bool))
        .or_else(|| flag(md, "selected-by-default"))
        .unwrap_or(no_metadata)
}

/// The replication an entry asks for, checked against what the stream allows.
fn entry_replication(entry: &Value, info: &StreamInfo) -> Result<Replication, String> {
    let (name, stream_md) = (info.name, metadata_for(entry, &[]));
    let asked_key = text(stream_md, "replication-key")
        .or_else(|| entry.get("replication_key").and_then(Value::as_str));
    if let Some(asked) = asked_key.filter(|a| Some(*a) != info.replication_key) {
        return Err(match info.replication_key {
            Some(rk) => format!(
                "stream `{name}` asks for replication key `{asked}`; the only valid key is `{rk}`"
            ),
            None => format!(
                "stream `{name}` asks for replication key `{asked}`; it has none (FULL_TABLE only)"
            ),
        });
    }
    let method = text(stream_md, "replication-method")
        .or_else(|| entry.get("replication_method").and_then(Value::as_str))
        .or_else(|| text(stream_md, "forced-replication-method"));
    match (
        method.map(str::to_ascii_uppercase).as_deref(),
        info.replication_key,
    ) {
        (None, _) => Ok(default_replication(info)),
        (Some("FULL_TABLE"), _) | (_, None) => Ok(Replication::FullTable),
        (Some("INCREMENTAL"), Some(rk)) => Ok(Replication::Incremental(rk)),
        (Some(other), _) => Err(format!(
            "stream `{name}` has replication-method `{other}`; use INCREMENTAL or FULL_TABLE"
        )),
    }
}

/// Whether a field of a selected stream is selected, per the SDK's rules: key and replication key
/// always (as `inclusion: automatic` is), `unsupported` never, else `selected` if present, else
/// `selected-by-default`, else (no metadata for the field) as its stream: selected.
fn field_selected(entry: &Value, info: &StreamInfo, field: &str) -> bool {
    if field == info.key || Some(field) == info.replication_key {
        return true;
    }
    let md = metadata_for(entry, &["properties", field]);
    match text(md, "inclusion") {
        Some("unsupported") => false,
        Some("automatic") => true,
        _ => flag(md, "selected")
            .or_else(|| flag(md, "selected-by-default"))
            .unwrap_or(true),
    }
}

fn warn_unknown_fields(entry: &Value, info: &StreamInfo) {
    let known = info.schema.get("properties").and_then(Value::as_object);
    if let Some(props) = entry
        .pointer("/schema/properties")
        .and_then(Value::as_object)
    {
        for field in props.keys() {
            if !known.is_some_and(|p| p.contains_key(field)) {
                tracing::warn!(
                    "stream `{}`: ignoring unknown field `{field}` in the catalog",
                    info.name
                );
            }
        }
    }
}

/// Applies an input catalog: a stream is synced iff it is selected as the SDK resolves it
/// (`selected`, else `selected-by-default`: see [`entry_selected`]); fields follow the SDK rules.
/// The result is in the order of `known`, whatever the catalog's order.
pub fn select_from(catalog: &Value, known: &[StreamInfo]) -> Result<Vec<Selected>, String> {
    let entries = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or("it has no \"streams\" array: pass the output of --discover")?;
    let mut chosen: Vec<Selected> = Vec::new();
    for entry in entries {
        let name = entry
            .get("tap_stream_id")
            .or_else(|| entry.get("stream"))
            .and_then(Value::as_str)
            .ok_or("a stream entry has no \"tap_stream_id\"")?;
        let Some(info) = known.iter().find(|i| i.name == name) else {
            tracing::warn!("skipping unknown stream `{name}` named in the catalog");
            continue;
        };
        if !entry_selected(entry) {
            tracing::info!("skipping deselected stream `{name}`");
            continue;
        }
        if chosen.iter().any(|s| s.name == name) {
            return Err(format!("stream `{name}` appears twice"));
        }
        let replication = entry_replication(entry, info)?;
        warn_unknown_fields(entry, info);
        chosen.push(selected(
            info,
            |f| field_selected(entry, info, f),
            replication,
        ));
    }
    chosen.sort_by_key(|s| known.iter().position(|i| i.name == s.name));
    Ok(chosen)
}

/// One catalog entry as discovery writes it: `[]` metadata first, no `selected` key.
pub fn entry(info: &StreamInfo) -> Value {
    let mut stream_md = Map::new();
    stream_md.insert("inclusion".into(), json!("available"));
    stream_md.insert("selected-by-default".into(), json!(true));
    stream_md.insert("table-key-properties".into(), json!([info.key]));
    match (info.replication_key, info.incremental_by_default) {
        (Some(rk), true) => {
            stream_md.insert("valid-replication-keys".into(), json!([rk]));
            stream_md.insert("replication-method".into(), json!("INCREMENTAL"));
            stream_md.insert("replication-key".into(), json!(rk));
        }
        (Some(rk), false) => {
            stream_md.insert("valid-replication-keys".into(), json!([rk]));
            stream_md.insert("replication-method".into(), json!("FULL_TABLE"));
        }
        (None, _) => {
            stream_md.insert("forced-replication-method".into(), json!("FULL_TABLE"));
            stream_md.insert("replication-method".into(), json!("FULL_TABLE"));
        }
    }
    let mut metadata = vec![json!({"breadcrumb": [], "metadata": stream_md})];
    if let Some(props) = info.schema["properties"].as_object() {
        for name in props.keys() {
            let automatic = name == info.key || Some(name.as_str()) == info.replication_key;
            let md = if automatic {
                json!({"inclusion": "automatic"})
            } else {
                json!({"inclusion": "available", "selected-by-default": true})
            };
            metadata.push(json!({"breadcrumb": ["properties", name], "metadata": md}));
        }
    }
    let mut entry = Map::new();
    entry.insert("tap_stream_id".into(), json!(info.name));
    entry.insert("stream".into(), json!(info.name));
    entry.insert("key_properties".into(), json!([info.key]));
    match default_replication(info) {
        Replication::Incremental(rk) => {
            entry.insert("replication_method".into(), json!("INCREMENTAL"));
            entry.insert("replication_key".into(), json!(rk));
        }
        Replication::FullTable => {
            entry.insert("replication_method".into(), json!("FULL_TABLE"));
        }
    }
    entry.insert("schema".into(), info.schema.clone());
    entry.insert("metadata".into(), Value::Array(metadata));
    Value::Object(entry)
}

/// The whole catalog, as `--discover` prints it.
pub fn catalog(known: &[StreamInfo]) -> Value {
    json!({ "streams": known.iter().map(entry).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<StreamInfo> {
        let schema = |fields: &[&str]| {
            let props: Map<String, Value> = fields
                .iter()
                .map(|f| (f.to_string(), json!({"type": ["null", "string"]})))
                .collect();
            json!({"type": "object", "properties": props})
        };
        vec![
            StreamInfo {
                name: "accounts",
                key: "accountId",
                replication_key: Some("updateDateTime"),
                incremental_by_default: true,
                schema: schema(&["accountId", "name", "updateDateTime"]),
            },
            StreamInfo {
                name: "users",
                key: "id",
                replication_key: Some("updatedAt"),
                incremental_by_default: false,
                schema: schema(&["id", "email", "name", "updatedAt"]),
            },
        ]
    }

    #[test]
    fn a_stream_without_selected_follows_selected_by_default() {
        // the discovered catalog as it is: every stream and field, as without a catalog
        let cat = catalog(&known());
        let all = select_from(&cat, &known()).unwrap();
        assert_eq!(all.len(), 2);
        for (s, whole) in all.iter().zip(select_all(&known())) {
            assert_eq!(s.fields, whole.fields);
            assert_eq!(s.replication, whole.replication);
        }
        let with = |md: Value| json!({"streams": [{"tap_stream_id": "users", "metadata": [{"breadcrumb": [], "metadata": md}]}]});
        let chosen = |cat: Value| select_from(&cat, &known()).unwrap().len();
        assert_eq!(chosen(with(json!({"selected-by-default": false}))), 0);
        assert_eq!(
            chosen(with(
                json!({"selected-by-default": true, "selected": false})
            )),
            0,
            "an explicit selected: false deselects"
        );
        assert_eq!(
            chosen(with(
                json!({"selected-by-default": false, "selected": true})
            )),
            1
        );
        assert_eq!(
            chosen(with(json!({"inclusion": "available"}))),
            0,
            "neither: not selected"
        );
        assert_eq!(
            chosen(json!({"streams": [{"tap_stream_id": "users"}]})),
            1,
            "no metadata at all"
        );
        let legacy = json!({"streams": [{"tap_stream_id": "users", "selected": false,
            "metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": true}}]}]});
        assert_eq!(chosen(legacy), 0, "the legacy flag is an explicit one");
    }

    #[test]
    fn a_field_follows_selected_then_selected_by_default_and_automatic_always() {
        let field = |md: Value| {
            let cat = json!({"streams": [{"tap_stream_id": "users", "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": ["properties", "email"], "metadata": md},
                {"breadcrumb": ["properties", "id"], "metadata": {"inclusion": "automatic", "selected": false}}]}]});
            let s = select_from(&cat, &known()).unwrap().remove(0);
            assert!(s.fields.contains(&"id".to_string()), "automatic always");
            s.fields.contains(&"email".to_string())
        };
        assert!(field(json!({"selected-by-default": true})));
        assert!(!field(json!({"selected-by-default": false})));
        assert!(!field(
            json!({"selected-by-default": true, "selected": false})
        ));
        assert!(field(
            json!({"selected-by-default": false, "selected": true})
        ));
        assert!(
            field(json!({"inclusion": "available"})),
            "neither: as its stream"
        );
        assert!(!field(
            json!({"inclusion": "unsupported", "selected": true})
        ));
    }

    #[test]
    fn stream_and_field_selection() {
        let cat = json!({"streams": [
            {"tap_stream_id": "users", "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": ["properties", "email"], "metadata": {"selected": false}},
                {"breadcrumb": ["properties", "id"], "metadata": {"selected": false, "inclusion": "automatic"}}]},
            {"tap_stream_id": "accounts", "metadata": [{"breadcrumb": [], "metadata": {"selected": false}}]},
            {"tap_stream_id": "nope", "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]}
        ]});
        let s = select_from(&cat, &known()).unwrap();
        assert_eq!(s.len(), 1);
        assert!(!s[0].fields.contains(&"email".to_string()));
        assert!(s[0].fields.contains(&"id".to_string()));
        assert!(s[0].schema["properties"].get("email").is_none());
    }

    #[test]
    fn replication_overrides() {
        let cat = json!({"streams": [{"tap_stream_id": "users", "selected": true,
            "metadata": [{"breadcrumb": [], "metadata": {"replication-method": "FULL_TABLE"}}]}]});
        assert_eq!(
            select_from(&cat, &known()).unwrap()[0].replication,
            Replication::FullTable
        );
        // a stream that can be incremental but is not by default, until the catalog asks
        let cat = json!({"streams": [{"tap_stream_id": "users", "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]}]});
        assert_eq!(
            select_from(&cat, &known()).unwrap()[0].replication,
            Replication::FullTable
        );
        let cat = json!({"streams": [{"tap_stream_id": "users", "metadata": [{"breadcrumb": [],
            "metadata": {"selected": true, "replication-method": "INCREMENTAL"}}]}]});
        assert_eq!(
            select_from(&cat, &known()).unwrap()[0].replication,
            Replication::Incremental("updatedAt")
        );
        let cat = json!({"streams": [{"tap_stream_id": "users", "metadata": [{"breadcrumb": [],
            "metadata": {"selected": true, "replication-key": "name"}}]}]});
        assert!(select_from(&cat, &known())
            .unwrap_err()
            .contains("replication key"));
    }
}
