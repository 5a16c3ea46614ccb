//! Contacts' attributes as typed columns: `GET /contacts/attributes` lists the account's attributes
//! (Drift's standard ones and its own custom ones) with their types; each becomes one top-level,
//! nullable column of the `contacts` stream, holding the record's attribute converted to that
//! type. The rule for names: a column is named as its attribute; names are compared ignoring case
//! (PostgreSQL folds unquoted names and pipelinewise lowercases them), so of attributes equal but
//! for case only the first listed makes a column, and one equal to a field of the contact itself
//! (`id`, `createdAt`, `attributes`) is named `attribute_<name>`. A record's value is its attribute
//! of exactly that name, else one equal to it ignoring case (real contacts carry both
//! `_END_USER_VERSION` and `_end_user_version`). Pure: the answer and the records as JSON.

use serde_json::{json, Map, Value};

use crate::config::TimestampFormat;
use crate::time::parse_timestamp_ms;

/// How an attribute's values are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// STRING, EMAIL, PHONE, URL, ENUM and any type Drift adds: text.
    Text,
    /// NUMERIC (or NUMBER): a number.
    Number,
    /// BOOLEAN.
    Boolean,
    /// DATETIME: a timestamp (epoch milliseconds, or RFC 3339 with `timestamp_format`).
    DateTime,
    /// DATE: a calendar date, `YYYY-MM-DD`.
    Date,
}

impl Kind {
    /// The kind of one of Drift's attribute types (unknown types are text).
    pub fn of(drift_type: &str) -> Kind {
        match drift_type.to_ascii_uppercase().as_str() {
            "NUMERIC" | "NUMBER" | "INTEGER" | "DECIMAL" => Kind::Number,
            "BOOLEAN" | "BOOL" => Kind::Boolean,
            "DATETIME" | "TIMESTAMP" => Kind::DateTime,
            "DATE" => Kind::Date,
            _ => Kind::Text,
        }
    }

    /// The column's JSON Schema.
    pub fn schema(self, ts: TimestampFormat, description: &str) -> Value {
        let mut s = match (self, ts) {
            (Kind::Text, _) => json!({"type": ["null", "string"]}),
            (Kind::Number, _) => json!({"type": ["null", "number"]}),
            (Kind::Boolean, _) => json!({"type": ["null", "boolean"]}),
            (Kind::DateTime, TimestampFormat::EpochMs) => json!({"type": ["null", "integer"]}),
            (Kind::DateTime, TimestampFormat::DateTime) => {
                json!({"type": ["null", "string"], "format": "date-time"})
            }
            (Kind::Date, _) => json!({"type": ["null", "string"], "format": "date"}),
        };
        s["description"] = json!(description);
        s
    }

    /// A value converted to this kind; `Err` with what was wrong when it cannot be.
    pub fn convert(self, v: &Value) -> Result<Value, &'static str> {
        match (self, v) {
            (_, Value::Null) => Ok(Value::Null),
            (Kind::Text, Value::String(_)) => Ok(v.clone()),
            (Kind::Text, Value::Number(_) | Value::Bool(_)) => Ok(json!(v.to_string())),
            // a list or an object where text is declared: kept whole, as JSON text
            (Kind::Text, _) => Ok(json!(v.to_string())),
            (Kind::Number, Value::Number(_)) => Ok(v.clone()),
            (Kind::Number, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or("not a number"),
            (Kind::Boolean, Value::Bool(_)) => Ok(v.clone()),
            (Kind::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(json!(true)),
                "false" => Ok(json!(false)),
                _ => Err("not true or false"),
            },
            (Kind::DateTime, Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f.round() as i64))
                .map(Value::from)
                .ok_or("not a timestamp"),
            (Kind::DateTime, Value::String(s)) => parse_timestamp_ms(s.trim())
                .or_else(|| s.trim().parse::<i64>().ok())
                .map(Value::from)
                .ok_or("not a timestamp"),
            (Kind::Date, Value::String(s)) => {
                chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .ok()
                    .or_else(|| parse_timestamp_ms(s.trim()).and_then(date_of))
                    .map(|d| json!(d.format("%Y-%m-%d").to_string()))
                    .ok_or("not a date")
            }
            (Kind::Date, Value::Number(n)) => n
                .as_i64()
                .and_then(date_of)
                .map(|d| json!(d.format("%Y-%m-%d").to_string()))
                .ok_or("not a date"),
            _ => Err("of another JSON type"),
        }
    }
}

