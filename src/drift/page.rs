//! Pages of Drift's lists: the typed [`Endpoint`], the decoding of one response into a [`Page`]
//! (records checked once: objects with their key), and [`Pages`], the one page walker with its loop
//! guard. Drift pages three ways (see
//! [`Pagination`]); the walker follows whichever link a response carries. Knows nothing of Singer
//! or of the stream table.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::drift::client::DriftClient;
pub use crate::drift::request::{cursor, Envelope, Request};
use crate::drift::span::{self, Span, Splits};
use crate::drift::spool::{self, Spool};
use crate::error::{Error, Result};
use crate::out::tally::Tally;

/// How an endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pagination {
    /// One call returns everything.
    Single,
    /// `index`/`size` query parameters; the response carries the URL of the next page.
    IndexSize,
    /// `limit` plus an opaque cursor: `pagination.next` (sent back as `next`) or `links.next` (a URL).
    Cursor,
    /// Spans of time, not pages (see [`Span`]): the walk reads the span it is given.
    Span(Span),
}

/// The order in which a list comes, with respect to the stream's replication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// No documented order: read everything, filter client-side.
    Unordered,
    /// Most recently updated first: a reader may stop at the first record older than it needs.
    Descending,
}

/// How an endpoint takes a page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    /// The query parameter carrying it.
    pub param: &'static str,
    /// The documented maximum.
    pub max: u32,
    /// A larger maximum that holds when the response pages by `links.next` (the newer API).
    pub max_links: Option<u32>,
}

/// A list endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The path, with `{id}` where a parent's key goes.
    pub path: &'static str,
    /// JSON pointer to the array of records in a response.
    pub records_at: &'static str,
    /// JSON pointer to the list's total record count, when the response carries one.
    pub total_at: Option<&'static str>,
    /// How it pages.
    pub pagination: Pagination,
    /// How it takes a page size (`None`: it takes none, and serves the pages it likes).
    pub page_size: Option<PageSize>,
    /// The list's order.
    pub order: Order,
    /// A rate cap of its own, in requests a minute, under the run's shared one (Drift documents
    /// one for its Reporting API).
    pub rate_cap: Option<u32>,
}

impl Endpoint {
    /// A one-call list answering `{"data": [...]}`, in no documented order, with no cap of its own:
    /// the base an endpoint spreads from (`Endpoint { path, ..Endpoint::SINGLE }`).
    pub const SINGLE: Endpoint = Endpoint {
        path: "",
        records_at: "/data",
        total_at: None,
        pagination: Pagination::Single,
        page_size: None,
        order: Order::Unordered,
        rate_cap: None,
    };

    /// The path with `{id}` replaced by a parent's (or the record's) key.
    pub fn path_for(&self, id: &str) -> String {
        self.path.replace("{id}", id)
    }
}

/// Checks that every item is an object with a non-null `key`.
pub fn records_with_key(
    items: Vec<Value>,
    key: &str,
) -> std::result::Result<Vec<Map<String, Value>>, String> {
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(r) if r.get(key).is_some_and(|k| !k.is_null()) => Ok(r),
            Value::Object(_) => Err(format!("a record has no `{key}`")),
            _ => Err("a record is not an object".to_string()),
        })
        .collect()
}

/// One decoded page.
#[derive(Debug)]
pub struct Page {
    /// The records, in API order, each an object with its key.
    pub records: Vec<Map<String, Value>>,
    /// The next page, if any.
    pub next: Option<Request>,
    /// Whether the next page is a `links.next` URL (the newer API).
    pub links_style: bool,
    /// The list's total record count, when the response says.
    pub total: Option<u64>,
}

