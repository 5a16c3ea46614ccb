//! The run: one sync's engine object, made by [`Run::new`] from its client, config, state and
//! output, and all of its steps. [`Run::sync`] checks which streams the token may read, runs one
//! pass per top-level stream (reading the list page by page, writing each page's records, then its
//! children's and the records it references, while the next page is read and fetched ahead by
//! `ahead.rs`), moves bookmarks only after their records went out, and returns which streams were
//! read and which were skipped. It is the one writer of the last good STATE when a run fails or is
//! stopped by a signal. What a pass decides page by page is pure and
//! lives in `pass.rs`; this file does the I/O around it.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::drift::page::{Pages, Pagination};
use crate::drift::read::{key_text, skip_404};
use crate::drift::span;
use crate::drift::DriftClient;
use crate::error::{Error, Result};
use crate::out::output::{Output, StreamEnd, StreamStart};
use crate::out::tally::{Ended, Tally};
use crate::signal;
use crate::singer::conform::conform;
use crate::singer::state::{Pace, State};
use crate::streams::attributes::TypedColumn;
use crate::streams::{Child, StreamDef, STREAMS};
use crate::sync::ahead::{Ahead, First, Job, Low, Referenced, Valued};
use crate::sync::pass::{Member, Pass, TakenParent};
use crate::sync::{progress, take, Planned, Synced, TestMode};
use crate::time::now_rfc3339;

/// One sync: the client, the config, the state whose bookmarks it moves, and where its events go.
pub struct Run<'o, O: Output> {
    client: Arc<DriftClient>,
    config: Config,
    state: State,
    out: &'o mut O,
    /// The sync's start time in epoch ms; no bookmark goes past it.
    started_ms: i64,
    /// Connection-test mode (`--test`): no bookmark moves.
    test: Option<TestMode>,
    /// The typed attribute columns the account lists (contacts'), for the stream that has them.
    typed: Vec<TypedColumn>,
}

impl<'o, O: Output> Run<'o, O> {
    /// A run of `client` and `config` from `state` (already planned at `started_ms`, in `test`
    /// mode if one) to `out`, filling the `typed` attribute columns.
    pub fn new(
        client: Arc<DriftClient>,
        config: Config,
        state: State,
        out: &'o mut O,
        (started_ms, test): (i64, Option<TestMode>),
        typed: Vec<TypedColumn>,
    ) -> Self {
        Run {
            client,
            config,
            state,
            out,
            started_ms,
            test,
            typed,
        }
    }

    fn tally(&self) -> &Tally {
        self.client.tally()
    }

    /// Writes a STATE: the bookmarks, and the pace this run learnt so far (none is learnt with a
    /// fixed `requests_per_minute`, nor in a connection test: the state's own is carried).
    fn checkpoint(&mut self) -> std::io::Result<()> {
        if let (Some(learnt), None) = (self.client.learnt_pace(), self.test) {
            self.state.set_pace(&Pace {
                per_minute: learnt.per_minute,
                limit_found: learnt.limit_found,
                run_started_at: crate::time::ms_to_rfc3339(self.started_ms),
            });
        }
        self.out.checkpoint(&self.state.to_value())
    }
}

