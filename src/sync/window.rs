//! The bookmark window of one stream in one pass: which records it takes, and where its bookmark
//! goes afterwards. It reads from the bookmark minus a lookback (so a record that reached Drift's
//! list late is still read), and skips every record the state remembers sending: the same key with
//! the same replication value. Afterwards the bookmark is the highest value taken, capped at the
//! sync's start, and the state remembers the records sent within the lookback of it. A pass that
//! did not finish left its [`ResumePoint`] in the state: the window it worked on and how far down its
//! newest-first list it had written everything; a window resumed from it skips those records
//! (unchanged since: same key, a value below that run's start) and ends as the whole pass would
//! have. Pure: no I/O, no clock; the caller supplies the cap (the sync's start).

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};

/// At most this many (key, value) pairs are remembered; past it the oldest are forgotten, which
/// can only make a record come twice, never make one be missed.
const MAX_REMEMBERED: usize = 10_000;

/// A record already sent: its key and replication value.
pub type Sent = (Value, i64);

/// How far an unfinished pass got, as the state keeps it under the stream's bookmark (`pass`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    /// The window's lower bound.
    pub lower: Option<i64>,
    /// That run's start: records changed since have a higher value.
    pub cap: i64,
    /// Every record of the list with a value from here up to the cap was written…
    pub down_to: i64,
    /// …and, of those at exactly `down_to`, these keys.
    pub at: Vec<Value>,
    /// The highest value written.
    pub max: Option<i64>,
    /// The records written within the lookback of `max`.
    pub sent: Vec<Sent>,
}

fn pairs(value: Option<&Value>) -> Vec<Sent> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get(0)?.clone(), p.get(1)?.as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

impl ResumePoint {
    /// As the state keeps it.
    pub fn to_value(&self) -> Value {
        let sent: Vec<Value> = self.sent.iter().map(|(k, v)| json!([k, v])).collect();
        json!({"lower": self.lower, "cap": self.cap, "down_to": self.down_to, "at": self.at,
            "max": self.max, "sent": sent})
    }

    /// From the state (`None` when it is not one).
    pub fn from_value(v: &Value) -> Option<ResumePoint> {
        Some(ResumePoint {
            lower: v.get("lower").and_then(Value::as_i64),
            cap: v.get("cap")?.as_i64()?,
            down_to: v.get("down_to")?.as_i64()?,
            at: v
                .get("at")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            max: v.get("max").and_then(Value::as_i64),
            sent: pairs(v.get("sent")),
        })
    }

    /// Whether the unfinished pass wrote this record already (and it has not changed since).
    fn covers(&self, value: i64, key: &Value) -> bool {
        value < self.cap
            && (value > self.down_to || (value == self.down_to && self.at.contains(key)))
    }
}

/// One stream's window over its (or its parent's) replication key.
#[derive(Debug, Clone, Default)]
pub struct BookmarkWindow {
    /// Inclusive lower bound; `None` reads everything.
    lower: Option<i64>,
    /// How far behind its bookmark the window starts, in ms.
    lookback_ms: i64,
    /// No bookmark goes past this (the sync's start, or `end_date` when earlier).
    cap: i64,
    /// No record with a value above this is taken (`end_date`).
    upper: Option<i64>,
    /// The pairs an earlier run sent (from the state), as (key text, value).
    sent: HashSet<(String, i64)>,
    /// The same pairs, to remember again if they stay within the lookback.
    carried: Vec<Sent>,
    /// The highest value taken in this pass.
    max_seen: Option<i64>,
    /// Pairs taken in this pass within the lookback of `max_seen`, by value.
    taken: BTreeMap<i64, Vec<Value>>,
    taken_count: usize,
    /// The unfinished pass this window resumes, if any.
    resumed: Option<ResumePoint>,
}

impl BookmarkWindow {
    /// A window reading from `bookmark − lookback_ms` (else from `start`, else everything),
    /// knowing the pairs already `sent`, whose bookmark will not pass `cap`.
    pub fn new(
        bookmark: Option<i64>,
        start: Option<i64>,
        sent: Vec<Sent>,
        lookback_ms: i64,
        cap: i64,
    ) -> Self {
        BookmarkWindow {
            lower: bookmark.map(|b| b.saturating_sub(lookback_ms)).or(start),
            lookback_ms,
            cap,
            sent: sent.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            carried: sent,
            ..BookmarkWindow::default()
        }
    }

