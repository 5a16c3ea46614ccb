//! Reads beyond a list's pages: completing a record from its detail endpoint, and one referenced
//! record (a child list is a [`crate::drift::page::Pages`] walk). Each goes through the client's one retry policy, and a 404
//! (the record vanished between two reads) means skip, by the one [`skip_404`] policy, with the
//! reason logged. Knows nothing of Singer or of the stream table.

use serde_json::{Map, Value};

use crate::drift::client::DriftClient;
use crate::drift::page::{records_with_key, Endpoint, Envelope, Request};
use crate::error::{Error, Result};
use crate::out::tally::Tally;

/// A detail endpoint that completes list records.
#[derive(Debug, Clone, Copy)]
pub struct Detail {
    /// The single-record path, with `{id}` for the key.
    pub path: &'static str,
    /// Fields the list may omit that the detail endpoint returns.
    pub fields: &'static [&'static str],
}

/// The key as it appears in a path.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The one 404 policy: a record that vanished between two reads is skipped (`None`), counted
/// (the stream's end names how many, and the first ids) with what is done instead.
pub fn skip_404<T>(
    result: Result<T>,
    tally: &Tally,
    stream: &str,
    id: &str,
    instead: &str,
) -> Result<Option<T>> {
    match result {
        Err(Error::Api { status: 404, .. }) => {
            tracing::debug!(stream, id, "not found (404): {instead}");
            tally.note(stream, &format!("not found (404): {instead}"), id);
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// The record at `data` of a single-record response.
fn data_object(mut body: Value) -> Option<Map<String, Value>> {
    match body.get_mut("data").map(Value::take) {
        Some(Value::Object(r)) => Some(r),
        _ => None,
    }
}

/// Completes a list record from the detail endpoint when the list omitted some fields.
pub async fn complete(
    client: &DriftClient,
    detail: &Detail,
    key: &str,
    stream: &str,
    record: Map<String, Value>,
) -> Result<Map<String, Value>> {
    if detail.fields.iter().all(|f| record.contains_key(*f)) {
        return Ok(record);
    }
    let Some(id) = record.get(key).map(key_text) else {
        return Ok(record);
    };
    let request = Request::new(detail.path.replace("{id}", &id));
    let body = client.get(&request, stream, Envelope::Object).await;
    let instead = "the record vanished before it could be completed; emitting the list version";
    match skip_404(body, client.tally(), stream, &id, instead)?.and_then(data_object) {
        Some(full) => {
            let mut merged = record;
            merged.extend(full);
            Ok(merged)
        }
        None => Ok(record),
    }
}

/// One referenced record; `None` when Drift answers 404.
pub async fn referenced(
    client: &DriftClient,
    endpoint: &Endpoint,
    key: &str,
    stream: &str,
    id: &str,
) -> Result<Option<Map<String, Value>>> {
    let request = Request::new(endpoint.path_for(id));
    let body = client.get(&request, stream, Envelope::Object).await;
    let Some(body) = skip_404(
        body,
        client.tally(),
        stream,
        id,
        "referenced record skipped",
    )?
    else {
        return Ok(None);
    };
    let record = data_object(body)
        .map(|r| vec![Value::Object(r)])
        .unwrap_or_default();
    match records_with_key(record, key) {
        Ok(mut one) if one.len() == 1 => Ok(one.pop()),
        _ => Err(Error::Decode {
            endpoint: request.path,
            reason: format!("no {stream} object with `{key}` at data"),
        }),
    }
}
