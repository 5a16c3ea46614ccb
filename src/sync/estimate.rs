//! `--estimate`: what a sync of the selected streams will cost in requests, and so in hours at the
//! configured pace, learnt with a few cheap calls: each list's `total` from a page of one, the
//! Reporting API's `count` of records updated in the window and in the last hour, and each child
//! stream sampled from the first page of its parent. A stream's cost follows from its entry in the
//! stream table (how its endpoint pages, its detail endpoint, its parent), never from its name.
//! Prints a plan on stdout; syncs nothing, moves no bookmark.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::drift::page::{self, Order, Pages, Pagination};
use crate::drift::rate_limit::START_PACE;
use crate::drift::read::key_text;
use crate::drift::request::{Envelope, Request};
use crate::drift::span::{self, Span};
use crate::drift::DriftClient;
use crate::error::Result;
use crate::singer::catalog::Selected;
use crate::streams::{self, Child, StreamDef, STREAMS};

/// What the calls taught: sizes and ratios the request counts follow from.
#[derive(Debug, Default)]
struct Sizes {
    /// Each list's total, by stream, where its response says it.
    totals: HashMap<&'static str, u64>,
    /// Records updated within the window a first sync reads, as the Reporting API counts them (it
    /// reports on the list read newest first).
    window: Option<u64>,
    /// Records updated in the last hour, likewise.
    last_hour: Option<u64>,
    /// For each child stream: the requests and the records one parent record brings, on average.
    per_parent: HashMap<&'static str, (f64, f64)>,
    /// Requests spent learning all this.
    spent: u64,
}

/// The stream read by reports, and the property its report filters on.
fn report() -> Option<(&'static StreamDef, &'static str)> {
    STREAMS.iter().find_map(|s| match s.list.pagination {
        Pagination::Span(Span::Report { property, .. }) => Some((s, property)),
        _ => None,
    })
}

/// The Reporting API's count of records updated between the bounds (epoch ms).
async fn count(client: &DriftClient, lo: i64, hi: i64) -> Option<u64> {
    let (def, property) = report()?;
    let body = span::report_body(property, lo, hi, &[property.to_string()]);
    let request = Request::new(def.list.path);
    let report = client
        .post(&request, &body, "estimate", Envelope::Any)
        .await
        .ok()?;
    report.get("count").and_then(Value::as_u64)
}

/// Each top-level list's total where its response says it, from a page of one.
async fn totals(client: &DriftClient) -> HashMap<&'static str, u64> {
    let mut totals = HashMap::new();
    for def in STREAMS.iter().filter(|s| s.parent.is_none()) {
        let Some(at) = def.list.total_at else {
            continue;
        };
        let request = page::first_request(&def.list, def.list.path, Some(1));
        let page = client.get(&request, "estimate", Envelope::Any).await.ok();
        if let Some(total) = page.and_then(|p| p.pointer(at).and_then(Value::as_u64)) {
            totals.insert(def.name, total);
        }
    }
    totals
}

/// The streams read from each record of `parent`.
fn children(parent: &str) -> impl Iterator<Item = &'static StreamDef> + '_ {
    STREAMS
        .iter()
        .filter(move |c| c.parent.is_some_and(|p| p.stream == parent))
}

/// A referenced child's distinct ids per parent record, as requests and as records.
fn referenced(parents: &[Map<String, Value>], field: &str) -> (f64, f64) {
    let ids: HashSet<String> = parents
        .iter()
        .filter_map(|r| r.get(field).map(Value::to_string))
        .collect();
    let per = ids.len() as f64 / parents.len().max(1) as f64;
    (per, per)
}

/// A paged child's pages and records per parent record, from the first three parents (`None`
/// when there are none).
async fn paged(
    client: &DriftClient,
    child: &StreamDef,
    parent: &StreamDef,
    parents: &[Map<String, Value>],
) -> Result<Option<(f64, f64)>> {
    let (mut pages, mut count, mut sampled) = (0u64, 0u64, 0u64);
    for record in parents.iter().take(3) {
        let Some(id) = record.get(parent.key).map(key_text) else {
            continue;
        };
        let path = child.list.path_for(&id);
        let mut walk = Pages::new(&child.list, &path, child.list_key(), "estimate", 50);
        while let Some(p) = walk.next_page(client).await? {
            pages += 1;
            count += p.records.len() as u64;
        }
        sampled += 1;
    }
    Ok((sampled > 0).then(|| {
        let n = sampled as f64;
        ((pages as f64 / n).max(1.0), count as f64 / n)
    }))
}

