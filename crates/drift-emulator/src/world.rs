//! The emulator's mutable world: the generated [`Dataset`] plus a small overlay of changed and added
//! records, so tests can move update times, change fields and add records without the dataset ever
//! being held in memory. Changed and added records carry a timestamp newer than the whole dataset.
//! The collections it holds are those of `collections.rs`. Meetings are served around the world's
//! "now", fixed when the world is made. Knows nothing of HTTP.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::collections::{spec, Of, Spec, COLLECTIONS};
use crate::data::{Dataset, EPOCH_END_MS};
use crate::data_more::MEETINGS_HORIZON_MS;
use crate::variants::{swapped, Variants};

#[derive(Debug, Default)]
struct Changes {
    /// index → new update time (indices ≥ the dataset's count are added records)
    updated: BTreeMap<u32, i64>,
    added: u32,
    /// Records deleted from Drift (gone from the list, 404 by id).
    deleted: BTreeSet<u32>,
    /// With loose order: a changed record the next read misses, and the read that misses it.
    lagging: Option<(u32, u64)>,
    /// Reads of the list so far (a read starts with a request without a cursor).
    reads: u64,
}

/// Dataset + overlay.
#[derive(Debug)]
pub struct World {
    data: Dataset,
    changes: Vec<Changes>,
    variants: Variants,
    /// Serve values of the wrong JSON type in every 10th conversation (a fault switch).
    wrong_types: bool,
    /// The emulator's "now" (epoch ms), fixed when it started: meetings are placed around it.
    now_ms: i64,
}

/// The collection whose indices, deletions and changes `spec` has: its own, or those of the one
/// its records are made from.
fn base(spec: &Spec) -> &Spec {
    spec.of
        .and_then(|o| self::spec(o.collection))
        .unwrap_or(spec)
}

fn slot(spec: &Spec) -> usize {
    let spec = base(spec);
    COLLECTIONS
        .iter()
        .position(|s| std::ptr::eq(s, spec))
        .unwrap_or_default()
}

impl World {
    /// A world with no changes yet, whose "now" is `now_ms`.
    pub fn new(data: Dataset, variants: Variants, wrong_types: bool, now_ms: i64) -> World {
        World {
            data,
            changes: COLLECTIONS.iter().map(|_| Changes::default()).collect(),
            variants,
            wrong_types,
            now_ms,
        }
    }

    /// The world's "now" (epoch ms), fixed when it was made.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The switches this world plays.
    pub fn variants(&self) -> &Variants {
        &self.variants
    }

    /// Starts a new read of a list (its first page was asked for): its number.
    pub fn begin_read(&mut self, spec: &Spec) -> u64 {
        let changes = &mut self.changes[slot(spec)];
        changes.reads += 1;
        changes.reads
    }

    /// The generated dataset underneath.
    pub fn dataset(&self) -> &Dataset {
        &self.data
    }

    fn changes(&self, spec: &Spec) -> &Changes {
        &self.changes[slot(spec)]
    }

    /// Records of a collection the dataset generates.
    fn generated(&self, spec: &Spec) -> u32 {
        (base(spec).count)(&self.data)
    }

    /// Records of a collection ever generated or added (deleted ones included: indices stay).
    pub fn count(&self, spec: &Spec) -> u32 {
        self.generated(spec) + self.changes(spec).added
    }

    /// The record a read misses, if it misses one.
    fn hidden(&self, spec: &Spec, read: u64) -> Option<u32> {
        self.changes(spec)
            .lagging
            .filter(|(_, r)| *r == read)
            .map(|(i, _)| i)
    }

    /// How many records a list serves during read number `read`.
    pub fn listed(&self, spec: &Spec, read: u64) -> u32 {
        let gone = self.changes(spec).deleted.len() as u32;
        self.count(spec) - gone - u32::from(self.hidden(spec, read).is_some())
    }

