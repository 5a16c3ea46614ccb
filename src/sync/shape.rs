//! The shape a stream's records leave in: its schema as this run sends it (pruned to the selected
//! fields, grown by the fields Drift sends that the column table lacks, with `new_fields: add`),
//! the fields projected out of each record, and flattening (`flattening_enabled`). One per stream
//! of a pass. Pure: it says when the schema grew; the run sends it.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::config::{Config, TimestampFormat};
use crate::singer::catalog::Selected;
use crate::singer::flatten::{flatten_record, flatten_schema};
use crate::streams::attributes::{value_of, TypedColumn};
use crate::streams::infer::{infer, widen};
use crate::streams::schema::stream_schema;
use crate::streams::StreamDef;

/// A stream's outgoing schema and fields.
pub struct Shape {
    stream: &'static str,
    /// The schema of the selected fields, and of every field added in this run.
    schema: Value,
    /// The fields a record keeps, in schema order.
    fields: Vec<String>,
    /// Every field the column table has, selected or not: those are never new.
    known: HashSet<String>,
    /// Whether new fields become columns (else each is warned about once, and dropped).
    grows: bool,
    /// New fields already warned about (when they are dropped).
    warned: HashSet<String>,
    /// How many levels of objects become columns, when flattening.
    flatten: Option<u32>,
    /// Flattened columns the records brought that the schema did not declare (children of an
    /// object the column table describes only in part), typed from their values.
    flat_extra: Map<String, Value>,
    /// The token's organization: a record whose `orgId` column Drift left empty gets it.
    org: Option<i64>,
    /// The selected typed attribute columns, and the record field holding the attributes.
    typed: Vec<TypedColumn>,
    attributes_at: &'static str,
    /// Typed columns whose values did not convert, already warned about.
    unconverted: HashSet<String>,
    /// The typed columns of the record last projected that are null because its value did not
    /// convert.
    nulled: Vec<String>,
}

impl Shape {
    /// The shape of `sel`'s records under `config`. New fields are added only when every field of
    /// the stream is selected: a catalog that deselects one has chosen its fields.
    pub fn new(
        sel: &Selected,
        def: &'static StreamDef,
        config: &Config,
        typed: &[TypedColumn],
    ) -> Shape {
        let mut known: HashSet<String> = stream_schema(def, TimestampFormat::EpochMs)
            .ok()
            .and_then(|s| s.get("properties").and_then(Value::as_object).cloned())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let attributes_at = def.typed_attributes.map_or("", |t| t.field);
        // every field of the column table selected (the attributes object too, unless it is
        // not offered): the catalog did not choose this stream's fields
        let all = known.iter().all(|f| {
            sel.fields.contains(f) || (f == attributes_at && !config.contact_attributes_object)
        });
        let typed: Vec<TypedColumn> = match def.typed_attributes {
            Some(_) => typed.to_vec(),
            None => Vec::new(),
        };
        known.extend(typed.iter().map(|c| c.name.clone()));
        let typed = typed
            .into_iter()
            .filter(|c| sel.fields.contains(&c.name))
            .collect();
        Shape {
            stream: def.name,
            schema: sel.schema.clone(),
            fields: sel.fields.clone(),
            grows: config.add_new_fields && all,
            known,
            warned: HashSet::new(),
            flatten: config.flattening,
            flat_extra: Map::new(),
            org: None,
            typed,
            attributes_at,
            unconverted: HashSet::new(),
            nulled: Vec::new(),
        }
    }

    /// The schema as sent in SCHEMA (flattened when flattening).
    pub fn schema(&self) -> Value {
        let Some(depth) = self.flatten else {
            return self.schema.clone();
        };
        let mut flat = flatten_schema(&self.schema, depth);
        if let Some(props) = flat.get_mut("properties").and_then(Value::as_object_mut) {
            props.extend(self.flat_extra.clone());
        }
        flat
    }