fn date_of(ms: i64) -> Option<chrono::NaiveDate> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

/// One attribute column.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedColumn {
    /// The column's name.
    pub name: String,
    /// The attribute it holds.
    pub attribute: String,
    /// How its values are typed.
    pub kind: Kind,
    /// What it is, for people.
    pub description: String,
}

/// The columns of an answer of `GET /contacts/attributes` (`{"data": {"properties": [...]}}`),
/// beside the contact's own `fields`; `None` when the answer is not of that shape.
pub fn columns(answer: &Value, fields: &[&str]) -> Option<Vec<TypedColumn>> {
    let listed = answer
        .pointer("/data/properties")
        .or_else(|| answer.get("properties"))?
        .as_array()?;
    let mut taken: Vec<String> = fields.iter().map(|f| f.to_lowercase()).collect();
    let mut columns = Vec::new();
    for p in listed {
        let Some(attribute) = p
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        if columns
            .iter()
            .any(|c: &TypedColumn| c.attribute.eq_ignore_ascii_case(attribute))
        {
            continue;
        }
        let mut name = attribute.to_string();
        if taken.contains(&name.to_lowercase()) {
            name = format!("attribute_{attribute}");
        }
        if taken.contains(&name.to_lowercase()) {
            continue;
        }
        taken.push(name.to_lowercase());
        let drift_type = p.get("type").and_then(Value::as_str).unwrap_or("STRING");
        let shown = p
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or(attribute);
        columns.push(TypedColumn {
            name,
            attribute: attribute.to_string(),
            kind: Kind::of(drift_type),
            description: format!("Contact attribute {shown:?} ({drift_type})."),
        });
    }
    Some(columns)
}

/// A record's value of an attribute: of exactly its name, else of a name equal to it but for case.
pub fn value_of<'a>(attributes: &'a Map<String, Value>, attribute: &str) -> Option<&'a Value> {
    attributes.get(attribute).or_else(|| {
        attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Value {
        json!({"data": {"properties": [
            {"type": "STRING", "displayName": "Email", "name": "email"},
            {"type": "NUMERIC", "displayName": "Lead score", "name": "lead_score"},
            {"type": "DATETIME", "displayName": "Start date", "name": "start_date"},
            {"type": "STRING", "displayName": "Id", "name": "id"},
            {"type": "STRING", "name": "_END_USER_VERSION"},
            {"type": "STRING", "name": "_end_user_version"},
            {"type": "LATLON", "name": "geo"}
        ]}})
    }

    #[test]
    fn one_column_per_attribute_named_by_one_rule() {
        let cols = columns(&answer(), &["id", "createdAt", "attributes"]).unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "email",
                "lead_score",
                "start_date",
                "attribute_id",
                "_END_USER_VERSION",
                "geo"
            ]
        );
        assert_eq!(cols[1].kind, Kind::Number);
        assert_eq!(cols[2].kind, Kind::DateTime);
        assert_eq!(cols[5].kind, Kind::Text, "a type Drift adds is text");
        assert_eq!(columns(&json!({"data": []}), &[]), None);
    }

    #[test]
    fn values_are_converted_to_their_columns_type() {
        assert_eq!(Kind::Number.convert(&json!("42.5")), Ok(json!(42.5)));
        assert!(Kind::Number.convert(&json!("lots")).is_err());
        assert_eq!(Kind::Boolean.convert(&json!("TRUE")), Ok(json!(true)));
        assert_eq!(
            Kind::DateTime.convert(&json!("2026-01-02T03:04:05Z")),
            Ok(json!(1_767_323_045_000_i64))
        );
        assert_eq!(
            Kind::DateTime.convert(&json!(1_767_323_045_000_i64)),
            Ok(json!(1_767_323_045_000_i64))
        );
        assert_eq!(
            Kind::Date.convert(&json!(1_767_323_045_000_i64)),
            Ok(json!("2026-01-02"))
        );
        assert_eq!(Kind::Text.convert(&json!(7)), Ok(json!("7")));
        assert_eq!(
            Kind::Text.convert(&json!({"city": "Oslo"})),
            Ok(json!("{\"city\":\"Oslo\"}"))
        );
        let rec = json!({"_end_user_version": 3, "Email": "a@b"});
        let rec = rec.as_object().unwrap();
        assert_eq!(value_of(rec, "_END_USER_VERSION"), Some(&json!(3)));
        assert_eq!(value_of(rec, "email"), Some(&json!("a@b")));
    }
}
