//! Singer messages as they go on the wire: one JSON object per line, `type` in upper case. Serde
//! only; the writer decides when each is written.

use serde::Serialize;
use serde_json::{Map, Value};

/// One Singer message.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum Message<'a> {
    /// A stream's schema, before its records.
    Schema {
        /// The stream.
        stream: &'a str,
        /// Its JSON Schema.
        schema: &'a Value,
        /// Its key fields.
        key_properties: &'a [&'a str],
        /// Its replication key, when incremental.
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        bookmark_properties: &'a [&'a str],
    },
    /// One record.
    Record {
        /// The stream.
        stream: &'a str,
        /// The record.
        record: &'a Map<String, Value>,
        /// When it was read (RFC 3339, UTC).
        time_extracted: &'a str,
        /// The table version it belongs to (FULL_TABLE streams read whole).
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<i64>,
    },
    /// Records of older versions of a stream are gone (after a FULL_TABLE read of it).
    #[serde(rename = "ACTIVATE_VERSION")]
    ActivateVersion {
        /// The stream.
        stream: &'a str,
        /// The version now current.
        version: i64,
    },
    /// A checkpoint.
    State {
        /// The state value the next run starts from.
        value: &'a Value,
    },
}
