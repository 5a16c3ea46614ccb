//! Lists read by spans of time instead of pages: a GET whose query names the span's bounds (booked
//! meetings, at most so many a response), or a POST of a report filtered on a property between
//! them (the Conversation Reporting API, whose answer counts the matches). A span whose answer is
//! full is split in two and each half read instead, until every answer is whole (a report's answer,
//! which may hold every matching row at once, is kept on disk by the client). [`Splits`] decides
//! which spans to read and ends the splitting of a report whose `count` does not behave like a
//! count of the rows it holds back. Pure: builds requests and bodies, turns answers into records
//! and decides; the page walker sends.

use serde_json::{json, Map, Value};

use crate::drift::request::Request;

/// How a list is read by spans of time (epoch ms, both bounds inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// GET with the bounds as the query parameters `min` and `max`; at most `limit` records an
    /// answer.
    Query {
        /// The lower bound's parameter.
        min: &'static str,
        /// The upper bound's parameter.
        max: &'static str,
        /// The most records one answer holds.
        limit: u32,
        /// How far past now the span reaches (records can lie in the future), in days.
        ahead_days: u32,
    },
    /// POST a report of the records whose `property` is BETWEEN the bounds, asking for the selected
    /// fields as its metrics; the answer's `count` says how many matched.
    Report {
        /// The property filtered on.
        property: &'static str,
        /// The key of the report's rows.
        key: &'static str,
    },
}

/// The GET of a span (for a report, its POST's address; the body is [`report_body`]).
pub fn request(span: Span, path: &str, lo: i64, hi: i64) -> Request {
    match span {
        Span::Query { min, max, .. } => Request::new(path).with(min, lo).with(max, hi),
        Span::Report { .. } => Request::new(path),
    }
}

/// A report's body: the rows whose `property` is between the bounds, with these metrics.
pub fn report_body(property: &str, lo: i64, hi: i64, metrics: &[String]) -> Value {
    json!({"filters": [{"property": property, "operation": "BETWEEN", "values": [lo, hi]}],
        "metrics": metrics})
}

/// One row of a report's answer as a record: its key, and one field per metric (a metric Drift has
/// no value for, "NaN", is null).
pub fn report_record(row: Value, key: &str, metrics: &[String]) -> Value {
    let mut record = Map::new();
    record.insert(key.into(), row.get(key).cloned().unwrap_or(Value::Null));
    let values = row.get("metrics").and_then(Value::as_array);
    for (i, metric) in metrics.iter().enumerate() {
        let v = values
            .and_then(|v| v.get(i))
            .cloned()
            .unwrap_or(Value::Null);
        let nan = v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("nan"));
        record.insert(metric.clone(), if nan { Value::Null } else { v });
    }
    Value::Object(record)
}

/// The upper bound of the span a run reads, given its start.
pub fn upper(span: Span, started_ms: i64) -> i64 {
    match span {
        Span::Query { ahead_days, .. } => started_ms + i64::from(ahead_days) * 86_400_000,
        Span::Report { .. } => started_ms,
    }
}

/// Whether an answer for a span is full: more matched than it holds, so the span must be split.
pub fn full(span: Span, records: usize, count: Option<u64>) -> bool {
    match span {
        Span::Query { limit, .. } => records >= limit as usize,
        Span::Report { .. } => count.is_some_and(|c| c > records as u64),
    }
}

/// The two halves of a span, the earlier first; `None` when it cannot be split.
pub fn halves((lo, hi): (i64, i64)) -> Option<[(i64, i64); 2]> {
    (hi > lo).then(|| {
        let mid = lo + (hi - lo) / 2;
        [(lo, mid), (mid + 1, hi)]
    })
}

/// The most times a window is halved (a 26-year window ends in spans of a fifth of a second; a
/// span of one millisecond is never halved).
pub const MOST_HALVINGS: u32 = 32;

/// What one span's answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    /// The answer's `count`, when it carried one.
    count: Option<u64>,
    /// The records (rows) it held.
    rows: u64,
}

/// Where a span to read stands among the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    /// The window itself, or a span of a list read by query (never paired).
    Whole,
    /// The earlier half of a report's span, with the answer of the span halved.
    Early(Answer),
    /// The later half (read right after the earlier one).
    Late,
}

