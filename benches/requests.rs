//! `cargo bench --bench requests`: what syncs cost in requests, the price a Drift user pays, against
//! the floor the API allows, on an emulated account of 10 000 conversations (set
//! `TAP_DRIFT_BENCH_CONVERSATIONS` for another size). Runs the release binary against the in-process
//! emulator, counts requests in the emulator's log, and prints markdown tables:
//! - full syncs (all streams, without the detail fields, without messages), an hourly run with 1 %
//!   of the conversations changed, and a first sync killed at 25 %, 50 % and 75 % and resumed;
//! - the safeguards against Drift's unknowns: an incremental run with the list in strict or loose
//!   order, with and without lookback;
//! - with `TAP_DRIFT_BENCH_SLOW=1` (`=only`: this alone), a 2 000-conversation sync with the default
//!   config (the tap finds Drift's pace by itself) under leaky buckets of 120, 600, 1 200, 3 000 and
//!   6 000 requests a minute (no Retry-After, 20 held), answering at 0 and 50 ms, against the floor
//!   the bucket allows, then where a second run's pace starts; and a 3-minute outage.
//!   `TAP_DRIFT_BENCH_BUCKETS=600,1200` (without the outage) and `TAP_DRIFT_BENCH_LATENCIES_MS=0`
//!   pick some of them.
#![allow(clippy::print_stdout, clippy::expect_used)] // a benchmark reports on stdout, and panics on a failed run

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use drift_emulator::{Bucket, Dataset, Emulator, Faults, Options, Outage, Variants, EPOCH_END_MS};
use serde_json::{json, Value};
use tap_drift::drift::page::Pagination;
use tap_drift::drift::span::Span;
use tap_drift::streams::{Child, Parent, StreamDef, STREAMS};

/// One run of the binary: the messages it wrote (all, or until a kill), its wall time, and
/// whether it succeeded.
struct Ran {
    messages: Vec<Value>,
    wall: Duration,
    ok: bool,
}

/// Runs the tap with `args`, SIGKILLing it after `kill_after` conversation records if asked.
fn run(args: &[&Path], kill_after: Option<usize>) -> Ran {
    run_logged(args, kill_after, Stdio::null())
}

/// [`run`], with its log going to `log`.
fn run_logged(args: &[&Path], kill_after: Option<usize>, log: Stdio) -> Ran {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tap-drift"));
    for pair in args.chunks(2) {
        command.arg(pair[0]).arg(pair[1]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("tap starts");
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut messages, mut conversations) = (Vec::new(), 0);
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if line.contains(r#""type":"RECORD","stream":"conversations""#) {
            conversations += 1;
            if Some(conversations) == kill_after {
                child.kill().expect("SIGKILL");
            }
        }
        if let Ok(m) = serde_json::from_str::<Value>(&line) {
            messages.push(m);
        }
    }
    let status = child.wait().expect("wait");
    Ran {
        messages,
        wall: started.elapsed(),
        ok: status.success(),
    }
}

fn last_state(messages: &[Value]) -> Value {
    messages
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .map(|m| m["value"].clone())
        .expect("a STATE")
}

/// A scratch directory for configs, catalogs and states.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("tap-drift-bench-requests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        Scratch(dir)
    }
    fn json(&self, name: &str, v: &Value) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, v.to_string()).expect("write");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The committed catalog with only `streams` selected and the `deselect` fields left out.
fn catalog(streams: &[&str], deselect: &[&str]) -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.json"))
        .expect("catalog");
    let mut catalog: Value = serde_json::from_str(&text).expect("json");
    for entry in catalog["streams"].as_array_mut().expect("streams") {
        let selected = streams.contains(&entry["stream"].as_str().unwrap_or_default());
        for md in entry["metadata"].as_array_mut().expect("md") {
            if md["breadcrumb"] == json!([]) {
                md["metadata"]["selected"] = json!(selected);
            }
            if deselect
                .iter()
                .any(|f| md["breadcrumb"] == json!(["properties", f]))
            {
                md["metadata"]["selected"] = json!(false);
            }
        }
    }
    catalog
}

/// Every stream, in sync order (the tap's stream table).
fn all() -> Vec<&'static str> {
    STREAMS.iter().map(|s| s.name).collect()
}

/// The fields only a detail endpoint serves (the tap's stream table).
fn detail_fields() -> Vec<&'static str> {
    STREAMS
        .iter()
        .filter_map(|s| s.detail)
        .flat_map(|d| d.fields.iter().copied())
        .collect()
}

