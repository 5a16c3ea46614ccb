//! The sync engine, the only glue between Drift and Singer: selected streams → SCHEMA; pages →
//! RECORDs; bookmarks → STATE. A bookmark only ever covers records already handed to the writer.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use crate::catalog::{Replication, SelectedStream};
use crate::client::DriftClient;
use crate::config::Config;
use crate::conform::conform;
use crate::error::{Error, Result};
use crate::page::{check, check_one, first_request, parse_page};
use crate::state::State;
use crate::streams::{Order, StreamDef};
use crate::writer::Writer;

/// Everything a run needs.
pub struct Run<'a, W: Write> {
    /// The HTTP client (shared with concurrent completion requests).
    pub client: Arc<DriftClient>,
    /// Validated config.
    pub config: &'a Config,
    /// Current state; bookmarks advance here.
    pub state: State,
    /// stdout.
    pub out: Writer<W>,
    /// The sync's start time in epoch ms; no bookmark goes past it.
    pub started_ms: i64,
    /// Connection-test mode (`--test`): no bookmark moves.
    pub test: Option<TestMode>,
}

/// What `--test` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestMode {
    /// One record per stream.
    OneRecord,
    /// SCHEMA messages only.
    SchemaOnly,
}

/// How often a stream logs its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(15);

/// A STATE at least every this many records of a stream…
const CHECKPOINT_RECORDS: u64 = 10_000;
/// …and at least this often.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn key_value(record: &Map<String, Value>, key: &str) -> Option<i64> {
    record.get(key).and_then(Value::as_i64)
}

/// Peak resident memory of this process (Linux), for the closing log line and the benchmark.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Completes a list record from the detail endpoint when the list omitted some fields.
async fn complete(
    client: &DriftClient,
    def: &StreamDef,
    record: Map<String, Value>,
) -> Result<Map<String, Value>> {
    if def
        .completed_by_detail
        .iter()
        .all(|f| record.contains_key(*f))
    {
        return Ok(record);
    }
    let id = match record.get(def.key) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => return Ok(record),
    };
    let path = def.detail_path.replace("{id}", &id);
    match client.get(&path, def.name, check_one).await {
        Ok(body) => match body.get("data") {
            Some(Value::Object(full)) => {
                let mut merged = record;
                merged.extend(full.clone());
                Ok(merged)
            }
            _ => Err(Error::Decode {
                endpoint: def.detail_path.into(),
                reason: "no object at data".into(),
            }),
        },
        Err(Error::Api { status: 404, .. }) => {
            tracing::warn!(stream = def.name, id = %id, "record vanished before it could be completed; emitting the list version");
            Ok(record)
        }
        Err(e) => Err(e),
    }
}

