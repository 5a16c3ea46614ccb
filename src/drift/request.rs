//! One request and the answer it expects: [`Request`] (a path and typed query parameters, never a
//! hand-built query string) and [`Envelope`] (the shape a successful body must have). Pure; the
//! client sends, the page walker builds requests.

use std::fmt;

use serde_json::Value;
use url::Url;

/// One GET: a path relative to the API's base URL, and its query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// The path, without host or query (also the endpoint named in logs and errors).
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
}

impl Request {
    /// A request of a path without query.
    pub fn new(path: impl Into<String>) -> Request {
        Request {
            path: path.into(),
            query: Vec::new(),
        }
    }

    /// The same request with one more query parameter.
    pub fn with(mut self, name: &str, value: impl ToString) -> Request {
        self.query.push((name.into(), value.to_string()));
        self
    }

    /// The path and query of an absolute or relative URL (the host is dropped: the configured
    /// base URL is used, so proxies and emulators work).
    pub fn from_link(link: &str) -> Option<Request> {
        let url = match Url::parse(link) {
            Ok(u) => u,
            Err(_) if link.starts_with('/') => {
                Url::parse("http://base.invalid").ok()?.join(link).ok()?
            }
            Err(_) => return None,
        };
        Some(Request {
            path: url.path().to_string(),
            query: url.query_pairs().into_owned().collect(),
        })
    }
}

impl fmt::Display for Request {
    /// `PATH?QUERY`, form-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if !self.query.is_empty() {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.query)
                .finish();
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

/// The envelope a successful response must have; anything else is retried like a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// An array of records at this JSON pointer.
    List(&'static str),
    /// One record, an object at `data`.
    Object,
    /// Any JSON object.
    Any,
}

/// Whether a list response links to a next page, in any of Drift's styles (`data.next`,
/// `pagination.next` unless `more` is false, `links.next`).
pub fn links_on(body: &Value) -> bool {
    let text = |at: &str| {
        body.pointer(at)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let more = body.pointer("/pagination/more").and_then(Value::as_bool) != Some(false);
    text("/data/next") || (more && text("/pagination/next")) || text("/links/next")
}

/// Whether a list response without its records array is an empty last page: it links nowhere, and
/// the object that would hold the array holds only paging fields (anything else is a body of the
/// wrong shape, retried).
fn empty_last_page(body: &Value, records_at: &str) -> bool {
    const PAGING: &[&str] = &["total", "count", "next", "more", "pagination", "links"];
    let parent = records_at.rsplit_once('/').map_or("", |(p, _)| p);
    let only_paging = match body.pointer(parent) {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.keys().all(|k| PAGING.contains(&k.as_str())),
        Some(_) => false,
    };
    only_paging && !links_on(body)
}

impl Envelope {
    /// Whether a body has this envelope; `Err` says what is missing. A list response without its
    /// records array, without a next link and without anything else is an empty last page.
    pub fn check(self, body: &Value) -> std::result::Result<(), String> {
        match (self, self.at(body)) {
            (Envelope::List(_), Some(Value::Array(_))) => Ok(()),
            (Envelope::List(at), None | Some(Value::Null)) if empty_last_page(body, at) => Ok(()),
            (Envelope::Object, Some(Value::Object(_))) => Ok(()),
            (Envelope::Any, Some(Value::Object(_))) => Ok(()),
            (Envelope::Any, _) => Err("the body is not a JSON object".into()),
            (Envelope::List(at), _) => Err(format!(
                "no array at {at} in the body, though it links to a next page"
            )),
            (Envelope::Object, _) => Err("no object at `data`".into()),
        }
    }

    fn at(self, body: &Value) -> Option<&Value> {
        match self {
            Envelope::List(at) => body.pointer(at),
            Envelope::Object => body.get("data"),
            Envelope::Any => Some(body),
        }
    }
}
