//! The sole owner of stdout: a writer thread owns the output and writes the lines handed to it.
//! Lines go over in batches: a protocol writer gathers its lines in a [`Batch`] and hands them over
//! together (a page's worth, a STATE with the records before it, or 64 KiB), so the writer thread
//! wakes once per batch, not per line, and nothing waits for the output to take them. The thread
//! writes whole lines at most a pipe's atomic 4 KiB at a time, so a pipe that stops taking them
//! holds whole lines (a longer line may be cut). A hand-over waits while the thread holds as many
//! batches as it may (a target reading slowly slows the run down; memory stays flat). Once a stop
//! signal came, hand-overs and flushes wait only until the stop's deadline, a little under a
//! second after the signal: the lines go out if the output takes them by then, else they give up,
//! and the error says whether the output's last bytes end a line or cut one (the writer thread
//! counts what the output took and knows where its lines end). So a run ends even when stdout is
//! blocked, and says what it left there. Knows no protocol: the Singer and Airbyte writers and, in
//! Airbyte mode, the logger hand it values to write as JSON lines.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::signal;

/// Batches the writer thread may hold before a hand-over waits.
const QUEUE: usize = 16;
/// Bytes a [`Batch`] gathers before it hands them over by itself (a pipe's capacity on Linux).
const BUFFER: usize = 1 << 16;
/// The most bytes one write to the output holds: what a pipe takes whole or not at all (POSIX's
/// `PIPE_BUF` on Linux), so the bytes a blocked write took are always counted.
const ATOMIC: usize = 4096;
/// How long after a stop signal lines may still wait for the output to take them.
const LAST_WORDS: Duration = Duration::from_millis(750);

enum Command {
    Lines(Gathered),
    /// Flush, then say so: every batch handed over before is written.
    Flush(SyncSender<()>),
}