impl<W: Write> Run<'_, W> {
    /// Syncs the selected streams in order, then writes the final STATE. On failure the last valid
    /// STATE is written before the error is returned.
    pub async fn sync(&mut self, streams: &[SelectedStream], had_state: bool) -> Result<()> {
        if had_state {
            self.out.state(&self.state.to_value())?;
        }
        let started = Instant::now();
        for s in streams {
            let result = self.sync_stream(s).await;
            if let Err(e) = result {
                if !matches!(e, Error::Output(_)) {
                    let _ = self.out.state(&self.state.to_value());
                }
                return Err(e);
            }
        }
        self.out.state(&self.state.to_value())?;
        tracing::info!(
            requests = self.client.request_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            peak_rss_kb = peak_rss_kb(),
            "sync finished"
        );
        Ok(())
    }

    async fn sync_stream(&mut self, s: &SelectedStream) -> Result<()> {
        let def = s.def;
        let rk = match s.replication {
            Replication::Incremental(k) => Some(k),
            Replication::FullTable => None,
        };
        let bookmark = match rk {
            Some(k) => self
                .state
                .bookmark(def.name, k)?
                .or(self.config.start_date_ms),
            None => None,
        };
        tracing::info!(stream = def.name, bookmark, "stream started");
        self.out
            .schema(def.name, &s.schema, &[def.key], rk.as_slice())?;
        if self.test == Some(TestMode::SchemaOnly) {
            return Ok(());
        }
        let stream_started = Instant::now();
        let empty = Map::new();
        let properties = s
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let (mut progress_at, mut metric_at) = (Instant::now(), Instant::now());
        let (mut records, mut pages, mut max_seen) = (0u64, 0u64, None::<i64>);
        // keys already emitted at exactly the bookmark (skipped), and keys emitted at max_seen
        let emitted_at_bookmark = self.state.boundary_keys(def.name);
        let mut at_max_seen: Vec<Value> = Vec::new();
        let mut seen_requests = HashSet::new();
        let (mut since_checkpoint, mut checkpointed_at) = (0u64, Instant::now());
        let mut next = Some(first_request(def, self.config.page_size));
        while let Some(request) = next.take() {
            let endpoint = request.split('?').next().unwrap_or_default().to_string();
            if !seen_requests.insert(request.clone()) {
                return Err(Error::PaginationLoop {
                    endpoint,
                    cursor: request,
                });
            }
            let body = self
                .client
                .get(&request, def.name, |b| check(def, b))
                .await?;
            let extracted = now_rfc3339();
            let page = parse_page(def, body, &endpoint, self.config.page_size)?;
            pages += 1;
            let mut stop = false;
            let mut keep = Vec::with_capacity(page.records.len());
            for item in page.records {
                let Value::Object(record) = item else {
                    return Err(Error::Decode {
                        endpoint,
                        reason: format!("a {} record is not an object", def.name),
                    });
                };
                if record.get(def.key).is_none_or(Value::is_null) {
                    return Err(Error::Decode {
                        endpoint,
                        reason: format!("a {} record has no `{}`", def.name, def.key),
                    });
                }
                if let (Some(k), Some(bm)) = (rk, bookmark) {
                    match key_value(&record, k) {
                        Some(v) if v < bm => {
                            stop |= def.order == Order::Descending;
                            continue;
                        }
                        Some(v) if v == bm && emitted_at_bookmark.contains(&record[def.key]) => {
                            continue
                        }
                        _ => {}
                    }
                }
                keep.push(record);
            }
            if self.test == Some(TestMode::OneRecord) {
                keep.truncate(1);
                stop = true;
            }
            let client = &self.client;
            let completed: Vec<Map<String, Value>> = stream::iter(keep)
                .map(|r| complete(client, def, r))
                .buffered(self.config.max_concurrency)
                .try_collect()
                .await?;
            let completed_len = completed.len() as u64;
            for record in completed {
                let mut projected: Map<String, Value> = s
                    .fields
                    .iter()
                    .filter_map(|f| record.get(f).map(|v| (f.clone(), v.clone())))
                    .collect();
                let notes = conform(&mut projected, properties, def.key).map_err(|reason| {
                    Error::Decode {
                        endpoint: endpoint.clone(),
                        reason: format!("{} record {}: {reason}", def.name, record[def.key]),
                    }
                })?;
                for note in notes {
                    tracing::warn!(stream = def.name, key = %record[def.key], "value does not fit the schema: {note}");
                }
                if let Some(v) = rk.and_then(|k| key_value(&projected, k)) {
                    if max_seen.is_none_or(|m| v > m) {
                        max_seen = Some(v);
                        at_max_seen.clear();
                    }
                    if max_seen == Some(v) {
                        at_max_seen.push(projected[def.key].clone());
                    }
                }
                self.out.record(def.name, &projected, &extracted)?;
                records += 1;
            }
            self.out.flush()?;
            since_checkpoint += completed_len;
            if since_checkpoint >= CHECKPOINT_RECORDS
                || checkpointed_at.elapsed() >= CHECKPOINT_INTERVAL
            {
                // the bookmark itself only moves at stream end (no list is ascending by its key)
                self.out.state(&self.state.to_value())?;
                (since_checkpoint, checkpointed_at) = (0, Instant::now());
            }
            if progress_at.elapsed() >= PROGRESS_INTERVAL {
                let rate = records as f64 / stream_started.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(
                    stream = def.name,
                    records,
                    pages,
                    records_per_second = rate.round() as u64,
                    "stream progress"
                );
                progress_at = Instant::now();
            }
            if metric_at.elapsed() >= CHECKPOINT_INTERVAL {
                crate::logging::record_count(def.name, records);
                metric_at = Instant::now();
            }
            next = if stop { None } else { page.next };
        }
        crate::logging::record_count(def.name, records);
        if let (Some(k), Some(seen), None) = (rk, max_seen, self.test) {
            // capped at the sync's start: records changed during the run come again next time
            let boundary = if seen <= self.started_ms {
                at_max_seen
            } else {
                Vec::new()
            };
            self.state
                .advance(def.name, k, seen.min(self.started_ms), boundary);
        }
        self.out.state(&self.state.to_value())?;
        tracing::info!(stream = def.name, records, pages, "stream finished");
        Ok(())
    }
}