/// The page the emulator serves a list that takes no page size (as Drift, it picks the size).
const DEFAULT_PAGE: u32 = 25;

/// The fewest requests Drift's API allows for reading what a run read: list pages at the largest
/// page each endpoint serves, one detail request per record read of a list with a detail endpoint
/// (when detail fields are selected), every page of the children of each record read, one request
/// per distinct record they reference, one call for each single-call list or span, and the token
/// check. `read` holds the keys of the records read of the list read newest first (conversations).
fn floor(
    emu: &Emulator,
    read: &BTreeSet<String>,
    streams: &[&str],
    detail: bool,
    all_list_pages: bool,
) -> usize {
    let pages = |n: usize, size: u32| n.div_ceil(size as usize).max(1);
    let mut floor = 1; // the token check
    for def in STREAMS.iter().filter(|s| streams.contains(&s.name)) {
        let largest = def.list.page_size.map_or(DEFAULT_PAGE, |p| p.max);
        floor += match (def.parent, def.list.pagination) {
            (Some(parent), _) => children_floor(emu, read, def, parent, largest),
            (None, Pagination::Span(Span::Query { limit, .. })) => {
                pages(emu.records(def.name).len(), limit)
            }
            (None, Pagination::IndexSize) => pages(emu.records(def.name).len(), largest),
            (None, Pagination::Cursor) => {
                let listed = if all_list_pages {
                    emu.records(def.name).len()
                } else {
                    read.len()
                };
                let details = if detail && def.detail.is_some() {
                    read.len()
                } else {
                    0
                };
                pages(listed, largest) + details
            }
            _ => 1,
        };
    }
    floor
}

/// A child stream's floor: every page of the children of each parent record read, or one request
/// per distinct record the parents read reference.
fn children_floor(
    emu: &Emulator,
    read: &BTreeSet<String>,
    def: &StreamDef,
    parent: Parent,
    largest: u32,
) -> usize {
    let parent_key = tap_drift::streams::find(parent.stream)
        .expect("a parent")
        .key;
    match parent.via {
        Child::PerParent { parent_key_field } => {
            let mut per: HashMap<String, usize> = HashMap::new();
            for r in emu.records(def.name) {
                *per.entry(r[parent_key_field].to_string()).or_default() += 1;
            }
            read.iter()
                .map(|k| {
                    per.get(k)
                        .copied()
                        .unwrap_or(0)
                        .div_ceil(largest as usize)
                        .max(1)
                })
                .sum()
        }
        Child::Referenced { parent_field } => emu
            .records(parent.stream)
            .iter()
            .filter(|p| read.contains(&p[parent_key].to_string()))
            .map(|p| p[parent_field].to_string())
            .collect::<BTreeSet<String>>()
            .len(),
    }
}

fn conversations_in(messages: &[Value]) -> BTreeSet<String> {
    messages
        .iter()
        .filter(|m| m["type"] == "RECORD" && m["stream"] == "conversations")
        .map(|m| m["record"]["id"].to_string())
        .collect()
}

fn dataset(conversations: u32) -> Dataset {
    Dataset {
        seed: 42,
        users: 60,
        accounts: conversations / 10,
        conversations,
        playbooks: 40,
        teams: 8,
        meetings: 200,
        ..Dataset::default()
    }
}

/// The number a log line gives a field (`key=N`), in the first line with `message`.
fn logged(log: &str, message: &str, key: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains(message))?;
    let value = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))?;
    value.parse().ok()
}

async fn start(data: Dataset, variants: Variants, faults: Faults) -> Emulator {
    let options = Options {
        variants,
        faults,
        ..Options::new("bench")
    };
    Emulator::start(data, options).await.expect("emulator")
}

fn config(emu: &Emulator, scratch: &Scratch, extra: Value) -> PathBuf {
    let mut c = json!({"access_token": "bench", "api_url": emu.base_url, "requests_per_minute": 1_000_000,
        "max_concurrency": 16});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    scratch.json("config.json", &c)
}

fn row(name: &str, requests: usize, floor: usize, wall: Duration) {
    println!(
        "| {name} | {requests} | {floor} | {:.2} | {:.1} |",
        requests as f64 / floor.max(1) as f64,
        wall.as_secs_f64()
    );
}