/// A span still to read.
#[derive(Debug, Clone, Copy)]
struct Todo {
    bounds: (i64, i64),
    /// How many halvings made it.
    depth: u32,
    half: Half,
}

/// The spans of one window still to read, and what the answers so far say about splitting them.
///
/// A list read by query splits a full answer at once and drops it (its halves answer every record
/// again). A report's rows are always kept (the walker sends each key once), and its halves are
/// read in pairs before either is split further, so that each pair is checked against the answer
/// it halves: the halves of a span cannot count more together than the span did (a count that
/// does, such as one that stays the same whatever the span, counts something else), and every
/// answer short of its count holds as many rows as the first one did (the most an answer holds:
/// one that holds another number was not cut there). Once a check fails nothing more is split;
/// nor is a span of one millisecond, or one halved [`MOST_HALVINGS`] times. The spans already
/// waiting are still read, and [`Splits::shortfall`] says why rows may be missing. So a report
/// whose count never matches its rows costs three requests, whatever its window.
#[derive(Debug)]
pub struct Splits {
    span: Span,
    todo: Vec<Todo>,
    current: Option<Todo>,
    /// The earlier half of the pair being read, its answer, and the answer of the span it halves.
    early: Option<(Todo, Answer, Answer)>,
    /// The rows an answer short of its count holds (the first such answer's).
    cap: Option<u64>,
    /// Whether a report's answers still behave as counted (else nothing more is split).
    trusted: bool,
    /// The window's own answer.
    window: Option<Answer>,
    /// Why an answer short of its count was kept as it is (the first reason), if one was.
    short: Option<String>,
}

impl Splits {
    /// The window from `lo` to `hi` (epoch ms, inclusive), to read as `span` says.
    pub fn new(span: Span, lo: i64, hi: i64) -> Splits {
        let window = Todo {
            bounds: (lo, hi),
            depth: 0,
            half: Half::Whole,
        };
        Splits {
            span,
            todo: vec![window],
            current: None,
            early: None,
            cap: None,
            trusted: true,
            window: None,
            short: None,
        }
    }

    /// The next span to read (`None` once every span is read).
    pub fn next_span(&mut self) -> Option<(i64, i64)> {
        self.current = self.todo.pop();
        self.current.map(|t| t.bounds)
    }

    /// The answer for the span `next_span` gave: `true` when its records are kept, `false` when it was
    /// split and its halves are read instead.
    pub fn answered(&mut self, count: Option<u64>, rows: u64) -> bool {
        let Some(todo) = self.current.take() else {
            return true;
        };
        let answer = Answer { count, rows };
        let full = full(self.span, rows as usize, count);
        if let Span::Query { .. } = self.span {
            if full && self.split(todo, answer) {
                return false;
            }
            if full {
                self.note("more records at one instant than Drift answers at once");
            }
            return true;
        }
        self.window.get_or_insert(answer);
        if full {
            self.cap.get_or_insert(rows);
        }
        match todo.half {
            Half::Whole if full => self.split_or_note(todo, answer),
            Half::Whole => {}
            Half::Early(parent) => self.early = Some((todo, answer, parent)),
            Half::Late => self.pair_answered(todo, answer),
        }
        true
    }

    /// Both halves of a report's span answered: checked against the span's answer, then each half
    /// short of its count is split, while the answers behave as counted.
    fn pair_answered(&mut self, late: Todo, late_answer: Answer) {
        let Some((early, early_answer, parent)) = self.early.take() else {
            return;
        };
        let halves = [(late, late_answer), (early, early_answer)];
        if let (Some(e), Some(l), Some(p)) = (early_answer.count, late_answer.count, parent.count) {
            if e + l > p {
                self.distrust(format!(
                    "the halves of a span counted more than the span ({e} + {l} > {p}), so the count is not the number of rows held back"
                ));
            }
        }
        for (_, answer) in halves {
            let odd = self.cap.filter(|cap| *cap != answer.rows);
            if let (true, Some(cap)) = (full(self.span, answer.rows as usize, answer.count), odd) {
                self.distrust(format!(
                    "answers short of their count held {cap} and {} rows, so the count is no sign of rows held back",
                    answer.rows
                ));
            }
        }
        for (todo, answer) in halves {
            if full(self.span, answer.rows as usize, answer.count) {
                self.split_or_note(todo, answer);
            }
        }
    }

