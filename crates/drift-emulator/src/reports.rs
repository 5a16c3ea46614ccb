//! Drift's reporting endpoint, `POST /reports/conversations`: one row of metrics per conversation
//! of the world (changes included, deleted ones excluded) whose `updatedAt` is within the
//! request's `BETWEEN` filter, metrics in the order asked for, `"NaN"` where a metric has no value
//! (or, with the `bare_nan` switch, bare `NaN` tokens, which is not JSON). Also the emulator's truth
//! of those metrics for tests (`"NaN"` as null). Owns only the report; the world's records are
//! `world.rs`', the other endpoints `routes.rs`'. Drift's limit of 60 report calls a minute is not
//! emulated.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::collections::Spec;
use crate::rng::Rng;
use crate::routes::error;
use crate::world::World;
use crate::{collection, lock, Shared};

/// Every metric the report knows, by name.
pub const METRICS: &[&str] = &[
    "updatedAt",
    "createdAt",
    "timeToCloseMillis",
    "timeToAgentResponseMillis",
    "firstAgentMessageAt",
    "numAgentMessages",
    "numBotMessages",
    "numEndUserMessages",
    "endUserId",
    "lastAgentId",
    "relatedPlaybookId",
    "meaningfulConversation",
    "firstCloseAt",
];

/// What a report request asks for: conversations updated within `[from, to]`, these metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The earliest update time (epoch ms), inclusive.
    pub from: i64,
    /// The latest update time (epoch ms), inclusive.
    pub to: i64,
    /// The metrics, in the order of each row's values.
    pub metrics: Vec<String>,
}

/// What a report needs to know of one conversation.
struct Facts {
    created: i64,
    updated: i64,
    closed: bool,
    contact: Option<i64>,
    playbook: Option<i64>,
    agent: i64,
    bot: i64,
    end_user: i64,
    first_agent_at: Option<i64>,
    last_agent: Option<i64>,
    response: Option<i64>,
}

/// The request body, validated: an `updatedAt` `BETWEEN` filter with two numbers, and known
/// metric names. The error is the message of a 400.
pub fn parse(body: &[u8]) -> Result<Ask, String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let between = body["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["property"] == "updatedAt" && f["operation"] == "BETWEEN")
        .ok_or("a filter on updatedAt with operation BETWEEN is required")?;
    let bounds: Vec<i64> = between["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    let [from, to] = bounds[..] else {
        return Err("the updatedAt BETWEEN filter needs two epoch-millisecond values".into());
    };
    let names = body["metrics"]
        .as_array()
        .ok_or("metrics must be an array of metric names")?;
    let mut metrics = Vec::new();
    for name in names {
        match name.as_str() {
            Some(n) if METRICS.contains(&n) => metrics.push(n.to_string()),
            _ => {
                let shown = name
                    .as_str()
                    .map_or_else(|| name.to_string(), str::to_string);
                return Err(format!("unknown metric {shown}"));
            }
        }
    }
    Ok(Ask { from, to, metrics })
}

/// The facts of the conversation with generation index `i`.
fn facts(w: &World, spec: &Spec, i: u32) -> Facts {
    let c = w.plain(spec, i, true);
    let (mut agent, mut bot, mut end_user) = (0, 0, 0);
    let (mut first_agent_at, mut last_agent) = (None, None);
    for m in w.messages(i) {
        let author = &m["author"];
        if author["type"] == "contact" {
            end_user += 1;
        } else if author["bot"] == true {
            bot += 1;
        } else {
            agent += 1;
            first_agent_at = first_agent_at.or(m["createdAt"].as_i64());
            last_agent = author["id"].as_i64().or(last_agent);
        }
    }
    let mut r = Rng::new(w.dataset().seed, 20, i);
    Facts {
        created: c["createdAt"].as_i64().unwrap_or_default(),
        updated: c["updatedAt"].as_i64().unwrap_or_default(),
        closed: c["status"] == "closed",
        contact: c["contactId"].as_i64(),
        playbook: c["relatedPlaybookId"].as_i64(),
        agent,
        bot,
        end_user,
        first_agent_at,
        last_agent,
        response: (i % 5 != 4).then(|| r.between(5_000, 3_600_000)),
    }
}

/// A metric's value (`None`: NaN), or `Err` for a name the report does not know.
fn value(f: &Facts, name: &str) -> Result<Option<i64>, ()> {
    Ok(match name {
        "updatedAt" => Some(f.updated),
        "createdAt" => Some(f.created),
        "timeToCloseMillis" => f.closed.then_some(f.updated - f.created),
        "timeToAgentResponseMillis" => f.response,
        "firstAgentMessageAt" => f.first_agent_at,
        "numAgentMessages" => Some(f.agent),
        "numBotMessages" => Some(f.bot),
        "numEndUserMessages" => Some(f.end_user),
        "endUserId" => f.contact,
        "lastAgentId" => f.last_agent,
        "relatedPlaybookId" => f.playbook,
        "meaningfulConversation" => Some(i64::from(f.agent > 0 && f.end_user > 0)),
        "firstCloseAt" => f.closed.then_some(f.updated),
        _ => return Err(()),
    })
}

