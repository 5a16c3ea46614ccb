//! The emulator's mutable world: the generated [`Dataset`] plus a small overlay of changed and added
//! records, so tests can move update times, change fields and add records without the dataset ever
//! being held in memory. Changed and added records carry a timestamp newer than the whole dataset.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::data::{Dataset, EPOCH_END_MS};

/// The three emulated collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GET /accounts
    Accounts,
    /// GET /conversations/list
    Conversations,
    /// GET /users/list
    Users,
}

impl Kind {
    /// The stream of the same name.
    pub fn from_stream(stream: &str) -> Option<Kind> {
        match stream {
            "accounts" => Some(Kind::Accounts),
            "conversations" => Some(Kind::Conversations),
            "users" => Some(Kind::Users),
            _ => None,
        }
    }
    fn key(self) -> &'static str {
        match self {
            Kind::Accounts => "accountId",
            _ => "id",
        }
    }
    fn replication_key(self) -> &'static str {
        match self {
            Kind::Accounts => "updateDateTime",
            _ => "updatedAt",
        }
    }
}

#[derive(Debug, Default)]
struct Changes {
    /// index → new update time (indices ≥ the dataset's count are added records)
    updated: BTreeMap<u32, i64>,
    added: u32,
}

/// Dataset + overlay.
#[derive(Debug)]
pub struct World {
    data: Dataset,
    changes: [Changes; 3],
    /// Serve values of the wrong JSON type in every 10th conversation (see `Faults::wrong_types`).
    wrong_types: bool,
}

fn slot(kind: Kind) -> usize {
    kind as usize
}

impl World {
    /// A world with no changes yet.
    pub fn new(data: Dataset, wrong_types: bool) -> World {
        World {
            data,
            changes: Default::default(),
            wrong_types,
        }
    }

    /// The generated dataset underneath.
    pub fn dataset(&self) -> &Dataset {
        &self.data
    }

    fn base_count(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Accounts => self.data.accounts,
            Kind::Conversations => self.data.conversations,
            Kind::Users => self.data.users,
        }
    }

    /// Records of a kind, changes included.
    pub fn count(&self, kind: Kind) -> u32 {
        self.base_count(kind) + self.changes[slot(kind)].added
    }

    /// The i-th record (by generation index), with changes applied.
    pub fn record(&self, kind: Kind, i: u32, full: bool) -> Value {
        let mut v = match kind {
            Kind::Accounts => self.data.account(i),
            Kind::Conversations => self.data.conversation(i, full),
            Kind::Users => self.data.user(i),
        };
        if self.wrong_types && kind == Kind::Conversations && i % 10 == 0 {
            v["inboxId"] = json!(v["inboxId"].to_string());
            v["orgId"] = json!("n/a");
            v["status"] = json!(3);
        }
        if let Some(at) = self.changes[slot(kind)].updated.get(&i) {
            v[kind.replication_key()] = json!(at);
            if i >= self.base_count(kind) {
                let created = if kind == Kind::Accounts {
                    "createDateTime"
                } else {
                    "createdAt"
                };
                v[created] = json!(at);
            } else {
                match kind {
                    Kind::Accounts => {
                        v["name"] = json!(format!(
                            "{} (renamed)",
                            v["name"].as_str().unwrap_or_default()
                        ))
                    }
                    Kind::Conversations => {
                        v["status"] = json!(if v["status"] == "open" {
                            "closed"
                        } else {
                            "open"
                        })
                    }
                    Kind::Users => {
                        v["availability"] = json!(if v["availability"] == "AVAILABLE" {
                            "OFFLINE"
                        } else {
                            "AVAILABLE"
                        })
                    }
                }
            }
        }
        v
    }

    /// The index of a record by its key.
    pub fn index_of(&self, kind: Kind, key: &str) -> Option<u32> {
        match kind {
            Kind::Conversations => {
                let id: i64 = key.parse().ok()?;
                let off = id.checked_sub(self.data.conversation_id(0))?;
                (off >= 0 && off % 3 == 0 && off / 3 < i64::from(self.count(kind)))
                    .then_some((off / 3) as u32)
            }
            Kind::Accounts => (0..self.count(kind)).find(|i| self.data.account_id(*i) == key),
            Kind::Users => (0..self.count(kind)).find(|i| self.data.user_id(*i).to_string() == key),
        }
    }

    /// Changes these records: a new update time `at` (after the whole dataset) and one changed field.
    pub fn touch(&mut self, kind: Kind, indices: &[u32], at: i64) {
        let at = at.max(EPOCH_END_MS + 1);
        let count = self.base_count(kind);
        for &i in indices.iter().filter(|i| **i < count) {
            self.changes[slot(kind)].updated.insert(i, at);
        }
    }

    /// Adds `m` records updated (and created) at `at`.
    pub fn add(&mut self, kind: Kind, m: u32, at: i64) {
        let at = at.max(EPOCH_END_MS + 1);
        let first = self.count(kind);
        for i in first..first + m {
            self.changes[slot(kind)].updated.insert(i, at);
        }
        self.changes[slot(kind)].added += m;
    }

    /// Keys of the records whose replication key is at or after `since_ms`.
    pub fn changed_since(&self, kind: Kind, since_ms: i64) -> Vec<Value> {
        (0..self.count(kind))
            .map(|i| self.record(kind, i, false))
            .filter(|r| {
                r[kind.replication_key()]
                    .as_i64()
                    .is_some_and(|t| t >= since_ms)
            })
            .map(|r| r[kind.key()].clone())
            .collect()
    }

    /// The generation index at a position of a list. Conversations are listed newest updated
    /// first: the changed ones (all newer than the dataset) by time, then the rest by index, highest
    /// first. Accounts and users are listed by index.
    pub fn at_position(&self, kind: Kind, position: u32) -> u32 {
        if kind != Kind::Conversations {
            return position;
        }
        let changed = &self.changes[slot(kind)].updated;
        if (position as usize) < changed.len() {
            let mut by_time: Vec<(i64, u32)> = changed.iter().map(|(i, t)| (*t, *i)).collect();
            by_time.sort_unstable_by(|a, b| b.cmp(a));
            return by_time[position as usize].1;
        }
        // the q-th unchanged base index from the top: the largest idx whose count of unchanged
        // indices in [idx, base) exceeds q
        let q = position - changed.len() as u32;
        let base = self.base_count(kind);
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
        let conversation = self.record(Kind::Conversations, i, true);
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
        if i < self.base_count(Kind::Conversations) {
            if let Some(at) = self.changes[slot(Kind::Conversations)].updated.get(&i) {
                all.push(self.data.message(&conversation, i, k, *at));
            }
        }
        all
    }

    /// Every record of a kind, full, in list order: the emulator's truth for tests.
    pub fn all(&self, kind: Kind) -> Vec<Value> {
        (0..self.count(kind))
            .map(|p| self.record(kind, self.at_position(kind, p), true))
            .collect()
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
            },
            false,
        );
        w.touch(Kind::Conversations, &[3, 40, 7], EPOCH_END_MS + 10);
        w.add(Kind::Conversations, 2, EPOCH_END_MS + 20);
        let all = w.all(Kind::Conversations);
        assert_eq!(all.len(), 52);
        let times: Vec<i64> = all
            .iter()
            .map(|c| c["updatedAt"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|p| p[0] >= p[1]), "{times:?}");
        let ids: std::collections::HashSet<String> =
            all.iter().map(|c| c["id"].to_string()).collect();
        assert_eq!(ids.len(), 52);
        assert_eq!(
            w.changed_since(Kind::Conversations, EPOCH_END_MS + 1).len(),
            5
        );
    }
}
