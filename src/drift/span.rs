//! Lists read by spans of time instead of pages: a GET whose query names the span's bounds (booked
//! meetings, at most so many a response), or a POST of a report filtered on a property between
//! them (the Conversation Reporting API, whose answer counts the matches). A span whose answer is
//! full is split in two and each half read instead, until every answer is whole (a report's answer,
//! which may hold every matching row at once, is kept on disk by the client). Pure: builds requests
//! and bodies and turns answers into records; the page walker sends.

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
}
