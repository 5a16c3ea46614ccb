//! One pass over a top-level stream's list, serving the stream itself and its selected children:
//! for every page of parents, decide which streams take each parent, then write the parents' own
//! records (completed concurrently, written in list order), then each child list of the taken
//! parents (read concurrently, written in page order), then the records the parents reference
//! that this run has not written yet. So every RECORD follows its SCHEMA, memory holds one page of
//! parents with their children, and a child stream's bookmark (its parent's replication key) only
//! covers parents whose children were written. Every step is one function; the pass alone moves
//! the bookmarks of its streams, and only after their records went to the output.

use std::collections::HashSet;

use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use crate::config::TimestampFormat;
use crate::drift::page::{Order, Pages, Pagination};
use crate::drift::read::{complete, key_text, referenced, skip_404};
use crate::drift::span;
use crate::error::{Error, Result};
use crate::out::output::{Output, StreamEnd, StreamStart};
use crate::out::tally;
use crate::singer::catalog::Selected;
use crate::singer::conform::conform;
use crate::streams::schema::stream_schema;
use crate::streams::{Child, StreamDef};
use crate::sync::progress::Progress;
use crate::sync::window::BookmarkWindow;
use crate::sync::{Run, TestMode};
use crate::time::now_rfc3339;

/// One selected stream of a pass, with its window and what it has written.
pub struct Member<'s> {
    /// The selection.
    pub sel: &'s Selected,
    /// The stream.
    pub def: &'static StreamDef,
    /// Which records it takes, and its bookmark-to-be.
    pub window: BookmarkWindow,
    /// The version its records carry when it is read whole.
    version: Option<i64>,
    /// Records written in this pass.
    records: u64,
    /// The positions of this page's parents it takes.
    taken: Vec<usize>,
    /// Every field its schema has (selected or not).
    known_fields: HashSet<String>,
    /// Fields its records carried that the schema lacks, already warned about.
    unknown_fields: HashSet<String>,
    /// Whether Drift refused it (403) in this pass: the rest of it is skipped.
    skipped: bool,
}

impl<'s> Member<'s> {
    /// A member reading `sel` through `window`, its records carrying `version` if any.
    pub fn new(
        sel: &'s Selected,
        def: &'static StreamDef,
        window: BookmarkWindow,
        version: Option<i64>,
    ) -> Member<'s> {
        let known_fields = stream_schema(def, TimestampFormat::EpochMs)
            .ok()
            .and_then(|s| s.get("properties").and_then(Value::as_object).cloned())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        Member {
            sel,
            def,
            window,
            version,
            records: 0,
            taken: Vec::new(),
            known_fields,
            unknown_fields: HashSet::new(),
            skipped: false,
        }
    }

    /// Warns once per run about each field a record carries that the stream's schema lacks (it
    /// is dropped, as every field outside the schema is).
    fn note_unknown_fields(&mut self, record: &Map<String, Value>) {
        for field in record.keys() {
            if !self.known_fields.contains(field) && self.unknown_fields.insert(field.clone()) {
                tracing::warn!(
                    stream = self.def.name,
                    field = field.as_str(),
                    "drift sent a field the stream's schema does not have; it is dropped (a newer tap-drift may know it)"
                );
            }
        }
    }

    fn full(&self, test: Option<TestMode>) -> bool {
        test == Some(TestMode::OneRecord) && self.records >= 1
    }

    fn takes(&self, value: Option<i64>, key: &Value, test: Option<TestMode>) -> bool {
        !self.skipped && self.window.accepts(value, key) && !self.full(test)
    }
}

/// A parent record of the current page that at least one member takes.
struct TakenParent {
    record: Map<String, Value>,
    /// Its replication key value.
    value: Option<i64>,
}

/// A record and its replication value.
type Valued = (Map<String, Value>, Option<i64>);