/// What the writer thread has put out: the bytes the output took, and, while a write is under
/// way, where it began and where each of its lines ends (both counted from the output's first
/// byte).
#[derive(Debug, Default)]
struct Written {
    taken: AtomicU64,
    under_way: Mutex<Option<(u64, Vec<u64>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Written {
    /// Whether the output's last bytes are part of a line: a write stopped inside one.
    fn cut(&self) -> bool {
        let taken = self.taken.load(Ordering::SeqCst);
        lock(&self.under_way)
            .as_ref()
            .is_some_and(|(start, ends)| taken != *start && !ends.contains(&taken))
    }
}

/// The output, counting the bytes it takes.
struct Counted<W> {
    inner: W,
    written: Arc<Written>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(&buf[..buf.len().min(ATOMIC)])?;
        self.written.taken.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whole lines, not yet written out.
#[derive(Default)]
struct Gathered {
    bytes: Vec<u8>,
    /// Where each line ends in `bytes`.
    ends: Vec<u64>,
}

impl Gathered {
    /// Adds one value as a JSON line (nothing, if it cannot be serialized).
    fn json(&mut self, value: &impl serde::Serialize) -> io::Result<()> {
        let start = self.bytes.len();
        if let Err(e) = serde_json::to_writer(&mut self.bytes, value) {
            self.bytes.truncate(start);
            return Err(e.into());
        }
        self.bytes.push(b'\n');
        self.ends.push(self.bytes.len() as u64);
        Ok(())
    }

    /// Writes the lines out, as many whole lines as fit in each write of [`ATOMIC`] bytes (a
    /// longer line in several), noting where they end while the writes are under way.
    fn put(&mut self, out: &mut Counted<impl Write>) -> io::Result<()> {
        if self.bytes.is_empty() {
            return Ok(());
        }
        let start = out.written.taken.load(Ordering::SeqCst);
        let ends = self.ends.iter().map(|e| start + e).collect();
        *lock(&out.written.under_way) = Some((start, ends));
        let result = self.put_lines(out);
        if result.is_ok() {
            *lock(&out.written.under_way) = None;
        }
        self.bytes.clear();
        self.ends.clear();
        result
    }

    fn put_lines(&self, out: &mut Counted<impl Write>) -> io::Result<()> {
        let (mut from, mut upto) = (0, 0);
        for &end in &self.ends {
            let end = end as usize;
            if end - from > ATOMIC && upto > from {
                out.write_all(&self.bytes[from..upto])?;
                from = upto;
            }
            upto = end;
        }
        out.write_all(&self.bytes[from..])
    }
}

/// A handle on stdout's writer thread (cheap to clone; every clone writes to the same output).
#[derive(Clone)]
pub struct Lines {
    tx: SyncSender<Command>,
    /// The error that stopped the writer thread, if one did.
    failed: Arc<Mutex<Option<io::Error>>>,
    written: Arc<Written>,
}

/// The writer thread: writes each batch as it comes, until every handle is gone or the output fails.
fn serve(mut out: Counted<impl Write>, rx: Receiver<Command>, failed: &Mutex<Option<io::Error>>) {
    for command in rx {
        let result = match command {
            Command::Lines(mut batch) => batch.put(&mut out),
            Command::Flush(ack) => out.flush().map(|()| {
                // the flusher may have given up waiting: nothing to tell then
                let _ = ack.send(());
            }),
        };
        if let Err(e) = result {
            *lock(failed) = Some(e);
            return;
        }
    }
    let _ = out.flush();
}

/// Whether a stop signal came long enough ago that nothing waits for the output any more.
fn past_last_words() -> bool {
    signal::stopping_for().is_some_and(|d| d >= LAST_WORDS)
}

/// Stdout itself (a second handle on its file descriptor, on Unix), without the standard library's
/// line buffer in between: what the writer thread counts as taken is what the pipe took.
pub fn raw() -> Box<dyn Write + Send> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(io::stdout())
}

impl Lines {
    /// Starts the writer thread on an output.
    pub fn start(out: impl Write + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(Mutex::new(None));
        let written = Arc::new(Written::default());
        let thread_failed = failed.clone();
        let out = Counted {
            inner: out,
            written: written.clone(),
        };
        std::thread::spawn(move || serve(out, rx, &thread_failed));
        Lines {
            tx,
            failed,
            written,
        }
    }

    /// The writer thread's error, as this side reports it.
    fn error(&self) -> io::Error {
        match lock(&self.failed).as_ref() {
            Some(e) => io::Error::new(e.kind(), e.to_string()),
            None => io::Error::new(io::ErrorKind::BrokenPipe, "the output closed"),
        }
    }

    /// Why a stopping run gave up on the output: it did not take the lines in time, and whether
    /// the bytes it took end in the middle of a line.
    fn blocked(&self) -> io::Error {
        let what = if self.written.cut() {
            "stdout is blocked (the target stopped reading) in the middle of a line: its last bytes are an incomplete line"
        } else {
            "stdout is blocked (the target stopped reading); its last bytes end a line"
        };
        io::Error::new(io::ErrorKind::Interrupted, what)
    }

    fn send(&self, mut command: Command) -> io::Result<()> {
        loop {
            match self.tx.try_send(command) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(self.error()),
                Err(TrySendError::Full(c)) => {
                    if past_last_words() {
                        return Err(self.blocked());
                    }
                    command = c;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    /// Hands one value to the writer thread as a JSON line of its own (each protocol's messages
    /// are JSON lines): for the few lines outside a [`Batch`] (logs, a command's one answer).
    pub fn json(&self, value: &impl serde::Serialize) -> io::Result<()> {
        let mut line = Gathered::default();
        line.json(value)?;
        self.send(Command::Lines(line))
    }

    /// Flushes and waits until every line handed over is written (once the run is stopping, only
    /// until the stop's deadline: the error then says what stdout was left with).
    pub fn flush(&self) -> io::Result<()> {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Command::Flush(ack))?;
        loop {
            match done.recv_timeout(Duration::from_millis(20)) {
                Ok(()) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(self.error()),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if past_last_words() {
                        return Err(self.blocked());
                    }
                }
            }
        }
    }
}

/// Lines gathered on the producer's side, handed to the writer thread together: one message, and
/// one wake-up of the thread, per batch. Each protocol's writer owns one.
pub struct Batch {
    lines: Lines,
    gathered: Gathered,
}

impl Batch {
    /// A batch for lines to go out through `lines`.
    pub fn new(lines: Lines) -> Batch {
        Batch {
            lines,
            gathered: Gathered::default(),
        }
    }

    /// Adds one value as a JSON line; hands the batch over once it holds [`BUFFER`] bytes.
    pub fn json(&mut self, value: &impl serde::Serialize) -> io::Result<()> {
        self.gathered.json(value)?;
        if self.gathered.bytes.len() >= BUFFER {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands the lines gathered so far to the writer thread, without waiting for them to be
    /// written (only while the thread holds as many batches as it may).
    pub fn hand_over(&mut self) -> io::Result<()> {
        if self.gathered.ends.is_empty() {
            return Ok(());
        }
        let full = Gathered {
            bytes: Vec::with_capacity(BUFFER + BUFFER / 4),
            ends: Vec::with_capacity(self.gathered.ends.len()),
        };
        self.lines
            .send(Command::Lines(std::mem::replace(&mut self.gathered, full)))
    }

    /// Hands the lines over; once the run is stopping, also waits until they are written (until
    /// the stop's deadline), so that the caller knows whether its last lines went out.
    pub fn push(&mut self) -> io::Result<()> {
        self.hand_over()?;
        match signal::stopping() {
            Some(_) => self.lines.flush(),
            None => Ok(()),
        }
    }

    /// Hands the lines over and waits until every line is written (see [`Lines::flush`]).
    pub fn flush(&mut self) -> io::Result<()> {
        self.hand_over()?;
        self.lines.flush()
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
            .json(&serde_json::json!({}))
            .and_then(|()| lines.flush())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    /// An output the test reads, which takes nothing while its gate is shut.
    #[derive(Clone, Default)]
    struct Gated {
        bytes: Arc<Mutex<Vec<u8>>>,
        shut: Arc<(Mutex<bool>, std::sync::Condvar)>,
    }

    impl Gated {
        fn lines(&self) -> usize {
            lock(&self.bytes).iter().filter(|b| **b == b'\n').count()
        }
        fn set_shut(&self, shut: bool) {
            *lock(&self.shut.0) = shut;
            self.shut.1.notify_all();
        }
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut shut = lock(&self.shut.0);
            while *shut {
                shut = self.shut.1.wait(shut).unwrap_or_else(|p| p.into_inner());
            }
            lock(&self.bytes).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_batch_goes_out_when_handed_over_or_once_it_holds_64_kib() {
        let out = Gated::default();
        let lines = Lines::start(out.clone());
        let mut batch = Batch::new(lines.clone());
        for i in 0..3 {
            batch.json(&i).unwrap();
        }
        lines.flush().unwrap();
        assert_eq!(out.lines(), 0, "gathered, not handed over yet");
        batch.hand_over().unwrap();
        lines.flush().unwrap();
        assert_eq!(out.lines(), 3);
        // lines of 1 KiB (a JSON string of 1 021 bytes, its quotes and newline): the 64th fills it
        let kib = "x".repeat(1021);
        for _ in 0..70 {
            batch.json(&kib).unwrap();
        }
        lines.flush().unwrap();
        assert_eq!(out.lines(), 3 + 64);
        batch.flush().unwrap();
        assert_eq!(out.lines(), 3 + 70);
    }

    #[test]
    fn a_target_that_takes_nothing_holds_up_the_hand_overs_beyond_a_few() {
        let out = Gated::default();
        out.set_shut(true);
        let lines = Lines::start(out.clone());
        let handed = Arc::new(AtomicU64::new(0));
        let producer = std::thread::spawn({
            let (mut batch, handed) = (Batch::new(lines.clone()), handed.clone());
            move || {
                for i in 0..200 {
                    batch.json(&i).unwrap();
                    batch.hand_over().unwrap();
                    handed.fetch_add(1, Ordering::SeqCst);
                }
                batch.flush().unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        // one batch in the writer thread's hands, the queue full, the producer waiting
        assert!(
            handed.load(Ordering::SeqCst) <= QUEUE as u64 + 1,
            "{handed:?}"
        );
        assert_eq!(out.lines(), 0);
        out.set_shut(false);
        producer.join().unwrap();
        assert_eq!(out.lines(), 200, "every line, once the target reads");
    }

    #[test]
    fn whole_lines_go_out_in_writes_a_pipe_takes_whole() {
        /// An output that notes the size of each write.
        #[derive(Default)]
        struct Sizes(Vec<usize>);
        impl Write for Sizes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.push(buf.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Counted {
            inner: Sizes::default(),
            written: Arc::new(Written::default()),
        };
        let mut gathered = Gathered::default();
        for len in [3_000, 1_000, 3_000, 5_000, 100] {
            gathered.bytes.extend(std::iter::repeat_n(b'x', len - 1));
            gathered.bytes.push(b'\n');
            gathered.ends.push(gathered.bytes.len() as u64);
        }
        gathered.put(&mut out).unwrap_or_else(|e| panic!("{e}"));
        // two lines in the first write, a line longer than a write in two
        assert_eq!(out.inner.0, [4_000, 3_000, 4_096, 904, 100]);
        assert_eq!(out.written.taken.load(Ordering::SeqCst), 12_100);
        assert!(!out.written.cut());
    }

    #[test]
    fn a_write_stopped_inside_a_line_is_told_from_one_stopped_between_lines() {
        /// An output that takes so many bytes, then fails (as a blocked pipe never takes more).
        struct Takes(usize);
        impl Write for Takes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                match self.0.min(buf.len()) {
                    0 => Err(io::Error::new(io::ErrorKind::WouldBlock, "full")),
                    n => {
                        self.0 -= n;
                        Ok(n)
                    }
                }
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let cut_after = |taken: usize| {
            let written = Arc::new(Written::default());
            let mut out = Counted {
                inner: Takes(taken),
                written: written.clone(),
            };
            let mut gathered = Gathered::default();
            for line in ["{\"a\":1}\n", "{\"b\":22}\n"] {
                gathered.bytes.extend_from_slice(line.as_bytes());
                gathered.ends.push(gathered.bytes.len() as u64);
            }
            let whole = gathered.put(&mut out).is_ok();
            (whole, written.cut())
        };
        assert_eq!(cut_after(100), (true, false), "all of it");
        assert_eq!(cut_after(0), (false, false), "nothing of it");
        assert_eq!(cut_after(8), (false, false), "the first line");
        assert_eq!(cut_after(3), (false, true), "inside the first line");
        assert_eq!(cut_after(12), (false, true), "inside the second line");
    }
}