/// What one parent record costs each child stream, from the first page of each parent.
async fn sample(client: &DriftClient, sizes: &mut Sizes) -> Result<()> {
    for parent in STREAMS.iter().filter(|p| children(p.name).next().is_some()) {
        let mut list = Pages::new(
            &parent.list,
            parent.list.path,
            parent.list_key(),
            "estimate",
            50,
        );
        let Some(page) = list.next_page(client).await? else {
            continue;
        };
        for child in children(parent.name) {
            let cost = match child.parent.map(|p| p.via) {
                Some(Child::Referenced { parent_field }) => {
                    Some(referenced(&page.records, parent_field))
                }
                Some(Child::PerParent { .. }) => {
                    paged(client, child, parent, &page.records).await?
                }
                None => None,
            };
            if let Some(cost) = cost {
                sizes.per_parent.insert(child.name, cost);
            }
        }
    }
    Ok(())
}

/// One stream's line of the plan: its records (if known) and the requests a first sync and an
/// hourly run spend on it.
struct Line {
    stream: &'static str,
    records: Option<f64>,
    first: f64,
    hourly: f64,
    note: String,
}

fn page_size(def: &StreamDef, bound: u32) -> f64 {
    f64::from(
        def.list
            .page_size
            .map_or(50, |p| bound.min(p.max_links.unwrap_or(p.max))),
    )
}

/// "conversations" → "conversation", for prose.
fn singular(name: &str) -> &str {
    name.strip_suffix('s').unwrap_or(name)
}

/// "a, b or c".
fn or_list(items: &[&str]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => items.join(""),
    }
}

/// The records of `stream` a first sync and an hourly run read: those updated in the window and
/// in the last hour for the list read newest first, else the whole list each time.
fn reach(stream: &str, sizes: &Sizes) -> (f64, f64) {
    let (window, hour) = (sizes.window.unwrap_or(0), sizes.last_hour.unwrap_or(0));
    match streams::find(stream) {
        Some(def) if def.list.order == Order::Descending => (window as f64, hour as f64),
        _ => {
            let total = sizes.totals.get(stream).copied().unwrap_or(0) as f64;
            (total, total)
        }
    }
}

/// A child stream's line: what its parent's records read in each run bring.
fn child_line(def: &StreamDef, sizes: &Sizes) -> Option<Line> {
    let parent = def.parent?;
    let (first, hourly) = reach(parent.stream, sizes);
    let (requests, records) = sizes.per_parent.get(def.name).copied().unwrap_or_default();
    let each = singular(parent.stream);
    let note = match parent.via {
        Child::PerParent { .. } => format!("the pages of each {each} read"),
        Child::Referenced { .. } => format!(
            "at most one GET per {each} read (one per distinct {}: fewer when {} come back)",
            singular(def.name),
            def.name
        ),
    };
    Some(Line {
        stream: def.name,
        records: Some(first * records),
        first: first * requests,
        hourly: hourly * requests,
        note,
    })
}

/// A list read newest first: its pages in the window, and a detail call per record read when a
/// field only the detail endpoint has is selected.
fn newest_first_line(def: &StreamDef, sel: &Selected, sizes: &Sizes, config: &Config) -> Line {
    let (window, hour) = reach(def.name, sizes);
    let pages = (window / page_size(def, config.page_size)).ceil().max(1.0);
    let wanted = |fields: &[&str]| fields.iter().any(|f| sel.fields.iter().any(|s| s == f));
    let (per, note) = match def.detail {
        Some(d) if wanted(d.fields) => (
            1.0,
            format!(
                "list pages + one GET {} each ({} selected)",
                d.path,
                or_list(d.fields)
            ),
        ),
        Some(_) => (
            0.0,
            "list pages only (no detail field selected)".to_string(),
        ),
        None => (0.0, "list pages only".to_string()),
    };
    Line {
        stream: def.name,
        records: Some(window),
        first: pages + per * window,
        hourly: 1.0 + per * hour,
        note,
    }
}