/// The request for the first page of a list at `path`, asking for `size` records (`None`: the
/// API's default).
pub fn first_request(endpoint: &Endpoint, path: &str, size: Option<u32>) -> Request {
    let request = Request::new(path);
    let request = match endpoint.pagination {
        Pagination::IndexSize => request.with("index", 0),
        _ => request,
    };
    match (endpoint.pagination, endpoint.page_size, size) {
        (Pagination::Single | Pagination::Span(_), _, _) | (_, None, _) | (_, _, None) => request,
        (_, Some(p), Some(size)) => request.with(p.param, size),
    }
}

/// The next page a response links to, in whichever style it carries (`true`: `links.next`). Every
/// cursor field is read by the one [`cursor`] reader: a string or a number.
fn next_request(
    endpoint: &Endpoint,
    body: &Value,
    current: &Request,
) -> std::result::Result<(Option<Request>, bool), String> {
    let link = |v: &str, what: &str| {
        Request::from_link(v).ok_or_else(|| format!("{what} is not a URL: {v}"))
    };
    Ok(match endpoint.pagination {
        Pagination::Single | Pagination::Span(_) => (None, false),
        Pagination::IndexSize => match cursor(body, "/data/next")? {
            None => (None, false),
            Some(v) => (Some(link(&v, "data.next")?), false),
        },
        Pagination::Cursor => {
            let more = body.pointer("/pagination/more").and_then(Value::as_bool) != Some(false);
            let pagination = if more {
                cursor(body, "/pagination/next")?
            } else {
                None
            };
            if let Some(cursor) = pagination {
                // the same request (path and page size) with the cursor
                let mut next = current.clone();
                next.query.retain(|(k, _)| k != "next");
                (Some(next.with("next", cursor)), false)
            } else if let Some(next) = cursor(body, "/links/next")? {
                (Some(link(&next, "links.next")?), true)
            } else {
                (None, false)
            }
        }
    })
}

/// Decodes one list response: its records (objects with their `key`), its next page, its total.
pub fn decode(
    endpoint: &Endpoint,
    mut body: Value,
    current: &Request,
    key: &str,
) -> std::result::Result<Page, String> {
    let (next, links_style) = next_request(endpoint, &body, current)?;
    let total = endpoint
        .total_at
        .and_then(|at| body.pointer(at))
        .and_then(Value::as_u64);
    let items = match body.pointer_mut(endpoint.records_at).map(Value::take) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None if next.is_none() => Vec::new(),
        _ => {
            return Err(format!(
                "no array at {} (a list response carries its records there)",
                endpoint.records_at
            ))
        }
    };
    Ok(Page {
        records: records_with_key(items, key)?,
        next,
        links_style,
        total,
    })
}

/// Whether a list is read whole or re-read for completeness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// The first read, at the page size asked for.
    First,
    /// The re-read of a list that came up short of its total, at the API's default page size.
    Reread,
}

/// Walks the pages of one list, in order, refusing to request the same page twice. A list that
/// carries a total is checked against it: when fewer distinct records came than the total says
/// (an API that clamps the page size but steps by the size asked for skips records), the list is
/// read once more at the API's default page size, and only the records not seen yet are returned.
#[derive(Debug)]
pub struct Pages<'a> {
    endpoint: &'a Endpoint,
    path: String,
    key: &'a str,
    tag: &'a str,
    /// The page size asked for (`None`: the API's default).
    size: Option<u32>,
    /// The page-size bound of the config.
    bound: u32,
    next: Option<Request>,
    seen_requests: HashSet<(Request, Option<(i64, i64)>)>,
    walk: Walk,
    /// For a list read by spans: the span of the request in `next`, the spans still to read, and
    /// the metrics a report asks for.
    span: Option<(i64, i64)>,
    splits: Option<Splits>,
    metrics: Vec<String>,
    /// A report's answer kept on disk, still being handed out page by page.
    spool: Option<Spool>,
    /// The total of the list, as its last page said.
    total: Option<u64>,
    /// Keys received, for lists with a total.
    keys: HashSet<String>,
    /// Hashes of every key received, to notice a list that goes round in circles (and, for a
    /// report, to hand each row out once).
    seen: HashSet<u64>,
    /// Pages read in this walk (re-read and restarts included).
    pages: u64,
    /// Why the walk ended before the list did (a loop, a shortfall against the total), if it did.
    cut_short: Option<String>,
}

