//! Pages of a list endpoint: the first request, the records of a response, and the next request.
//! Drift pages three ways (see [`Pagination`]); a robust reader follows whichever link the response
//! carries. Pure: no network.

use reqwest::Url;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::streams::{Pagination, StreamDef};

/// One decoded page.
#[derive(Debug)]
pub struct Page {
    /// The records, in API order.
    pub records: Vec<Value>,
    /// Path and query of the next page, relative to the API base URL.
    pub next: Option<String>,
}

fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match Url::parse("http://base.invalid") {
        Ok(u) => u,
        Err(_) => return path.to_string(),
    };
    url.set_path(path);
    url.query_pairs_mut().extend_pairs(pairs);
    match url.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", url.path()),
        _ => url.path().to_string(),
    }
}

/// The first request of a list at `path` (the stream's path, with a child's `{id}` filled in).
pub fn first_request(def: &StreamDef, path: &str, page_size: u32) -> String {
    let size = page_size.to_string();
    match (def.pagination, def.page_size_param) {
        (Pagination::IndexSize, Some(p)) => with_query(path, &[("index", "0"), (p, &size)]),
        (Pagination::Cursor, Some(p)) => with_query(path, &[(p, &size)]),
        _ => path.to_string(),
    }
}

/// The path and query of an absolute or relative next-page URL (the host is replaced by the
/// configured base URL, so proxies and emulators work).
fn relative(next: &str) -> Option<String> {
    if next.starts_with('/') {
        return Some(next.to_string());
    }
    let url = Url::parse(next).ok()?;
    Some(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    })
}

fn nonempty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Whether a list response has the envelope the stream expects (checked inside the retry loop, so
/// an unexpected body is retried like a 5xx).
pub fn check(def: &StreamDef, body: &Value) -> std::result::Result<(), String> {
    match body.pointer(def.records_at) {
        Some(Value::Array(_)) => Ok(()),
        _ => Err(format!("no array at {} in the body", def.records_at)),
    }
}

/// Whether a single-record response carries its record at `data`.
pub fn check_one(body: &Value) -> std::result::Result<(), String> {
    match body.get("data") {
        Some(Value::Object(_)) => Ok(()),
        _ => Err("no object at `data`".into()),
    }
}

/// Decodes one list response of the list at `endpoint` (its path).
pub fn parse_page(def: &StreamDef, body: Value, endpoint: &str, page_size: u32) -> Result<Page> {
    let decode = |reason: String| Error::Decode {
        endpoint: endpoint.to_string(),
        reason,
    };
    let next = match def.pagination {
        Pagination::None => None,
        Pagination::IndexSize => match body.pointer("/data/next") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                nonempty(Some(v))
                    .and_then(relative)
                    .ok_or_else(|| decode(format!("data.next is not a URL: {v}")))?,
            ),
        },
        Pagination::Cursor => {
            let more = body.pointer("/pagination/more").and_then(Value::as_bool) != Some(false);
            if let (true, Some(cursor)) = (more, nonempty(body.pointer("/pagination/next"))) {
                let size = page_size.to_string();
                let param = def.page_size_param.unwrap_or("limit");
                Some(with_query(endpoint, &[(param, &size), ("next", cursor)]))
            } else if let Some(link) = nonempty(body.pointer("/links/next")) {
                Some(
                    relative(link)
                        .ok_or_else(|| decode(format!("links.next is not a URL: {link}")))?,
                )
            } else {
                None
            }
        }
    };
    let records = match body.pointer(def.records_at) {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None if next.is_none() => Vec::new(),
        _ => {
            return Err(decode(format!(
                "no array at {} (a {} list response carries its records there)",
                def.records_at, def.name
            )))
        }
    };
    Ok(Page { records, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::find;
    use serde_json::json;

    #[test]
    fn conversations_follow_either_link_style() {
        let def = find("conversations").unwrap();
        assert_eq!(
            first_request(def, def.path, 50),
            "/conversations/list?limit=50"
        );
        let p = parse_page(
            def,
            json!({"data": [{"id": 1}], "pagination": {"more": true, "next": "a b"}}),
            "/conversations/list",
            50,
        )
        .unwrap();
        assert_eq!(
            p.next.as_deref(),
            Some("/conversations/list?limit=50&next=a+b")
        );
        let p = parse_page(def, json!({"data": [], "links": {"next": "https://driftapi.com/conversations/list?page_token=z"}}), "/x", 50).unwrap();
        assert_eq!(p.next.as_deref(), Some("/conversations/list?page_token=z"));
        let p = parse_page(
            def,
            json!({"data": [{"id": 1}], "pagination": {"more": false, "next": "q"}}),
            "/x",
            50,
        )
        .unwrap();
        assert!(p.next.is_none());
    }

    #[test]
    fn messages_page_within_their_conversation() {
        let def = find("messages").unwrap();
        let path = def.path.replace("{id}", "42");
        assert_eq!(
            first_request(def, &path, 20),
            "/conversations/42/messages?limit=20"
        );
        let p = parse_page(
            def,
            json!({"data": {"messages": [{"id": 1}]}, "pagination": {"more": true, "next": "7"}}),
            &path,
            20,
        )
        .unwrap();
        assert_eq!(
            p.next.as_deref(),
            Some("/conversations/42/messages?limit=20&next=7")
        );
    }

    #[test]
    fn accounts_follow_next_url_and_missing_records_is_an_error() {
        let def = find("accounts").unwrap();
        assert_eq!(
            first_request(def, def.path, 100),
            "/accounts?index=0&size=100"
        );
        let p = parse_page(def, json!({"data": {"accounts": [], "total": 3, "next": "https://driftapi.com/accounts?index=100&size=100"}}), "/x", 100).unwrap();
        assert_eq!(p.next.as_deref(), Some("/accounts?index=100&size=100"));
        assert!(parse_page(
            def,
            json!({"data": {"next": "/accounts?index=1"}}),
            "/accounts",
            1
        )
        .unwrap_err()
        .to_string()
        .contains("/data/accounts"));
    }
}
