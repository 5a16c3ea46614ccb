//! Reads beyond the list pages: completing a record from its detail endpoint, a child stream's list
//! for one parent, and one referenced record. Each goes through the client's one retry policy.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::client::DriftClient;
use crate::error::{Error, Result};
use crate::page::{check, check_one, first_request, parse_page};
use crate::streams::StreamDef;

/// The key as it appears in a path.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Completes a list record from the detail endpoint when the list omitted some fields.
pub async fn complete(
    client: &DriftClient,
    def: &StreamDef,
    record: Map<String, Value>,
) -> Result<Map<String, Value>> {
    if def
        .completed_by_detail
        .iter()
        .all(|f| record.contains_key(*f))
    {
        return Ok(record);
    }
    let Some(id) = record.get(def.key).map(key_text) else {
        return Ok(record);
    };
    let path = def.detail_path.replace("{id}", &id);
    match client.get(&path, def.name, check_one).await {
        Ok(mut body) => {
            let mut merged = record;
            if let Some(Value::Object(full)) = body.get_mut("data").map(Value::take) {
                merged.extend(full);
            }
            Ok(merged)
        }
        Err(Error::Api { status: 404, .. }) => {
            tracing::warn!(stream = def.name, id = %id, "record vanished before it could be completed; emitting the list version");
            Ok(record)
        }
        Err(e) => Err(e),
    }
}

/// Every record of a child list for one parent (all pages).
pub async fn list_all(
    client: &DriftClient,
    def: &StreamDef,
    parent_id: &str,
    page_size: u32,
) -> Result<Vec<Map<String, Value>>> {
    let path = def.path.replace("{id}", parent_id);
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(first_request(def, &path, page_size));
    while let Some(request) = next.take() {
        if !seen.insert(request.clone()) {
            return Err(Error::PaginationLoop {
                endpoint: path,
                cursor: request,
            });
        }
        let body = match client.get(&request, def.name, |b| check(def, b)).await {
            Err(Error::Api { status: 404, .. }) => {
                tracing::warn!(
                    stream = def.name,
                    parent = parent_id,
                    "parent vanished before its list could be read; skipped"
                );
                return Ok(Vec::new());
            }
            other => other?,
        };
        let page = parse_page(def, body, &path, page_size)?;
        for item in page.records {
            match item {
                Value::Object(r) if r.get(def.key).is_some_and(|k| !k.is_null()) => records.push(r),
                _ => {
                    return Err(Error::Decode {
                        endpoint: path,
                        reason: format!(
                            "a {} record is not an object with `{}`",
                            def.name, def.key
                        ),
                    })
                }
            }
        }
        next = page.next;
    }
    Ok(records)
}

/// One referenced record; `None` (logged) when Drift answers 404.
pub async fn one(
    client: &DriftClient,
    def: &StreamDef,
    id: &str,
) -> Result<Option<Map<String, Value>>> {
    let path = def.path.replace("{id}", id);
    match client.get(&path, def.name, check_one).await {
        Ok(mut body) => match body.get_mut("data").map(Value::take) {
            Some(Value::Object(r)) if r.get(def.key).is_some_and(|k| !k.is_null()) => Ok(Some(r)),
            _ => Err(Error::Decode {
                endpoint: def.path.into(),
                reason: format!("no {} object with `{}` at data", def.name, def.key),
            }),
        },
        Err(Error::Api { status: 404, .. }) => {
            tracing::warn!(
                stream = def.name,
                id,
                "referenced record not found (404); skipped"
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
