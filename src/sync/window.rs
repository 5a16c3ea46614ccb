//! The bookmark window of one stream in one pass: which records it takes (inclusive lower bound,
//! minus the records an earlier run already wrote at exactly that bound), and where its bookmark
//! goes afterwards (the highest value seen, capped at the sync's start, with the keys written at
//! that value). Pure: no I/O, no clock; the caller supplies the cap.

use serde_json::Value;

/// One stream's window over its (or its parent's) replication key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookmarkWindow {
    /// Inclusive lower bound; `None` reads everything.
    lower: Option<i64>,
    /// Keys written at exactly `lower` by an earlier run (the state's `boundary_keys`).
    boundary_keys: Vec<Value>,
    /// The highest value taken in this pass.
    max_seen: Option<i64>,
    /// The keys taken at exactly `max_seen`.
    at_max: Vec<Value>,
}

impl BookmarkWindow {
    /// A window from `lower` on, knowing the keys already written at exactly `lower`.
    pub fn new(lower: Option<i64>, boundary_keys: Vec<Value>) -> BookmarkWindow {
        BookmarkWindow {
            lower,
            boundary_keys,
            ..BookmarkWindow::default()
        }
    }

    /// The inclusive lower bound.
    pub fn lower(&self) -> Option<i64> {
        self.lower
    }

    /// Whether a record with replication value `value` and key `key` is in the window. A record
    /// without a value is always taken.
    pub fn accepts(&self, value: Option<i64>, key: &Value) -> bool {
        match (self.lower, value) {
            (Some(l), Some(v)) => v > l || (v == l && !self.boundary_keys.contains(key)),
            _ => true,
        }
    }

    /// Notes a record taken (written) with this value and key.
    pub fn saw(&mut self, value: Option<i64>, key: &Value) {
        let Some(v) = value else { return };
        if self.max_seen.is_none_or(|m| v > m) {
            self.max_seen = Some(v);
            self.at_max.clear();
        }
        if self.max_seen == Some(v) && !self.at_max.contains(key) {
            self.at_max.push(key.clone());
        }
    }

    /// The bookmark this pass earned: the highest value taken, capped at `cap` (the sync's start,
    /// so records changed during the run come again next time), with the keys taken at exactly
    /// that value (none when capped). `None` when nothing with a value was taken.
    pub fn bookmark(&self, cap: i64) -> Option<(i64, Vec<Value>)> {
        let seen = self.max_seen?;
        Some(if seen <= cap {
            (seen, self.at_max.clone())
        } else {
            (cap, Vec::new())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_lower_bound_is_inclusive_except_for_keys_already_written() {
        let w = BookmarkWindow::new(Some(10), vec![json!(1)]);
        assert!(!w.accepts(Some(9), &json!(5)));
        assert!(!w.accepts(Some(10), &json!(1)));
        assert!(w.accepts(Some(10), &json!(2)));
        assert!(w.accepts(Some(11), &json!(1)));
        assert!(w.accepts(None, &json!(1)));
        assert!(BookmarkWindow::new(None, vec![]).accepts(Some(0), &json!(1)));
    }

    #[test]
    fn the_bookmark_is_the_max_with_its_keys_and_capped() {
        let mut w = BookmarkWindow::new(Some(10), vec![]);
        assert_eq!(w.bookmark(100), None);
        for (v, k) in [(12, 1), (15, 2), (11, 3), (15, 4), (15, 2)] {
            w.saw(Some(v), &json!(k));
        }
        w.saw(None, &json!(9));
        assert_eq!(w.bookmark(100), Some((15, vec![json!(2), json!(4)])));
        assert_eq!(w.bookmark(14), Some((14, vec![])));
        assert_eq!(w.bookmark(15), Some((15, vec![json!(2), json!(4)])));
    }

    proptest! {
        #[test]
        fn the_bookmark_does_not_depend_on_the_order_records_come_in(
            mut seen in prop::collection::vec((0i64..50, 0u32..20), 0..40),
            cap in 0i64..60,
        ) {
            let run = |items: &[(i64, u32)]| {
                let mut w = BookmarkWindow::new(None, vec![]);
                for (v, k) in items {
                    w.saw(Some(*v), &json!(k));
                }
                w.bookmark(cap).map(|(v, mut keys)| {
                    keys.sort_by_key(|k| k.as_u64());
                    (v, keys)
                })
            };
            let forward = run(&seen);
            seen.reverse();
            prop_assert_eq!(run(&seen), forward.clone());
            if let Some((v, _)) = forward {
                prop_assert!(v <= cap);
                prop_assert_eq!(Some(v.min(cap)), seen.iter().map(|s| s.0.min(cap)).max());
            }
        }
    }
}
