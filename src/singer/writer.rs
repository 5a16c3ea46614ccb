//! The sole owner of stdout in Singer mode: Singer messages, one JSON object per line, handed to a
//! writer thread that owns the output, block-buffers it and flushes at every STATE and page end.
//! The sync task never blocks on a target that stopped reading for longer than a stop takes: once
//! a signal is received, sends and flushes give up at once (or after half a second), so the run
//! ends even when stdout is blocked. An [`Output`] for the sync engine. Decides nothing about when
//! a checkpoint is due.

use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::output::{Output, StreamEnd, StreamStart};
use crate::signal;
use crate::singer::message::Message;

/// Lines the writer thread may hold before a sender waits.
const QUEUE: usize = 1024;
/// How long a stopping run waits for its last lines to go out.
const LAST_WORDS: Duration = Duration::from_millis(500);

enum Command {
    Line(Vec<u8>),
    Flush(Option<SyncSender<()>>),
}

/// Writes Singer messages.
pub struct Writer {
    tx: SyncSender<Command>,
    /// The error that stopped the writer thread, if one did.
    failed: Arc<Mutex<Option<io::Error>>>,
    last_state: Option<Value>,
    last_was_state: bool,
}

/// The writer thread: writes lines until the channel closes or the output fails.
fn serve(out: impl Write, rx: Receiver<Command>, failed: &Mutex<Option<io::Error>>) {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    for command in rx {
        let result = match command {
            Command::Line(line) => out.write_all(&line),
            Command::Flush(ack) => out.flush().map(|()| {
                if let Some(ack) = ack {
                    // the flusher may have given up waiting: nothing to tell then
                    let _ = ack.send(());
                }
            }),
        };
        if let Err(e) = result {
            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            return;
        }
    }
    // best effort: the last lines, when the writer is dropped
    let _ = out.flush();
}

impl Writer {
    /// Starts the writer thread on an output.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(Mutex::new(None));
        let thread_failed = failed.clone();
        std::thread::spawn(move || serve(out, rx, &thread_failed));
        Writer {
            tx,
            failed,
            last_state: None,
            last_was_state: false,
        }
    }

    /// The writer thread's error, as this side reports it.
    fn error(&self) -> io::Error {
        match self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(e) => io::Error::new(e.kind(), e.to_string()),
            None => io::Error::new(io::ErrorKind::BrokenPipe, "the output closed"),
        }
    }

    /// Hands a command to the writer thread, waiting while its queue is full, unless the run is
    /// stopping.
    fn send(&self, mut command: Command) -> io::Result<()> {
        loop {
            match self.tx.try_send(command) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(self.error()),
                Err(TrySendError::Full(c)) => {
                    if signal::stopping().is_some() {
                        return Err(io::Error::new(io::ErrorKind::Interrupted, "stopping"));
                    }
                    command = c;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    fn line(&mut self, msg: &Message<'_>) -> io::Result<()> {
        let mut line = serde_json::to_vec(msg)?;
        line.push(b'\n');
        self.send(Command::Line(line))?;
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

    /// A STATE message, then a flush. Skipped when it would repeat the line just written.
    pub fn state(&mut self, value: &Value) -> io::Result<()> {
        if self.last_was_state && self.last_state.as_ref() == Some(value) {
            return Ok(());
        }
        self.line(&Message::State { value })?;
        self.last_state = Some(value.clone());
        self.send(Command::Flush(None))
    }

    /// Flushes buffered lines and waits until they are written (for at most half a second once
    /// the run is stopping).
    pub fn flush(&mut self) -> io::Result<()> {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Command::Flush(Some(ack)))?;
        let started = Instant::now();
        loop {
            match done.recv_timeout(Duration::from_millis(20)) {
                Ok(()) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(self.error()),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if signal::stopping().is_some() && started.elapsed() >= LAST_WORDS {
                        return Err(io::Error::new(io::ErrorKind::Interrupted, "stopping"));
                    }
                }
            }
        }
    }
}

impl Output for Writer {
    fn stream_start(&mut self, s: StreamStart<'_>) -> io::Result<()> {
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
        w.flush().unwrap();
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

    #[test]
    fn a_closed_output_is_an_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
        }
        let mut w = Writer::new(Closed);
        let e = w.state(&json!({})).and_then(|()| w.flush()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
