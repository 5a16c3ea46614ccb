//! What one pass over a top-level stream's list decides, page by page, for the stream itself and
//! its selected children: which streams take each parent record of a page (their windows), whether
//! the list is in its documented order, whether the walk may stop, how far down a newest-first list
//! the pass has got (for resuming), and which referenced ids are already written. Pure: no I/O, no
//! clock, no output; the run (`run.rs`) fetches, writes and moves bookmarks around these decisions.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::drift::page::Order;
use crate::drift::read::key_text;
use crate::singer::catalog::Selected;
use crate::streams::{Child, StreamDef};
use crate::sync::progress::Progress;
use crate::sync::shape::Shape;
use crate::sync::window::BookmarkWindow;
use crate::sync::TestMode;

/// One selected stream of a pass, with its window and what it has written.
pub struct Member<'s> {
    /// The selection.
    pub sel: &'s Selected,
    /// The stream.
    pub def: &'static StreamDef,
    /// Which records it takes, and its bookmark-to-be.
    pub window: BookmarkWindow,
    /// The version its records carry when it is read whole.
    pub(super) version: Option<i64>,
    /// Records written in this pass.
    pub(super) records: u64,
    /// The positions of this page's parents it takes.
    pub(super) taken: Vec<usize>,
    /// The shape its records leave in.
    pub(super) shape: Shape,
    /// Why the rest of it is skipped in this pass (Drift refused it, or does not serve it).
    pub(super) skipped: Option<String>,
    /// Why a list it reads ended early in this pass, if one did: its bookmark does not move.
    pub(super) cut_short: Option<String>,
}

impl<'s> Member<'s> {
    /// A member reading `sel` through `window`, its records carrying `version` if any.
    pub fn new(
        sel: &'s Selected,
        def: &'static StreamDef,
        window: BookmarkWindow,
        version: Option<i64>,
        shape: Shape,
    ) -> Member<'s> {
        Member {
            sel,
            def,
            window,
            version,
            records: 0,
            taken: Vec::new(),
            shape,
            skipped: None,
            cut_short: None,
        }
    }

    pub(super) fn full(&self, test: Option<TestMode>) -> bool {
        test == Some(TestMode::OneRecord) && self.records >= 1
    }

    pub(super) fn takes(&self, value: Option<i64>, key: &Value, test: Option<TestMode>) -> bool {
        self.skipped.is_none() && self.window.accepts(value, key) && !self.full(test)
    }
}

/// A parent record of the current page that at least one member takes.
pub(super) struct TakenParent {
    pub(super) record: Map<String, Value>,
    /// Its replication key value.
    pub(super) value: Option<i64>,
}

