//! Column tables → JSON Schemas: each stream's schema, generated from its column table (parsed
//! once), in either timestamp format. `schemas/<stream>.json` and `catalog.json` are this output,
//! checked in and compared against it by a test. Pure: no network, no clock, no files.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::config::TimestampFormat;
use crate::streams::columns::{Column, ColumnType, Table};
use crate::streams::{StreamDef, STREAMS};

fn json_types(t: &ColumnType) -> Vec<&'static str> {
    match t {
        ColumnType::Integer | ColumnType::EpochMs => vec!["integer"],
        ColumnType::Number => vec!["number"],
        ColumnType::String => vec!["string"],
        ColumnType::Boolean => vec!["boolean"],
        ColumnType::Object | ColumnType::Shape(_) => vec!["object"],
        ColumnType::Array(_) => vec!["array"],
        ColumnType::Union(all) => all.iter().flat_map(json_types).collect(),
    }
}

fn type_schema(
    t: &ColumnType,
    nullable: bool,
    table: &Table,
    ts: TimestampFormat,
) -> Map<String, Value> {
    if let (ColumnType::EpochMs, TimestampFormat::DateTime) = (t, ts) {
        let types = if nullable {
            json!(["null", "string"])
        } else {
            json!(["string"])
        };
        let mut s = Map::new();
        s.insert("type".into(), types);
        s.insert("format".into(), json!("date-time"));
        return s;
    }
    let mut types = json_types(t);
    if nullable {
        types.insert(0, "null");
    }
    let mut s = Map::new();
    s.insert("type".into(), json!(types));
    let members: Vec<&ColumnType> = match t {
        ColumnType::Union(all) => all.iter().collect(),
        other => vec![other],
    };
    for m in members {
        match m {
            ColumnType::Array(inner) => {
                s.insert(
                    "items".into(),
                    Value::Object(type_schema(inner, false, table, ts)),
                );
            }
            ColumnType::Shape(name) => {
                let cols = table.shape(name).unwrap_or_default();
                s.insert("properties".into(), properties(cols, &[], table, ts));
                s.insert("additionalProperties".into(), Value::Bool(true));
            }
            ColumnType::Object => {
                s.insert("additionalProperties".into(), Value::Bool(true));
            }
            _ => {}
        }
    }
    s
}

fn properties(columns: &[Column], keys: &[&str], table: &Table, ts: TimestampFormat) -> Value {
    let mut props = Map::new();
    for c in columns {
        let mut s = type_schema(&c.ty, !keys.contains(&c.name.as_str()), table, ts);
        if !c.description.is_empty() {
            s.insert("description".into(), json!(c.description));
        }
        props.insert(c.name.clone(), Value::Object(s));
    }
    Value::Object(props)
}

/// Generates the JSON Schema of a stream from its column table.
fn generate(def: &StreamDef, ts: TimestampFormat) -> Result<Value, String> {
    let table = Table::parse(def.columns).map_err(|e| format!("{}: {e}", def.name))?;
    if !table.columns.iter().any(|c| c.name == def.key) {
        return Err(format!("{}: key `{}` is not a column", def.name, def.key));
    }
    if let Some(rk) = def.replication_key {
        if !table.columns.iter().any(|c| c.name == rk) {
            return Err(format!(
                "{}: replication key `{rk}` is not a column",
                def.name
            ));
        }
    }
    Ok(json!({
        "type": "object",
        "properties": properties(&table.columns, &[def.key], &table, ts),
        "required": [def.key],
    }))
}

type Schemas = Vec<Result<Value, String>>;

/// The JSON Schema of a stream (generated once per timestamp format). An error means a broken
/// built-in column table: a bug that the tests catch before release.
pub fn stream_schema(def: &StreamDef, ts: TimestampFormat) -> Result<Value, String> {
    static EPOCH: OnceLock<Schemas> = OnceLock::new();
    static DATE_TIME: OnceLock<Schemas> = OnceLock::new();
    let cache = match ts {
        TimestampFormat::EpochMs => &EPOCH,
        TimestampFormat::DateTime => &DATE_TIME,
    };
    let all = cache.get_or_init(|| STREAMS.iter().map(|d| generate(d, ts)).collect());
    match STREAMS.iter().position(|d| std::ptr::eq(d, def)) {
        Some(i) => all[i].clone(),
        None => generate(def, ts),
    }
}

/// Renders JSON the way the checked-in files are written (pretty, trailing newline).
pub fn render(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_format_turns_epoch_columns_into_strings() {
        let def = crate::streams::find("conversations").unwrap();
        let s = stream_schema(def, TimestampFormat::DateTime).unwrap();
        assert_eq!(
            s["properties"]["updatedAt"],
            json!({"type": ["null", "string"], "format": "date-time", "description": s["properties"]["updatedAt"]["description"]})
        );
        assert_eq!(s["properties"]["id"]["type"], json!(["integer"]));
    }

    #[test]
    fn keys_are_not_nullable_everything_else_is() {
        for def in STREAMS {
            let s = stream_schema(def, TimestampFormat::EpochMs).unwrap();
            for (name, prop) in s["properties"].as_object().unwrap() {
                let types = prop["type"].as_array().unwrap();
                assert_eq!(
                    types.contains(&json!("null")),
                    name != def.key,
                    "{}.{name}",
                    def.name
                );
                assert!(!types.is_empty());
            }
        }
    }
}
