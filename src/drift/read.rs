//! Reads beyond a list's pages: completing a record from its detail endpoint, and one referenced
//! record (a child list is a [`crate::drift::page::Pages`] walk). Each goes through the client's one retry policy, and a 404
//! (the record vanished between two reads) means skip, by the one [`skip_404`] policy, with the
//! reason logged. An answer for another id than the one asked for (a proxy or cache fault) is
//! never used in its place: one warning names both ids ([`same_record`]). Knows nothing of Singer
//! or of the stream table.

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

/// Whether an answer to a request for the record `id` is that record: its `key` says the same id
/// (as text: `42` and `"42"` are the same). If not, one warning names both ids and what is done
/// instead.
fn same_record(
    answer: &Map<String, Value>,
    key: &str,
    id: &str,
    stream: &str,
    instead: &str,
) -> bool {
    let answered = answer.get(key).filter(|v| !v.is_null()).map(key_text);
    if answered.as_deref() == Some(id) {
        return true;
    }
    let answered = answered.map_or_else(
        || format!("a record without `{key}`"),
        |a| format!("record {a}"),
    );
    tracing::warn!(
        stream,
        "drift answered {answered} when asked for record {id} (a proxy or cache fault?): {instead}"
    );
    false
}

/// The record at `data` of a single-record response.
fn data_object(mut body: Value) -> Option<Map<String, Value>> {
    match body.get_mut("data").map(Value::take) {
        Some(Value::Object(r)) => Some(r),
        _ => None,
    }
}

/// The answer of the endpoint at `list` that lists a stream's attributes with their types (for
/// contacts, `GET /contacts/attributes`); `None` when Drift refuses it (a missing `scope`) or does
/// not serve it, with one line saying what the scope would add.
pub async fn listed_attributes(
    client: &DriftClient,
    list: &str,
    stream: &str,
    scope: &str,
) -> Result<Option<Value>> {
    match client.get(&Request::new(list), stream, Envelope::Any).await {
        Ok(answer) => Ok(Some(answer)),
        Err(
            Error::Auth { status: 403, .. }
            | Error::Api {
                status: 400 | 404 | 405,
                ..
            },
        ) => {
            tracing::info!(stream, "{stream} keep their attributes as one object: with the {scope} scope, each attribute the account lists would also be a typed column of its own");
            Ok(None)
        }
        Err(e) => Err(e),
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
    let other = "kept the record as the list gave it, without its detail fields";
    match skip_404(body, client.tally(), stream, &id, instead)?.and_then(data_object) {
        Some(full) if same_record(&full, key, &id, stream, other) => {
            let mut merged = record;
            merged.extend(full);
            Ok(merged)
        }
        _ => Ok(record),
    }
}

/// One referenced record; `None` when Drift answers 404, or answers another record (which is not
/// emitted in its place: a warning names both ids).
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
    let other = "skipped it: the answer is not the record referenced";
    match records_with_key(record, key) {
        Ok(mut one) if one.len() == 1 => {
            Ok(one.pop().filter(|r| same_record(r, key, id, stream, other)))
        }
        _ => Err(Error::Decode {
            endpoint: request.path,
            reason: format!("no {stream} object with `{key}` at data"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_is_the_record_asked_for_only_when_its_id_says_so() {
        let answer = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(same_record(&answer(json!({"id": 42})), "id", "42", "s", ""));
        assert!(same_record(
            &answer(json!({"id": "42"})),
            "id",
            "42",
            "s",
            ""
        ));
        assert!(!same_record(
            &answer(json!({"id": 43})),
            "id",
            "42",
            "s",
            ""
        ));
        assert!(!same_record(
            &answer(json!({"name": "x"})),
            "id",
            "42",
            "s",
            ""
        ));
        assert!(!same_record(
            &answer(json!({"id": null})),
            "id",
            "42",
            "s",
            ""
        ));
    }
}
