//! The Singer protocol's writer: Singer messages, one JSON object per line, gathered in a batch for
//! the one owner of stdout (`stdout.rs`) and handed over at every STATE (after the records it
//! covers) and page end, without waiting for them to be written until [`Writer::finish`]; STATE
//! never twice the same in a row. An [`Output`] for the sync engine. Decides nothing about when a
//! checkpoint is due.

use std::io::{self, Write};

use serde_json::{Map, Value};

use crate::out::output::{Output, StreamEnd, StreamStart};
use crate::out::stdout::{Batch, Lines};
use crate::singer::message::Message;

/// Writes Singer messages.
pub struct Writer {
    batch: Batch,
    last_state: Option<Value>,
    last_was_state: bool,
}

impl Writer {
    /// Starts writing to an output (on its own thread).
    pub fn new(out: impl Write + Send + 'static) -> Self {
        Writer::on(Lines::start(out))
    }

    /// Writes through an existing handle on stdout.
    pub fn on(lines: Lines) -> Self {
        Writer {
            batch: Batch::new(lines),
            last_state: None,
            last_was_state: false,
        }
    }

    fn line(&mut self, msg: &Message<'_>) -> io::Result<()> {
        self.batch.json(msg)?;
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
        version: Option<i64>,
    ) -> io::Result<()> {
        self.line(&Message::Record {
            stream,
            record,
            time_extracted,
            version,
        })
    }

    /// An ACTIVATE_VERSION message.
    pub fn activate_version(&mut self, stream: &str, version: i64) -> io::Result<()> {
        self.line(&Message::ActivateVersion { stream, version })
    }

    /// A STATE message, handed over with the records before it. Skipped when it would repeat the
    /// line just written.
    pub fn state(&mut self, value: &Value) -> io::Result<()> {
        if self.last_was_state && self.last_state.as_ref() == Some(value) {
            return Ok(());
        }
        self.line(&Message::State { value })?;
        self.last_state = Some(value.clone());
        self.batch.hand_over()
    }

    /// Hands the lines over (at a page's end); once the run is stopping, waits until they are
    /// written, for at most the stop's deadline.
    pub fn flush(&mut self) -> io::Result<()> {
        self.batch.push()
    }

    /// Hands the lines over and waits until every line is written (for at most the stop's
    /// deadline once the run is stopping): before the process ends.
    pub fn finish(&mut self) -> io::Result<()> {
        self.batch.flush()
    }
}

impl Output for Writer {
    fn stream_start(&mut self, s: StreamStart<'_>) -> io::Result<()> {
        self.schema(s.stream, s.schema, s.key, s.bookmark)
    }
    fn schema_changed(&mut self, s: StreamStart<'_>) -> io::Result<()> {
        // Singer allows a SCHEMA mid-stream: targets add the column before the next record
        self.schema(s.stream, s.schema, s.key, s.bookmark)
    }
    fn record(
        &mut self,
        stream: &str,
        record: &Map<String, Value>,
        time_extracted: &str,
        version: Option<i64>,
    ) -> io::Result<()> {
        Writer::record(self, stream, record, time_extracted, version)
    }
    fn checkpoint(&mut self, state: &Value) -> io::Result<()> {
        self.state(state)
    }
    fn stream_end(&mut self, stream: &str, end: StreamEnd) -> io::Result<()> {
        match end {
            StreamEnd::Complete {
                activate_version: Some(version),
            } => self.activate_version(stream, version),
            _ => Ok(()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Writer::flush(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use std::sync::{Arc, Mutex};

    /// An output the test can read after the writer is done with it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_and_state_dedup() {
        let buf = Shared::default();
        let mut w = Writer::new(buf.clone());
        w.schema(
            "users",
            &json!({"type": "object", "properties": {}}),
            &["id"],
            &[],
        )
        .unwrap();
        let rec = json!({"id": 1}).as_object().unwrap().clone();
        w.record("users", &rec, "2024-01-01T00:00:00Z", None)
            .unwrap();
        w.state(&json!({"bookmarks": {}})).unwrap();
        w.state(&json!({"bookmarks": {}})).unwrap();
        w.record("users", &rec, "2024-01-01T00:00:00Z", Some(7))
            .unwrap();
        w.activate_version("users", 7).unwrap();
        w.state(&json!({"bookmarks": {}})).unwrap();
        w.finish().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            r#"{"type":"SCHEMA","stream":"users","schema":{"type":"object","properties":{}},"key_properties":["id"]}"#
        );
        assert_eq!(
            lines[1],
            r#"{"type":"RECORD","stream":"users","record":{"id":1},"time_extracted":"2024-01-01T00:00:00Z"}"#
        );
        assert_eq!(
            lines[3],
            r#"{"type":"RECORD","stream":"users","record":{"id":1},"time_extracted":"2024-01-01T00:00:00Z","version":7}"#
        );
        assert_eq!(
            lines[4],
            r#"{"type":"ACTIVATE_VERSION","stream":"users","version":7}"#
        );
        assert_eq!(lines[5], r#"{"type":"STATE","value":{"bookmarks":{}}}"#);
    }
}