    /// Splits a report's span short of its count, if the answers behave as counted and it can be.
    fn split_or_note(&mut self, todo: Todo, answer: Answer) {
        if self.trusted && !self.split(todo, answer) {
            self.note("more rows within one millisecond (or a span halved too often) than an answer holds");
        }
    }

    /// Puts the halves of a span to read next (the earlier first); `false` when it cannot be
    /// halved (one millisecond, or halved too often).
    fn split(&mut self, todo: Todo, answer: Answer) -> bool {
        let Some([early, late]) = halves(todo.bounds).filter(|_| todo.depth < MOST_HALVINGS) else {
            return false;
        };
        let (early_half, late_half) = match self.span {
            Span::Query { .. } => (Half::Whole, Half::Whole),
            Span::Report { .. } => (Half::Early(answer), Half::Late),
        };
        let depth = todo.depth + 1;
        self.todo.push(Todo {
            bounds: late,
            depth,
            half: late_half,
        });
        self.todo.push(Todo {
            bounds: early,
            depth,
            half: early_half,
        });
        true
    }

    /// The answers stopped behaving as counted: nothing more is split.
    fn distrust(&mut self, why: String) {
        self.trusted = false;
        self.note(&why);
    }

    fn note(&mut self, why: &str) {
        self.short.get_or_insert_with(|| why.to_string());
    }

