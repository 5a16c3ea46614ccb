//! Airbyte protocol messages as they go on the wire: one `AirbyteMessage` JSON object per line, in
//! the protocol's field names and enums (`emitted_at` in epoch milliseconds), with what the platform
//! shows users: ESTIMATE traces, RATE_LIMITED stream statuses, `meta.changes`, `sourceStats`. Builders only; the
//! writer decides when each is written.

use serde_json::{json, Map, Value};

use crate::time::now_ms;

/// `SPEC`, of a connector specification.
pub fn spec(spec: Value) -> Value {
    json!({"type": "SPEC", "spec": spec})
}

/// `CONNECTION_STATUS`.
pub fn connection_status(ok: bool, message: &str) -> Value {
    let status = if ok { "SUCCEEDED" } else { "FAILED" };
    json!({"type": "CONNECTION_STATUS", "connectionStatus": {"status": status, "message": message}})
}

/// `CATALOG`.
pub fn catalog(streams: Vec<Value>) -> Value {
    json!({"type": "CATALOG", "catalog": {"streams": streams}})
}

/// `RECORD`; with `meta.changes` when some of its values were nulled (they did not fit the
/// schema: the protocol's SOURCE_SERIALIZATION_ERROR).
pub fn record(stream: &str, data: &Map<String, Value>, nulled: &[String]) -> Value {
    let mut m = json!({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": now_ms()}});
    if !nulled.is_empty() {
        let changes: Vec<Value> = nulled
            .iter()
            .map(
                |f| json!({"field": f, "change": "NULLED", "reason": "SOURCE_SERIALIZATION_ERROR"}),
            )
            .collect();
        m["record"]["meta"] = json!({ "changes": changes });
    }
    m
}

/// `TRACE` `ESTIMATE` of one stream: the records it is expected to emit in this sync.
pub fn estimate(stream: &str, rows: u64) -> Value {
    json!({"type": "TRACE", "trace": {"type": "ESTIMATE", "emitted_at": now_ms() as f64,
        "estimate": {"name": stream, "type": "STREAM", "row_estimate": rows}}})
}

/// `STATE` of one stream (the protocol's STREAM state).
pub fn stream_state(stream: &str, state: &Value, records: u64) -> Value {
    json!({"type": "STATE", "state": {"type": "STREAM",
        "stream": {"stream_descriptor": {"name": stream}, "stream_state": state},
        "sourceStats": {"recordCount": records as f64}}})
}

/// `TRACE` of a stream's status: STARTED, RUNNING, COMPLETE or INCOMPLETE.
pub fn stream_status(stream: &str, status: &str) -> Value {
    json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": now_ms() as f64,
        "stream_status": {"stream_descriptor": {"name": stream}, "status": status}}})
}

/// `TRACE` of a stream RUNNING while Drift's rate limit is waited out (reason RATE_LIMITED, with
/// when the quota resets, in epoch ms, when Drift said).
pub fn rate_limited(stream: &str, reset_ms: Option<i64>) -> Value {
    let mut reason = json!({"type": "RATE_LIMITED"});
    if let Some(reset) = reset_ms {
        reason["rate_limited"] = json!({ "quota_reset": reset });
    }
    let mut m = stream_status(stream, "RUNNING");
    m["trace"]["stream_status"]["reasons"] = json!([reason]);
    m
}

/// `TRACE` of an error that ends the run; `failure_type` is config_error, system_error or
/// transient_error.
pub fn error(message: &str, failure_type: &str) -> Value {
    json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms() as f64,
        "error": {"message": message, "internal_message": message, "failure_type": failure_type}}})
}

/// `LOG` (level FATAL, ERROR, WARN, INFO, DEBUG or TRACE).
pub fn log(level: &str, message: &str) -> Value {
    json!({"type": "LOG", "log": {"level": level, "message": message}})
}
