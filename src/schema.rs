//! Column tables → JSON Schemas → the catalog. The column tables in `schemas/columns/` are the single
//! source of truth: `schemas/<stream>.json` and `catalog.json` are this module's output, checked in and
//! compared against it by a test. Pure: no network, no clock, no files (tables are compiled in).

use serde_json::{json, Map, Value};

use crate::streams::{StreamDef, STREAMS};

/// How epoch-millisecond columns are typed and emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// Integers, as Drift sends them (the default: existing tables never change type).
    #[default]
    EpochMs,
    /// RFC 3339 strings with `format: date-time`, so targets create timestamp columns.
    DateTime,
}

/// One column of a column table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Field name as the API spells it.
    pub name: String,
    /// Declared type.
    pub ty: ColumnType,
    /// Human description (goes into the schema).
    pub description: String,
}

/// The types a column table may use.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnType {
    /// JSON integer within int64.
    Integer,
    /// Any JSON number.
    Number,
    /// JSON string.
    String,
    /// JSON boolean.
    Boolean,
    /// Epoch milliseconds, an integer.
    EpochMs,
    /// A free-form JSON object.
    Object,
    /// An array of the inner type.
    Array(Box<ColumnType>),
    /// A named nested object defined in the same table (`[Shape]`).
    Shape(String),
    /// One of several scalar/array types.
    Union(Vec<ColumnType>),
}

/// A parsed column table: top-level columns plus named nested shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Top-level columns in table order.
    pub columns: Vec<Column>,
    /// Nested shapes in table order.
    pub shapes: Vec<(String, Vec<Column>)>,
}

impl Table {
    /// Parses a column table. Errors name the line.
    pub fn parse(text: &str) -> Result<Table, String> {
        let mut columns = Vec::new();
        let mut shapes: Vec<(String, Vec<Column>)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                shapes.push((name.to_string(), Vec::new()));
                continue;
            }
            let (name, rest) = split_word(line);
            let (ty_text, description) = split_word(rest);
            if ty_text.is_empty() {
                return Err(format!("line {}: column `{name}` has no type", n + 1));
            }
            let ty = parse_type(ty_text).map_err(|e| format!("line {}: {e}", n + 1))?;
            let column = Column {
                name: name.to_string(),
                ty,
                description: description.to_string(),
            };
            match shapes.last_mut() {
                Some((_, cols)) => cols.push(column),
                None => columns.push(column),
            }
        }
        let table = Table { columns, shapes };
        table.check_shapes()?;
        Ok(table)
    }

    fn check_shapes(&self) -> Result<(), String> {
        fn walk(t: &ColumnType, table: &Table) -> Result<(), String> {
            match t {
                ColumnType::Shape(s) if table.shape(s).is_none() => Err(format!(
                    "type `{s}` is used but no `[{s}]` section defines it"
                )),
                ColumnType::Array(inner) => walk(inner, table),
                ColumnType::Union(all) => all.iter().try_for_each(|t| walk(t, table)),
                _ => Ok(()),
            }
        }
        let all = self
            .columns
            .iter()
            .chain(self.shapes.iter().flat_map(|(_, c)| c.iter()));
        all.into_iter().try_for_each(|c| walk(&c.ty, self))
    }

    fn shape(&self, name: &str) -> Option<&[Column]> {
        self.shapes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_slice())
    }
}

/// Splits off the first whitespace-separated word; the rest is trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

