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
}

impl Envelope {
    /// Whether a body has this envelope; `Err` says what is missing.
    pub fn check(self, body: &Value) -> std::result::Result<(), String> {
        match (self, self.at(body)) {
            (Envelope::List(_), Some(Value::Array(_))) => Ok(()),
            (Envelope::Object, Some(Value::Object(_))) => Ok(()),
            (Envelope::List(at), _) => Err(format!("no array at {at} in the body")),
            (Envelope::Object, _) => Err("no object at `data`".into()),
        }
    }

    fn at(self, body: &Value) -> Option<&Value> {
        match self {
            Envelope::List(at) => body.pointer(at),
            Envelope::Object => body.get("data"),
        }
    }
}
