//! `--estimate`: what a sync of the selected streams will cost in requests, and so in hours at the
//! configured pace, learnt with one cheap call per stream (the accounts' `total`, the Reporting
//! API's `count` of conversations in the window and in the last hour, a sample of messages and
//! contacts from the first conversations). Prints a plan on stdout; syncs nothing, moves no bookmark.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::config::Config;
use crate::drift::page::Pages;
use crate::drift::rate_limit::START_PACE;
use crate::drift::request::{Envelope, Request};
use crate::drift::DriftClient;
use crate::error::Result;
use crate::singer::catalog::Selected;
use crate::streams::{self, StreamDef};

/// What the calls taught: sizes and ratios the request counts follow from.
#[derive(Debug, Default)]
struct Sizes {
    /// Accounts in Drift.
    accounts: Option<u64>,
    /// Conversations updated within the window a first sync reads.
    conversations: Option<u64>,
    /// Conversations updated in the last hour.
    last_hour: Option<u64>,
    /// Message pages a conversation needs, on average.
    message_pages: f64,
    /// Messages a conversation has, on average.
    messages: f64,
    /// Distinct contacts a conversation brings, on average.
    contacts: f64,
    /// Requests spent learning all this.
    spent: u64,
}

/// The Reporting API's count of conversations updated between the bounds (epoch ms).
async fn count(client: &DriftClient, lo: i64, hi: i64) -> Option<u64> {
    let body = json!({"filters": [{"property": "updatedAt", "operation": "BETWEEN", "values": [lo, hi]}],
        "metrics": ["updatedAt"]});
    let report = client
        .post(
            &Request::new("/reports/conversations"),
            &body,
            "estimate",
            Envelope::Any,
        )
        .await
        .ok()?;
    report.get("count").and_then(Value::as_u64)
}

/// The accounts' `total`, from a page of one.
async fn accounts(client: &DriftClient) -> Option<u64> {
    let request = Request::new("/accounts").with("index", 0).with("size", 1);
    let page = client.get(&request, "estimate", Envelope::Any).await.ok()?;
    page.pointer("/data/total").and_then(Value::as_u64)
}

/// Messages and contacts per conversation, from the first page of conversations and the
/// messages of a few of them.
async fn sample(client: &DriftClient, sizes: &mut Sizes) -> Result<()> {
    let Some(def) = streams::find("conversations") else {
        return Ok(());
    };
    let mut list = Pages::new(&def.list, def.list.path, def.key, "estimate", 50);
    let Some(page) = list.next_page(client).await? else {
        return Ok(());
    };
    let n = page.records.len().max(1) as f64;
    let contacts: HashSet<String> = page
        .records
        .iter()
        .filter_map(|c| c.get("contactId").map(Value::to_string))
        .collect();
    sizes.contacts = contacts.len() as f64 / n;
    let Some(messages) = streams::find("messages") else {
        return Ok(());
    };
    let (mut pages, mut count, mut sampled) = (0u64, 0u64, 0u64);
    for c in page.records.iter().take(3) {
        let id = crate::drift::read::key_text(&c[def.key]);
        let mut walk = Pages::new(
            &messages.list,
            &messages.list.path_for(&id),
            messages.key,
            "estimate",
            50,
        );
        while let Some(p) = walk.next_page(client).await? {
            pages += 1;
            count += p.records.len() as u64;
        }
        sampled += 1;
    }
    if sampled > 0 {
        sizes.message_pages = (pages as f64 / sampled as f64).max(1.0);
        sizes.messages = count as f64 / sampled as f64;
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

/// The requests of each selected stream, per the cost model (see the README's "Cost model").
fn lines(selected: &[Selected], sizes: &Sizes, config: &Config) -> Vec<Line> {
    let conversations = sizes.conversations.unwrap_or(0) as f64;
    let hour = sizes.last_hour.unwrap_or(0) as f64;
    let mut out = Vec::new();
    for sel in selected {
        let Some(def) = streams::find(sel.name) else {
            continue;
        };
        let line = |records: Option<f64>, first: f64, hourly: f64, note: &str| Line {
            stream: def.name,
            records,
            first,
            hourly,
            note: note.to_string(),
        };
        out.push(match def.name {
            "accounts" => {
                let n = sizes.accounts.unwrap_or(0) as f64;
                let pages = (n / page_size(def, config.page_size)).ceil().max(1.0);
                line(Some(n), pages, pages, "the whole list every run (no order is documented)")
            }
            "conversations" => {
                let pages = (conversations / page_size(def, config.page_size)).ceil().max(1.0);
                let detail = def.detail.is_some_and(|d| d.fields.iter().any(|f| sel.fields.iter().any(|s| s == f)));
                let (per, note) = if detail {
                    (1.0, "list pages + one GET /conversations/{id} each (participants, conversationTags or relatedPlaybookId selected)")
                } else {
                    (0.0, "list pages only (no detail field selected)")
                };
                line(Some(conversations), pages + per * conversations, 1.0 + per * hour, note)
            }
            "messages" => line(
                Some(conversations * sizes.messages),
                conversations * sizes.message_pages,
                hour * sizes.message_pages,
                "the pages of each conversation read",
            ),
            "contacts" => line(
                Some(conversations * sizes.contacts),
                conversations * sizes.contacts,
                hour * sizes.contacts,
                "at most one GET per conversation read (one per distinct contact: fewer when contacts come back)",
            ),
            "conversation_metrics" => line(Some(conversations), 1.0, 1.0, "one report per window (60 a minute)"),
            "meetings" => line(None, 1.0, 1.0, "one call per 1000 meetings in the window"),
            _ => line(None, 1.0, 1.0, "one call, the whole list"),
        });
    }
    out
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
    sizes.conversations = count(client, from, started_ms).await;
    sizes.last_hour = count(client, started_ms - 3_600_000, started_ms).await;
    sizes.accounts = accounts(client).await;
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
    let _ = writeln!(
        text,
        "\nfirst sync: {first:.0} requests, about {} at {pace} requests a minute",
        hours(first, pace)
    );
    let _ = writeln!(text, "hourly run ({updated} conversations updated in the last hour): {hourly:.0} requests, about {}", hours(hourly, pace));
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
    if sizes.conversations.is_none() {
        text.push_str(
            "the Reporting API did not answer: conversation counts are unknown (0 above)\n",
        );
    }
    Ok(text)
}