    /// The generation index of the record a list serves at `position` during read `read`: in list
    /// order (loosely, with that switch), without deleted records, without a lagging one.
    pub fn list_index(&self, spec: &Spec, position: u32, read: u64) -> u32 {
        let position = if self.variants.loose_order && base(spec).newest_first {
            swapped(position, self.listed(spec, read))
        } else {
            position
        };
        // skip, in the full order, the positions of the deleted records and of a lagging one
        let mut excluded: Vec<u32> = self.changes(spec).deleted.iter().copied().collect();
        excluded.extend(self.hidden(spec, read));
        let mut skipped: Vec<u32> = excluded
            .iter()
            .map(|i| self.position_of(spec, *i))
            .collect();
        skipped.sort_unstable();
        let mut full = position;
        for p in skipped {
            if p <= full {
                full += 1;
            }
        }
        self.at_position(spec, full)
    }

    /// The position of generation index `i` in the full list order (the inverse of
    /// [`World::at_position`]).
    fn position_of(&self, spec: &Spec, i: u32) -> u32 {
        if !base(spec).newest_first {
            return i;
        }
        let changed = &self.changes(spec).updated;
        if let Some(at) = changed.get(&i) {
            // changed records come first, newest first (ties: highest index first)
            return changed.iter().filter(|(j, t)| (*t, *j) > (at, &i)).count() as u32;
        }
        let base = self.generated(spec);
        let unchanged_above = (base - i - 1) - changed.range(i + 1..base).count() as u32;
        changed.len() as u32 + unchanged_above
    }

    /// The i-th record (by generation index), with changes applied.
    pub fn record(&self, spec: &Spec, i: u32, full: bool) -> Value {
        if let Some(of) = spec.of {
            return self.made(of, i);
        }
        let mut v = (spec.record)(self, i, full);
        self.variants.shape(spec.name, &mut v);
        if self.wrong_types && spec.name == "conversations" && i % 10 == 0 {
            v["inboxId"] = json!(v["inboxId"].to_string());
            v["orgId"] = json!("n/a");
            v["status"] = json!(3);
        }
        self.apply_changes(spec, i, &mut v);
        v
    }

    /// The i-th record with changes applied but no switch nor fault (as Drift's own reporting
    /// sees it).
    pub fn plain(&self, spec: &Spec, i: u32, full: bool) -> Value {
        if let Some(of) = spec.of {
            return self.made(of, i);
        }
        let mut v = (spec.record)(self, i, full);
        self.apply_changes(spec, i, &mut v);
        v
    }

    /// The record made from the i-th record of the collection `of` names, as served (null if it
    /// makes none).
    fn made(&self, of: Of, i: u32) -> Value {
        spec(of.collection)
            .and_then(|from| (of.make)(&self.data, &self.record(from, i, true), i))
            .unwrap_or(Value::Null)
    }

    fn apply_changes(&self, spec: &Spec, i: u32, v: &mut Value) {
        if let Some(at) = self.changes(spec).updated.get(&i) {
            if let Some(field) = spec.updated {
                v[field] = json!(at);
            }
            if i < self.generated(spec) {
                (spec.change)(v);
            } else if let Some(created) = spec.created {
                v[created] = json!(at);
            }
        }
    }

    /// The generation indices of a collection's records that are not deleted, in index order.
    pub fn live<'a>(&'a self, spec: &'a Spec) -> impl Iterator<Item = u32> + 'a {
        let deleted = &self.changes(spec).deleted;
        (0..self.count(spec)).filter(move |i| !deleted.contains(i))
    }

    /// The meetings Drift serves for a window: not deleted, `slotStart` within `[min, max]` and
    /// not more than 30 days before now, in `slotStart` order (no page cap).
    pub fn meetings(&self, min: i64, max: i64) -> Vec<Value> {
        let Some(spec) = spec("meetings") else {
            return Vec::new();
        };
        let from = min.max(self.now_ms - MEETINGS_HORIZON_MS);
        let mut served: Vec<Value> = self
            .live(spec)
            .map(|i| self.record(spec, i, true))
            .filter(|m| {
                m["slotStart"]
                    .as_i64()
                    .is_some_and(|t| from <= t && t <= max)
            })
            .collect();
        served.sort_by_key(|m| m["slotStart"].as_i64());
        served
    }