/// Whether a scope name is in Drift's vocabulary (`<object>_read`, `<object>_write`).
fn is_drift_scope(scope: &str) -> bool {
    let object = scope
        .strip_suffix("_read")
        .or_else(|| scope.strip_suffix("_write"));
    object.is_some_and(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// Pages read and fetched ahead of the one being written.
const PAGES_AHEAD: usize = 1;

/// A member's SCHEMA: at its start, and again whenever a record grew it.
fn describe(out: &mut impl Output, m: &Member<'_>, again: bool) -> Result<()> {
    let rk: Vec<&str> = m.sel.incremental_key().into_iter().collect();
    let schema = m.shape.schema();
    let start = StreamStart {
        stream: m.def.name,
        schema: &schema,
        key: &[m.def.key],
        bookmark: &rk,
    };
    match again {
        false => out.stream_start(start)?,
        true => out.schema_changed(start)?,
    }
    Ok(())
}

/// Projects a record onto the member's fields (first taking in the fields its schema lacks, and
/// sending the grown schema), fits it to the schema, and writes it.
fn emit(
    out: &mut impl Output,
    tally: &Tally,
    m: &mut Member<'_>,
    record: &Map<String, Value>,
    extracted: &str,
) -> Result<()> {
    if m.shape.learn(record) {
        describe(out, m, true)?;
    }
    let mut projected = m.shape.project(record);
    let mut nulled = m.shape.take_nulled();
    let key = record.get(m.def.key).cloned().unwrap_or_default();
    let notes = conform(&mut projected, m.shape.properties(), m.def.key).map_err(|reason| {
        Error::Record {
            stream: m.def.name.into(),
            key: key.to_string(),
            reason,
        }
    })?;
    for fixed in notes {
        let (what, value) = (fixed.what, fixed.value);
        tracing::debug!(stream = m.def.name, key = %key, value, "value does not fit the schema: {what}");
        let what = format!("value does not fit the schema: {what}");
        tally.note(m.def.name, &what, &key.to_string());
        nulled.extend(fixed.nulled.then_some(fixed.field));
    }
    let (record, grew) = m.shape.finish(projected);
    if grew {
        describe(out, m, true)?;
    }
    out.record_nulled(m.def.name, &record, extracted, m.version, &nulled)?;
    m.records += 1;
    tally.record(m.def.name);
    Ok(())
}

impl<O: Output> Run<'_, O> {
    /// Syncs the planned streams, pass by pass, then writes the final STATE; returns which streams
    /// were read to their end and which were skipped. On failure or on a signal, the last good
    /// STATE is written before the error is returned.
    pub async fn sync(mut self, planned: Vec<Planned<'_>>, had_state: bool) -> Result<Synced> {
        signal::watch();
        let started = Instant::now();
        let result = tokio::select! {
            r = self.passes(planned, had_state) => r,
            s = signal::stopped() => Err(Error::Interrupted(s)),
        };
        // a signal may also have surfaced as an output that gave up waiting
        let result = match (result, signal::stopping()) {
            (Err(_), Some(s)) => Err(Error::Interrupted(s)),
            (other, _) => other,
        };
        match &result {
            // the target is gone: there is nobody to write to
            Err(Error::Output(_)) => {}
            Err(Error::Interrupted(s)) => {
                // every line handed over is whole; they go out if stdout takes them in time
                let written = self.checkpoint().and_then(|()| self.out.flush());
                match written {
                    Ok(()) => tracing::warn!("{s} received: the last STATE was written; stopping"),
                    Err(e) => tracing::warn!("{s} received: no last STATE was written, {e}; stopping (the next run starts from the last STATE the target took)"),
                }
            }
            Err(_) => {
                // best effort: the run already failed, and the error is what gets reported
                let _ = self.checkpoint();
                let _ = self.out.flush();
            }
            Ok(_) => self.out.flush()?,
        }
        self.closing_lines(started, result.as_ref().ok());
        result.and_then(|synced| synced.verdict(self.test))
    }

    async fn passes(&mut self, planned: Vec<Planned<'_>>, had_state: bool) -> Result<Synced> {
        if had_state {
            self.checkpoint()?;
        }
        let (mut planned, mut synced) = self.readable(planned).await?;
        for def in STREAMS.iter().filter(|d| d.parent.is_none()) {
            let own = take(&mut planned, (&self.config, &self.typed), |p| {
                p.def.name == def.name
            });
            let mut kids = Vec::new();
            while let Some(kid) = take(&mut planned, (&self.config, &self.typed), |p| {
                p.def.parent.is_some_and(|parent| parent.stream == def.name)
            }) {
                kids.push(kid);
            }
            if own.is_none() && kids.is_empty() {
                continue;
            }
            synced.extend(self.pass(Pass::new(def, own, kids)).await?);
        }
        self.checkpoint()?;
        Ok(synced)
    }

    /// The run's last log lines: warnings still counted, a summary line per stream and one for the
    /// run (the terminal display shows these as its table), and what a connection test found.
    fn closing_lines(&self, started: Instant, finished: Option<&Synced>) {
        progress::summary(self.tally());
        let Some(synced) = finished else {
            return;
        };
        let (pace, throttled) = self.client.pace();
        let skipped: Vec<&str> = synced.skipped.iter().map(|(s, _)| *s).collect();
        tracing::info!(
            target: "tap_drift::summary",
            requests = self.client.request_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            pace_per_minute = pace.round() as u64,
            throttled,
            in_flight_peak = self.client.in_flight().1,
            skipped = skipped.join(","),
            peak_rss_kb = crate::out::logging::peak_rss_kb(),
            "sync finished"
        );
        if self.test == Some(TestMode::OneRecord) {
            for (stream, why) in &synced.skipped {
                tracing::warn!(stream, "connection test: cannot be read: {why}");
            }
            for stream in &synced.read {
                tracing::info!(stream, "connection test: can be read");
            }
        }
    }

    /// The planned streams the token may read, as far as Drift says (`POST /app/token_info`);
    /// the others are skipped now (or fail the run), and returned as skipped.
    async fn readable<'s>(
        &mut self,
        planned: Vec<Planned<'s>>,
    ) -> Result<(Vec<Planned<'s>>, Synced)> {
        let mut synced = Synced::default();
        if planned.is_empty() || self.test == Some(TestMode::SchemaOnly) {
            return Ok((planned, synced));
        }
        let Some(scopes) = self.client.scopes().await? else {
            return Ok((planned, synced));
        };
        if !scopes.iter().any(|s| is_drift_scope(s)) {
            // "scopes unknown", not "no scopes": never skip every stream on that evidence alone
            tracing::warn!(
                scope = scopes.join(" "),
                "the token's scopes name none of Drift's (such as conversation_read): reading every selected stream, and skipping any Drift refuses (403)"
            );
            return Ok((planned, synced));
        }
        let mut readable = Vec::new();
        for p in planned {
            if scopes.iter().any(|s| s == p.def.scope) {
                readable.push(p);
            } else {
                let why = format!("the token lacks the {} scope", p.def.scope);
                self.refuse(p.def, &why)?;
                synced.skipped.push((p.def.name, why));
            }
        }
        Ok((readable, synced))
    }

    /// Skips a stream the token may not read, with one warning saying how to fix it (or fails the
    /// run, with `on_missing_scope: fail`).
    fn refuse(&mut self, def: &'static StreamDef, why: &str) -> Result<()> {
        if self.config.fail_on_missing_scope {
            return Err(Error::Scope {
                stream: def.name.into(),
                scope: def.scope.into(),
                why: why.into(),
            });
        }
        tracing::warn!(
            stream = def.name,
            "stream skipped: {why}; to read it, give the Drift app the {} scope (developer settings, OAuth & Scopes), reinstall it and use the new token",
            def.scope
        );
        self.skip(def, why)
    }

    /// Skips the rest of a stream (its bookmark stays): the closing line lists it.
    fn skip(&mut self, def: &'static StreamDef, why: &str) -> Result<()> {
        self.tally().end(def.name, Ended::Skipped(why.into()));
        self.out.stream_end(def.name, StreamEnd::Incomplete)?;
        Ok(())
    }

    /// Runs one pass: SCHEMA of every member, the pages, then the bookmarks and a STATE; returns
    /// which of its streams were read and which skipped. While a page is written, the next one
    /// is already read and its requests on their way (one page ahead: memory stays flat).
    async fn pass(&mut self, mut pass: Pass<'_>) -> Result<Synced> {
        let org = self.client.org_id();
        for m in pass.members_mut() {
            m.shape.know_org(org);
        }
        for m in pass.members() {
            describe(self.out, m, false)?;
            self.tally().start(m.def.name);
        }
        if self.test == Some(TestMode::SchemaOnly) {
            return Ok(Synced::default());
        }
        let def = pass.def;
        tracing::info!(target: "tap_drift::progress", stream = def.name, bookmark = pass.lower(), "stream started");
        let mut pages = self.walker(&pass);
        let mut ahead = Ahead::default();
        loop {
            let mut page = match pages.next_page(&self.client).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    // the list itself is refused: every stream of the pass stops here
                    self.write_ahead(&mut pass, &mut ahead, 0).await?;
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
            pass.derive(&mut page.records);
            let (parents, stop) = pass.decide(page.records, self.test);
            let job = self.job(&mut pass, parents, pages.pages());
            ahead.start(&self.client, job);
            self.write_ahead(&mut pass, &mut ahead, PAGES_AHEAD).await?;
            if stop {
                pages.stop();
            }
        }
        self.write_ahead(&mut pass, &mut ahead, 0).await?;
        pass.progress.pages = pages.pages();
        if let Some(why) = pages.cut_short() {
            for m in pass.members_mut() {
                m.cut_short.get_or_insert_with(|| why.to_string());
            }
        }
        self.finish(&pass)
    }

    /// What a decided page needs fetched: the parents each member takes (a member skipped by
    /// now takes none), and the referenced ids not fetched yet in this run.
    fn job(&self, pass: &mut Pass<'_>, parents: Vec<TakenParent>, pages: u64) -> Job {
        let def = pass.def;
        let going = |m: &Member<'_>| m.skipped.is_none();
        let own = pass.own.as_ref().filter(|m| going(m));
        // the detail endpoint costs a request a record: only when a field it adds is selected
        let detail = def.detail.as_ref().filter(|d| {
            let selected = |f: &&str| own.is_some_and(|m| m.sel.fields.iter().any(|s| s == f));
            d.fields.iter().any(selected)
        });
        let taken = |m: &Member<'_>| -> Vec<usize> {
            Some(m.taken.clone())
                .filter(|_| going(m))
                .unwrap_or_default()
        };
        let own = own.map(taken).unwrap_or_default();
        let own = own
            .into_iter()
            .map(|i| (parents[i].record.clone(), parents[i].value))
            .collect();
        let lists = pass
            .lists
            .iter()
            .map(|m| {
                let keys = taken(m).into_iter();
                let keys = keys.map(|i| (parents[i].record[def.key].clone(), parents[i].value));
                (m.def, keys.collect())
            })
            .collect();
        let seen = &mut pass.referenced_seen;
        let refs = pass
            .refs
            .iter()
            .map(|(m, field)| {
                let ids = parents
                    .iter()
                    .filter(|_| going(m))
                    .filter_map(|p| p.record.get(*field).filter(|v| !v.is_null()).map(key_text))
                    .filter(|id| seen.insert(format!("{}:{id}", m.def.name)))
                    .collect();
                (m.def, ids)
            })
            .collect();
        Job {
            def,
            detail,
            own,
            lists,
            refs,
            page_size: self.config.page_size,
            width: self.config.max_concurrency,
            low: pass.take_low(),
            pages,
            extracted: now_rfc3339(),
        }
    }

    /// Writes the pages fetched ahead, oldest first, until at most `keep` are left.
    async fn write_ahead(
        &mut self,
        pass: &mut Pass<'_>,
        ahead: &mut Ahead,
        keep: usize,
    ) -> Result<()> {
        while ahead.len() > keep {
            let Some(page) = ahead.next().await? else {
                break;
            };
            pass.progress.pages = page.pages;
            let extracted = page.extracted;
            self.write_own(pass, page.own, &extracted)?;
            self.write_lists(pass, page.lists, &extracted).await?;
            self.write_referenced(pass, page.refs, &extracted)?;
            self.out.flush()?;
            self.after_page(pass, page.low)?;
        }
        Ok(())
    }

    /// A request of a member failed: a 403 skips the rest of that stream (its bookmark stays), with
    /// one warning, unless `on_missing_scope` is `fail`; any other error ends the run.
    fn refused(&mut self, m: &mut Member<'_>, e: Error) -> Result<()> {
        if m.skipped.is_some() {
            return matches!(e, Error::Auth { status: 403, .. })
                .then_some(())
                .ok_or(e);
        }
        match e {
            Error::Auth {
                status: 403,
                endpoint,
            } => {
                let why = format!("drift refused it (403 on {endpoint})");
                self.refuse(m.def, &why)?;
                m.skipped = Some(why);
                Ok(())
            }
            // an endpoint Drift does not serve for every account
            Error::Api {
                status: 400 | 404 | 405,
                endpoint,
                body,
            } if m.def.optional => {
                tracing::warn!(
                    stream = m.def.name,
                    "stream skipped: drift does not serve {endpoint} for this account ({body})"
                );
                let why = format!("{endpoint} not served");
                self.skip(m.def, &why)?;
                m.skipped = Some(why);
                Ok(())
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
        let mut upper = span::upper(span, self.started_ms);
        if let Some(end) = pass.upper() {
            // nothing after end_date is taken: no span asks beyond it
            upper = upper.min(end).max(lower);
        }
        pages.within(lower, upper, metrics)
    }

    /// The parents' own records, completed, written in list order.
    fn write_own(
        &mut self,
        pass: &mut Pass<'_>,
        completed: Result<Vec<Valued>>,
        extracted: &str,
    ) -> Result<()> {
        let Some(m) = pass.own.as_mut().filter(|m| m.skipped.is_none()) else {
            return Ok(());
        };
        let completed = match completed {
            Ok(c) => c,
            Err(e) => return self.refused(m, e),
        };
        let key = pass.def.key;
        for (record, value) in completed {
            emit(self.out, self.client.tally(), m, &record, extracted)?;
            m.window.saw(value, &record[key]);
        }
        Ok(())
    }

    /// Each child list, for the parents it takes: their first pages as they came, the rest page
    /// by page, written in parent order.
    async fn write_lists(
        &mut self,
        pass: &mut Pass<'_>,
        lists: Vec<Vec<Result<First>>>,
        extracted: &str,
    ) -> Result<()> {
        let parent_def = pass.def;
        for (m, firsts) in pass.lists.iter_mut().zip(lists) {
            if m.skipped.is_some() {
                continue;
            }
            let parent_key_field = match m.def.parent.map(|p| p.via) {
                Some(Child::PerParent { parent_key_field }) => parent_key_field,
                _ => parent_def.key,
            };
            if let Err(e) = self
                .write_children(m, firsts, parent_key_field, extracted)
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
        firsts: Vec<Result<First>>,
        parent_key_field: &'static str,
        extracted: &str,
    ) -> Result<()> {
        let (child, client) = (m.def, &self.client);
        for first in firsts {
            let (parent_key, value, mut pages, mut page) = first?;
            while let Some(p) = page {
                for mut record in p.records {
                    if m.full(self.test) {
                        break;
                    }
                    record.insert(parent_key_field.into(), parent_key.clone());
                    if let (Some(crk), Some(v)) = (child.replication_key, value) {
                        record.insert(crk.into(), Value::from(v));
                    }
                    emit(self.out, self.client.tally(), m, &record, extracted)?;
                }
                if m.full(self.test) {
                    break;
                }
                let id = key_text(&parent_key);
                let instead = "the parent vanished while its list was read; the rest skipped";
                page = skip_404(
                    pages.next_page(client).await,
                    client.tally(),
                    child.name,
                    &id,
                    instead,
                )?
                .flatten();
            }
            if let Some(why) = pages.cut_short() {
                let id = key_text(&parent_key);
                m.cut_short
                    .get_or_insert_with(|| format!("the list of parent {id}: {why}"));
            }
            m.window.saw(value, &parent_key);
        }
        Ok(())
    }

    /// The records the page's parents reference, each once per run.
    fn write_referenced(
        &mut self,
        pass: &mut Pass<'_>,
        refs: Vec<Referenced>,
        extracted: &str,
    ) -> Result<()> {
        for ((m, _), fetched) in pass.refs.iter_mut().zip(refs) {
            if m.skipped.is_some() {
                continue;
            }
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
                emit(self.out, self.client.tally(), m, &record, extracted)?;
            }
        }
        Ok(())
    }

    /// A checkpoint and a progress report, when due. Bookmarks themselves move only when the pass
    /// ends: no list is ascending by its key.
    fn after_page(&mut self, pass: &mut Pass<'_>, low: Low) -> Result<()> {
        let written = pass.written();
        let resumable = self.record_progress(pass, low);
        if pass.progress.checkpoint_due(written) || resumable {
            self.checkpoint()?;
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
    fn record_progress(&mut self, pass: &mut Pass<'_>, low: Low) -> bool {
        let Some((down_to, at)) = pass.commit_page(low).cloned() else {
            return false;
        };
        if self.test.is_some() {
            return false;
        }
        let mut recorded = false;
        let going = pass
            .members()
            .filter(|m| m.skipped.is_none() && m.cut_short.is_none());
        for m in going {
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
    fn finish(&mut self, pass: &Pass<'_>) -> Result<Synced> {
        tracing::info!(target: "tap_drift::progress", stream = pass.def.name, "{}", pass.how_read());
        let mut synced = Synced::default();
        for m in pass.members() {
            if let Some(why) = &m.skipped {
                synced.skipped.push((m.def.name, why.clone()));
                continue;
            }
            if let Some(why) = &m.cut_short {
                // what was read is written; the window stays, so the next run reads it again
                self.out.stream_end(m.def.name, StreamEnd::Incomplete)?;
                self.tally().end(m.def.name, Ended::CutShort(why.clone()));
                synced.cut_short.push((m.def.name, why.clone()));
                continue;
            }
            pass.progress.finished(self.tally(), m.def.name, m.records);
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
            self.tally().end(m.def.name, Ended::Complete);
            synced.read.push(m.def.name);
        }
        self.checkpoint()?;
        Ok(synced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_scopes_are_object_read_or_write() {
        for s in ["conversation_read", "all_contact_read", "user_write"] {
            assert!(is_drift_scope(s), "{s}");
        }
        for s in ["read", "write", "_read", "openid", "Conversation_Read", ""] {
            assert!(!is_drift_scope(s), "{s}");
        }
    }
}
