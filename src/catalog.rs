//! The input catalog → which streams and fields to sync, and how. Follows the Singer selection rules
//! with the Meltano SDK's per-field algorithm. Pure: the caller reads the file.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::schema::{self, TimestampFormat};
use crate::streams::{StreamDef, STREAMS};

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
pub struct SelectedStream {
    /// The stream definition.
    pub def: &'static StreamDef,
    /// The schema with deselected fields removed.
    pub schema: Value,
    /// Selected top-level field names, in schema order.
    pub fields: Vec<String>,
    /// Replication method for this run.
    pub replication: Replication,
}

fn full_schema(def: &StreamDef, ts: TimestampFormat) -> Result<Value> {
    schema::stream_schema(def, ts).map_err(|reason| Error::Decode {
        endpoint: "built-in schema".into(),
        reason,
    })
}

fn select(
    def: &'static StreamDef,
    keep: impl Fn(&str) -> bool,
    replication: Replication,
    ts: TimestampFormat,
) -> Result<SelectedStream> {
    let mut schema = full_schema(def, ts)?;
    let mut fields = Vec::new();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|name, _| keep(name));
        fields = props.keys().cloned().collect();
    }
    Ok(SelectedStream {
        def,
        schema,
        fields,
        replication,
    })
}

fn default_replication(def: &StreamDef) -> Replication {
    def.replication_key
        .map_or(Replication::FullTable, Replication::Incremental)
}

/// Without a catalog: every stream (all are selected by default), every field.
pub fn select_all(ts: TimestampFormat) -> Result<Vec<SelectedStream>> {
    STREAMS
        .iter()
        .map(|def| select(def, |_| true, default_replication(def), ts))
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

/// Applies an input catalog: a stream is synced iff its breadcrumb-`[]` metadata (or the legacy
/// entry-level or `schema.selected`) says `selected: true`; fields follow the SDK rules.
pub fn select_from(catalog: &Value, ts: TimestampFormat) -> Result<Vec<SelectedStream>> {
    let bad = |reason: String| Error::InputFile {
        kind: "catalog",
        path: String::new(),
        reason,
    };
    let entries = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("it has no \"streams\" array: pass the output of --discover".into()))?;
    let mut chosen: Vec<SelectedStream> = Vec::new();
    for entry in entries {
        let name = entry
            .get("tap_stream_id")
            .or_else(|| entry.get("stream"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a stream entry has no \"tap_stream_id\"".into()))?;
        let Some(def) = STREAMS.iter().find(|d| d.name == name) else {
            tracing::warn!("skipping unknown stream `{name}` named in the catalog");
            continue;
        };
        let stream_md = metadata_for(entry, &[]);
        let selected = flag(stream_md, "selected")
            .or_else(|| entry.get("selected").and_then(Value::as_bool))
            .or_else(|| entry.pointer("/schema/selected").and_then(Value::as_bool))
            .unwrap_or(false);
        if !selected {
            tracing::info!("skipping deselected stream `{name}`");
            continue;
        }
        if chosen.iter().any(|s| s.def.name == name) {
            return Err(bad(format!("stream `{name}` appears twice")));
        }
        let method = text(stream_md, "replication-method")
            .or_else(|| entry.get("replication_method").and_then(Value::as_str))
            .or_else(|| text(stream_md, "forced-replication-method"));
        let replication = match (
            method.map(str::to_ascii_uppercase).as_deref(),
            def.replication_key,
        ) {
            (Some("FULL_TABLE"), _) | (_, None) => Replication::FullTable,
            (Some("INCREMENTAL") | None, Some(rk)) => {
                let asked = text(stream_md, "replication-key")
                    .or_else(|| entry.get("replication_key").and_then(Value::as_str));
                if let Some(asked) = asked.filter(|a| *a != rk) {
                    return Err(bad(format!(
                        "stream `{name}` asks for replication key `{asked}`; the only valid key is `{rk}`"
                    )));
                }
                Replication::Incremental(rk)
            }
            (Some(other), _) => {
                return Err(bad(format!(
                "stream `{name}` has replication-method `{other}`; use INCREMENTAL or FULL_TABLE"
            )))
            }
        };
        if let Some(props) = entry
            .pointer("/schema/properties")
            .and_then(Value::as_object)
        {
            for field in props.keys() {
                if !full_schema(def, ts)?["properties"]
                    .as_object()
                    .is_some_and(|p| p.contains_key(field))
                {
                    tracing::warn!(
                        "stream `{name}`: ignoring unknown field `{field}` in the catalog"
                    );
                }
            }
        }
        let rk = def.replication_key;
        let keep = |field: &str| {
            if field == def.key || Some(field) == rk {
                return true; // automatic
            }
            let md = metadata_for(entry, &["properties", field]);
            match text(md, "inclusion") {
                Some("unsupported") => false,
                Some("automatic") => true,
                _ => flag(md, "selected")
                    .or_else(|| flag(md, "selected-by-default"))
                    .unwrap_or(true),
            }
        };
        chosen.push(select(def, keep, replication, ts)?);
    }
    // sync in the tap's own stream order, whatever the catalog's order
    chosen.sort_by_key(|s| STREAMS.iter().position(|d| d.name == s.def.name));
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn discovered_catalog_selects_nothing_without_selected() {
        let cat = schema::catalog(TimestampFormat::EpochMs).unwrap();
        assert!(select_from(&cat, TimestampFormat::EpochMs)
            .unwrap()
            .is_empty());
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
        let s = select_from(&cat, TimestampFormat::EpochMs).unwrap();
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
            select_from(&cat, TimestampFormat::EpochMs).unwrap()[0].replication,
            Replication::FullTable
        );
        let cat = json!({"streams": [{"tap_stream_id": "users", "metadata": [{"breadcrumb": [],
            "metadata": {"selected": true, "replication-key": "name"}}]}]});
        assert!(select_from(&cat, TimestampFormat::EpochMs)
            .unwrap_err()
            .to_string()
            .contains("replication key"));
    }
}