    /// The index of a record by its key (`None` for a deleted one).
    pub fn index_of(&self, spec: &Spec, key: &str) -> Option<u32> {
        (base(spec).index)(self, key)
            .filter(|i| *i < self.count(spec) && !self.changes(spec).deleted.contains(i))
    }

    /// Deletes these records (by generation index) from Drift.
    pub fn delete(&mut self, spec: &Spec, indices: &[u32]) {
        let count = self.count(spec);
        let changes = &mut self.changes[slot(spec)];
        changes
            .deleted
            .extend(indices.iter().filter(|i| **i < count));
    }

    /// With loose order, the first record changed after a read is missed by the next read.
    fn lag(&mut self, spec: &Spec, index: u32) {
        if self.variants.loose_order && base(spec).newest_first {
            let changes = &mut self.changes[slot(spec)];
            let next_read = changes.reads + 1;
            if changes.lagging.is_none_or(|(_, r)| r != next_read) {
                changes.lagging = Some((index, next_read));
            }
        }
    }

    /// Changes these records: a new update time `at` (after the whole dataset) and one changed field.
    pub fn touch(&mut self, spec: &Spec, indices: &[u32], at: i64) {
        let at = at.max(EPOCH_END_MS + 1);
        let count = self.generated(spec);
        let changes = &mut self.changes[slot(spec)];
        for &i in indices.iter().filter(|i| **i < count) {
            changes.updated.insert(i, at);
        }
        if let Some(&first) = indices.iter().find(|i| **i < count) {
            self.lag(spec, first);
        }
    }

    /// Adds `m` records updated (and created) at `at`.
    pub fn add(&mut self, spec: &Spec, m: u32, at: i64) {
        let at = at.max(EPOCH_END_MS + 1);
        let first = self.count(spec);
        let changes = &mut self.changes[slot(spec)];
        for i in first..first + m {
            changes.updated.insert(i, at);
        }
        changes.added += m;
        if m > 0 {
            self.lag(spec, first);
        }
    }

    /// Keys of the records (not deleted) whose update time is at or after `since_ms`.
    pub fn changed_since(&self, spec: &Spec, since_ms: i64) -> Vec<Value> {
        self.live(spec)
            .map(|i| self.record(spec, i, false))
            .filter(|r| {
                spec.updated
                    .and_then(|field| r[field].as_i64())
                    .is_some_and(|t| t >= since_ms)
            })
            .map(|r| r[spec.key].clone())
            .collect()
    }