/// The streams of one pass.
pub struct Pass<'s> {
    pub(super) def: &'static StreamDef,
    pub(super) own: Option<Member<'s>>,
    /// Child streams with a list per parent.
    pub(super) lists: Vec<Member<'s>>,
    /// Child streams referenced by a parent field.
    pub(super) refs: Vec<(Member<'s>, &'static str)>,
    /// Referenced ids written in this run.
    pub(super) referenced_seen: HashSet<String>,
    pub(super) progress: Progress,
    /// The last record of the list seen so far (key, replication value), to check the order.
    pub(super) last: Option<(Value, i64)>,
    /// Whether the list was seen out of its documented order.
    pub(super) order_broken: bool,
    /// Whether the walk stopped before the end of the list.
    pub(super) stopped_early: bool,
    /// The lowest value on the page being decided, with its keys (a newest-first list in order).
    pub(super) page_low: Option<(i64, Vec<Value>)>,
    /// Everything of the list from the top down to this value (and these keys at it) is written.
    pub(super) handled: Option<(i64, Vec<Value>)>,
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
    pub(super) fn note_low(&mut self, key: &Value, value: Option<i64>) {
        let Some(v) = value else { return };
        match &mut self.page_low {
            Some((low, keys)) if *low == v => keys.push(key.clone()),
            Some((low, _)) if *low < v => {}
            _ => self.page_low = Some((v, vec![key.clone()])),
        }
    }

    /// The lowest value of the page just decided, with its keys, to hand back to
    /// [`Pass::commit_page`] once that page is written: the next page may be decided before.
    pub(super) fn take_low(&mut self) -> Option<(i64, Vec<Value>)> {
        self.page_low.take()
    }

    /// The page whose lowest value is `low` is written: everything down to it is handled. Returns
    /// how far the pass has got, while its newest-first list is in order (else there is no telling;
    /// a page decided since that broke the order counts too).
    pub(super) fn commit_page(
        &mut self,
        low: Option<(i64, Vec<Value>)>,
    ) -> Option<&(i64, Vec<Value>)> {
        if let Some((v, keys)) = low {
            match &mut self.handled {
                Some((h, at)) if *h == v => at.extend(keys),
                _ => self.handled = Some((v, keys)),
            }
        }
        let ordered = self.def.list.order == Order::Descending && !self.order_broken;
        self.handled.as_ref().filter(|_| ordered)
    }

    pub(super) fn members(&self) -> impl Iterator<Item = &Member<'s>> {
        let refs = self.refs.iter().map(|(m, _)| m);
        self.own.iter().chain(self.lists.iter()).chain(refs)
    }

    pub(super) fn members_mut(&mut self) -> impl Iterator<Item = &mut Member<'s>> {
        let refs = self.refs.iter_mut().map(|(m, _)| m);
        self.own.iter_mut().chain(self.lists.iter_mut()).chain(refs)
    }

    /// The pass reads down to the lowest bound of the streams that filter by the parent's key.
    pub(super) fn lower(&self) -> Option<i64> {
        self.bounds(BookmarkWindow::lower)?.into_iter().min()
    }

    /// The pass reads up to the highest bound (`end_date`) of the streams that filter by the
    /// parent's key: none when one of them is read whole.
    pub(super) fn upper(&self) -> Option<i64> {
        self.bounds(BookmarkWindow::upper)?.into_iter().max()
    }

    /// One bound of each stream that filters by the parent's key; `None` when there is none, or
    /// one of them has no such bound.
    fn bounds(&self, of: fn(&BookmarkWindow) -> Option<i64>) -> Option<Vec<i64>> {
        let bounded: Option<Vec<i64>> = self
            .own
            .iter()
            .chain(self.lists.iter())
            .map(|m| of(&m.window))
            .collect();
        bounded.filter(|b| !b.is_empty())
    }

    /// Checks a descending list's order across pages: the first record newer than the one before
    /// it breaks it (one warning naming both), and from then on the whole list is read.
    pub(super) fn check_order(&mut self, key: &Value, value: Option<i64>) {
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
    pub(super) fn reaches_below(&self, records: &[Map<String, Value>]) -> bool {
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
    pub(super) fn decide(
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
    pub(super) fn note_written_references(
        &mut self,
        record: &Map<String, Value>,
        value: Option<i64>,
    ) {
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
    pub(super) fn how_read(&self) -> String {
        match (self.def.list.order, self.order_broken, self.stopped_early) {
            (_, _, true) => format!("stopped early after {} pages", self.progress.pages),
            (Order::Descending, true, _) => "read the whole list: order not strict".into(),
            _ => "read the whole list".into(),
        }
    }

    /// Makes the field the tap derives for each record (the key, when Drift documents none); a
    /// record the state remembers under the key an earlier version made is remembered under the
    /// new one.
    pub(super) fn derive(&mut self, records: &mut [Map<String, Value>]) {
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

    pub(super) fn written(&self) -> u64 {
        self.members().map(|m| m.records).sum()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{Config, TimestampFormat};
    use crate::singer::catalog::select_all;

    /// Every stream selected, as a catalog-less run selects them.
    fn all() -> &'static [Selected] {
        let known = crate::discover::known(TimestampFormat::EpochMs).unwrap();
        Box::leak(select_all(&known).into_boxed_slice())
    }

    fn member(name: &str, bookmark: Option<i64>) -> Member<'static> {
        let sel = all().iter().find(|s| s.name == name).unwrap();
        let def = crate::streams::find(name).unwrap();
        let window = BookmarkWindow::new(bookmark, None, Vec::new(), 0, i64::MAX);
        let config = Config::from_raw(
            serde_json::json!({"access_token": "t"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        Member::new(sel, def, window, None, Shape::new(sel, def, &config, &[]))
    }

    /// A pass over conversations (a newest-first list) with messages and contacts.
    fn conversations(own: Option<i64>, messages: Option<i64>) -> Pass<'static> {
        let def = crate::streams::find("conversations").unwrap();
        let kids = vec![member("messages", messages), member("contacts", None)];
        Pass::new(def, Some(member("conversations", own)), kids)
    }

    #[test]
    fn end_date_bounds_the_pass_only_when_every_stream_filtering_by_its_key_has_it() {
        let end = |m: Member<'static>| Member {
            window: m.window.until(Some(2_000)),
            ..m
        };
        let def = crate::streams::find("conversations").unwrap();
        let kids = vec![end(member("messages", None))];
        let bounded = Pass::new(def, Some(end(member("conversations", None))), kids);
        assert_eq!(bounded.upper(), Some(2_000));
        // messages read whole: their pass asks for every conversation, whatever end_date
        let kids = vec![member("messages", None)];
        let whole = Pass::new(def, Some(end(member("conversations", None))), kids);
        assert_eq!(whole.upper(), None);
        assert_eq!(conversations(Some(5), Some(3)).lower(), Some(3));
        assert_eq!(conversations(Some(5), None).lower(), None);
    }

    fn page(updated: &[(i64, i64)]) -> Vec<Map<String, Value>> {
        updated
            .iter()
            .map(
                |(id, at)| match json!({"id": id, "updatedAt": at, "contactId": id + 100}) {
                    Value::Object(m) => m,
                    _ => unreachable!(),
                },
            )
            .collect()
    }

    #[test]
    fn a_pass_reads_down_to_the_lowest_window_of_the_streams_that_filter_by_the_parent() {
        assert_eq!(conversations(Some(500), Some(300)).lower(), Some(300));
        // a child without a bookmark needs the whole list
        assert_eq!(conversations(Some(500), None).lower(), None);
    }

    #[test]
    fn records_below_every_window_are_not_taken_and_end_an_ordered_list() {
        let mut pass = conversations(Some(350), Some(350));
        let (parents, stop) = pass.decide(page(&[(1, 500), (2, 400), (3, 300)]), None);
        let ids: Vec<&Value> = parents.iter().map(|p| &p.record["id"]).collect();
        assert_eq!(ids, [&json!(1), &json!(2)]);
        assert!(stop);
        assert_eq!(pass.own.as_ref().unwrap().taken, [0, 1]);
        assert_eq!(pass.lists[0].taken, [0, 1]);
        assert!(pass.how_read().starts_with("stopped early"));
    }

    #[test]
    fn each_member_takes_only_what_its_own_window_holds() {
        let mut pass = conversations(Some(450), Some(350));
        let (parents, stop) = pass.decide(page(&[(1, 500), (2, 400)]), None);
        assert_eq!(parents.len(), 2);
        assert!(!stop);
        assert_eq!(pass.own.as_ref().unwrap().taken, [0]);
        assert_eq!(pass.lists[0].taken, [0, 1]);
    }

    #[test]
    fn a_record_newer_than_the_one_before_breaks_the_order_and_the_walk_goes_on() {
        let mut pass = conversations(Some(350), Some(350));
        let (_, stop) = pass.decide(page(&[(1, 500), (2, 400)]), None);
        assert!(!stop);
        let low = pass.take_low();
        assert!(pass.commit_page(low).is_some());
        // the next page starts newer than the last record: the list is not in order
        let (parents, stop) = pass.decide(page(&[(3, 450), (4, 300)]), None);
        assert_eq!(parents.len(), 1);
        assert!(!stop, "an unordered list is read to its end");
        let low = pass.take_low();
        assert!(
            pass.commit_page(low).is_none(),
            "no resume point without order"
        );
        assert_eq!(pass.how_read(), "read the whole list: order not strict");
    }

    #[test]
    fn a_committed_page_says_how_far_down_the_list_the_pass_has_got() {
        let mut pass = conversations(None, None);
        pass.decide(page(&[(1, 500), (2, 400), (3, 400)]), None);
        let low = pass.take_low();
        assert_eq!(
            pass.commit_page(low),
            Some(&(400, vec![json!(2), json!(3)]))
        );
        pass.decide(page(&[(4, 400), (5, 200)]), None);
        let low = pass.take_low();
        assert_eq!(pass.commit_page(low), Some(&(200, vec![json!(5)])));
    }

    #[test]
    fn a_page_decided_ahead_claims_nothing_until_it_is_committed() {
        let mut pass = conversations(None, None);
        pass.decide(page(&[(1, 500), (2, 400)]), None);
        let first = pass.take_low();
        // the next page is decided while the first is being written
        pass.decide(page(&[(3, 300), (4, 200)]), None);
        let second = pass.take_low();
        assert_eq!(pass.commit_page(first), Some(&(400, vec![json!(2)])));
        assert_eq!(pass.commit_page(second), Some(&(200, vec![json!(4)])));
    }

    #[test]
    fn a_page_reaches_below_only_an_ordered_list_with_every_window_bounded() {
        let pass = conversations(Some(350), Some(300));
        assert!(pass.reaches_below(&page(&[(1, 500), (2, 299)])));
        assert!(!pass.reaches_below(&page(&[(1, 500), (2, 300)])));
        assert!(!conversations(Some(350), None).reaches_below(&page(&[(2, 1)])));
    }

    #[test]
    fn a_connection_test_takes_one_parent_and_stops() {
        let mut pass = conversations(None, None);
        let (parents, stop) = pass.decide(page(&[(1, 500), (2, 400)]), Some(TestMode::OneRecord));
        assert_eq!(parents.len(), 1);
        assert!(stop);
        assert!(pass.lists.iter().all(|m| m.taken == [0]));
    }

    #[test]
    fn a_parent_taken_only_for_its_references_is_still_a_parent() {
        // contacts alone: a pass without its own stream or per-parent lists takes every parent
        let def = crate::streams::find("conversations").unwrap();
        let mut pass = Pass::new(def, None, vec![member("contacts", None)]);
        let (parents, _) = pass.decide(page(&[(1, 500), (2, 400)]), None);
        assert_eq!(parents.len(), 2);
        assert_eq!(pass.refs.len(), 1);
        assert_eq!(pass.refs[0].1, "contactId");
    }
}
