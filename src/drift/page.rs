//! Pages of Drift's lists: the typed [`Endpoint`], the decoding of one response into a [`Page`]
//! (records checked once: objects with their key), and [`Pages`], the one page walker with its loop
//! guard. Drift pages three ways (see
//! [`Pagination`]); the walker follows whichever link a response carries. Knows nothing of Singer
//! or of the stream table.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::drift::client::DriftClient;
pub use crate::drift::request::{Envelope, Request};
use crate::error::{Error, Result};

/// How an endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pagination {
    /// One call returns everything.
    Single,
    /// `index`/`size` query parameters; the response carries the URL of the next page.
    IndexSize,
    /// `limit` plus an opaque cursor: `pagination.next` (sent back as `next`) or `links.next` (a URL).
    Cursor,
}

/// The order in which a list comes, with respect to the stream's replication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// No documented order: read everything, filter client-side.
    Unordered,
    /// Most recently updated first: a reader may stop at the first record older than it needs.
    Descending,
}

/// A list endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The path, with `{id}` where a parent's key goes.
    pub path: &'static str,
    /// JSON pointer to the array of records in a response.
    pub records_at: &'static str,
    /// How it pages.
    pub pagination: Pagination,
    /// The query parameter carrying the page size (`None` when the endpoint takes none).
    pub page_size_param: Option<&'static str>,
    /// The list's order.
    pub order: Order,
}

impl Endpoint {
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
}

fn nonempty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The request for the first page of a list at `path`.
pub fn first_request(endpoint: &Endpoint, path: &str, page_size: u32) -> Request {
    let request = Request::new(path);
    match (endpoint.pagination, endpoint.page_size_param) {
        (Pagination::IndexSize, Some(p)) => request.with("index", 0).with(p, page_size),
        (Pagination::Cursor, Some(p)) => request.with(p, page_size),
        _ => request,
    }
}

/// The next page a response links to, in whichever style it carries.
fn next_request(
    endpoint: &Endpoint,
    body: &Value,
    current: &Request,
    page_size: u32,
) -> std::result::Result<Option<Request>, String> {
    let link = |v: &str, what: &str| {
        Request::from_link(v).ok_or_else(|| format!("{what} is not a URL: {v}"))
    };
    Ok(match endpoint.pagination {
        Pagination::Single => None,
        Pagination::IndexSize => match body.pointer("/data/next") {
            None | Some(Value::Null) => None,
            Some(v) => Some(link(nonempty(Some(v)).unwrap_or_default(), "data.next")?),
        },
        Pagination::Cursor => {
            let more = body.pointer("/pagination/more").and_then(Value::as_bool) != Some(false);
            if let (true, Some(cursor)) = (more, nonempty(body.pointer("/pagination/next"))) {
                let param = endpoint.page_size_param.unwrap_or("limit");
                Some(
                    Request::new(current.path.clone())
                        .with(param, page_size)
                        .with("next", cursor),
                )
            } else if let Some(next) = nonempty(body.pointer("/links/next")) {
                Some(link(next, "links.next")?)
            } else {
                None
            }
        }
    })
}

/// Decodes one list response: its records (objects with their `key`) and its next page.
pub fn decode(
    endpoint: &Endpoint,
    mut body: Value,
    current: &Request,
    page_size: u32,
    key: &str,
) -> std::result::Result<Page, String> {
    let next = next_request(endpoint, &body, current, page_size)?;
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
    })
}

/// Walks the pages of one list, in order, refusing to request the same page twice.
#[derive(Debug)]
pub struct Pages<'a> {
    endpoint: &'a Endpoint,
    key: &'a str,
    tag: &'a str,
    page_size: u32,
    next: Option<Request>,
    seen: HashSet<Request>,
}

impl<'a> Pages<'a> {
    /// The pages of the list at `path` (the endpoint's path with any `{id}` filled in), whose
    /// records are keyed by `key`; `tag` (a stream name) labels the requests' metrics.
    pub fn new(
        endpoint: &'a Endpoint,
        path: &str,
        key: &'a str,
        tag: &'a str,
        page_size: u32,
    ) -> Pages<'a> {
        Pages {
            endpoint,
            key,
            tag,
            page_size,
            next: Some(first_request(endpoint, path, page_size)),
            seen: HashSet::new(),
        }
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self, client: &DriftClient) -> Result<Option<Page>> {
        let Some(request) = self.next.take() else {
            return Ok(None);
        };
        if !self.seen.insert(request.clone()) {
            return Err(Error::PaginationLoop {
                endpoint: request.path.clone(),
                request: request.to_string(),
            });
        }
        let envelope = Envelope::List(self.endpoint.records_at);
        let body = client.get(&request, self.tag, envelope).await?;
        let page =
            decode(self.endpoint, body, &request, self.page_size, self.key).map_err(|reason| {
                Error::Decode {
                    endpoint: request.path.clone(),
                    reason: format!("{} list: {reason}", self.tag),
                }
            })?;
        self.next.clone_from(&page.next);
        Ok(Some(page))
    }

    /// Stops the walk: the next call returns `None`.
    pub fn stop(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONVERSATIONS: Endpoint = Endpoint {
        path: "/conversations/list",
        records_at: "/data",
        pagination: Pagination::Cursor,
        page_size_param: Some("limit"),
        order: Order::Descending,
    };
    const MESSAGES: Endpoint = Endpoint {
        path: "/conversations/{id}/messages",
        records_at: "/data/messages",
        pagination: Pagination::Cursor,
        page_size_param: Some("limit"),
        order: Order::Unordered,
    };
    const ACCOUNTS: Endpoint = Endpoint {
        path: "/accounts",
        records_at: "/data/accounts",
        pagination: Pagination::IndexSize,
        page_size_param: Some("size"),
        order: Order::Unordered,
    };

    fn next(e: &Endpoint, body: Value, current: &Request, size: u32) -> Option<String> {
        decode(e, body, current, size, "id")
            .unwrap()
            .next
            .map(|r| r.to_string())
    }

    #[test]
    fn conversations_follow_either_link_style() {
        let first = first_request(&CONVERSATIONS, CONVERSATIONS.path, 50);
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
    fn messages_page_within_their_conversation() {
        let path = MESSAGES.path_for("42");
        let first = first_request(&MESSAGES, &path, 20);
        assert_eq!(first.to_string(), "/conversations/42/messages?limit=20");
        let body =
            json!({"data": {"messages": [{"id": 1}]}, "pagination": {"more": true, "next": "7"}});
        assert_eq!(
            next(&MESSAGES, body, &first, 20).as_deref(),
            Some("/conversations/42/messages?limit=20&next=7")
        );
    }

    #[test]
    fn accounts_follow_next_url_and_missing_records_is_an_error() {
        let first = first_request(&ACCOUNTS, ACCOUNTS.path, 100);
        assert_eq!(first.to_string(), "/accounts?index=0&size=100");
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
            1,
            "accountId",
        )
        .unwrap_err();
        assert!(e.contains("/data/accounts"), "{e}");
    }

    #[test]
    fn records_are_objects_with_their_key() {
        let first = first_request(&ACCOUNTS, ACCOUNTS.path, 10);
        let bad = |body: Value| decode(&ACCOUNTS, body, &first, 10, "accountId").unwrap_err();
        assert!(bad(json!({"data": {"accounts": [3]}})).contains("not an object"));
        assert!(bad(json!({"data": {"accounts": [{"accountId": null}]}})).contains("accountId"));
        assert!(Envelope::Object.check(&json!({"data": {}})).is_ok());
        assert!(Envelope::List("/data").check(&json!({"data": {}})).is_err());
    }
}