/// Full syncs with three selections, an hourly run, and killed-and-resumed first syncs.
async fn costs(n: u32, scratch: &Scratch) {
    println!("\n### Requests against the floor ({n} conversations)\n");
    println!("| scenario | requests | floor | ratio | wall s |\n|---|---|---|---|---|");
    let detail = detail_fields();
    let selections: [(&str, Vec<&str>, &[&str]); 3] = [
        ("full sync, all streams", all(), &[]),
        ("full sync, without the detail fields", all(), &detail),
        (
            "full sync, without messages",
            all().into_iter().filter(|s| *s != "messages").collect(),
            &[],
        ),
    ];
    for (name, streams, deselect) in selections {
        let emu = start(dataset(n), Variants::default(), Faults::default()).await;
        let cfg = config(&emu, scratch, json!({}));
        let cat = scratch.json("catalog.json", &catalog(&streams, deselect));
        let ran = run(
            &[Path::new("--config"), &cfg, Path::new("--catalog"), &cat],
            None,
        );
        let read = conversations_in(&ran.messages);
        row(
            name,
            emu.requests().len(),
            floor(&emu, &read, &streams, deselect.is_empty(), true),
            ran.wall,
        );
    }
    let emu = start(dataset(n), Variants::default(), Faults::default()).await;
    let cfg = config(&emu, scratch, json!({}));
    let first = run(&[Path::new("--config"), &cfg], None);
    let changed: Vec<u32> = (0..n / 100).map(|i| i * 97 % n).collect();
    emu.touch("conversations", &changed, EPOCH_END_MS + 86_400_000);
    let before = emu.requests().len();
    let state = scratch.json("state.json", &last_state(&first.messages));
    let hourly = run(
        &[Path::new("--config"), &cfg, Path::new("--state"), &state],
        None,
    );
    let read = conversations_in(&hourly.messages);
    row(
        "hourly run, 1 % of conversations changed",
        emu.requests().len() - before,
        floor(&emu, &read, &all(), true, false),
        hourly.wall,
    );
    let whole = before; // the uninterrupted first sync
    for percent in [25, 50, 75] {
        let emu = start(dataset(n), Variants::default(), Faults::default()).await;
        let cfg = config(&emu, scratch, json!({}));
        let killed = run(
            &[Path::new("--config"), &cfg],
            Some(n as usize * percent / 100),
        );
        let state = scratch.json("state.json", &last_state(&killed.messages));
        let resumed = run(
            &[Path::new("--config"), &cfg, Path::new("--state"), &state],
            None,
        );
        let total = emu.requests().len();
        println!(
            "| first sync killed at {percent} % and resumed | {total} | {whole} (uninterrupted) | {:.3} | {:.1} |",
            total as f64 / whole as f64,
            (killed.wall + resumed.wall).as_secs_f64()
        );
    }
}

/// An incremental run after 1 % of the conversations changed, with the list in strict or loose
/// order, with and without lookback.
async fn safeguards(n: u32, scratch: &Scratch) {
    println!(
        "\n### The safeguards' cost: an incremental run after 1 % of {n} conversations changed\n"
    );
    println!("| list order | lookback | requests | conversation list pages | conversations sent |\n|---|---|---|---|---|");
    for loose in [false, true] {
        for lookback in [300, 0] {
            let variants = Variants {
                loose_order: loose,
                ..Variants::default()
            };
            let emu = start(dataset(n), variants, Faults::default()).await;
            let cfg = config(&emu, scratch, json!({"lookback_seconds": lookback}));
            let first = run(&[Path::new("--config"), &cfg], None);
            let changed: Vec<u32> = (0..n / 100).map(|i| i * 97 % n).collect();
            emu.touch("conversations", &changed, EPOCH_END_MS + 86_400_000);
            let before = emu.requests().len();
            let state = scratch.json("state.json", &last_state(&first.messages));
            let second = run(
                &[Path::new("--config"), &cfg, Path::new("--state"), &state],
                None,
            );
            let log = &emu.requests()[before..];
            let list = log
                .iter()
                .filter(|r| r.starts_with("/conversations/list"))
                .count();
            let order = if loose { "loose" } else { "strict" };
            let sent = conversations_in(&second.messages).len();
            println!(
                "| {order} | {lookback} s | {} | {list} | {sent} |",
                log.len()
            );
        }
    }
}