    /// Once every span is read: why answers short of their count were kept as they were, with
    /// the window's own count (for a report), if any was.
    pub fn shortfall(&self) -> Option<(&str, Option<u64>)> {
        let count = self.window.and_then(|w| w.count);
        self.short.as_deref().map(|why| (why, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_become_records_with_nan_as_null() {
        let metrics = vec!["updatedAt".to_string(), "timeToCloseMillis".to_string()];
        let row = json!({"conversationId": 5, "metrics": [10, "NaN"]});
        assert_eq!(
            report_record(row, "conversationId", &metrics),
            json!({"conversationId": 5, "updatedAt": 10, "timeToCloseMillis": null})
        );
        let report = Span::Report {
            property: "updatedAt",
            key: "conversationId",
        };
        assert!(full(report, 1, Some(3)));
        assert!(!full(report, 3, Some(3)));
        assert_eq!(
            report_body("updatedAt", 1, 2, &metrics)["filters"][0]["values"],
            json!([1, 2])
        );
    }

    #[test]
    fn spans_split_until_they_cannot() {
        assert_eq!(halves((0, 10)), Some([(0, 5), (6, 10)]));
        assert_eq!(halves((7, 8)), Some([(7, 7), (8, 8)]));
        assert_eq!(halves((7, 7)), None);
        let meetings = Span::Query {
            min: "min_start_time",
            max: "max_start_time",
            limit: 2,
            ahead_days: 1,
        };
        assert_eq!(upper(meetings, 0), 86_400_000);
        assert!(full(meetings, 2, None));
        assert_eq!(
            request(meetings, "/users/meetings/org", 1, 9).to_string(),
            "/users/meetings/org?min_start_time=1&max_start_time=9"
        );
    }

    const REPORT: Span = Span::Report {
        property: "updatedAt",
        key: "conversationId",
    };

    /// What a walk did: the spans asked for, the rows kept, and the shortfall.
    type Walked = (Vec<(i64, i64)>, Vec<i64>, Option<(String, Option<u64>)>);

    /// Reads a window as [`Splits`] decides, each span answered by `answer` (its count and the
    /// times of its rows): the spans asked for, the rows kept, and the shortfall.
    fn walk(
        span: Span,
        (lo, hi): (i64, i64),
        answer: impl Fn((i64, i64)) -> (Option<u64>, Vec<i64>),
    ) -> Walked {
        let mut splits = Splits::new(span, lo, hi);
        let (mut asked, mut kept) = (Vec::new(), Vec::new());
        while let Some(bounds) = splits.next_span() {
            asked.push(bounds);
            let (count, rows) = answer(bounds);
            if splits.answered(count, rows.len() as u64) {
                kept.extend(rows);
            }
            assert!(asked.len() < 10_000, "the split ends");
        }
        kept.sort_unstable();
        kept.dedup();
        let short = splits.shortfall().map(|(w, c)| (w.to_string(), c));
        (asked, kept, short)
    }

    /// A report over rows at these times, answering at most `cap` rows and a count of `extra`
    /// more than it matched.
    fn report(
        times: &[i64],
        cap: usize,
        extra: u64,
    ) -> impl Fn((i64, i64)) -> (Option<u64>, Vec<i64>) + '_ {
        move |(lo, hi)| {
            let matched: Vec<i64> = times
                .iter()
                .copied()
                .filter(|t| lo <= *t && *t <= hi)
                .collect();
            let count = matched.len() as u64 + extra;
            (Some(count), matched.into_iter().take(cap).collect())
        }
    }

    #[test]
    fn a_report_cut_at_a_fixed_number_of_rows_is_split_until_every_row_came() {
        let times: Vec<i64> = (0..40).map(|i| i * i * 7).collect();
        let (asked, kept, short) = walk(REPORT, (0, 20_000), report(&times, 3, 0));
        assert_eq!(kept, times);
        assert_eq!(short, None);
        assert!(asked.len() < 80, "{} requests", asked.len());
        // every row of one millisecond: no halving helps, and one warning says so
        let same = [5, 5, 5, 5, 5];
        let (_, kept, short) = walk(REPORT, (0, 1 << 20), report(&same, 2, 0));
        assert_eq!(kept, [5]);
        assert!(short.unwrap().0.contains("one millisecond"));
    }

    #[test]
    fn a_count_that_never_matches_costs_three_requests_whatever_the_window() {
        // Drift's own example: a count of 48 with one row, the same whatever the span
        let example = |_: (i64, i64)| (Some(48), vec![7]);
        let (asked, kept, short) = walk(REPORT, (0, 820_000_000_000), example);
        assert_eq!(asked.len(), 3);
        assert_eq!(kept, [7]);
        let (why, count) = short.unwrap();
        assert!(why.contains("48 + 48 > 48"), "{why}");
        assert_eq!(count, Some(48));
        // a count always some rows above the rows answered, all of which come
        let times: Vec<i64> = (0..300).map(|i| i * 1_000).collect();
        let (asked, kept, short) = walk(REPORT, (0, i64::MAX / 2), report(&times, usize::MAX, 47));
        assert_eq!(asked.len(), 3);
        assert_eq!(kept, times);
        assert!(short.is_some());
        // a count of rows the report never answers (additive): answers short by other numbers
        let hidden = |(lo, hi): (i64, i64)| {
            let (count, rows) = report(&times, usize::MAX, 0)((lo, hi));
            (count.map(|c| c * 2), rows)
        };
        let (asked, kept, short) = walk(REPORT, (0, 400_000), hidden);
        assert_eq!(asked.len(), 3);
        assert_eq!(kept, times);
        assert!(short.unwrap().0.contains("held 300 and"));
    }

    #[test]
    fn every_row_in_one_half_is_split_further_not_mistaken_for_a_bad_count() {
        // the later half holds nothing: the earlier one counts what the whole did
        let times: Vec<i64> = (0..12).collect();
        let (asked, kept, short) = walk(REPORT, (0, 1 << 30), report(&times, 4, 0));
        assert_eq!(kept, times);
        assert_eq!(short, None);
        assert!(asked.len() < 2 * 31 + 8, "{}", asked.len());
    }

    #[test]
    fn a_query_splits_full_answers_and_drops_them() {
        let meetings = Span::Query {
            min: "min_start_time",
            max: "max_start_time",
            limit: 2,
            ahead_days: 1,
        };
        let times = [1, 2, 3, 9, 9, 9];
        let answer = |(lo, hi): (i64, i64)| {
            let rows: Vec<i64> = times
                .iter()
                .copied()
                .filter(|t| lo <= *t && *t <= hi)
                .take(2)
                .collect();
            (None, rows)
        };
        let (_, kept, short) = walk(meetings, (0, 15), answer);
        assert_eq!(kept, [1, 2, 3, 9]);
        assert!(short.unwrap().0.contains("one instant"));
    }
}