fn parse_type(text: &str) -> Result<ColumnType, String> {
    // a union splits on `|` outside angle brackets
    let mut depth = 0;
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        match ch {
            '<' => depth += 1,
            '>' => depth -= 1,
            '|' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    if parts.len() > 1 {
        return parts
            .into_iter()
            .map(parse_type)
            .collect::<Result<_, _>>()
            .map(ColumnType::Union);
    }
    Ok(match text {
        "integer" => ColumnType::Integer,
        "number" => ColumnType::Number,
        "string" => ColumnType::String,
        "boolean" => ColumnType::Boolean,
        "epoch_ms" => ColumnType::EpochMs,
        "object" => ColumnType::Object,
        _ => {
            if let Some(inner) = text
                .strip_prefix("array<")
                .and_then(|t| t.strip_suffix('>'))
            {
                ColumnType::Array(Box::new(parse_type(inner)?))
            } else if text.chars().next().is_some_and(char::is_uppercase)
                && text.chars().all(char::is_alphanumeric)
            {
                ColumnType::Shape(text.to_string())
            } else {
                return Err(format!("unknown type `{text}`"));
            }
        }
    })
}

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

/// The JSON Schema of a stream, generated from its column table.
pub fn stream_schema(def: &StreamDef, ts: TimestampFormat) -> Result<Value, String> {
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

/// One catalog entry as discovery writes it.
pub fn catalog_entry(def: &StreamDef, ts: TimestampFormat) -> Result<Value, String> {
    let schema = stream_schema(def, ts)?;
    let mut stream_md = Map::new();
    stream_md.insert("inclusion".into(), json!("available"));
    stream_md.insert("selected-by-default".into(), json!(true));
    stream_md.insert("table-key-properties".into(), json!([def.key]));
    match def.replication_key {
        Some(rk) => {
            stream_md.insert("valid-replication-keys".into(), json!([rk]));
            stream_md.insert("replication-method".into(), json!("INCREMENTAL"));
            stream_md.insert("replication-key".into(), json!(rk));
        }
        None => {
            stream_md.insert("forced-replication-method".into(), json!("FULL_TABLE"));
            stream_md.insert("replication-method".into(), json!("FULL_TABLE"));
        }
    }
    let mut metadata = vec![json!({"breadcrumb": [], "metadata": stream_md})];
    if let Some(props) = schema["properties"].as_object() {
        for name in props.keys() {
            let automatic = name == def.key || Some(name.as_str()) == def.replication_key;
            let md = if automatic {
                json!({"inclusion": "automatic"})
            } else {
                json!({"inclusion": "available", "selected-by-default": true})
            };
            metadata.push(json!({"breadcrumb": ["properties", name], "metadata": md}));
        }
    }
    let mut entry = Map::new();
    entry.insert("tap_stream_id".into(), json!(def.name));
    entry.insert("stream".into(), json!(def.name));
    entry.insert("key_properties".into(), json!([def.key]));
    match def.replication_key {
        Some(rk) => {
            entry.insert("replication_method".into(), json!("INCREMENTAL"));
            entry.insert("replication_key".into(), json!(rk));
        }
        None => {
            entry.insert("replication_method".into(), json!("FULL_TABLE"));
        }
    }
    entry.insert("schema".into(), schema);
    entry.insert("metadata".into(), Value::Array(metadata));
    Ok(Value::Object(entry))
}

/// The whole catalog, as `--discover` prints it; `catalog.json` holds it for the default format.
pub fn catalog(ts: TimestampFormat) -> Result<Value, String> {
    let streams = STREAMS
        .iter()
        .map(|d| catalog_entry(d, ts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "streams": streams }))
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
    fn parses_types_unions_and_shapes() {
        let t = Table::parse(
            "# c\nid  integer  The id.\nv  string|array<string>  V\ntags array<Tag>\n\n[Tag]\nname string  N\n",
        )
        .unwrap();
        assert_eq!(t.columns.len(), 3);
        assert_eq!(
            t.columns[1].ty,
            ColumnType::Union(vec![
                ColumnType::String,
                ColumnType::Array(Box::new(ColumnType::String))
            ])
        );
        assert_eq!(t.shapes[0].1[0].name, "name");
    }

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
    fn rejects_unknown_type_and_undefined_shape() {
        assert!(Table::parse("id intger\n").unwrap_err().contains("line 1"));
        assert!(Table::parse("t array<Tag>\n")
            .unwrap_err()
            .contains("[Tag]"));
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
