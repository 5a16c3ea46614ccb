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

/// The one reader of every cursor field (`pagination.next`, `links.next`, accounts' `data.next`,
/// a message list's cursor): the value at the JSON pointer `at` as text. A cursor is a string or
/// an integer (Drift's older list page types `next` as one); absent, null or empty means no next
/// page. Anything else (an object, a fraction, a number too large to read exactly) is an error
/// naming the field and what it held.
pub fn cursor(body: &Value, at: &str) -> std::result::Result<Option<String>, String> {
    /// The largest integer a JSON number read as a float holds exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let field = || at.trim_start_matches('/').replace('/', ".");
    match body.pointer(at) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < EXACT => Ok(Some(format!("{f:.0}"))),
            _ => Err(format!(
                "{} is a number that is not an integer cursor, or too large to read exactly: {n}",
                field()
            )),
        },
        Some(other) => Err(format!(
            "{} is neither a string nor a number: {other}",
            field()
        )),
    }
}

/// Whether a list response links to a next page, in any of Drift's styles (`data.next`,
/// `pagination.next` unless `more` is false, `links.next`); a cursor field that cannot be read
/// counts as a link (the body is then not an empty last page).
pub fn links_on(body: &Value) -> bool {
    let text = |at: &str| !matches!(cursor(body, at), Ok(None));
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