    /// The same window, resuming an unfinished pass: its lower bound, and the records it wrote.
    pub fn resuming(mut self, progress: Option<ResumePoint>) -> Self {
        if let Some(p) = &progress {
            self.lower = p.lower;
        }
        self.resumed = progress;
        self
    }

    /// How far this pass has got, for the state, once it has written everything down to
    /// `down_to` (the keys at exactly that value in `at`).
    pub fn progress(&self, down_to: i64, at: &[Value]) -> ResumePoint {
        let max = self.max_seen.max(self.resumed.as_ref().and_then(|p| p.max));
        let sent = self.recent(max.unwrap_or(i64::MIN));
        ResumePoint {
            lower: self.lower,
            cap: self.cap,
            down_to,
            at: at.to_vec(),
            max,
            sent,
        }
    }

    /// A window that reads everything and remembers nothing (FULL_TABLE).
    pub fn everything() -> Self {
        BookmarkWindow {
            cap: i64::MAX,
            ..BookmarkWindow::default()
        }
    }

    /// The same window, taking no record with a value after `end` (and so moving no bookmark
    /// past it).
    pub fn until(mut self, end: Option<i64>) -> Self {
        self.upper = end;
        if let Some(e) = end {
            self.cap = self.cap.min(e);
        }
        self
    }

    /// The inclusive upper bound (`end_date`), if any.
    pub fn upper(&self) -> Option<i64> {
        self.upper
    }

    /// The inclusive lower bound.
    pub fn lower(&self) -> Option<i64> {
        self.lower
    }

    /// Whether a record with replication value `value` and key `key` is in the window and not
    /// already sent. A record without a value is always taken.
    pub fn accepts(&self, value: Option<i64>, key: &Value) -> bool {
        match (self.lower, value) {
            (Some(l), Some(v)) if v < l => false,
            (_, Some(v)) if self.upper.is_some_and(|u| v > u) => false,
            (_, Some(v)) if self.resumed.as_ref().is_some_and(|p| p.covers(v, key)) => false,
            (_, Some(v)) => !self.sent.contains(&(key.to_string(), v)),
            (_, None) => true,
        }
    }

    /// A record whose key an earlier version of the tap made otherwise (`legacy`): a pair the state
    /// remembers under that key is remembered under `key` instead, so the record is recognised as
    /// sent (not sent again under its new key) and the next state remembers the new key.
    pub fn adopt(&mut self, legacy: &Value, key: &Value, value: Option<i64>) {
        let Some(v) = value else { return };
        if legacy == key || !self.sent.remove(&(legacy.to_string(), v)) {
            return;
        }
        self.sent.insert((key.to_string(), v));
        for pair in &mut self.carried {
            if pair.0 == *legacy && pair.1 == v {
                pair.0 = key.clone();
            }
        }
    }

    /// Whether the unfinished pass this window resumes wrote this record already.
    pub fn already_written(&self, value: Option<i64>, key: &Value) -> bool {
        value.is_some_and(|v| self.resumed.as_ref().is_some_and(|p| p.covers(v, key)))
    }

    /// Notes a record taken (written) with this value and key.
    pub fn saw(&mut self, value: Option<i64>, key: &Value) {
        let Some(v) = value else { return };
        if self.max_seen.is_none_or(|m| v > m) {
            self.max_seen = Some(v);
        }
        let keys = self.taken.entry(v).or_default();
        if !keys.contains(key) {
            keys.push(key.clone());
            self.taken_count += 1;
        }
        self.forget_old();
    }

    /// Drops pairs below the lookback of the highest value, and the oldest past the cap.
    fn forget_old(&mut self) {
        let Some(max) = self.max_seen else { return };
        let floor = max.min(self.cap).saturating_sub(self.lookback_ms);
        while let Some((&oldest, keys)) = self.taken.first_key_value() {
            if oldest >= floor && self.taken_count <= MAX_REMEMBERED {
                break;
            }
            self.taken_count -= keys.len();
            self.taken.pop_first();
        }
    }

    /// The bookmark this pass earned: the highest value taken (by it, or by the pass it resumes),
    /// capped (at the sync's start, so records changed during the run come again next time), with
    /// the pairs sent within the lookback of it (this pass's and the remembered ones). `None` when
    /// nothing with a value was taken: the bookmark and what it remembers stay as they were.
    pub fn bookmark(&self) -> Option<(i64, Vec<Sent>)> {
        let max = self
            .max_seen
            .max(self.resumed.as_ref().and_then(|p| p.max))?;
        let bookmark = max.min(self.cap);
        Some((bookmark, self.recent(bookmark)))
    }