/// A metric value as the report writes it: a number, or the string `"NaN"`.
fn reported(v: Option<i64>) -> Value {
    v.map_or_else(|| json!("NaN"), |n| json!(n))
}

/// The report for `ask`: `{"count": matched, "data": rows}`, rows by update time (then id),
/// oldest first, at most `cap` of them (and, with the `report_count_excess` switch, a count that
/// many above the matches). NaN values are the string `"NaN"`.
pub fn report(w: &World, ask: &Ask, cap: Option<u32>) -> Value {
    let spec = collection("conversations");
    let mut matched: Vec<(i64, i64, u32)> = w
        .live(spec)
        .filter_map(|i| {
            let c = w.plain(spec, i, false);
            let updated = c["updatedAt"].as_i64()?;
            let id = c["id"].as_i64()?;
            (ask.from <= updated && updated <= ask.to).then_some((updated, id, i))
        })
        .collect();
    matched.sort_unstable();
    let served = cap.map_or(matched.len(), |c| (c as usize).min(matched.len()));
    let rows: Vec<Value> = matched[..served]
        .iter()
        .map(|&(_, id, i)| {
            let f = facts(w, spec, i);
            let metrics: Vec<Value> = ask
                .metrics
                .iter()
                .map(|m| reported(value(&f, m).unwrap_or_default()))
                .collect();
            json!({"conversationId": id, "metrics": metrics})
        })
        .collect();
    let excess = w.variants().report_count_excess.unwrap_or(0);
    json!({"count": matched.len() as u64 + excess, "data": rows})
}

/// A report body as text: JSON, or with `bare_nan` every `"NaN"` written as a bare `NaN`.
pub fn render(report: &Value, bare_nan: bool) -> String {
    let text = report.to_string();
    if bare_nan {
        // no other string of a report is "NaN": metric values are numbers or NaN, ids numbers
        text.replace("\"NaN\"", "NaN")
    } else {
        text
    }
}

/// Every listed conversation's metrics, in list order: `conversationId`, then each metric of
/// [`METRICS`] by name, NaN as null (what a tap that turns NaN into null should emit).
pub fn truth(w: &World) -> Vec<Value> {
    let spec = collection("conversations");
    (0..w.listed(spec, 0))
        .map(|p| {
            let i = w.list_index(spec, p, 0);
            let f = facts(w, spec, i);
            let mut row = Map::new();
            row.insert(
                "conversationId".into(),
                json!(w.dataset().conversation_id(i)),
            );
            for name in METRICS {
                let v = value(&f, name).unwrap_or_default();
                row.insert((*name).into(), json!(v));
            }
            Value::Object(row)
        })
        .collect()
}

