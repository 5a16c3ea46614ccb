//! The sole owner of stdout: Singer messages, one JSON object per line, block-buffered and flushed at
//! every STATE and page end. Generic over `io::Write` so tests can capture in memory.

use std::io::{self, BufWriter, Write};

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
enum Message<'a> {
    Schema {
        stream: &'a str,
        schema: &'a Value,
        key_properties: &'a [&'a str],
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        bookmark_properties: &'a [&'a str],
    },
    Record {
        stream: &'a str,
        record: &'a Map<String, Value>,
        time_extracted: &'a str,
    },
    State {
        value: &'a Value,
    },
}

/// Writes Singer messages.
pub struct Writer<W: Write> {
    out: BufWriter<W>,
    last_state: Option<Value>,
    last_was_state: bool,
}

impl<W: Write> Writer<W> {
    /// Wraps an output.
    pub fn new(out: W) -> Self {
        Writer {
            out: BufWriter::with_capacity(1 << 16, out),
            last_state: None,
            last_was_state: false,
        }
    }

    fn line(&mut self, msg: &Message<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, msg)?;
        self.out.write_all(b"\n")?;
        self.last_was_state = matches!(msg, Message::State { .. });
        Ok(())
    }

    /// A SCHEMA message.
    pub fn schema(
        &mut self,
        stream: &str,
        schema: &Value,
        key: &[&str],
        bookmark: &[&str],
    ) -> io::Result<()> {
        self.line(&Message::Schema {
            stream,
            schema,
            key_properties: key,
            bookmark_properties: bookmark,
        })
    }

    /// A RECORD message.
    pub fn record(
        &mut self,
        stream: &str,
        record: &Map<String, Value>,
        time_extracted: &str,
    ) -> io::Result<()> {
        self.line(&Message::Record {
            stream,
            record,
            time_extracted,
        })
    }

    /// A STATE message, then a flush. Skipped when it would repeat the line just written.
    pub fn state(&mut self, value: &Value) -> io::Result<()> {
        if self.last_was_state && self.last_state.as_ref() == Some(value) {
            return Ok(());
        }
        self.line(&Message::State { value })?;
        self.last_state = Some(value.clone());
        self.out.flush()
    }

    /// Flushes buffered lines.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_and_state_dedup() {
        let mut buf = Vec::new();
        {
            let mut w = Writer::new(&mut buf);
            w.schema(
                "users",
                &json!({"type": "object", "properties": {}}),
                &["id"],
                &[],
            )
            .unwrap();
            let rec = json!({"id": 1}).as_object().unwrap().clone();
            w.record("users", &rec, "2024-01-01T00:00:00Z").unwrap();
            w.state(&json!({"bookmarks": {}})).unwrap();
            w.state(&json!({"bookmarks": {}})).unwrap();
            w.record("users", &rec, "2024-01-01T00:00:00Z").unwrap();
            w.state(&json!({"bookmarks": {}})).unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            r#"{"type":"SCHEMA","stream":"users","schema":{"type":"object","properties":{}},"key_properties":["id"]}"#
        );
        assert_eq!(
            lines[1],
            r#"{"type":"RECORD","stream":"users","record":{"id":1},"time_extracted":"2024-01-01T00:00:00Z"}"#
        );
        assert_eq!(lines[4], r#"{"type":"STATE","value":{"bookmarks":{}}}"#);
    }
}