/// The streams of one pass.
pub struct Pass<'s> {
    def: &'static StreamDef,
    own: Option<Member<'s>>,
    /// Child streams with a list per parent.
    lists: Vec<Member<'s>>,
    /// Child streams referenced by a parent field.
    refs: Vec<(Member<'s>, &'static str)>,
    /// Referenced ids written in this run.
    referenced_seen: HashSet<String>,
    progress: Progress,
    /// The last record of the list seen so far (key, replication value), to check the order.
    last: Option<(Value, i64)>,
    /// Whether the list was seen out of its documented order.
    order_broken: bool,
    /// Whether the walk stopped before the end of the list.
    stopped_early: bool,
    /// The lowest value on the page being written, with its keys (a newest-first list in order).
    page_low: Option<(i64, Vec<Value>)>,
    /// Everything of the list from the top down to this value (and these keys at it) is written.
    handled: Option<(i64, Vec<Value>)>,
}

impl<'s> Pass<'s> {
    /// A pass over `def`'s list for its own member (if selected) and its children's.
    pub fn new(def: &'static StreamDef, own: Option<Member<'s>>, kids: Vec<Member<'s>>) -> Self {
        let (mut lists, mut refs) = (Vec::new(), Vec::new());
        for kid in kids {
            match kid.def.parent.map(|p| p.via) {
                Some(Child::Referenced { parent_field }) => refs.push((kid, parent_field)),
                _ => lists.push(kid),
            }
        }
        Pass {
            def,
            own,
            lists,
            refs,
            referenced_seen: HashSet::new(),
            progress: Progress::new(),
            last: None,
            order_broken: false,
            stopped_early: false,
            page_low: None,
            handled: None,
        }
    }

    /// Notes a record's place for the pass's progress: the lowest value of the page, with its keys.
    fn note_low(&mut self, key: &Value, value: Option<i64>) {
        let Some(v) = value else { return };
        match &mut self.page_low {
            Some((low, keys)) if *low == v => keys.push(key.clone()),
            Some((low, _)) if *low < v => {}
            _ => self.page_low = Some((v, vec![key.clone()])),
        }
    }

    /// The page is written: everything down to its lowest value is handled. Returns how far the
    /// pass has got, while its newest-first list is in order (else there is no telling).
    fn commit_page(&mut self) -> Option<&(i64, Vec<Value>)> {
        if let Some((v, keys)) = self.page_low.take() {
            match &mut self.handled {
                Some((h, at)) if *h == v => at.extend(keys),
                _ => self.handled = Some((v, keys)),
            }
        }
        let ordered = self.def.list.order == Order::Descending && !self.order_broken;
        self.handled.as_ref().filter(|_| ordered)
    }