/// `POST /reports/conversations`.
pub async fn conversations_report(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let ask = match parse(&body) {
        Ok(ask) => ask,
        Err(message) => {
            return error(&s, StatusCode::BAD_REQUEST, "validation_error", &message);
        }
    };
    let v = &s.options.variants;
    let body = render(&report(&lock(&s.world), &ask, v.report_row_cap), v.bare_nan);
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, EPOCH_END_MS, EPOCH_START_MS};
    use crate::variants::Variants;

    fn world() -> World {
        let data = Dataset {
            seed: 5,
            users: 6,
            conversations: 40,
            ..Dataset::default()
        };
        World::new(data, Variants::default(), false, EPOCH_END_MS)
    }

    fn ask(from: i64, to: i64, metrics: &[&str]) -> Vec<u8> {
        json!({"filters": [{"property": "updatedAt", "operation": "BETWEEN", "values": [from, to]}],
            "metrics": metrics})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn requests_are_validated() {
        let ok = parse(&ask(1, 2, &["createdAt", "updatedAt"])).unwrap();
        assert_eq!(ok.metrics, ["createdAt", "updatedAt"]);
        assert_eq!((ok.from, ok.to), (1, 2));
        let unknown = parse(&ask(1, 2, &["updatedAt", "bogus"])).unwrap_err();
        assert_eq!(unknown, "unknown metric bogus");
        let no_filter = json!({"filters": [], "metrics": ["updatedAt"]}).to_string();
        assert!(parse(no_filter.as_bytes()).is_err());
        let one_value = json!({"filters": [{"property": "updatedAt", "operation": "BETWEEN",
            "values": [1]}], "metrics": []})
        .to_string();
        assert!(parse(one_value.as_bytes()).is_err());
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn rows_follow_the_filter_and_the_metric_order() {
        let mut w = world();
        let spec = collection("conversations");
        w.delete(spec, &[3]);
        w.touch(spec, &[5], EPOCH_END_MS + 100);
        let all = parse(&ask(0, i64::MAX, &["updatedAt", "createdAt"])).unwrap();
        let r = report(&w, &all, None);
        assert_eq!(r["count"], json!(39), "one deleted");
        let rows = r["data"].as_array().unwrap();
        assert_eq!(rows.len(), 39);
        for row in rows {
            let id = row["conversationId"].to_string();
            let c = w.plain(spec, w.index_of(spec, &id).unwrap(), false);
            assert_eq!(row["metrics"], json!([c["updatedAt"], c["createdAt"]]));
        }
        let last = rows.last().unwrap();
        assert_eq!(last["metrics"][0], json!(EPOCH_END_MS + 100), "the change");
        // inclusive bounds
        let t = rows[10]["metrics"][0].as_i64().unwrap();
        let u = rows[12]["metrics"][0].as_i64().unwrap();
        let some = report(&w, &parse(&ask(t, u, &["createdAt"])).unwrap(), None);
        assert_eq!(some["count"], json!(3));
        assert_eq!(
            some["data"][0]["conversationId"],
            rows[10]["conversationId"]
        );
        let capped = report(&w, &all, Some(25));
        assert_eq!(capped["count"], json!(39));
        assert_eq!(capped["data"].as_array().unwrap().len(), 25);
        let none = report(&w, &parse(&ask(0, EPOCH_START_MS - 1, &[])).unwrap(), None);
        assert_eq!(none, json!({"count": 0, "data": []}));
    }

    #[test]
    fn an_excess_count_exceeds_the_rows_at_every_span() {
        let variants = Variants {
            report_count_excess: Some(47),
            ..Variants::default()
        };
        let w = World::new(world().dataset().clone(), variants, false, EPOCH_END_MS);
        let all = report(&w, &parse(&ask(0, i64::MAX, &[])).unwrap(), None);
        assert_eq!(all["count"], json!(40 + 47));
        assert_eq!(all["data"].as_array().unwrap().len(), 40);
        let none = report(&w, &parse(&ask(0, 0, &[])).unwrap(), None);
        assert_eq!(none, json!({"count": 47, "data": []}));
    }

    #[test]
    fn nan_is_a_string_or_a_bare_token() {
        let w = world();
        let metrics = [
            "timeToCloseMillis",
            "firstCloseAt",
            "timeToAgentResponseMillis",
        ];
        let r = report(&w, &parse(&ask(0, i64::MAX, &metrics)).unwrap(), None);
        let text = render(&r, false);
        assert!(text.contains("\"NaN\""));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let bare = render(&r, true);
        assert!(bare.contains(",NaN") || bare.contains("[NaN"), "{bare}");
        assert!(!bare.contains("\"NaN\""));
        assert!(serde_json::from_str::<Value>(&bare).is_err(), "not JSON");
        assert_eq!(bare.replace("NaN", "\"NaN\""), text);
        // closed conversations have close times, the others NaN; every 5th has no response time
        let spec = collection("conversations");
        for row in r["data"].as_array().unwrap() {
            let i = w
                .index_of(spec, &row["conversationId"].to_string())
                .unwrap();
            let c = w.plain(spec, i, false);
            let closed = c["status"] == "closed";
            assert_eq!(row["metrics"][0] != "NaN", closed);
            assert_eq!(row["metrics"][1] != "NaN", closed);
            assert_eq!(row["metrics"][2] == "NaN", i % 5 == 4);
        }
    }

    #[test]
    fn the_truth_has_nulls_and_message_counts() {
        let w = world();
        let truth = truth(&w);
        assert_eq!(truth.len(), 40);
        let spec = collection("conversations");
        for row in &truth {
            let i = w
                .index_of(spec, &row["conversationId"].to_string())
                .unwrap();
            let messages = w.messages(i).len() as i64;
            let counted: i64 = ["numAgentMessages", "numBotMessages", "numEndUserMessages"]
                .iter()
                .map(|m| row[m].as_i64().unwrap())
                .sum();
            assert_eq!(counted, messages);
            assert!(row["numEndUserMessages"].as_i64().unwrap() >= 1);
            assert_eq!(row.as_object().unwrap().len(), METRICS.len() + 1);
        }
        assert!(truth.iter().any(|r| r["timeToCloseMillis"].is_null()));
        assert!(truth.iter().any(|r| r["relatedPlaybookId"].is_null()));
        assert!(truth.iter().any(|r| r["relatedPlaybookId"].is_i64()));
    }
}