/// How many rows of a report's answer kept on disk make a page.
const SPOOL_PAGE: usize = 500;

impl<'a> Pages<'a> {
    /// The pages of the list at `path` (the endpoint's path with any `{id}` filled in), whose
    /// records are keyed by `key`, asking for at most `bound` records a page (and never more than
    /// the endpoint's documented maximum); `tag` (a stream name) labels the requests' metrics.
    pub fn new(endpoint: &'a Endpoint, path: &str, key: &'a str, tag: &'a str, bound: u32) -> Self {
        let size = endpoint.page_size.map(|p| bound.min(p.max));
        Pages {
            endpoint,
            path: path.to_string(),
            key,
            tag,
            size,
            bound,
            next: match endpoint.pagination {
                Pagination::Span(_) => None,
                _ => Some(first_request(endpoint, path, size)),
            },
            seen_requests: HashSet::new(),
            walk: Walk::First,
            span: None,
            splits: None,
            metrics: Vec::new(),
            spool: None,
            total: None,
            keys: HashSet::new(),
            seen: HashSet::new(),
            pages: 0,
            cut_short: None,
        }
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Why the walk ended before the end of the list, when it did: records may be unread, so the
    /// window it served is not finished.
    pub fn cut_short(&self) -> Option<&str> {
        self.cut_short.as_deref()
    }

    /// For a list read by spans of time: reads the span from `lo` to `hi` (epoch ms, inclusive),
    /// a report asking for `metrics`.
    pub fn within(mut self, lo: i64, hi: i64, metrics: Vec<String>) -> Self {
        self.metrics = metrics;
        if let Pagination::Span(span) = self.endpoint.pagination {
            self.splits = Some(Splits::new(span, lo, hi));
        }
        self.next_span();
        self
    }

    /// Moves on to the next span still to read.
    fn next_span(&mut self) {
        let Pagination::Span(span) = self.endpoint.pagination else {
            return;
        };
        self.span = self.splits.as_mut().and_then(Splits::next_span);
        self.next = self
            .span
            .map(|(lo, hi)| span::request(span, &self.path, lo, hi));
    }

    /// A span's answer is in: a full one is split in two (and dropped: each half is read instead),
    /// a whole one is kept. `None`: the page is dropped.
    fn check_span(&mut self, page: Page, count: Option<u64>) -> Option<Page> {
        let Some(splits) = self.splits.as_mut().filter(|_| self.span.is_some()) else {
            return Some(page);
        };
        let keep = splits.answered(count, page.records.len() as u64);
        self.next_span();
        keep.then_some(page)
    }

    /// At the end of a walk by spans: one warning, when answers short of their count were kept
    /// as they were, saying why and (for a report) the count against the rows received.
    fn warn_shortfall(&mut self) {
        let Some(splits) = self.splits.take() else {
            return;
        };
        let Some((why, count)) = splits.shortfall() else {
            return;
        };
        let rows = self.seen.len();
        match count {
            Some(count) => tracing::warn!(
                stream = self.tag,
                count,
                rows,
                "the report counted {count} rows in its window but answered {rows} distinct ones; {why}: the {rows} received are kept"
            ),
            None => tracing::warn!(stream = self.tag, "{why}: some may be missing"),
        }
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self, client: &DriftClient) -> Result<Option<Page>> {
        loop {
            if let Some(page) = self.kept_page()? {
                return Ok(Some(page));
            }
            let Some(request) = self.next.take() else {
                if self.reread_needed() {
                    continue;
                }
                self.warn_shortfall();
                return Ok(None);
            };
            let Some(mut page) = self.fetch(client, request).await? else {
                continue;
            };
            if !self.plausible(&mut page) {
                self.stop();
            }
            if let Some(page) = self.check_total(page, client.tally()) {
                return Ok(Some(page));
            }
        }
    }

    /// Sends one request of the walk (a report's is a POST) and decodes the answer; `None` when a
    /// span's answer was full and the span is read in halves instead.
    async fn fetch(&mut self, client: &DriftClient, request: Request) -> Result<Option<Page>> {
        if !self.seen_requests.insert((request.clone(), self.span)) {
            return Err(Error::PaginationLoop {
                endpoint: request.path.clone(),
                request: request.to_string(),
            });
        }
        if let (Pagination::Span(Span::Report { property, .. }), Some((lo, hi))) =
            (self.endpoint.pagination, self.span)
        {
            let report = span::report_body(property, lo, hi, &self.metrics);
            let spool = client.post_kept(&request, &report, self.tag).await?;
            self.pages += 1;
            client.tally().page(self.tag);
            self.keep(spool);
            return Ok(None);
        }
        let envelope = Envelope::List(self.endpoint.records_at);
        let body = client.get(&request, self.tag, envelope).await?;
        self.pages += 1;
        client.tally().page(self.tag);
        let count = body.get("count").and_then(Value::as_u64);
        let page =
            decode(self.endpoint, body, &request, self.key).map_err(|reason| Error::Decode {
                endpoint: request.path.clone(),
                reason: format!("{} list: {reason}", self.tag),
            })?;
        self.next.clone_from(&page.next);
        Ok(self.check_span(page, count))
    }

    /// A report's answer for the current span: kept, to be handed out page by page (a full one is
    /// also split, and its halves read after it, as [`Splits`] decides).
    fn keep(&mut self, spool: Spool) {
        if let Some(splits) = self.splits.as_mut() {
            splits.answered(spool.count, spool.rows);
        }
        self.spool = Some(spool);
        self.next_span();
    }

    /// The next page of a report's answer kept on disk, if one is being handed out: its rows not
    /// handed out before in this walk (an answer and its halves' answers hold the same rows).
    fn kept_page(&mut self) -> Result<Option<Page>> {
        loop {
            let (Some(spool), Pagination::Span(Span::Report { key, .. })) =
                (self.spool.as_mut(), self.endpoint.pagination)
            else {
                return Ok(None);
            };
            let rows = spool
                .next_rows(SPOOL_PAGE)
                .map_err(|e| Error::Disk(format!("{}: {e}", spool::folder())))?;
            if rows.is_empty() {
                self.spool = None;
                return Ok(None);
            }
            let records = rows
                .into_iter()
                .map(|row| span::report_record(row, key, &self.metrics))
                .collect();
            let mut records =
                records_with_key(records, self.key).map_err(|reason| Error::Decode {
                    endpoint: self.path.clone(),
                    reason: format!("{} report: {reason}", self.tag),
                })?;
            let (seen, key) = (&mut self.seen, self.key);
            records.retain(|r| seen.insert(hash(&record_key(r, key))));
            if !records.is_empty() {
                return Ok(Some(Page {
                    records,
                    next: None,
                    links_style: false,
                    total: None,
                }));
            }
        }
    }

    /// Drops the records this walk already returned, and says whether the page can be part of a
    /// list that ends: a page that links on must bring records, and records not seen before in this
    /// walk, and a list with a total cannot have many more pages than it makes. Otherwise the walk
    /// stops here, with a warning.
    fn plausible(&mut self, page: &mut Page) -> bool {
        if let Pagination::Span(_) = self.endpoint.pagination {
            // each span is answered once, and its records' keys are the stream's to make (many
            // booked meetings share the `slotStart` their key is made from)
            return true;
        }
        let (key, seen) = (self.key, &mut self.seen);
        let brought = page.records.len();
        page.records
            .retain(|r| seen.insert(hash(&record_key(r, key))));
        if page.next.is_none() {
            return true;
        }
        let most = self.total.zip(self.size.or(Some(10))).map(|(total, size)| {
            // every page of a first read and of a re-read at the default size, and a spare
            total.div_ceil(u64::from(size.max(1))) + total.div_ceil(10) + 2
        });
        let why = if brought == 0 {
            "an empty page links to another"
        } else if page.records.is_empty() {
            "a page brings only records already read (the list goes round in circles)"
        } else if most.is_some_and(|m| self.pages > m) {
            "the list has more pages than its total makes possible"
        } else {
            return true;
        };
        tracing::warn!(
            stream = self.tag,
            pages = self.pages,
            "{why}: stopping this list here"
        );
        self.cut_short = Some(format!("{why} (page {})", self.pages));
        false
    }

    /// For a list with a total: notes its keys and, in a re-read, keeps only the records not seen
    /// in the first read (`None` when none is left on this page but more may follow).
    fn check_total(&mut self, mut page: Page, tally: &Tally) -> Option<Page> {
        if self.endpoint.total_at.is_none() {
            return Some(page);
        }
        self.total = page.total.or(self.total);
        if let Some(total) = self.total {
            tally.total(self.tag, total);
        }
        let (keys, key) = (&mut self.keys, self.key);
        page.records.retain(|r| keys.insert(record_key(r, key)));
        match (self.walk, page.records.is_empty(), page.next.is_some()) {
            (Walk::Reread, true, true) => None,
            _ => Some(page),
        }
    }

    /// At the end of a list with a total: whether it must be read again (it came up short), with
    /// a line saying so; or a warning when even the re-read came up short.
    fn reread_needed(&mut self) -> bool {
        let (Some(total), received) = (self.total, self.keys.len() as u64) else {
            return false;
        };
        if received >= total {
            return false;
        }
        match self.walk {
            Walk::First => {
                tracing::warn!(stream = self.tag, received, total, "the list came up short of its total: reading it again at the API's default page size");
                self.walk = Walk::Reread;
                self.seen_requests.clear();
                self.seen.clear();
                self.next = Some(first_request(self.endpoint, &self.path, None));
                true
            }
            Walk::Reread => {
                tracing::warn!(stream = self.tag, received, total, "the list is still short of its total after a second read: Drift lists fewer records than it counts");
                self.cut_short = Some(format!(
                    "{received} of the {total} records its total counts, after a second read"
                ));
                false
            }
        }
    }

    /// Whether a first page says the list could be read in bigger pages: it pages by `links.next`
    /// (whose endpoint allows more), it is full, and the config allows more.
    pub fn could_grow(&self, page: &Page) -> bool {
        let Some(size) = self.size else { return false };
        let bigger = self
            .endpoint
            .page_size
            .and_then(|p| p.max_links)
            .map(|m| m.min(self.bound));
        self.pages == 1
            && page.links_style
            && page.records.len() as u64 == u64::from(size)
            && bigger.is_some_and(|b| b > size)
    }

    /// Restarts the list from the top at the bigger page size `links.next` allows (the first page
    /// is dropped unprocessed: changing the page size inside a `page_token` walk could skip records).
    pub fn grow(&mut self) {
        let bigger = self
            .endpoint
            .page_size
            .and_then(|p| p.max_links)
            .map(|m| m.min(self.bound));
        self.size = bigger.or(self.size);
        self.seen.clear();
        self.next = Some(first_request(self.endpoint, &self.path, self.size));
    }

    /// Stops the walk: the next call returns `None`.
    pub fn stop(&mut self) {
        self.next = None;
        self.total = None;
        self.splits = None;
        self.spool = None;
    }
}

fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// A record's key as text (the same value has the same text).
fn record_key(record: &Map<String, Value>, key: &str) -> String {
    record.get(key).map(Value::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMIT: PageSize = PageSize {
        param: "limit",
        max: 50,
        max_links: Some(100),
    };
    const CONVERSATIONS: Endpoint = Endpoint {
        path: "/conversations/list",
        records_at: "/data",
        total_at: None,
        pagination: Pagination::Cursor,
        page_size: Some(LIMIT),
        order: Order::Descending,
        ..Endpoint::SINGLE
    };
    const MESSAGES: Endpoint = Endpoint {
        path: "/conversations/{id}/messages",
        records_at: "/data/messages",
        total_at: None,
        pagination: Pagination::Cursor,
        ..Endpoint::SINGLE
    };
    const ACCOUNTS: Endpoint = Endpoint {
        path: "/accounts",
        records_at: "/data/accounts",
        total_at: Some("/data/total"),
        pagination: Pagination::IndexSize,
        page_size: Some(PageSize {
            param: "size",
            max: 65,
            max_links: None,
        }),
        ..Endpoint::SINGLE
    };

    fn next(e: &Endpoint, body: Value, current: &Request, _size: u32) -> Option<String> {
        decode(e, body, current, "id")
            .unwrap()
            .next
            .map(|r| r.to_string())
    }

    #[test]
    fn conversations_follow_either_link_style() {
        let first = first_request(&CONVERSATIONS, CONVERSATIONS.path, Some(50));
        assert_eq!(first.to_string(), "/conversations/list?limit=50");
        let body = json!({"data": [{"id": 1}], "pagination": {"more": true, "next": "a b"}});
        assert_eq!(
            next(&CONVERSATIONS, body, &first, 50).as_deref(),
            Some("/conversations/list?limit=50&next=a+b")
        );
        let body = json!({"data": [], "links": {"next": "https://driftapi.com/conversations/list?page_token=z"}});
        assert_eq!(
            next(&CONVERSATIONS, body, &first, 50).as_deref(),
            Some("/conversations/list?page_token=z")
        );
        let body = json!({"data": [{"id": 1}], "pagination": {"more": false, "next": "q"}});
        assert!(next(&CONVERSATIONS, body, &first, 50).is_none());
    }

    #[test]
    fn a_cursor_is_a_string_or_a_number_in_every_field() {
        let first = first_request(&CONVERSATIONS, CONVERSATIONS.path, Some(50));
        // Drift's older list page types `next` as an integer
        let body = json!({"data": [{"id": 1}], "pagination": {"more": true, "next": 123494893}});
        assert_eq!(
            next(&CONVERSATIONS, body, &first, 50).as_deref(),
            Some("/conversations/list?limit=50&next=123494893")
        );
        let body = json!({"data": [{"id": 1}], "pagination": {"next": 7.0}});
        assert_eq!(
            next(&CONVERSATIONS, body, &first, 50).as_deref(),
            Some("/conversations/list?limit=50&next=7")
        );
        let messages = first_request(&MESSAGES, &MESSAGES.path_for("42"), None);
        let body =
            json!({"data": {"messages": [{"id": 1}]}, "pagination": {"more": true, "next": 8}});
        assert_eq!(
            next(&MESSAGES, body, &messages, 0).as_deref(),
            Some("/conversations/42/messages?next=8")
        );
        // what is neither is an error naming the field and what it held, never a silent end
        for odd in [json!({"at": 3}), json!(true), json!(1.5), json!([1])] {
            let body = json!({"data": [{"id": 1}], "pagination": {"more": true, "next": odd}});
            let e = decode(&CONVERSATIONS, body, &first, "id").unwrap_err();
            assert!(
                e.contains("pagination.next") && e.contains(&odd.to_string()),
                "{e}"
            );
        }
        let body = json!({"data": [], "links": {"next": {"href": "x"}}});
        let e = decode(&CONVERSATIONS, body, &first, "id").unwrap_err();
        assert!(e.contains("links.next"), "{e}");
        let accounts = first_request(&ACCOUNTS, ACCOUNTS.path, Some(10));
        let body = json!({"data": {"accounts": [], "next": false}});
        let e = decode(&ACCOUNTS, body, &accounts, "accountId").unwrap_err();
        assert!(e.contains("data.next"), "{e}");
        // a list that links on by a numeric cursor is not an empty last page
        let list = Envelope::List("/data");
        assert!(list
            .check(&json!({"pagination": {"more": true, "next": 5}}))
            .is_err());
    }

    #[test]
    fn messages_page_within_their_conversation() {
        let path = MESSAGES.path_for("42");
        let first = first_request(&MESSAGES, &path, Some(20));
        assert_eq!(
            first.to_string(),
            "/conversations/42/messages",
            "no limit is sent"
        );
        let body =
            json!({"data": {"messages": [{"id": 1}]}, "pagination": {"more": true, "next": "7"}});
        let second = decode(&MESSAGES, body, &first, "id").unwrap().next.unwrap();
        assert_eq!(second.to_string(), "/conversations/42/messages?next=7");
        let body = json!({"data": {"messages": []}, "pagination": {"more": true, "next": "8"}});
        assert_eq!(
            next(&MESSAGES, body, &second, 20).as_deref(),
            Some("/conversations/42/messages?next=8")
        );
    }

    #[test]
    fn accounts_follow_next_url_and_missing_records_is_an_error() {
        let first = first_request(&ACCOUNTS, ACCOUNTS.path, Some(100));
        assert_eq!(first.to_string(), "/accounts?index=0&size=100");
        assert_eq!(
            first_request(&ACCOUNTS, ACCOUNTS.path, None).to_string(),
            "/accounts?index=0"
        );
        let body = json!({"data": {"accounts": [], "total": 3, "next": "https://driftapi.com/accounts?index=100&size=100"}});
        assert_eq!(
            next(&ACCOUNTS, body, &first, 100).as_deref(),
            Some("/accounts?index=100&size=100")
        );
        let body = json!({"data": {"accounts": [], "next": "/accounts?index=10&size=10"}});
        assert_eq!(
            next(&ACCOUNTS, body, &first, 10).as_deref(),
            Some("/accounts?index=10&size=10")
        );
        let e = decode(
            &ACCOUNTS,
            json!({"data": {"next": "/accounts?index=1"}}),
            &first,
            "accountId",
        )
        .unwrap_err();
        assert!(e.contains("/data/accounts"), "{e}");
    }

    #[test]
    fn records_are_objects_with_their_key() {
        let first = first_request(&ACCOUNTS, ACCOUNTS.path, Some(10));
        let bad = |body: Value| decode(&ACCOUNTS, body, &first, "accountId").unwrap_err();
        assert!(bad(json!({"data": {"accounts": [3]}})).contains("not an object"));
        assert!(bad(json!({"data": {"accounts": [{"accountId": null}]}})).contains("accountId"));
        assert!(Envelope::Object.check(&json!({"data": {}})).is_ok());
        assert!(Envelope::List("/data").check(&json!({"data": {}})).is_err());
    }

    #[test]
    fn a_last_page_without_its_array_is_empty_not_malformed() {
        let list = Envelope::List("/data/accounts");
        assert!(list.check(&json!({"data": {"total": 3}})).is_ok());
        assert!(list.check(&json!({})).is_ok());
        assert!(list
            .check(&json!({"data": {"message": "temporarily unavailable"}}))
            .is_err());
        assert!(list
            .check(&json!({"data": {"total": 3, "next": "/accounts?index=5"}}))
            .is_err());
        let conversations = Envelope::List("/data");
        assert!(conversations.check(&json!({})).is_ok());
        assert!(conversations
            .check(&json!({"pagination": {"more": true, "next": "x"}}))
            .is_err());
        let first = first_request(&ACCOUNTS, ACCOUNTS.path, Some(10));
        let page = decode(
            &ACCOUNTS,
            json!({"data": {"total": 3}}),
            &first,
            "accountId",
        )
        .unwrap();
        assert!(page.records.is_empty() && page.next.is_none());
        assert_eq!(page.total, Some(3));
    }
}