    fn members(&self) -> impl Iterator<Item = &Member<'s>> {
        let refs = self.refs.iter().map(|(m, _)| m);
        self.own.iter().chain(self.lists.iter()).chain(refs)
    }

    fn members_mut(&mut self) -> impl Iterator<Item = &mut Member<'s>> {
        let refs = self.refs.iter_mut().map(|(m, _)| m);
        self.own.iter_mut().chain(self.lists.iter_mut()).chain(refs)
    }

    /// The pass reads down to the lowest bound of the streams that filter by the parent's key.
    fn lower(&self) -> Option<i64> {
        let bounded: Vec<Option<i64>> = self
            .own
            .iter()
            .chain(self.lists.iter())
            .map(|m| m.window.lower())
            .collect();
        if bounded.is_empty() || bounded.contains(&None) {
            None
        } else {
            bounded.into_iter().flatten().min()
        }
    }

    /// Checks a descending list's order across pages: the first record newer than the one before
    /// it breaks it (one warning naming both), and from then on the whole list is read.
    fn check_order(&mut self, key: &Value, value: Option<i64>) {
        let Some(v) = value else { return };
        if self.def.list.order != Order::Descending {
            return;
        }
        if let Some((last_key, last_v)) = &self.last {
            if v > *last_v && !self.order_broken {
                self.order_broken = true;
                tracing::warn!(
                    stream = self.def.name,
                    "the list is not in strict newest-first order: record {last_key} (updated {last_v}) came before record {key} (updated {v}); reading the whole list"
                );
            }
        }
        self.last = Some((key.clone(), v));
    }

    /// Whether this page of a descending list reaches below every window (so the walk may stop
    /// after it), as far as the order seen so far allows.
    fn reaches_below(&self, records: &[Map<String, Value>]) -> bool {
        let (Some(rk), Some(lower)) = (self.def.replication_key, self.lower()) else {
            return false;
        };
        self.def.list.order == Order::Descending
            && records
                .iter()
                .any(|r| r.get(rk).and_then(Value::as_i64).is_some_and(|v| v < lower))
    }

    /// Which members take each record of a page; the parents someone takes, and whether the list
    /// can stop here (a descending list, in order so far, reached records older than every window).
    fn decide(
        &mut self,
        records: Vec<Map<String, Value>>,
        test: Option<TestMode>,
    ) -> (Vec<TakenParent>, bool) {
        let (rk, lower) = (self.def.replication_key, self.lower());
        let mut below = false;
        let mut parents = Vec::new();
        for m in self.members_mut() {
            m.taken.clear();
        }
        let anyone_by_default = self.own.is_none() && self.lists.is_empty();
        for record in records {
            let value = rk.and_then(|k| record.get(k)).and_then(Value::as_i64);
            self.check_order(&record[self.def.key], value);
            self.note_low(&record[self.def.key], value);
            if let (Some(l), Some(v)) = (lower, value) {
                if v < l {
                    below = true;
                    continue;
                }
            }
            let key = &record[self.def.key];
            self.note_written_references(&record, value);
            let at = parents.len();
            let mut taken = anyone_by_default;
            for m in self.own.iter_mut().chain(self.lists.iter_mut()) {
                if m.takes(value, key, test) {
                    m.taken.push(at);
                    taken = true;
                }
            }
            if taken {
                parents.push(TakenParent { record, value });
            }
        }
        let mut stop = below && self.def.list.order == Order::Descending && !self.order_broken;
        if test == Some(TestMode::OneRecord) {
            parents.truncate(1);
            for m in self.members_mut() {
                m.taken.retain(|i| *i < 1);
            }
            // one record is the test; a page (or slice of time) without any does not end it
            stop |= !parents.is_empty();
        }
        self.stopped_early |= stop;
        (parents, stop)
    }

    /// A parent the unfinished pass this one resumes already wrote: what it references was written
    /// then too, so it is not fetched again in this run.
    fn note_written_references(&mut self, record: &Map<String, Value>, value: Option<i64>) {
        let key = &record[self.def.key];
        if !self
            .own
            .as_ref()
            .is_some_and(|m| m.window.already_written(value, key))
        {
            return;
        }
        for (m, field) in &self.refs {
            if let Some(id) = record.get(*field).filter(|v| !v.is_null()) {
                self.referenced_seen
                    .insert(format!("{}:{}", m.def.name, key_text(id)));
            }
        }
    }

    /// How the list was read, for the stream's closing line.
    fn how_read(&self) -> String {
        match (self.def.list.order, self.order_broken, self.stopped_early) {
            (_, _, true) => format!("stopped early after {} pages", self.progress.pages),
            (Order::Descending, true, _) => "read the whole list: order not strict".into(),
            _ => "read the whole list".into(),
        }
    }

    /// Makes the field the tap derives for each record (the key, when Drift documents none); a
    /// record the state remembers under the key an earlier version made is remembered under the
    /// new one.
    fn derive(&mut self, records: &mut [Map<String, Value>]) {
        let Some(d) = self.def.derived else { return };
        for r in records {
            let made = (d.make)(r);
            if let (Some(legacy), Some(m)) = (d.legacy, self.own.as_mut()) {
                let rk = self.def.replication_key;
                let value = rk.and_then(|k| r.get(k)).and_then(Value::as_i64);
                m.window.adopt(&legacy(r), &made, value);
            }
            r.insert(d.field.into(), made);
        }
    }

    fn written(&self) -> u64 {
        self.members().map(|m| m.records).sum()
    }
}

/// Projects a record onto the member's selected fields, fits it to the schema, and writes it.
fn emit(
    out: &mut impl Output,
    m: &mut Member<'_>,
    record: &Map<String, Value>,
    extracted: &str,
) -> Result<()> {
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
    m.note_unknown_fields(record);
    let key = record.get(m.def.key).cloned().unwrap_or_default();
    let notes = conform(&mut projected, properties, m.def.key).map_err(|reason| Error::Record {
        stream: m.def.name.into(),
        key: key.to_string(),
        reason,
    })?;
    for (what, value) in notes {
        tracing::debug!(stream = m.def.name, key = %key, value, "value does not fit the schema: {what}");
        let what = format!("value does not fit the schema: {what}");
        tally::note(m.def.name, &what, &key.to_string());
    }
    out.record(m.def.name, &projected, extracted, m.version)?;
    m.records += 1;
    tally::record(m.def.name);
    Ok(())
}

