//! Discovery: the stream table and its generated schemas → what Singer is told about each stream
//! ([`StreamInfo`]), with the account's typed attribute columns when they were learnt, and the
//! `--discover` catalog. Joins `streams/` and `singer/`; no network (the columns are handed in),
//! no state.

use std::io::Write;

use serde_json::Value;

use crate::config::TimestampFormat;
use crate::error::{Error, Result};
use crate::singer::catalog::{self, StreamInfo};
use crate::streams::attributes::TypedColumn;
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

/// The streams with the account's typed attribute columns added to the stream they are of (and,
/// unless `keep_object`, that stream's attributes object left out).
pub fn known_with(
    ts: TimestampFormat,
    typed: &[TypedColumn],
    keep_object: bool,
) -> Result<Vec<StreamInfo>> {
    let mut known = known(ts)?;
    let Some((def, at)) = crate::streams::typed() else {
        return Ok(known);
    };
    for info in known.iter_mut().filter(|i| i.name == def.name) {
        let Some(props) = info
            .schema
            .get_mut("properties")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if !keep_object {
            props.remove(at.field);
        }
        for c in typed {
            props.insert(c.name.clone(), c.kind.schema(ts, &c.description));
        }
    }
    Ok(known)
}

/// Writes the catalog `--discover` prints (identical to `catalog.json` for the default format
/// when no attribute columns are typed).
pub fn run(known: &[StreamInfo], mut out: impl Write) -> Result<()> {
    out.write_all(render(&catalog::catalog(known)).as_bytes())?;
    out.flush()?;
    Ok(())
}
