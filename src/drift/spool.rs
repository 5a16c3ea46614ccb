//! An answer too large to hold, kept on disk: a report Drift may answer with every matching row at
//! once is written to a temporary file as it arrives, then read once, a row at a time, to check it
//! and keep its `data` rows as JSON lines (bare `NaN` and `Infinity` tokens read as `null`), and
//! handed out a chunk at a time. Memory holds one chunk, whatever the answer's size. The files are
//! unlinked as soon as they are open, so nothing is left behind, even by a killed run. Knows no
//! stream and no record shape: the page walker turns rows into records.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Why an answer could not be kept.
#[derive(Debug)]
pub enum Fault {
    /// The body was cut short or is not what was expected: worth another try.
    Body(String),
    /// The temporary folder cannot take it.
    Disk(String),
}

/// An answer's rows on disk, and the other numbers it carried.
#[derive(Debug)]
pub struct Spool {
    lines: io::Lines<BufReader<File>>,
    /// How many rows the answer held.
    pub rows: u64,
    /// Its `count`, when it said.
    pub count: Option<u64>,
}

/// A file in the temporary folder that no other process sees and nothing leaves behind.
fn scratch() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("tap-drift-{}-{n}.json", std::process::id()));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    // unlinked at once: the open file lives on until it is dropped (best effort where that fails)
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// Where the temporary files go, for an error message.
pub fn folder() -> String {
    std::env::temp_dir().display().to_string()
}

/// Writes a response body to a scratch file as it arrives. `Err` says why it was cut short.
pub async fn download(mut response: reqwest::Response) -> Result<File, Fault> {
    let mut file = BufWriter::new(scratch().map_err(disk)?);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Fault::Body(format!("a body cut short ({})", e.without_url())))?
    {
        file.write_all(&chunk).map_err(disk)?;
    }
    let mut file = file.into_inner().map_err(|e| disk(e.into_error()))?;
    file.rewind().map_err(disk)?;
    Ok(file)
}

fn disk(e: io::Error) -> Fault {
    Fault::Disk(format!("{}: {e}", folder()))
}

/// Reads a downloaded answer once: it must be a JSON object with a `data` list; its rows are kept
/// as lines. `Err` says what is wrong with it (the request is worth another try).
pub fn keep(raw: File) -> Result<Spool, Fault> {
    let mut lines = BufWriter::new(scratch().map_err(disk)?);
    let mut answer = Answer {
        out: &mut lines,
        rows: 0,
        count: None,
        data: false,
    };
    let reader = BufReader::new(NanFree::new(BufReader::new(raw)));
    let mut parser = serde_json::Deserializer::from_reader(reader);
    (&mut answer)
        .deserialize(&mut parser)
        .and_then(|()| parser.end())
        .map_err(|e| match e.io_error_kind() {
            Some(_) => disk(io::Error::other(e.to_string())),
            None => Fault::Body(format!("a body that is not JSON ({e})")),
        })?;
    if !answer.data {
        return Err(Fault::Body("an unexpected body: no `data` list".into()));
    }
    let (rows, count) = (answer.rows, answer.count);
    let mut file = lines.into_inner().map_err(|e| disk(e.into_error()))?;
    file.rewind().map_err(disk)?;
    Ok(Spool {
        lines: BufReader::new(file).lines(),
        rows,
        count,
    })
}

impl Spool {
    /// The next `n` rows at most (none once all were handed out).
    pub fn next_rows(&mut self, n: usize) -> io::Result<Vec<Value>> {
        let mut rows = Vec::new();
        for line in self.lines.by_ref().take(n) {
            rows.push(serde_json::from_str(&line?)?);
        }
        Ok(rows)
    }
}

/// The top-level object of an answer, read key by key: `data` row by row into the lines, `count`
/// kept, the rest skipped.
struct Answer<'w, W: Write> {
    out: &'w mut W,
    rows: u64,
    count: Option<u64>,
    data: bool,
}

impl<'de, W: Write> DeserializeSeed<'de> for &mut Answer<'_, W> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, W: Write> Visitor<'de> for &mut Answer<'_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a data list")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "data" => {
                    map.next_value_seed(Rows(&mut *self))?;
                    self.data = true;
                }
                "count" => self.count = map.next_value::<Value>()?.as_u64(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The `data` list, written out a row at a time.
struct Rows<'a, 'w, W: Write>(&'a mut Answer<'w, W>);

impl<'de, W: Write> DeserializeSeed<'de> for Rows<'_, '_, W> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, W: Write> Visitor<'de> for Rows<'_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element::<Value>()? {
            serde_json::to_writer(&mut *self.0.out, &row).map_err(de::Error::custom)?;
            self.0.out.write_all(b"\n").map_err(de::Error::custom)?;
            self.0.rows += 1;
        }
        Ok(())
    }
}