impl<O: Output> Run<'_, O> {
    /// Runs one pass: SCHEMA of every member, the pages, then the bookmarks and a STATE.
    pub(super) async fn pass(&mut self, mut pass: Pass<'_>) -> Result<()> {
        for m in pass.members() {
            let rk: Vec<&str> = m.sel.incremental_key().into_iter().collect();
            self.out.stream_start(StreamStart {
                stream: m.def.name,
                schema: &m.sel.schema,
                key: &[m.def.key],
                bookmark: &rk,
            })?;
            tally::start(m.def.name);
        }
        if self.test == Some(TestMode::SchemaOnly) {
            return Ok(());
        }
        let def = pass.def;
        tracing::info!(target: "tap_drift::progress", stream = def.name, bookmark = pass.lower(), "stream started");
        let mut pages = self.walker(&pass);
        loop {
            let mut page = match pages.next_page(&self.client).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    // the list itself is refused: every stream of the pass stops here
                    let members: Vec<&mut Member<'_>> = pass.members_mut().collect();
                    self.refuse_all(members, e)?;
                    break;
                }
            };
            if pages.could_grow(&page) && !pass.reaches_below(&page.records) {
                // a newer-style list allows bigger pages: start again with them, this page unread
                pages.grow();
                continue;
            }
            pass.progress.pages = pages.pages();
            pass.derive(&mut page.records);
            let extracted = now_rfc3339();
            let (parents, stop) = pass.decide(page.records, self.test);
            self.write_own(&mut pass, &parents, &extracted).await?;
            self.write_lists(&mut pass, &parents, &extracted).await?;
            self.write_referenced(&mut pass, &parents, &extracted)
                .await?;
            self.out.flush()?;
            self.after_page(&mut pass)?;
            if stop {
                pages.stop();
            }
        }
        self.finish(&pass)
    }

    /// A request of a member failed: a 403 skips the rest of that stream (its bookmark stays), with
    /// one warning, unless `on_missing_scope` is `fail`; any other error ends the run.
    fn refused(&mut self, m: &mut Member<'_>, e: Error) -> Result<()> {
        if m.skipped {
            return matches!(e, Error::Auth { status: 403, .. })
                .then_some(())
                .ok_or(e);
        }
        match e {
            Error::Auth {
                status: 403,
                endpoint,
            } => {
                m.skipped = true;
                self.refuse(m.def, format!("drift refused it (403 on {endpoint})"))
            }
            // an endpoint Drift does not serve for every account
            Error::Api {
                status: 400 | 404 | 405,
                endpoint,
                body,
            } if m.def.optional => {
                m.skipped = true;
                tracing::warn!(
                    stream = m.def.name,
                    "stream skipped: drift does not serve {endpoint} for this account ({body})"
                );
                self.skip(m.def, format!("{endpoint} not served"))
            }
            other => Err(other),
        }
    }

    fn refuse_all(&mut self, members: Vec<&mut Member<'_>>, e: Error) -> Result<()> {
        let again = |e: &Error| match e {
            Error::Auth { status, endpoint } => Error::Auth {
                status: *status,
                endpoint: endpoint.clone(),
            },
            Error::Api {
                status,
                endpoint,
                body,
            } => Error::Api {
                status: *status,
                endpoint: endpoint.clone(),
                body: body.clone(),
            },
            other => Error::Decode {
                endpoint: String::new(),
                reason: other.to_string(),
            },
        };
        if !matches!(e, Error::Auth { .. } | Error::Api { .. }) {
            return Err(e);
        }
        for m in members {
            self.refused(m, again(&e))?;
        }
        Ok(())
    }

    /// The walk over a pass's list: by pages, or, for a list read by spans of time, over the
    /// window from the pass's lower bound to now (or past it), warning when Drift no longer keeps
    /// the start of it.
    fn walker(&self, pass: &Pass<'_>) -> Pages<'static> {
        let def = pass.def;
        let pages = Pages::new(
            &def.list,
            def.list.path,
            def.list_key(),
            def.name,
            self.config.page_size,
        );
        let Pagination::Span(span) = def.list.pagination else {
            return pages;
        };
        let lower = pass.lower().unwrap_or(0);
        if let Some(days) = def.history_days {
            let kept_from = self.started_ms - i64::from(days) * 86_400_000;
            if lower < kept_from {
                let from = crate::time::ms_to_rfc3339(kept_from).unwrap_or_default();
                tracing::warn!(stream = def.name, "drift keeps only the last {days} days: records before {from} are gone for good; run at least weekly so none are lost");
            }
        }
        let metrics = pass
            .own
            .as_ref()
            .map(|m| {
                m.sel
                    .fields
                    .iter()
                    .filter(|f| *f != def.key)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        pages.within(lower, span::upper(span, self.started_ms), metrics)
    }

    /// The parents' own records, completed concurrently, written in list order.
    async fn write_own(
        &mut self,
        pass: &mut Pass<'_>,
        parents: &[TakenParent],
        extracted: &str,
    ) -> Result<()> {
        let Some(m) = pass.own.as_mut().filter(|m| !m.skipped) else {
            return Ok(());
        };
        let def = pass.def;
        // the detail endpoint costs a request a record: only when a field it adds is selected
        let detail = def
            .detail
            .filter(|d| d.fields.iter().any(|f| m.sel.fields.iter().any(|s| s == f)));
        let taken = m
            .taken
            .iter()
            .map(|&i| (parents[i].record.clone(), parents[i].value));
        let client = &self.client;
        let completed: Result<Vec<Valued>> = stream::iter(taken)
            .map(|(record, value)| async move {
                let record = match &detail {
                    Some(detail) => complete(client, detail, def.key, def.name, record).await?,
                    None => record,
                };
                Ok::<_, Error>((record, value))
            })
            .buffered(self.config.max_concurrency)
            .try_collect()
            .await;
        let completed = match completed {
            Ok(c) => c,
            Err(e) => return self.refused(m, e),
        };
        for (record, value) in completed {
            emit(self.out, m, &record, extracted)?;
            m.window.saw(value, &record[def.key]);
        }
        Ok(())
    }

    /// Each child list, for the parents it takes: the first pages read concurrently, the rest
    /// page by page, written in parent order as they come (memory: a page per parent in flight).
    async fn write_lists(
        &mut self,
        pass: &mut Pass<'_>,
        parents: &[TakenParent],
        extracted: &str,
    ) -> Result<()> {
        let parent_def = pass.def;
        for m in pass.lists.iter_mut().filter(|m| !m.skipped) {
            let parent_key_field = match m.def.parent.map(|p| p.via) {
                Some(Child::PerParent { parent_key_field }) => parent_key_field,
                _ => parent_def.key,
            };
            let taken: Vec<(Value, Option<i64>)> = m
                .taken
                .iter()
                .map(|&i| (parents[i].record[parent_def.key].clone(), parents[i].value))
                .collect();
            if let Err(e) = self
                .write_children(m, taken, parent_key_field, extracted)
                .await
            {
                self.refused(m, e)?;
            }
        }
        Ok(())
    }

    /// One child stream's records for the parents it takes.
    async fn write_children(
        &mut self,
        m: &mut Member<'_>,
        taken: Vec<(Value, Option<i64>)>,
        parent_key_field: &'static str,
        extracted: &str,
    ) -> Result<()> {
        let (child, bound, client) = (m.def, self.config.page_size, &self.client);
        let firsts = stream::iter(taken)
            .map(|(parent_key, value)| async move {
                let id = key_text(&parent_key);
                let mut pages = Pages::new(
                    &child.list,
                    &child.list.path_for(&id),
                    child.key,
                    child.name,
                    bound,
                );
                let instead = "the parent vanished before its list could be read; skipped";
                let first = skip_404(pages.next_page(client).await, child.name, &id, instead)?;
                Ok::<_, Error>((parent_key, value, pages, first.flatten()))
            })
            .buffered(self.config.max_concurrency);
        futures_util::pin_mut!(firsts);
        while let Some(next) = firsts.next().await {
            let (parent_key, value, mut pages, mut page) = next?;
            while let Some(p) = page {
                for mut record in p.records {
                    if m.full(self.test) {
                        break;
                    }
                    record.insert(parent_key_field.into(), parent_key.clone());
                    if let (Some(crk), Some(v)) = (child.replication_key, value) {
                        record.insert(crk.into(), Value::from(v));
                    }
                    emit(self.out, m, &record, extracted)?;
                }
                if m.full(self.test) {
                    break;
                }
                let id = key_text(&parent_key);
                let instead = "the parent vanished while its list was read; the rest skipped";
                page = skip_404(pages.next_page(client).await, child.name, &id, instead)?.flatten();
            }
            m.window.saw(value, &parent_key);
        }
        Ok(())
    }

    /// The records the page's parents reference, each once per run.
    async fn write_referenced(
        &mut self,
        pass: &mut Pass<'_>,
        parents: &[TakenParent],
        extracted: &str,
    ) -> Result<()> {
        for (m, field) in pass.refs.iter_mut().filter(|(m, _)| !m.skipped) {
            let child = m.def;
            let seen = &mut pass.referenced_seen;
            let ids: Vec<String> = parents
                .iter()
                .filter_map(|p| p.record.get(*field).filter(|v| !v.is_null()).map(key_text))
                .filter(|id| seen.insert(format!("{}:{id}", child.name)))
                .collect();
            let client = &self.client;
            let fetched: Result<Vec<Option<Map<String, Value>>>> = stream::iter(ids)
                .map(|id| async move {
                    referenced(client, &child.list, child.key, child.name, &id).await
                })
                .buffered(self.config.max_concurrency)
                .try_collect()
                .await;
            let fetched = match fetched {
                Ok(f) => f,
                Err(e) => {
                    self.refused(m, e)?;
                    continue;
                }
            };
            for record in fetched.into_iter().flatten() {
                if m.full(self.test) {
                    break;
                }
                emit(self.out, m, &record, extracted)?;
            }
        }
        Ok(())
    }

    /// A checkpoint and a progress report, when due. Bookmarks themselves move only when the pass
    /// ends: no list is ascending by its key.
    fn after_page(&mut self, pass: &mut Pass<'_>) -> Result<()> {
        let written = pass.written();
        let resumable = self.record_progress(pass);
        if pass.progress.checkpoint_due(written) || resumable {
            self.out.checkpoint(&self.state.to_value())?;
        }
        if pass.progress.report_due() {
            let (pace, throttled) = self.client.pace();
            for m in pass.members() {
                pass.progress.report(m.def.name, m.records, pace, throttled);
            }
        }
        Ok(())
    }

    /// After a page of a newest-first list in order: notes in the state how far each incremental
    /// stream of the pass has got, so a run that is stopped can resume from there (whether it did).
    fn record_progress(&mut self, pass: &mut Pass<'_>) -> bool {
        let Some((down_to, at)) = pass.commit_page().cloned() else {
            return false;
        };
        if self.test.is_some() {
            return false;
        }
        let mut recorded = false;
        for m in pass.members().filter(|m| !m.skipped) {
            if let Some(k) = m.sel.incremental_key() {
                let progress = m.window.progress(down_to, &at).to_value();
                self.state.record_progress(m.def.name, k, progress);
                recorded = true;
            }
        }
        recorded
    }

    /// Logs each stream's end (and how the list was read), moves the incremental bookmarks of the
    /// streams read to their end, ends each stream on the output, and writes a STATE.
    fn finish(&mut self, pass: &Pass<'_>) -> Result<()> {
        tracing::info!(target: "tap_drift::progress", stream = pass.def.name, "{}", pass.how_read());
        for m in pass.members().filter(|m| !m.skipped) {
            pass.progress.finished(m.def.name, m.records);
            if let (Some(k), None) = (m.sel.incremental_key(), self.test) {
                match m.window.bookmark() {
                    Some((value, recent)) => self.state.advance(m.def.name, k, value, recent),
                    None => self.state.clear_progress(m.def.name),
                }
            }
            let end = StreamEnd::Complete {
                activate_version: m.version,
            };
            self.out.stream_end(m.def.name, end)?;
            tally::end(m.def.name, tally::Ended::Complete);
            self.read.push(m.def.name);
        }
        self.out.checkpoint(&self.state.to_value())?;
        Ok(())
    }
}
