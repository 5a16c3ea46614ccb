//! The sync engine, the only glue between Drift and Singer: selected streams → SCHEMA; pages →
//! RECORDs; bookmarks → STATE. A bookmark only ever covers records already handed to the writer.
//!
//! Each top-level stream is read in one pass that also serves its selected child streams: for every
//! page of parents, the parents' records are written, then the children of those parents (read
//! concurrently, written in page order), then the referenced records not yet seen in this run. So
//! every RECORD follows its SCHEMA, memory holds one page of parents with their children, and a
//! child stream's bookmark (its parent's replication key) only covers parents whose children were
//! written.

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
use crate::fetch::{complete, key_text, list_all, one};
use crate::page::{check, first_request, parse_page};
use crate::state::State;
use crate::streams::{Child, Order, StreamDef, STREAMS};
use crate::writer::Writer;

/// Everything a run needs.
pub struct Run<'a, W: Write> {
    /// The HTTP client (shared with concurrent requests).
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
/// A STATE at least every this many records…
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

/// A parent record of the current page and the streams that take it.
struct Parent {
    record: Map<String, Value>,
    /// Its replication key value.
    v: Option<i64>,
    /// Whether the parent stream itself writes it.
    own: bool,
    /// Whether each child list stream reads its children.
    lists: Vec<bool>,
}

/// One parent's child records.
struct Children {
    parent_key: Value,
    v: Option<i64>,
    records: Vec<Map<String, Value>>,
}

/// One selected stream of a pass, with its bounds and what it has written.
struct Member<'s> {
    sel: &'s SelectedStream,
    /// Inclusive lower bound on the parent's replication key; `None` reads everything.
    lower: Option<i64>,
    /// Parent keys whose records were written at exactly `lower` by an earlier run.
    done_at_lower: Vec<Value>,
    max_seen: Option<i64>,
    at_max: Vec<Value>,
    records: u64,
}

impl<'s> Member<'s> {
    fn accepts(&self, v: Option<i64>, parent_key: &Value) -> bool {
        match (self.lower, v) {
            (Some(l), Some(v)) => v > l || (v == l && !self.done_at_lower.contains(parent_key)),
            _ => true,
        }
    }

    fn saw(&mut self, v: Option<i64>, parent_key: &Value) {
        let Some(v) = v else { return };
        if self.max_seen.is_none_or(|m| v > m) {
            self.max_seen = Some(v);
            self.at_max.clear();
        }
        if self.max_seen == Some(v) && !self.at_max.contains(parent_key) {
            self.at_max.push(parent_key.clone());
        }
    }