/// The numbers of a `TAP_DRIFT_BENCH_<name>` list, or `default`.
fn numbers(name: &str, default: &[u32]) -> Vec<u32> {
    std::env::var(format!("TAP_DRIFT_BENCH_{name}"))
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|_| default.to_vec())
}

/// One row of the pace table: a first sync of 2 000 conversations with the default config under a
/// bucket of `per_minute` answering after `latency`, then a second run from its state.
async fn paced(scratch: &Scratch, per_minute: u32, latency: Duration) {
    let bucket = Bucket {
        per_minute,
        capacity: 20,
        retry_after: false,
    };
    let faults = Faults {
        bucket: Some(bucket),
        latency,
        ..Faults::default()
    };
    let emu = start(dataset(2_000), Variants::default(), faults).await;
    let cfg = scratch.json(
        "config.json",
        &json!({"access_token": "bench", "api_url": emu.base_url}),
    );
    let log = scratch.0.join("first.log");
    let first = run_logged(
        &[Path::new("--config"), &cfg],
        None,
        std::fs::File::create(&log).expect("log").into(),
    );
    let statuses = emu.statuses();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    let served = statuses.len() - throttled;
    let floor = served as f64 / f64::from(per_minute);
    let minutes = first.wall.as_secs_f64() / 60.0;
    let settled = last_state(&first.messages)["pace"]["requests_per_minute"].clone();
    let state = scratch.json("state.json", &last_state(&first.messages));
    let second_log = scratch.0.join("second.log");
    let second = run_logged(
        &[Path::new("--config"), &cfg, Path::new("--state"), &state],
        None,
        std::fs::File::create(&second_log).expect("log").into(),
    );
    let text = std::fs::read_to_string(&second_log).unwrap_or_default();
    let starts = logged(&text, "pace: starting", "start_per_minute")
        .map_or("?".to_string(), |p| p.to_string());
    let failed = match (first.ok, second.ok) {
        (true, true) => "no",
        _ => "YES",
    };
    println!(
        "| {per_minute}/min | {} ms | {served} | {throttled} ({:.2} %) | {minutes:.2} min | {floor:.2} min | {:.2} | {failed} | {settled} | {starts} |",
        latency.as_millis(),
        throttled as f64 * 100.0 / statuses.len() as f64,
        minutes / floor,
    );
}

/// Slow: a 2 000-conversation sync with the default config under leaky buckets, and through a
/// 3-minute outage.
async fn throttled(scratch: &Scratch) {
    println!("\n### 2 000 conversations under Drift's rate limit, default config (the tap finds the pace)\n");
    println!("| bucket (no Retry-After, 20 held) | latency | requests answered | 429s (share of requests) | wall | floor (requests ÷ rate) | wall ÷ floor | a run failed | pace settled (run 1) | pace run 2 starts at |\n|---|---|---|---|---|---|---|---|---|---|");
    for per_minute in numbers("BUCKETS", &[6_000, 3_000, 1_200, 600, 120]) {
        for latency in numbers("LATENCIES_MS", &[0, 50]) {
            paced(scratch, per_minute, Duration::from_millis(latency.into())).await;
        }
    }
    if std::env::var_os("TAP_DRIFT_BENCH_BUCKETS").is_some() {
        return; // some buckets were picked: the outage is not one of them
    }
    let outage = Outage {
        after: 2_000,
        length: Duration::from_secs(180),
    };
    let emu = start(
        dataset(2_000),
        Variants::default(),
        Faults {
            outage: Some(outage),
            ..Faults::default()
        },
    )
    .await;
    let cfg = config(&emu, scratch, json!({}));
    let ran = run(&[Path::new("--config"), &cfg], None);
    let ok =
        last_state(&ran.messages)["bookmarks"]["conversations"]["replication_key_value"].is_i64();
    println!("\nA 3-minute outage (every request 503) after 2 000 requests, default settings: finished {ok}, in {:.1} min, {} requests answered 503.", ran.wall.as_secs_f64() / 60.0, emu.statuses().iter().filter(|s| **s == 503).count());
}

fn main() {
    let n: u32 = std::env::var("TAP_DRIFT_BENCH_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let scratch = Scratch::new();
    let slow = std::env::var("TAP_DRIFT_BENCH_SLOW").ok();
    if slow.as_deref() != Some("only") {
        runtime.block_on(costs(n, &scratch));
        runtime.block_on(safeguards(n, &scratch));
    }
    if slow.is_some() {
        runtime.block_on(throttled(&scratch));
    }
}
