//! Secrets: a string that never shows itself (`Debug` and `Display` print `***`), and [`scrub`],
//! which takes every secret of the process (and anything that looks like a bearer token or a
//! credential field) out of a text before it is printed: whatever a server or proxy echoes back,
//! no log line carries a token. Owns the process's list of secret values; prints nothing itself.

use std::fmt;
use std::sync::RwLock;

/// Every secret value created in this process, longest first (so a secret that contains another
/// is replaced whole).
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Query and form parameters whose values are credentials.
const CREDENTIAL_PARAMS: &[&str] = &["access_token", "refresh_token", "client_secret"];

/// JSON fields whose values are credentials.
const CREDENTIAL_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "client_secret",
    "accessToken",
    "refreshToken",
    "clientSecret",
    "authorization",
    "Authorization",
    "token",
];

/// A secret value (access token, client secret). Only [`Secret::expose`] reveals it, and only the
/// HTTP client calls that.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value, and remembers it so that [`scrub`] takes it out of any text.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        remember(&value);
        Secret(value)
    }
    /// The raw value, for the Authorization header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn remember(value: &str) {
    if value.trim().len() < 4 {
        return; // too short to scrub without mangling ordinary text
    }
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_string());
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Whether a character can be part of a token.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/=".contains(c)
}

/// Replaces what starts at byte `at` and runs until `end` says stop with `***`.
fn mask_from(text: &mut String, at: usize, end: impl Fn(char) -> bool) {
    let stop = text[at..]
        .char_indices()
        .find(|(_, c)| end(*c))
        .map_or(text.len(), |(i, _)| at + i);
    if stop > at {
        text.replace_range(at..stop, "***");
    }
}

/// Masks the value after every occurrence of `marker` (matched without regard to case): the
/// characters `skip` accepts are stepped over (they must include `across`, if given: a JSON
/// field's colon, so that a field merely named in a sentence is left alone), then everything up to
/// where `end` stops is masked.
fn mask_after(
    text: &mut String,
    marker: &str,
    across: Option<char>,
    skip: impl Fn(char) -> bool,
    end: impl Fn(char) -> bool,
) {
    let marker = marker.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = text[from..].to_ascii_lowercase().find(&marker) {
        let gap = from + found + marker.len();
        let mut at = gap;
        while let Some(c) = text[at..].chars().next().filter(|c| skip(*c)) {
            at += c.len_utf8();
        }
        if across.is_none_or(|c| text[gap..at].contains(c)) {
            mask_from(text, at, &end);
            from = (at + 3).min(text.len());
        } else {
            from = at;
        }
    }
}

/// The text with every known secret, bearer token and credential field value replaced by `***`.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    for secret in KNOWN.read().unwrap_or_else(|p| p.into_inner()).iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    let not_token = |c: char| !token_char(c);
    for field in CREDENTIAL_FIELDS {
        // `"field": "value"` in JSON: the whole string value
        mask_after(
            &mut out,
            &format!("\"{field}\""),
            Some(':'),
            |c| " :\"".contains(c),
            |c| c == '"',
        );
    }
    mask_after(&mut out, "bearer ", None, |c| c == ' ', not_token);
    for param in CREDENTIAL_PARAMS {
        mask_after(&mut out, &format!("{param}="), None, |_| false, not_token);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_and_token_shapes_are_scrubbed() {
        let s = Secret::new("s3cr3t-value-77");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(scrub("token s3cr3t-value-77 here"), "token *** here");
        assert_eq!(
            scrub(r#"{"headers": {"authorization": "Bearer abc.def-123"}}"#),
            r#"{"headers": {"authorization": "***"}}"#
        );
        assert_eq!(scrub("echo: Bearer xyz987 end"), "echo: Bearer *** end");
        let hint = r#"is missing: add "access_token" (a Drift OAuth token)"#;
        assert_eq!(scrub(hint), hint);
        assert_eq!(
            scrub("GET /x?access_token=abcd1234&page=2"),
            "GET /x?access_token=***&page=2"
        );
        assert_eq!(
            scrub(r#"{"refresh_token": "rt-1", "expires_in": 7200}"#),
            r#"{"refresh_token": "***", "expires_in": 7200}"#
        );
        assert_eq!(scrub("nothing to hide"), "nothing to hide");
        assert_eq!(scrub("Ünïcödé bearer "), "Ünïcödé bearer ");
    }
}
