//! Discovery: the stream table and its generated schemas → what Singer is told about each stream
//! ([`StreamInfo`]), and the `--discover` catalog. Joins `streams/` and `singer/`; no network, no
//! state.

use std::io::Write;

use crate::config::TimestampFormat;
use crate::error::{Error, Result};
use crate::singer::catalog::{self, StreamInfo};
use crate::streams::schema::{render, stream_schema};
use crate::streams::STREAMS;

/// Every stream as the catalog describes it, with schemas in the given timestamp format.
pub fn known(ts: TimestampFormat) -> Result<Vec<StreamInfo>> {
    STREAMS
        .iter()
        .map(|def| {
            let schema = stream_schema(def, ts).map_err(|reason| Error::BuiltIn {
                stream: def.name.into(),
                reason,
            })?;
            Ok(StreamInfo {
                name: def.name,
                key: def.key,
                replication_key: def.replication_key,
                incremental_by_default: def.incremental_by_default,
                schema,
            })
        })
        .collect()
}

/// Writes the catalog `--discover` prints (identical to `catalog.json` for the default format).
pub fn run(ts: TimestampFormat, mut out: impl Write) -> Result<()> {
    out.write_all(render(&catalog::catalog(&known(ts)?)).as_bytes())?;
    out.flush()?;
    Ok(())
}