    /// The pairs sent within the lookback of `bookmark`: this pass's, the unfinished pass's and the
    /// remembered ones, without repeats, at most [`MAX_REMEMBERED`] (the newest).
    fn recent(&self, bookmark: i64) -> Vec<Sent> {
        let floor = bookmark.saturating_sub(self.lookback_ms);
        let mut recent: Vec<Sent> = self
            .taken
            .range(floor..)
            .flat_map(|(v, keys)| keys.iter().map(|k| (k.clone(), *v)))
            .collect();
        let mut mine: HashSet<(String, i64)> =
            recent.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let earlier = self.resumed.iter().flat_map(|p| p.sent.iter());
        for (k, v) in earlier.chain(self.carried.iter()) {
            if *v >= floor && mine.insert((k.to_string(), *v)) {
                recent.push((k.clone(), *v));
            }
        }
        if recent.len() > MAX_REMEMBERED {
            recent.sort_by_key(|(_, v)| std::cmp::Reverse(*v));
            recent.truncate(MAX_REMEMBERED);
        }
        recent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_window_reaches_back_and_skips_what_was_sent() {
        let w = BookmarkWindow::new(
            Some(1_000),
            None,
            vec![(json!(1), 1_000), (json!(2), 900)],
            300,
            5_000,
        );
        assert_eq!(w.lower(), Some(700));
        assert!(!w.accepts(Some(699), &json!(5)));
        assert!(w.accepts(Some(700), &json!(5)), "within the lookback");
        assert!(!w.accepts(Some(1_000), &json!(1)), "sent at that value");
        assert!(w.accepts(Some(1_001), &json!(1)), "changed since");
        assert!(!w.accepts(Some(900), &json!(2)));
        assert!(w.accepts(Some(1_000), &json!(2)));
        assert!(w.accepts(None, &json!(1)));
        assert!(BookmarkWindow::everything().accepts(Some(0), &json!(1)));
        let start = BookmarkWindow::new(None, Some(50), vec![], 300, 5_000);
        assert_eq!(start.lower(), Some(50), "start_date has no lookback");
    }

    #[test]
    fn end_date_takes_nothing_after_it_and_caps_the_bookmark() {
        let mut w = BookmarkWindow::new(None, None, vec![], 0, 5_000).until(Some(2_000));
        assert!(w.accepts(Some(2_000), &json!(1)), "inclusive");
        assert!(!w.accepts(Some(2_001), &json!(2)));
        assert!(w.accepts(None, &json!(3)), "no value: taken");
        w.saw(Some(2_000), &json!(1));
        assert_eq!(w.bookmark().map(|b| b.0), Some(2_000));
        let later = BookmarkWindow::new(None, None, vec![], 0, 1_000).until(Some(2_000));
        assert_eq!(later.cap, 1_000, "the sync's start caps it when earlier");
    }

    #[test]
    fn the_bookmark_is_the_max_capped_and_remembers_the_lookback() {
        let window = |cap| {
            let mut w =
                BookmarkWindow::new(Some(10), None, vec![(json!(9), 10), (json!(8), 2)], 5, cap);
            for (v, k) in [(12, 1), (15, 2), (11, 3), (15, 4), (15, 2), (3, 7)] {
                w.saw(Some(v), &json!(k));
            }
            w
        };
        assert!(BookmarkWindow::new(Some(10), None, vec![], 5, 100)
            .bookmark()
            .is_none());
        let mut w = window(100);
        w.saw(None, &json!(9));
        let (bm, mut recent) = w.bookmark().unwrap();
        recent.sort_by_key(|(k, v)| (*v, k.as_u64()));
        assert_eq!(bm, 15);
        assert_eq!(
            recent,
            vec![
                (json!(9), 10),
                (json!(3), 11),
                (json!(1), 12),
                (json!(2), 15),
                (json!(4), 15)
            ]
        );
        let (capped, recent) = window(13).bookmark().unwrap();
        assert_eq!(capped, 13);
        assert!(
            recent.contains(&(json!(2), 15)),
            "changed during the run: skipped next time if unchanged"
        );
    }

    #[test]
    fn a_pair_remembered_under_an_old_key_is_recognised_and_kept_under_the_new_one() {
        let mut w = BookmarkWindow::new(
            Some(1_000),
            None,
            vec![(json!("evt-1"), 1_200), (json!("evt-2"), 1_300)],
            300,
            5_000,
        );
        assert!(w.accepts(Some(1_200), &json!("new-1")), "before adoption");
        w.adopt(&json!("evt-1"), &json!("new-1"), Some(1_200));
        w.adopt(&json!("evt-3"), &json!("new-3"), Some(1_200));
        w.adopt(&json!("evt-2"), &json!("new-2"), Some(1_301));
        assert!(!w.accepts(Some(1_200), &json!("new-1")), "sent before");
        assert!(w.accepts(Some(1_200), &json!("new-3")), "never sent");
        assert!(w.accepts(Some(1_301), &json!("new-2")), "moved since");
        w.saw(Some(1_400), &json!("new-4"));
        let (_, mut recent) = w.bookmark().unwrap();
        recent.sort_by_key(|(_, v)| *v);
        assert_eq!(
            recent,
            vec![
                (json!("new-1"), 1_200),
                (json!("evt-2"), 1_300),
                (json!("new-4"), 1_400)
            ]
        );
    }

    #[test]
    fn without_lookback_it_remembers_only_the_boundary() {
        let mut w = BookmarkWindow::new(None, None, vec![], 0, 100);
        for (v, k) in [(5, 1), (7, 2), (7, 3), (6, 4)] {
            w.saw(Some(v), &json!(k));
        }
        assert_eq!(w.bookmark(), Some((7, vec![(json!(2), 7), (json!(3), 7)])));
    }

    #[test]
    fn a_resumed_window_skips_what_the_unfinished_pass_wrote_and_ends_as_it_would_have() {
        let progress = ResumePoint {
            lower: Some(100),
            cap: 1_000,
            down_to: 500,
            at: vec![json!(7)],
            max: Some(900),
            sent: vec![(json!(1), 900)],
        };
        let back = ResumePoint::from_value(&progress.to_value()).unwrap();
        assert_eq!(back, progress);
        let w = BookmarkWindow::new(Some(400), None, vec![], 300, 2_000).resuming(Some(progress));
        assert_eq!(w.lower(), Some(100), "the unfinished pass's window");
        assert!(
            !w.accepts(Some(700), &json!(2)),
            "written by the unfinished pass"
        );
        assert!(!w.accepts(Some(500), &json!(7)));
        assert!(
            w.accepts(Some(500), &json!(8)),
            "at the cut, not written yet"
        );
        assert!(w.accepts(Some(499), &json!(2)), "below the cut");
        assert!(
            w.accepts(Some(1_500), &json!(2)),
            "changed since that run began"
        );
        assert!(!w.accepts(Some(99), &json!(2)));
        assert_eq!(
            w.bookmark(),
            Some((900, vec![(json!(1), 900)])),
            "as if it had not been stopped"
        );
    }

    proptest! {
        #[test]
        fn the_bookmark_does_not_depend_on_the_order_records_come_in(
            mut seen in prop::collection::vec((0i64..50, 0u32..20), 0..40),
            cap in 0i64..60,
            lookback in 0i64..10,
        ) {
            let run = |items: &[(i64, u32)]| {
                let mut w = BookmarkWindow::new(None, None, vec![], lookback, cap);
                for (v, k) in items {
                    w.saw(Some(*v), &json!(k));
                }
                w.bookmark().map(|(v, mut keys)| {
                    keys.sort_by_key(|(k, v)| (*v, k.as_u64()));
                    (v, keys)
                })
            };
            let forward = run(&seen);
            seen.reverse();
            prop_assert_eq!(run(&seen), forward.clone());
            if let Some((v, recent)) = forward {
                prop_assert!(v <= cap);
                prop_assert_eq!(Some(v), seen.iter().map(|s| s.0.min(cap)).max());
                // everything remembered is within the lookback, and nothing in it was forgotten
                prop_assert!(recent.iter().all(|(_, r)| *r >= v - lookback));
                let expected = seen.iter().filter(|s| s.0 >= v - lookback)
                    .map(|s| (s.1, s.0)).collect::<HashSet<_>>().len();
                prop_assert_eq!(recent.len(), expected);
            }
        }
    }
}