    /// The schema's properties, before flattening (what a record is conformed to).
    pub fn properties(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// Takes in a record's fields the schema lacks: each becomes a column typed from its value
    /// (one info line), or widens a column added earlier; or, when the shape does not grow, one
    /// warning per field. Returns whether the schema changed (it must be sent again).
    pub fn learn(&mut self, record: &Map<String, Value>) -> bool {
        let mut grew = false;
        for (field, value) in record {
            if self.known.contains(field) {
                continue;
            }
            if !self.grows {
                self.warn_dropped(field);
                continue;
            }
            let Some(props) = self
                .schema
                .get_mut("properties")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            if let Some(column) = props.get_mut(field) {
                if widen(column, value) {
                    tracing::info!(stream = self.stream, field = field.as_str(), schema = %column, "a field's values no longer fit the type inferred for it: the column is widened");
                    grew = true;
                }
            } else if let Some(column) = infer(value) {
                tracing::info!(stream = self.stream, field = field.as_str(), schema = %column, "drift sent a field the stream's schema does not have: added as a new column");
                props.insert(field.clone(), column);
                self.fields.push(field.clone());
                grew = true;
            }
        }
        grew
    }

    fn warn_dropped(&mut self, field: &str) {
        if self.warned.insert(field.to_string()) {
            tracing::warn!(
                stream = self.stream,
                field,
                "drift sent a field the stream's schema does not have; it is dropped (new_fields is drop, or the catalog chose this stream's fields)"
            );
        }
    }

    /// The token's organization, once known: it fills an `orgId` Drift leaves out (real
    /// conversation bodies never carry it).
    pub fn know_org(&mut self, org: Option<i64>) {
        self.org = org;
    }

    /// The record's kept fields (its typed attribute columns filled from its attributes).
    /// Its typed columns left null because their values did not convert are then in
    /// [`Shape::take_nulled`].
    pub fn project(&mut self, record: &Map<String, Value>) -> Map<String, Value> {
        self.nulled.clear();
        let mut kept: Map<String, Value> = self
            .fields
            .iter()
            .filter_map(|f| record.get(f).map(|v| (f.clone(), v.clone())))
            .collect();
        if let (Some(org), true) = (self.org, self.fields.iter().any(|f| f == "orgId")) {
            let slot = kept.entry("orgId").or_insert(Value::Null);
            if slot.is_null() {
                *slot = Value::from(org);
            }
        }
        self.fill_typed(record, &mut kept);
        kept
    }

    /// Each selected typed attribute column, holding the record's attribute converted to the
    /// column's type (null, with one warning per column, when it does not convert).
    fn fill_typed(&mut self, record: &Map<String, Value>, kept: &mut Map<String, Value>) {
        let Some(attributes) = record.get(self.attributes_at).and_then(Value::as_object) else {
            return;
        };
        for column in &self.typed {
            let Some(value) = value_of(attributes, &column.attribute) else {
                continue;
            };
            let converted = column.kind.convert(value).unwrap_or_else(|why| {
                if self.unconverted.insert(column.name.clone()) {
                    tracing::warn!(stream = self.stream, field = column.name.as_str(), "an attribute's value is {why}, where the account types it {:?}: the column is null there (the attributes object keeps it)", column.kind);
                }
                self.nulled.push(column.name.clone());
                Value::Null
            });
            kept.insert(column.name.clone(), converted);
        }
    }

    /// The typed columns of the record last projected that are null because their values did not
    /// convert.
    pub fn take_nulled(&mut self) -> Vec<String> {
        std::mem::take(&mut self.nulled)
    }

    /// A conformed record as it leaves (flattened when flattening), and whether flattening met
    /// columns the schema did not declare yet (it must then be sent again first).
    pub fn finish(&mut self, record: Map<String, Value>) -> (Map<String, Value>, bool) {
        let Some(depth) = self.flatten else {
            return (record, false);
        };
        let mut flat = flatten_record(&record, &self.schema, depth);
        let declared = flatten_schema(&self.schema, depth);
        let mut grew = false;
        flat.retain(|column, value| {
            if declared["properties"].get(column).is_some() {
                return true;
            }
            if let Some(schema) = self.flat_extra.get_mut(column) {
                grew |= widen(schema, value);
                return true;
            }
            // a null in a column not declared yet says nothing: it is left out
            let Some(schema) = infer(value) else {
                return false;
            };
            tracing::info!(stream = self.stream, field = column.as_str(), schema = %schema, "a flattened object carries a field its schema does not have: added as a new column");
            self.flat_extra.insert(column.clone(), schema);
            grew = true;
            true
        });
        (flat, grew)
    }
}
