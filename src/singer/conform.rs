//! Makes a record fit its schema before it is written: a value of the wrong JSON type is coerced
//! when that is lossless (`"42"` → 42 for an integer, `7.0` → 7, a number → string for a string),
//! otherwise replaced by null with a warning (every non-key field is nullable); NUL characters,
//! which PostgreSQL rejects, are removed from strings. A key that cannot be made valid is an error
//! naming the record, so nothing is written that a target would refuse. Pure: knows schemas and
//! records as JSON, nothing of streams or HTTP.

use serde_json::{Map, Number, Value};

fn matches(v: &Value, ty: &str) -> bool {
    match ty {
        "null" => v.is_null(),
        "integer" => v.is_i64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => false,
    }
}

fn coerce(v: &Value, ty: &str) -> Option<Value> {
    match (ty, v) {
        ("integer", Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
        ("integer", Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| Value::from(f as i64)),
        ("number", Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        ("string", Value::Number(n)) => Some(Value::String(n.to_string())),
        ("string", Value::Bool(b)) => Some(Value::String(b.to_string())),
        ("boolean", Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

fn strip_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => s.retain(|c| c != '\0'),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(m) => m.values_mut().for_each(strip_nul),
        _ => {}
    }
}

/// A value [`conform`] had to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    /// The field.
    pub field: String,
    /// What was done, in the same words for every record.
    pub what: String,
    /// The value it had, as JSON.
    pub value: String,
    /// Whether it was replaced by null (else coerced, losslessly, to the schema's type).
    pub nulled: bool,
}

/// Conforms `record`'s top-level fields to `properties` (a schema's `properties`). Returns each
/// value it had to change; `Err` when the key itself cannot be made valid.
pub fn conform(
    record: &mut Map<String, Value>,
    properties: &Map<String, Value>,
    key: &str,
) -> Result<Vec<Fixed>, String> {
    let mut notes = Vec::new();
    for (name, value) in record.iter_mut() {
        strip_nul(value);
        let Some(prop) = properties.get(name) else {
            continue;
        };
        // `timestamp_format: date-time`: Drift's epoch milliseconds become RFC 3339 strings
        if prop.get("format").and_then(Value::as_str) == Some("date-time") {
            if let Some(t) = value
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
            {
                *value = Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                continue;
            }
        }
        let Some(types) = prop.get("type").and_then(Value::as_array) else {
            continue;
        };
        let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
        if types.iter().any(|t| matches(value, t)) {
            continue;
        }
        let fixed = |what: String, nulled: bool| Fixed {
            field: name.clone(),
            what,
            value: value.to_string(),
            nulled,
        };
        if let Some((t, coerced)) = types.iter().find_map(|t| coerce(value, t).map(|f| (t, f))) {
            notes.push(fixed(format!("`{name}` coerced to {t}"), false));
            *value = coerced;
        } else if name != key && types.contains(&"null") {
            let kind = format!("`{name}` is not {}; emitted as null", types.join(" or "));
            notes.push(fixed(kind, true));
            *value = Value::Null;
        } else {
            return Err(format!(
                "key `{name}` is {value}, not {}",
                types.join(" or ")
            ));
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props() -> Map<String, Value> {
        json!({"id": {"type": ["integer"]}, "n": {"type": ["null", "integer"]}, "s": {"type": ["null", "string"]},
               "b": {"type": ["null", "boolean"]}, "o": {"type": ["null", "object"]}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn coerces_nulls_and_strips() {
        let mut r = json!({"id": "42", "n": 7.0, "s": 12, "b": "TRUE", "o": "x\u{0}y", "extra": 1})
            .as_object()
            .unwrap()
            .clone();
        let notes = conform(&mut r, &props(), "id").unwrap();
        assert_eq!(
            Value::Object(r),
            json!({"id": 42, "n": 7, "s": "12", "b": true, "o": null, "extra": 1})
        );
        assert_eq!(notes.len(), 5);
        assert_eq!(
            (notes[0].what.as_str(), notes[0].value.as_str()),
            ("`id` coerced to integer", "\"42\"")
        );
        let nulled: Vec<&str> = notes
            .iter()
            .filter(|n| n.nulled)
            .map(|n| n.field.as_str())
            .collect();
        assert_eq!(nulled, ["o"]);
    }

    #[test]
    fn epoch_milliseconds_become_date_times() {
        let props = json!({"id": {"type": ["integer"]}, "t": {"type": ["null", "string"], "format": "date-time"}});
        let mut r = json!({"id": 1, "t": 1717171717123i64})
            .as_object()
            .unwrap()
            .clone();
        let notes = conform(&mut r, props.as_object().unwrap(), "id").unwrap();
        assert!(notes.is_empty());
        assert_eq!(r["t"], "2024-05-31T16:08:37.123Z");
    }

    #[test]
    fn a_bad_key_is_an_error() {
        let mut r = json!({"id": "abc"}).as_object().unwrap().clone();
        assert!(conform(&mut r, &props(), "id")
            .unwrap_err()
            .contains("key `id`"));
        let mut r = json!({"id": 1, "n": 18446744073709551615u64, "s": "a\u{0}"})
            .as_object()
            .unwrap()
            .clone();
        conform(&mut r, &props(), "id").unwrap();
        assert_eq!(r["n"], Value::Null);
        assert_eq!(r["s"], "a");
    }
}
