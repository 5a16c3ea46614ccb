//! Flattening, as the Meltano SDK's `flattening_enabled` does it: an object property with declared
//! properties becomes one column per child, named `parent__child`, down to a maximum depth, in the
//! SCHEMA and in every RECORD alike; an object deeper than that, or one without declared
//! properties, and every array, stays JSON in one column. Pure: schemas and records as JSON.

use serde_json::{Map, Value};

const SEP: &str = "__";

/// Whether a property is an object with declared properties (so it can become columns).
fn object_props(prop: &Value) -> Option<&Map<String, Value>> {
    let is_object = match prop.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => false,
    };
    let props = prop.get("properties")?.as_object()?;
    (is_object && !props.is_empty()).then_some(props)
}

/// A child column's schema: nullable, since its parent may be absent or null.
fn nullable(mut prop: Value) -> Value {
    if let Some(ts) = prop.get_mut("type").and_then(Value::as_array_mut) {
        if !ts.iter().any(|t| t == "null") {
            ts.push(Value::from("null"));
        }
    } else if let Some(Value::String(t)) = prop.get("type").cloned() {
        prop["type"] = Value::from(vec![t, "null".into()]);
    }
    prop
}

fn flatten_props(
    props: &Map<String, Value>,
    prefix: &str,
    depth: u32,
    out: &mut Map<String, Value>,
) {
    for (name, prop) in props {
        let column = format!("{prefix}{name}");
        match object_props(prop).filter(|_| depth > 0) {
            Some(children) => flatten_props(children, &format!("{column}{SEP}"), depth - 1, out),
            None => {
                out.insert(column, nullable(prop.clone()));
            }
        }
    }
}

/// The schema with its object properties flattened `depth` levels deep.
pub fn flatten_schema(schema: &Value, depth: u32) -> Value {
    let mut flat = schema.clone();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let mut out = Map::new();
        flatten_props(props, "", depth, &mut out);
        flat["properties"] = Value::Object(out);
    }
    flat
}

fn flatten_values(
    record: &Map<String, Value>,
    props: &Map<String, Value>,
    prefix: &str,
    depth: u32,
    out: &mut Map<String, Value>,
) {
    for (name, value) in record {
        let column = format!("{prefix}{name}");
        let children = props.get(name).and_then(object_props).filter(|_| depth > 0);
        match (children, value) {
            (Some(children), Value::Object(inner)) => {
                flatten_values(inner, children, &format!("{column}{SEP}"), depth - 1, out)
            }
            // a null object leaves its columns null (absent)
            (Some(_), Value::Null) => {}
            _ => {
                out.insert(column, value.clone());
            }
        }
    }
}

/// The record with its object fields flattened as `flatten_schema(schema, depth)` declares them.
/// A child the schema does not declare still gets its own `parent__child` column here (holding its
/// value as it is): the caller declares it, so nothing Drift sends is lost to flattening.
pub fn flatten_record(
    record: &Map<String, Value>,
    schema: &Value,
    depth: u32,
) -> Map<String, Value> {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Map::new();
    flatten_values(record, props, "", depth, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "id": {"type": ["integer"]},
            "author": {"type": ["object", "null"], "properties": {
                "id": {"type": ["integer", "null"]},
                "type": {"type": ["string", "null"]},
                "geo": {"type": ["object", "null"], "properties": {"city": {"type": ["string", "null"]}}}}},
            "buttons": {"type": ["array", "null"], "items": {"type": "object"}},
            "attributes": {"type": ["object", "null"]}}})
    }

    #[test]
    fn objects_become_parent_child_columns_down_to_the_depth() {
        let flat = flatten_schema(&schema(), 1);
        let mut names: Vec<&String> = flat["properties"].as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "attributes",
                "author__geo",
                "author__id",
                "author__type",
                "buttons",
                "id"
            ]
        );
        assert_eq!(
            flat["properties"]["author__geo"]["type"],
            json!(["object", "null"])
        );
        let deeper = flatten_schema(&schema(), 2);
        assert!(deeper["properties"]["author__geo__city"].is_object());
    }

    #[test]
    fn records_follow_their_flattened_schema_and_arrays_stay_json() {
        let record = json!({"id": 1, "author": {"id": 7, "type": "user", "geo": {"city": "Oslo"}},
            "buttons": [{"label": "a"}], "attributes": {"x": 1}});
        let flat = flatten_record(record.as_object().unwrap(), &schema(), 1);
        assert_eq!(
            Value::Object(flat),
            json!({"id": 1, "author__id": 7, "author__type": "user",
                "author__geo": {"city": "Oslo"}, "buttons": [{"label": "a"}], "attributes": {"x": 1}})
        );
        let surprise = json!({"id": 3, "author": {"id": 8, "locale": "nb"}});
        let flat = flatten_record(surprise.as_object().unwrap(), &schema(), 1);
        assert_eq!(
            Value::Object(flat),
            json!({"id": 3, "author__id": 8, "author__locale": "nb"})
        );
        let null_author = json!({"id": 2, "author": null});
        let flat = flatten_record(null_author.as_object().unwrap(), &schema(), 1);
        assert_eq!(Value::Object(flat), json!({"id": 2}));
    }
}