    /// The generation index at a position of a list. A newest-first list has the changed records
    /// (all newer than the dataset) by time, then the rest by index, highest first; other lists go
    /// by index.
    pub fn at_position(&self, spec: &Spec, position: u32) -> u32 {
        if !base(spec).newest_first {
            return position;
        }
        let changed = &self.changes(spec).updated;
        if (position as usize) < changed.len() {
            let mut by_time: Vec<(i64, u32)> = changed.iter().map(|(i, t)| (*t, *i)).collect();
            by_time.sort_unstable_by(|a, b| b.cmp(a));
            return by_time[position as usize].1;
        }
        // the q-th unchanged base index from the top: the largest idx whose count of unchanged
        // indices in [idx, base) exceeds q
        let q = position - changed.len() as u32;
        let base = self.generated(spec);
        let unchanged_from = |idx: u32| (base - idx) - changed.range(idx..base).count() as u32;
        let (mut lo, mut hi) = (0u32, base.saturating_sub(1));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if unchanged_from(mid) > q {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// The messages of the conversation with generation index `i`, oldest first; a changed
    /// conversation has one more message, created when it changed.
    pub fn messages(&self, i: u32) -> Vec<Value> {
        let Some(spec) = spec("conversations") else {
            return Vec::new();
        };
        let conversation = self.record(spec, i, true);
        let created = conversation["createdAt"].as_i64().unwrap_or_default();
        let base_updated = self.data.conversation(i, false)["updatedAt"]
            .as_i64()
            .unwrap_or(created);
        let k = self.data.message_count(i);
        let mut all: Vec<Value> = (0..k)
            .map(|j| {
                let at = created + (base_updated - created) * i64::from(j) / i64::from(k.max(1));
                self.data.message(&conversation, i, j, at)
            })
            .collect();
        if i < self.data.conversations {
            if let Some(at) = self.changes(spec).updated.get(&i) {
                all.push(self.data.message(&conversation, i, k, *at));
            }
        }
        for m in &mut all {
            self.variants.shape("messages", m);
        }
        all
    }

    /// The records a list serves during read `read`, full, in list order (of a collection made
    /// from another's, those made).
    pub fn served(&self, spec: &Spec, read: u64) -> Vec<Value> {
        (0..self.listed(spec, read))
            .map(|p| self.record(spec, self.list_index(spec, p, read), true))
            .filter(|r| !r.is_null())
            .collect()
    }

    /// Every record of a collection, full, in list order (as a read that misses nothing serves
    /// it): the emulator's truth for tests.
    pub fn all(&self, spec: &Spec) -> Vec<Value> {
        self.served(spec, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_order_stays_newest_first_after_changes() {
        let mut w = World::new(
            Dataset {
                seed: 1,
                users: 3,
                accounts: 4,
                conversations: 50,
                ..Dataset::default()
            },
            Variants::default(),
            false,
            0,
        );
        let conversations = spec("conversations").unwrap();
        w.touch(conversations, &[3, 40, 7], EPOCH_END_MS + 10);
        w.add(conversations, 2, EPOCH_END_MS + 20);
        let all = w.all(conversations);
        assert_eq!(all.len(), 52);
        let times: Vec<i64> = all
            .iter()
            .map(|c| c["updatedAt"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|p| p[0] >= p[1]), "{times:?}");
        let ids: std::collections::HashSet<String> =
            all.iter().map(|c| c["id"].to_string()).collect();
        assert_eq!(ids.len(), 52);
        assert_eq!(w.changed_since(conversations, EPOCH_END_MS + 1).len(), 5);
        // keys map back to their records, added ones included
        for (p, c) in all.iter().enumerate() {
            let key = c["id"].to_string();
            assert_eq!(
                w.index_of(conversations, &key),
                Some(w.at_position(conversations, p as u32))
            );
        }
        assert_eq!(spec("nope").map(|s| s.name), None);
    }

    #[test]
    fn a_loose_list_swaps_neighbours_and_lags_one_read() {
        let data = Dataset {
            seed: 1,
            conversations: 30,
            ..Dataset::default()
        };
        let loose = Variants {
            loose_order: true,
            ..Variants::default()
        };
        let mut w = World::new(data, loose, false, 0);
        let conversations = spec("conversations").unwrap();
        w.touch(conversations, &[2, 5], EPOCH_END_MS + 10);
        let read = w.begin_read(conversations);
        assert_eq!(w.listed(conversations, read), 29, "one record lags");
        let served: Vec<u32> = (0..29)
            .map(|p| w.list_index(conversations, p, read))
            .collect();
        assert!(!served.contains(&2), "the first record changed is missing");
        let times: Vec<i64> = served
            .iter()
            .map(|i| {
                w.record(conversations, *i, false)["updatedAt"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert!(times.windows(2).any(|p| p[0] < p[1]), "neighbours swapped");
        let next = w.begin_read(conversations);
        assert_eq!(w.listed(conversations, next), 30, "the next read sees it");
        w.delete(conversations, &[7]);
        assert_eq!(w.listed(conversations, next), 29);
        assert_eq!(w.index_of(conversations, &data_id(&w, 7)), None);
    }

    fn data_id(w: &World, i: u32) -> String {
        w.dataset().conversation_id(i).to_string()
    }
}