/// One selected stream's line, per the cost model (see the README's "Cost model").
fn line(def: &StreamDef, sel: &Selected, sizes: &Sizes, config: &Config) -> Line {
    if let Some(line) = child_line(def, sizes) {
        return line;
    }
    let line = |records: Option<f64>, first: f64, note: String| Line {
        stream: def.name,
        records,
        first,
        hourly: first,
        note,
    };
    match def.list.pagination {
        Pagination::Span(Span::Report { .. }) => {
            let cap = def.list.rate_cap.map(|c| format!(" ({c} a minute)"));
            let note = format!("one report per window{}", cap.unwrap_or_default());
            // its rows are the records it counts
            line(Some(sizes.window.unwrap_or(0) as f64), 1.0, note)
        }
        Pagination::Span(Span::Query { limit, .. }) => {
            let note = format!("one call per {limit} {} in the window", def.name);
            line(None, 1.0, note)
        }
        Pagination::Single => line(None, 1.0, "one call, the whole list".to_string()),
        _ if def.list.order == Order::Descending => newest_first_line(def, sel, sizes, config),
        _ => {
            let records = def.list.total_at.map(|_| reach(def.name, sizes).0);
            let n = records.unwrap_or(0.0);
            let pages = (n / page_size(def, config.page_size)).ceil().max(1.0);
            let note = "the whole list every run (no order is documented)".to_string();
            line(records, pages, note)
        }
    }
}

/// The requests of each selected stream.
fn lines(selected: &[Selected], sizes: &Sizes, config: &Config) -> Vec<Line> {
    selected
        .iter()
        .filter_map(|sel| streams::find(sel.name).map(|def| line(def, sel, sizes, config)))
        .collect()
}

fn hours(requests: f64, per_minute: u32) -> String {
    let minutes = requests / f64::from(per_minute.max(1));
    if minutes < 60.0 {
        format!("{minutes:.1} min")
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}

/// Learns the sizes and prints the plan.
pub async fn run(
    client: &DriftClient,
    selected: &[Selected],
    config: &Config,
    started_ms: i64,
) -> Result<String> {
    let mut sizes = Sizes::default();
    let from = config.start_date_ms.unwrap_or(0);
    sizes.window = count(client, from, started_ms).await;
    sizes.last_hour = count(client, started_ms - 3_600_000, started_ms).await;
    sizes.totals = totals(client).await;
    sample(client, &mut sizes).await?;
    sizes.spent = client.request_count();
    let lines = lines(selected, &sizes, config);
    let mut text =
        String::from("stream                  records    first sync    hourly run  how\n");
    for l in &lines {
        let records = l.records.map_or("?".to_string(), |r| format!("{:.0}", r));
        let _ = writeln!(
            text,
            "{:<22} {:>8} {:>13.0} {:>13.0}  {}",
            l.stream, records, l.first, l.hourly, l.note
        );
    }
    let (first, hourly): (f64, f64) = lines
        .iter()
        .fold((0.0, 0.0), |(a, b), l| (a + l.first, b + l.hourly));
    let pace = config.requests_per_minute.unwrap_or(START_PACE);
    let updated = sizes.last_hour.map_or("?".into(), |h| h.to_string());
    let counted = STREAMS
        .iter()
        .find(|s| s.list.order == Order::Descending)
        .map_or("records", |s| s.name);
    let _ = writeln!(
        text,
        "\nfirst sync: {first:.0} requests, about {} at {pace} requests a minute",
        hours(first, pace)
    );
    let _ = writeln!(
        text,
        "hourly run ({updated} {counted} updated in the last hour): {hourly:.0} requests, about {}",
        hours(hourly, pace)
    );
    let _ = match config.requests_per_minute {
        Some(fixed) if fixed != START_PACE => writeln!(
            text,
            "at {START_PACE} requests a minute: first sync about {}, hourly run about {}",
            hours(first, START_PACE),
            hours(hourly, START_PACE)
        ),
        Some(_) => Ok(()),
        None => {
            let max = config.max_requests_per_minute;
            writeln!(text, "the tap starts at {START_PACE} a minute and climbs while Drift allows, up to max_requests_per_minute; at {max} a minute: first sync about {}, hourly run about {}", hours(first, max), hours(hourly, max))
        }
    };
    let _ = writeln!(
        text,
        "(learnt with {} requests; Drift's rate limit, not the tap, sets these times)",
        sizes.spent
    );
    if sizes.window.is_none() {
        let _ = writeln!(
            text,
            "the Reporting API did not answer: {} counts are unknown (0 above)",
            singular(counted)
        );
    }
    Ok(text)
}
