//! The emulator's playbook, landing-page, team, meeting and report endpoints, and its cursor
//! switch, over real HTTP,
//! checked against the emulator's own truth (`Emulator::records`). Owns only these checks of the
//! emulator crate; touches nothing of the tap.
// test helpers panic on purpose: a failed expectation is a failed test
#![allow(clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;

use drift_emulator::{Dataset, Emulator, Options, Variants, EPOCH_END_MS};
use serde_json::{json, Value};

const TOKEN: &str = "t0ken";

/// One request over a fresh connection: the status and the body as text.
fn call(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let host = base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&host).expect("connect");
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("receive");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .expect("a status")
        .parse()
        .expect("a number");
    (status, body.to_string())
}

async fn get(emu: &Emulator, path: &str) -> (u16, String) {
    let (base, path) = (emu.base_url.clone(), path.to_string());
    tokio::task::spawn_blocking(move || call(&base, "GET", &path, None))
        .await
        .expect("the request ran")
}

async fn post(emu: &Emulator, path: &str, body: Value) -> (u16, String) {
    let (base, path) = (emu.base_url.clone(), path.to_string());
    tokio::task::spawn_blocking(move || call(&base, "POST", &path, Some(&body.to_string())))
        .await
        .expect("the request ran")
}

async fn start(variants: Variants) -> Emulator {
    let options = Options {
        variants,
        ..Options::new(TOKEN)
    };
    Emulator::start(Dataset::sandbox(), options)
        .await
        .expect("the emulator starts")
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).expect("JSON")
}

#[tokio::test]
async fn playbooks_landing_pages_and_teams() {
    let emu = start(Variants::default()).await;
    emu.touch("playbooks", &[8], EPOCH_END_MS + 5);
    emu.delete("playbooks", &[4]);
    let (status, body) = get(&emu, "/playbooks/list").await;
    assert_eq!(status, 200);
    let playbooks = json_of(&body);
    assert!(playbooks.is_array(), "a bare array");
    assert_eq!(playbooks, json!(emu.records("playbooks")));
    assert_eq!(playbooks.as_array().unwrap().len(), 39);
    assert_eq!(playbooks[0]["id"], json!(700_000));
    let (status, body) = get(&emu, "/playbooks/clp").await;
    assert_eq!(status, 200);
    let pages = json_of(&body);
    assert_eq!(pages, json!(emu.records("landing_pages")));
    let ids: Vec<i64> = pages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["playbookId"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (0..10)
            .filter(|i| *i != 1)
            .map(|i| 700_000 + i * 4)
            .collect::<Vec<_>>()
    );
    assert!(pages[1]["playbookName"]
        .as_str()
        .unwrap()
        .ends_with("(edited)"));
    let (status, body) = get(&emu, "/teams/org").await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body), json!({"data": emu.records("teams")}));
    assert_eq!(
        emu.changed_since("playbooks", EPOCH_END_MS + 1),
        [json!(700_008)]
    );

    let emu = start(Variants {
        absent: vec!["landing_pages"],
        ..Variants::default()
    })
    .await;
    assert_eq!(get(&emu, "/playbooks/clp").await.0, 404);
    assert!(emu.records("landing_pages").is_empty());
}

#[tokio::test]
async fn meetings_need_a_window_and_keep_to_the_horizon() {
    let emu = start(Variants {
        meetings_page_cap: Some(7),
        ..Variants::default()
    })
    .await;
    let now = emu.now_ms();
    for bad in [
        "/users/meetings/org",
        "/users/meetings/org?min_start_time=0",
        "/users/meetings/org?min_start_time=x&max_start_time=1",
    ] {
        let (status, body) = get(&emu, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(json_of(&body)["errors"].is_array());
    }
    let truth = emu.records("meetings");
    // 60 meetings over the 60 days from 45 days ago, some sharing a slot: those of the last 30
    assert!((40..=45).contains(&truth.len()), "{}", truth.len());
    let far = now + 365 * 86_400_000;
    let (status, body) = get(
        &emu,
        &format!("/users/meetings/org?min_start_time=0&max_start_time={far}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["data"], json!(truth[..7]));
    let from = truth[40]["slotStart"].as_i64().unwrap();
    let path = format!("/users/meetings/org?min_start_time={from}&max_start_time={far}");
    let from_there: Vec<&Value> = truth
        .iter()
        .filter(|m| m["slotStart"].as_i64() >= Some(from))
        .collect();
    assert_eq!(
        json_of(&get(&emu, &path).await.1)["data"],
        json!(from_there)
    );
    emu.add("meetings", 2, EPOCH_END_MS + 9);
    assert_eq!(emu.records("meetings").len(), truth.len() + 2);
    assert_eq!(emu.changed_since("meetings", EPOCH_END_MS + 1).len(), 2);
}

#[tokio::test]
async fn the_report_serves_rows_in_metric_order() {
    let emu = start(Variants {
        report_row_cap: Some(25),
        ..Variants::default()
    })
    .await;
    let truth = emu.records("conversation_metrics");
    let ask = |metrics: Value| {
        json!({"filters": [{"property": "updatedAt", "operation": "BETWEEN",
            "values": [0, i64::MAX]}], "metrics": metrics})
    };
    let (status, body) = post(
        &emu,
        "/reports/conversations",
        ask(json!(["numBotMessages", "updatedAt", "lastAgentId"])),
    )
    .await;
    assert_eq!(status, 200);
    let report = json_of(&body);
    assert_eq!(report["count"], json!(truth.len()));
    let rows = report["data"].as_array().unwrap();
    assert_eq!(rows.len(), 25);
    for row in rows {
        let t = truth
            .iter()
            .find(|t| t["conversationId"] == row["conversationId"])
            .unwrap();
        let nan = |v: &Value| if v.is_null() { json!("NaN") } else { v.clone() };
        let expected = json!([t["numBotMessages"], t["updatedAt"], nan(&t["lastAgentId"])]);
        assert_eq!(row["metrics"], expected);
    }
    let (status, body) = post(&emu, "/reports/conversations", ask(json!(["nope"]))).await;
    assert_eq!(status, 400);
    assert_eq!(
        json_of(&body),
        json!({"errors": [{"type": "validation_error", "message": "unknown metric nope"}]})
    );
    let no_filter = json!({"filters": [], "metrics": ["updatedAt"]});
    assert_eq!(post(&emu, "/reports/conversations", no_filter).await.0, 400);

    let emu = start(Variants::all()).await;
    let (status, body) = post(
        &emu,
        "/reports/conversations",
        ask(json!(["timeToCloseMillis"])),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("[NaN]"), "bare NaN tokens");
    assert!(serde_json::from_str::<Value>(&body).is_err());
}

#[tokio::test]
async fn numeric_cursors_are_json_integers_and_are_taken_back() {
    let emu = start(Variants {
        numeric_cursors: true,
        ..Variants::default()
    })
    .await;
    let (status, body) = get(&emu, "/conversations/list?limit=5").await;
    assert_eq!(status, 200);
    let next = json_of(&body)["pagination"]["next"].clone();
    assert!(next.is_u64(), "{next}");
    let (status, body) = get(&emu, &format!("/conversations/list?limit=5&next={next}")).await;
    assert_eq!(status, 200);
    let second = json_of(&body);
    let ids = |v: &Value| v["data"].as_array().map(|d| d.len()).unwrap_or_default();
    assert_eq!(ids(&second), 5);
    assert_eq!(
        second["data"][0]["id"],
        emu.records("conversations")[5]["id"],
        "the cursor leads on to the sixth conversation"
    );
}
