//! A field Drift sends that a stream's column table lacks gets a schema from its values: the JSON
//! type of the first non-null value, nullable, and widened when a later value disagrees (an integer
//! field that meets a fraction becomes a number; any other disagreement adds the new type to the
//! list), never narrowed. Pure: knows JSON values and schemas, nothing of streams or output.

use serde_json::{json, Value};

/// The JSON Schema type name of a non-null value.
fn kind(v: &Value) -> Option<&'static str> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    })
}

/// The schema a new field gets from its first value, or `None` for null (nothing to infer yet).
pub fn infer(v: &Value) -> Option<Value> {
    kind(v).map(|k| json!({"type": [k, "null"]}))
}

/// Widens `schema` (one made by [`infer`]) so that `v` fits it; returns whether it changed.
pub fn widen(schema: &mut Value, v: &Value) -> bool {
    let Some(k) = kind(v) else { return false };
    let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) else {
        return false;
    };
    let has = |types: &[Value], t: &str| types.iter().any(|x| x == t);
    if has(types, k) || (k == "integer" && has(types, "number")) {
        return false;
    }
    if k == "number" {
        if let Some(int) = types.iter_mut().find(|t| *t == "integer") {
            *int = json!("number");
            return true;
        }
    }
    let at = types.len().saturating_sub(1);
    types.insert(at, json!(k));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_field_is_typed_by_its_first_value_and_nullable() {
        assert_eq!(infer(&json!(3)), Some(json!({"type": ["integer", "null"]})));
        assert_eq!(
            infer(&json!("x")),
            Some(json!({"type": ["string", "null"]}))
        );
        assert_eq!(
            infer(&json!({"a": 1})),
            Some(json!({"type": ["object", "null"]}))
        );
        assert_eq!(infer(&json!(null)), None);
    }

    #[test]
    fn a_disagreeing_value_widens_and_never_narrows() {
        let mut s = infer(&json!(3)).unwrap();
        assert!(!widen(&mut s, &json!(4)));
        assert!(!widen(&mut s, &json!(null)));
        assert!(widen(&mut s, &json!(2.5)));
        assert_eq!(s, json!({"type": ["number", "null"]}));
        assert!(!widen(&mut s, &json!(7)), "an integer fits a number");
        assert!(widen(&mut s, &json!("n/a")));
        assert_eq!(s, json!({"type": ["number", "string", "null"]}));
        assert!(!widen(&mut s, &json!(1.5)));
    }
}
