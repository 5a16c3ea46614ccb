//! The sole owner of stdout: lines handed to a writer thread that owns the output, block-buffers it,
//! and flushes when asked. Senders wait while its queue is full (a target reading slowly slows the
//! run down), but never once a stop signal came: then sends give up at once and a flush waits at
//! most half a second, so a run ends even when stdout is blocked. Knows no protocol: the Singer and
//! Airbyte writers and, in Airbyte mode, the logger hand it whole lines or values to write as JSON
//! lines.

use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::signal;

/// Lines the writer thread may hold before a sender waits.
const QUEUE: usize = 1024;
/// How long a stopping run waits for its last lines to go out.
const LAST_WORDS: Duration = Duration::from_millis(500);

enum Command {
    Line(Vec<u8>),
    Flush(Option<SyncSender<()>>),
}

/// A handle on stdout's writer thread (cheap to clone; every clone writes to the same output).
#[derive(Clone)]
pub struct Lines {
    tx: SyncSender<Command>,
    /// The error that stopped the writer thread, if one did.
    failed: Arc<Mutex<Option<io::Error>>>,
}

/// The writer thread: writes lines until every handle is gone or the output fails.
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
    // best effort: the last lines, when the last handle is dropped
    let _ = out.flush();
}

fn stopping() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "stopping")
}

impl Lines {
    /// Starts the writer thread on an output.
    pub fn start(out: impl Write + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(Mutex::new(None));
        let thread_failed = failed.clone();
        std::thread::spawn(move || serve(out, rx, &thread_failed));
        Lines { tx, failed }
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

    fn send(&self, mut command: Command) -> io::Result<()> {
        loop {
            match self.tx.try_send(command) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(self.error()),
                Err(TrySendError::Full(c)) => {
                    if signal::stopping().is_some() {
                        return Err(stopping());
                    }
                    command = c;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    /// Hands one whole line (with its newline) to the writer thread.
    pub fn line(&self, line: Vec<u8>) -> io::Result<()> {
        self.send(Command::Line(line))
    }

    /// Hands one value to the writer thread as a JSON line (each protocol's messages are JSON lines).
    pub fn json(&self, value: &impl serde::Serialize) -> io::Result<()> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.line(line)
    }

    /// Asks the writer thread to flush, without waiting for it.
    pub fn push(&self) -> io::Result<()> {
        self.send(Command::Flush(None))
    }

    /// Flushes and waits until every line handed over is written (at most half a second once the
    /// run is stopping).
    pub fn flush(&self) -> io::Result<()> {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Command::Flush(Some(ack)))?;
        let started = Instant::now();
        loop {
            match done.recv_timeout(Duration::from_millis(20)) {
                Ok(()) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(self.error()),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if signal::stopping().is_some() && started.elapsed() >= LAST_WORDS {
                        return Err(stopping());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let lines = Lines::start(Closed);
        let e = lines
            .line(b"{}\n".to_vec())
            .and_then(|()| lines.flush())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
