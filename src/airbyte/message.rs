//! Airbyte protocol messages as they go on the wire: one `AirbyteMessage` JSON object per line, in
//! the protocol's field names and enums (`emitted_at` in epoch milliseconds). Builders only; the
//! writer decides when each is written.

use serde_json::{json, Map, Value};

use crate::time::now_ms;

/// `SPEC`.
pub fn spec(connection_specification: Value) -> Value {
    json!({"type": "SPEC", "spec": {"connectionSpecification": connection_specification,
        "supportsIncremental": true,
        "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"]}})
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

/// `RECORD`.
pub fn record(stream: &str, data: &Map<String, Value>) -> Value {
    json!({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": now_ms()}})
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