/// A reader that turns bare `NaN`, `Infinity` and `-Infinity` tokens outside strings (not JSON,
/// but what a report may write for a metric without a value) into `null`, as it reads.
pub struct NanFree<R> {
    inner: R,
    /// Bytes read ahead, not yet looked at.
    ahead: VecDeque<u8>,
    /// Bytes looked at, not yet handed out.
    out: VecDeque<u8>,
    in_string: bool,
    escaped: bool,
}

const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];

impl<R: BufRead> NanFree<R> {
    /// Reads `inner`, turning bare tokens into `null`.
    pub fn new(inner: R) -> Self {
        NanFree {
            inner,
            ahead: VecDeque::new(),
            out: VecDeque::new(),
            in_string: false,
            escaped: false,
        }
    }

    /// Reads ahead until `n` bytes wait (or the input ends).
    fn fill(&mut self, n: usize) -> io::Result<()> {
        while self.ahead.len() < n {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(64 * 1024);
            self.ahead.extend(&buf[..take]);
            self.inner.consume(take);
        }
        Ok(())
    }

    /// The bare token the bytes ahead start with, outside a string.
    fn token(&self) -> Option<usize> {
        TOKENS
            .iter()
            .find(|t| t.len() <= self.ahead.len() && self.ahead.iter().take(t.len()).eq(t.iter()))
            .map(|t| t.len())
    }
}

impl<R: BufRead> NanFree<R> {
    /// Moves one byte of input (or one whole token, as `null`) to the output; `false` at the end.
    fn step(&mut self) -> io::Result<bool> {
        self.fill(TOKENS[0].len())?;
        let Some(&b) = self.ahead.front() else {
            return Ok(false);
        };
        if self.in_string {
            (self.in_string, self.escaped) =
                (b != b'"' || self.escaped, b == b'\\' && !self.escaped);
        } else if b == b'"' {
            self.in_string = true;
        } else if let Some(len) = self.token() {
            self.ahead.drain(..len);
            self.out.extend(b"null");
            return Ok(true);
        }
        self.ahead.pop_front();
        self.out.push_back(b);
        Ok(true)
    }
}

impl<R: BufRead> Read for NanFree<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out.len() < buf.len() && self.step()? {}
        let n = buf.len().min(self.out.len());
        for (slot, b) in buf.iter_mut().zip(self.out.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> File {
        let mut f = scratch().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn an_answer_is_kept_row_by_row_with_bare_nan_as_null() {
        let text = r#"{"count": 3, "data": [{"id": 1, "m": [NaN, 2, "NaN"]}, {"id": 2, "m": [-Infinity]}, {"id": "a\"NaN"}], "x": {"y": []}}"#;
        let mut spool = keep(raw(text)).unwrap();
        assert_eq!((spool.rows, spool.count), (3, Some(3)));
        let first = spool.next_rows(2).unwrap();
        assert_eq!(
            first,
            [
                serde_json::json!({"id": 1, "m": [null, 2, "NaN"]}),
                serde_json::json!({"id": 2, "m": [null]})
            ]
        );
        assert_eq!(
            spool.next_rows(2).unwrap(),
            [serde_json::json!({"id": "a\"NaN"})]
        );
        assert!(spool.next_rows(2).unwrap().is_empty());
    }

    #[test]
    fn a_cut_or_odd_answer_is_an_error() {
        let body = |text: &str| match keep(raw(text)) {
            Err(Fault::Body(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(body(r#"{"count": 3, "data": [{"id": 1}"#).contains("not JSON"));
        assert!(body(r#"{"count": 3}"#).contains("no `data` list"));
        assert!(body(r#"<html>busy</html>"#).contains("not JSON"));
        assert!(body(r#"{"data": 5}"#).contains("not JSON"));
    }

    #[test]
    fn tokens_split_across_reads_are_still_found() {
        // a reader that hands out one byte at a time
        let text = br#"{"data": [[NaN, Infinity, -Infinity, 1]]}"#;
        let one_by_one = BufReader::with_capacity(1, &text[..]);
        let mut out = String::new();
        NanFree::new(one_by_one).read_to_string(&mut out).unwrap();
        assert_eq!(out, r#"{"data": [[null, null, null, 1]]}"#);
    }
}
