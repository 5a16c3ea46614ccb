//! The output seam: the events the sync engine hands to a protocol writer. The Singer writer
//! (`singer/writer.rs`) is one implementation; a second protocol is another, with no change in
//! `sync/`. Owns no I/O itself and knows neither Singer's nor Drift's shapes: records are JSON
//! objects, and the state is the engine's checkpoint value.

use std::collections::HashMap;
use std::io;

use serde_json::{Map, Value};

/// How a stream is described before its first record.
#[derive(Debug, Clone, Copy)]
pub struct StreamStart<'a> {
    /// The stream's name.
    pub stream: &'a str,
    /// Its JSON Schema, pruned to the selected fields.
    pub schema: &'a Value,
    /// Its key fields.
    pub key: &'a [&'a str],
    /// Its replication key, when this run reads it incrementally.
    pub bookmark: &'a [&'a str],
}

/// How a stream's part of the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every record was emitted. With a version, the stream was read whole (FULL_TABLE): the
    /// target may drop the records of earlier versions, which are no longer in Drift.
    Complete {
        /// The version every record of this run carried, to activate.
        activate_version: Option<i64>,
    },
    /// The stream stopped short (it could not be read to its end); its bookmark did not move.
    Incomplete,
}

/// A destination for the events of a sync. Every method may fail only on I/O: the target stopped
/// reading.
pub trait Output {
    /// A stream is about to emit records (its schema comes first).
    fn stream_start(&mut self, start: StreamStart<'_>) -> io::Result<()>;
    /// A stream's schema grew (a field Drift sent that it lacked): the records after this carry
    /// the new field.
    fn schema_changed(&mut self, start: StreamStart<'_>) -> io::Result<()>;
    /// One record of a stream, read at `time_extracted` (RFC 3339, UTC); `version` when the stream
    /// is read whole in this run (see [`StreamEnd::Complete`]).
    fn record(
        &mut self,
        stream: &str,
        record: &Map<String, Value>,
        time_extracted: &str,
        version: Option<i64>,
    ) -> io::Result<()>;
    /// A record some of whose values did not fit the schema and were replaced by null (`nulled`:
    /// those fields, maybe none); a protocol that can say so overrides this.
    fn record_nulled(
        &mut self,
        stream: &str,
        record: &Map<String, Value>,
        time_extracted: &str,
        version: Option<i64>,
        nulled: &[String],
    ) -> io::Result<()> {
        let _ = nulled;
        self.record(stream, record, time_extracted, version)
    }
    /// A checkpoint: every record handed over so far is covered by this state value.
    fn checkpoint(&mut self, state: &Value) -> io::Result<()>;
    /// A stream's part of the run is over.
    fn stream_end(&mut self, stream: &str, end: StreamEnd) -> io::Result<()>;
    /// Sends the output buffered so far on its way (at a page's end), without waiting for it to
    /// arrive; once the run is stopping, waits until it arrived (or the stop's deadline passed), so
    /// that the engine can say whether its last STATE went out.
    fn flush(&mut self) -> io::Result<()>;
}

/// An output that keeps each stream's latest schema and no record: for a connection check, whose
/// result is which streams could be read, and for a sample of what fields the account's streams
/// carry.
#[derive(Debug, Default)]
pub struct Schemas(pub HashMap<String, Value>);

impl Output for Schemas {
    fn stream_start(&mut self, start: StreamStart<'_>) -> io::Result<()> {
        self.0.insert(start.stream.into(), start.schema.clone());
        Ok(())
    }
    fn schema_changed(&mut self, start: StreamStart<'_>) -> io::Result<()> {
        self.stream_start(start)
    }
    fn record(
        &mut self,
        _: &str,
        _: &Map<String, Value>,
        _: &str,
        _: Option<i64>,
    ) -> io::Result<()> {
        Ok(())
    }
    fn checkpoint(&mut self, _: &Value) -> io::Result<()> {
        Ok(())
    }
    fn stream_end(&mut self, _: &str, _: StreamEnd) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