    fn full(&self, test: Option<TestMode>) -> bool {
        test == Some(TestMode::OneRecord) && self.records >= 1
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
        for def in STREAMS.iter().filter(|d| d.parent.is_none()) {
            let own = streams.iter().find(|s| s.def.name == def.name);
            let kids: Vec<&SelectedStream> = streams
                .iter()
                .filter(|s| s.def.parent.is_some_and(|(p, _)| p == def.name))
                .collect();
            if own.is_none() && kids.is_empty() {
                continue;
            }
            if let Err(e) = self.sync_pass(def, own, &kids).await {
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

    fn member<'s>(&self, sel: &'s SelectedStream) -> Result<Member<'s>> {
        let (lower, done_at_lower) = match sel.replication {
            Replication::Incremental(k) => match self.state.bookmark(sel.def.name, k)? {
                Some(b) => (Some(b), self.state.boundary_keys(sel.def.name)),
                None => (self.config.start_date_ms, Vec::new()),
            },
            Replication::FullTable => (None, Vec::new()),
        };
        Ok(Member {
            sel,
            lower,
            done_at_lower,
            max_seen: None,
            at_max: Vec::new(),
            records: 0,
        })
    }

    /// Projects, conforms and writes one record of a member.
    fn emit(
        &mut self,
        m: &mut Member<'_>,
        record: &Map<String, Value>,
        extracted: &str,
    ) -> Result<()> {
        let def = m.sel.def;
        let mut projected: Map<String, Value> = m
            .sel
            .fields
            .iter()
            .filter_map(|f| record.get(f).map(|v| (f.clone(), v.clone())))
            .collect();
        let empty = Map::new();
        let properties = m
            .sel
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let key = record.get(def.key).cloned().unwrap_or_default();
        let notes =
            conform(&mut projected, properties, def.key).map_err(|reason| Error::Decode {
                endpoint: def.path.into(),
                reason: format!("{} record {key}: {reason}", def.name),
            })?;
        for note in notes {
            tracing::warn!(stream = def.name, key = %key, "value does not fit the schema: {note}");
        }
        self.out.record(def.name, &projected, extracted)?;
        m.records += 1;
        Ok(())
    }

    async fn sync_pass(
        &mut self,
        def: &'static StreamDef,
        own: Option<&SelectedStream>,
        kids: &[&SelectedStream],
    ) -> Result<()> {
        for s in own.iter().copied().chain(kids.iter().copied()) {
            let rk: Vec<&str> = match s.replication {
                Replication::Incremental(k) => vec![k],
                Replication::FullTable => vec![],
            };
            self.out.schema(s.def.name, &s.schema, &[s.def.key], &rk)?;
        }
        if self.test == Some(TestMode::SchemaOnly) {
            return Ok(());
        }
        let mut own = own.map(|s| self.member(s)).transpose()?;
        let mut lists: Vec<Member> = Vec::new(); // Child::PerParent
        let mut refs: Vec<(Member, &'static str)> = Vec::new(); // Child::Referenced
        for k in kids {
            match k.def.parent {
                Some((_, Child::Referenced { parent_field })) => {
                    refs.push((self.member(k)?, parent_field))
                }
                _ => lists.push(self.member(k)?),
            }
        }
        // the pass reads down to the lowest bound of the streams that filter by the parent's key
        let bounded: Vec<Option<i64>> = own.iter().chain(lists.iter()).map(|m| m.lower).collect();
        let pass_lower = if bounded.is_empty() || bounded.contains(&None) {
            None
        } else {
            bounded.into_iter().flatten().min()
        };
        let rk = def.replication_key;
        tracing::info!(stream = def.name, bookmark = pass_lower, "stream started");
        let mut referenced_seen: HashSet<String> = HashSet::new();
        let (mut pages, mut since_checkpoint) = (0u64, 0u64);
        let (started, mut progress_at, mut checkpointed_at) =
            (Instant::now(), Instant::now(), Instant::now());
        let mut seen_requests = HashSet::new();
        let mut next = Some(first_request(def, def.path, self.config.page_size));
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
            // decide, per parent, which streams take it
            let mut stop = false;
            let mut parents: Vec<Parent> = Vec::new();
            for item in page.records {
                let Value::Object(record) = item else {
                    return Err(Error::Decode {
                        endpoint,
                        reason: format!("a {} record is not an object", def.name),
                    });
                };
                let Some(pk) = record.get(def.key).filter(|k| !k.is_null()).cloned() else {
                    return Err(Error::Decode {
                        endpoint,
                        reason: format!("a {} record has no `{}`", def.name, def.key),
                    });
                };
                let v = rk.and_then(|k| key_value(&record, k));
                if let (Some(l), Some(v)) = (pass_lower, v) {
                    if v < l {
                        stop |= def.order == Order::Descending;
                        continue;
                    }
                }
                let own_takes = own
                    .as_ref()
                    .is_some_and(|m| m.accepts(v, &pk) && !m.full(self.test));
                let lists_take: Vec<bool> = lists
                    .iter()
                    .map(|m| m.accepts(v, &pk) && !m.full(self.test))
                    .collect();
                let anyone =
                    own_takes || lists_take.contains(&true) || (own.is_none() && lists.is_empty());
                if anyone {
                    parents.push(Parent {
                        record,
                        v,
                        own: own_takes,
                        lists: lists_take,
                    });
                }
            }
            if self.test == Some(TestMode::OneRecord) {
                parents.truncate(1);
                stop = true;
            }
            let client = self.client.clone();
            let concurrency = self.config.max_concurrency;
            // the parents' own records, completed concurrently, written in list order
            if let Some(m) = own.as_mut() {
                let taken: Vec<(Map<String, Value>, Option<i64>)> = parents
                    .iter()
                    .filter(|p| p.own)
                    .map(|p| (p.record.clone(), p.v))
                    .collect();
                let completed: Vec<(Map<String, Value>, Option<i64>)> = stream::iter(taken)
                    .map(|(r, v)| {
                        let client = client.clone();
                        async move { Ok::<_, Error>((complete(&client, def, r).await?, v)) }
                    })
                    .buffered(concurrency)
                    .try_collect()
                    .await?;
                for (record, v) in completed {
                    self.emit(m, &record, &extracted)?;
                    m.saw(v, &record[def.key]);
                }
            }
            // each child list, for the parents it takes
            for (i, m) in lists.iter_mut().enumerate() {
                let child = m.sel.def;
                let parent_key_field = match child.parent {
                    Some((_, Child::PerParent { parent_key_field })) => parent_key_field,
                    _ => def.key,
                };
                let taken: Vec<(Value, Option<i64>)> = parents
                    .iter()
                    .filter(|p| p.lists[i])
                    .map(|p| (p.record[def.key].clone(), p.v))
                    .collect();
                let page_size = self.config.page_size;
                let fetched: Vec<Children> = stream::iter(taken)
                    .map(|(parent_key, v)| {
                        let client = client.clone();
                        async move {
                            let records =
                                list_all(&client, child, &key_text(&parent_key), page_size).await?;
                            Ok::<_, Error>(Children {
                                parent_key,
                                v,
                                records,
                            })
                        }
                    })
                    .buffered(concurrency)
                    .try_collect()
                    .await?;
                for Children {
                    parent_key: pk,
                    v,
                    records,
                } in fetched
                {
                    for mut record in records {
                        if m.full(self.test) {
                            break;
                        }
                        record.insert(parent_key_field.into(), pk.clone());
                        if let (Some(crk), Some(v)) = (child.replication_key, v) {
                            record.insert(crk.into(), Value::from(v));
                        }
                        self.emit(m, &record, &extracted)?;
                    }
                    m.saw(v, &pk);
                }
            }
            // records the taken parents reference, each once per run
            for (m, field) in refs.iter_mut() {
                let child = m.sel.def;
                let ids: Vec<String> = parents
                    .iter()
                    .filter_map(|p| p.record.get(*field).filter(|v| !v.is_null()).map(key_text))
                    .filter(|id| referenced_seen.insert(format!("{}:{id}", child.name)))
                    .collect();
                let fetched: Vec<Option<Map<String, Value>>> = stream::iter(ids)
                    .map(|id| {
                        let client = client.clone();
                        async move { one(&client, child, &id).await }
                    })
                    .buffered(concurrency)
                    .try_collect()
                    .await?;
                for record in fetched.into_iter().flatten() {
                    if m.full(self.test) {
                        break;
                    }
                    self.emit(m, &record, &extracted)?;
                }
            }
            self.out.flush()?;
            let written: u64 = own
                .iter()
                .chain(lists.iter())
                .chain(refs.iter().map(|(m, _)| m))
                .map(|m| m.records)
                .sum();
            if written - since_checkpoint >= CHECKPOINT_RECORDS
                || checkpointed_at.elapsed() >= CHECKPOINT_INTERVAL
            {
                // bookmarks themselves move only when the pass ends (no list is ascending by its key)
                self.out.state(&self.state.to_value())?;
                (since_checkpoint, checkpointed_at) = (written, Instant::now());
            }
            if progress_at.elapsed() >= PROGRESS_INTERVAL {
                for m in own
                    .iter()
                    .chain(lists.iter())
                    .chain(refs.iter().map(|(m, _)| m))
                {
                    let rate = m.records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    tracing::info!(
                        stream = m.sel.def.name,
                        records = m.records,
                        pages,
                        records_per_second = rate.round() as u64,
                        "stream progress"
                    );
                    crate::logging::record_count(m.sel.def.name, m.records);
                }
                progress_at = Instant::now();
            }
            next = if stop { None } else { page.next };
        }
        for m in own
            .iter()
            .chain(lists.iter())
            .chain(refs.iter().map(|(m, _)| m))
        {
            crate::logging::record_count(m.sel.def.name, m.records);
            tracing::info!(
                stream = m.sel.def.name,
                records = m.records,
                pages,
                "stream finished"
            );
            if let (Replication::Incremental(k), Some(seen), None) =
                (&m.sel.replication, m.max_seen, self.test)
            {
                // capped at the sync's start: records changed during the run come again next time
                let boundary = if seen <= self.started_ms {
                    m.at_max.clone()
                } else {
                    Vec::new()
                };
                self.state
                    .advance(m.sel.def.name, k, seen.min(self.started_ms), boundary);
            }
        }
        self.out.state(&self.state.to_value())?;
        Ok(())
    }
}
