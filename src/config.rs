//! Config files → a typed, validated [`Config`]. The one [`SETTINGS`] table holds each setting's
//! type, default and range; validation, `--config ENV`, `--about` and the README table all read it.
//! Files are merged left to right; unknown keys warn; a missing or malformed value fails with one
//! line naming the setting. Secrets live in a [`Secret`]. No network, no stdout.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::input::read_json_object;
use crate::secret::Secret;
use crate::time::parse_timestamp_ms;

/// Default Drift API base URL.
pub const DEFAULT_API_URL: &str = "https://driftapi.com";

/// A setting's type, with its default and range where it has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingKind {
    /// Free text; the default is what users are shown (`None`: no default).
    Text {
        /// The default as shown to users.
        default: Option<&'static str>,
    },
    /// A secret string: never printed or logged.
    Secret,
    /// An RFC 3339 timestamp.
    DateTime,
    /// An integer within a range.
    Integer {
        /// The value when the setting is absent (`None`: absent means something of its own).
        default: Option<i64>,
        /// The smallest value accepted.
        min: i64,
        /// The largest value accepted.
        max: i64,
    },
    /// A number (fractions allowed) within a range.
    Number {
        /// The value when the setting is absent.
        default: f64,
        /// The smallest value accepted.
        min: f64,
        /// The largest value accepted.
        max: f64,
    },
    /// True or false.
    Boolean {
        /// The value when the setting is absent.
        default: bool,
    },
    /// One of a fixed set of strings.
    Choice {
        /// The value when the setting is absent.
        default: &'static str,
        /// Every value accepted.
        options: &'static [&'static str],
    },
}

impl SettingKind {
    /// The type's name in the README and `--about`.
    pub fn type_name(&self) -> &'static str {
        match self {
            SettingKind::Integer { .. } => "integer",
            SettingKind::Number { .. } => "number",
            SettingKind::DateTime => "date-time",
            SettingKind::Boolean { .. } => "boolean",
            _ => "string",
        }
    }

    /// The default as text, if there is one.
    pub fn default_text(&self) -> Option<String> {
        match self {
            SettingKind::Text { default } => default.map(str::to_string),
            SettingKind::Integer { default, .. } => default.map(|d| d.to_string()),
            SettingKind::Number { default, .. } => Some(default.to_string()),
            SettingKind::Choice { default, .. } => Some((*default).to_string()),
            SettingKind::Boolean { default } => Some(default.to_string()),
            SettingKind::Secret | SettingKind::DateTime => None,
        }
    }
}

/// One documented setting.
#[derive(Debug)]
pub struct Setting {
    /// Key in the config JSON.
    pub name: &'static str,
    /// Type, default and range.
    pub kind: SettingKind,
    /// What it does; `{scopes}` stands for the scope each stream needs, filled in from the stream
    /// table by `streams::describe` (this leaf does not import the streams).
    pub description: &'static str,
}

impl Setting {
    /// Whether the value is a secret.
    pub fn secret(&self) -> bool {
        self.kind == SettingKind::Secret
    }
}

const fn int(default: i64, min: i64, max: i64) -> SettingKind {
    SettingKind::Integer {
        default: Some(default),
        min,
        max,
    }
}

/// An integer setting whose absence means something of its own.
const fn int_or_absent(min: i64, max: i64) -> SettingKind {
    SettingKind::Integer {
        default: None,
        min,
        max,
    }
}

const fn number(default: f64, min: f64, max: f64) -> SettingKind {
    SettingKind::Number { default, min, max }
}

/// Every setting the tap reads.
pub static SETTINGS: &[Setting] = &[
    Setting { name: "access_token", kind: SettingKind::Secret,
        description: "Drift access token. Required unless client_id, client_secret and refresh_token are set. The app needs a scope per stream: {scopes}; Drift grants account_read only on its paid plans. A stream whose scope the token lacks is skipped with a warning (see on_missing_scope). An \"Install to Drift\" token of a private app never expires." },
    Setting { name: "client_id", kind: SettingKind::Text { default: None },
        description: "OAuth2 client id of the Drift app; with client_secret and refresh_token, the tap obtains access tokens itself (at start without access_token, and once on a 401)." },
    Setting { name: "client_secret", kind: SettingKind::Secret,
        description: "OAuth2 client secret of the Drift app." },
    Setting { name: "refresh_token", kind: SettingKind::Secret,
        description: "OAuth2 refresh token. Drift may replace it at every refresh: the tap then writes the new one back into the config file it came from (never into a log), or warns once that it could not." },
    Setting { name: "start_date", kind: SettingKind::DateTime,
        description: "RFC 3339 timestamp; records updated before it are skipped when a stream has no bookmark." },
    Setting { name: "end_date", kind: SettingKind::DateTime,
        description: "RFC 3339 timestamp, optional: no record whose replication key is after it is emitted (conversations, messages and conversation metrics by their update, accounts by theirs, meetings by their slot start), and no bookmark passes it. Streams read whole (FULL_TABLE) ignore it, as they ignore start_date. For a backfill of one range, with a state of its own." },
    Setting { name: "api_url", kind: SettingKind::Text { default: Some(DEFAULT_API_URL) },
        description: "Base URL of the Drift API (any http or https URL: a proxy, or the emulator)." },
    Setting { name: "user_agent", kind: SettingKind::Text { default: Some("tap-drift/<version>") },
        description: "User-Agent header sent with every request." },
    Setting { name: "timestamp_format", kind: SettingKind::Choice { default: "epoch_ms", options: &["epoch_ms", "date-time"] },
        description: "epoch_ms keeps Drift's epoch-millisecond integers; date-time emits RFC 3339 strings with format date-time (timestamp columns in PostgreSQL). Changing it changes column types." },
    Setting { name: "page_size", kind: int(100, 1, 100),
        description: "Upper bound on the records asked for per page; each endpoint also keeps to its own documented maximum (conversations 50, or 100 in the newer links style; accounts 65; messages take the pages Drift gives)." },
    Setting { name: "lookback_seconds", kind: int(300, 0, 86_400),
        description: "Incremental streams re-read this far behind their bookmark, so a record that reached Drift's list late (a lagging search index) is still read; records already sent are recognised and not sent again." },
    Setting { name: "max_concurrency", kind: int(32, 1, 64),
        description: "The most requests in flight at once. Below it, the tap keeps as many in flight as the pace times the time Drift takes to answer (measured as it goes), plus 2 waiting for their slots: 100 a second answered in 100 ms need 10, and 32 leaves room for answers up to about 240 ms at 6000 a minute. Lower it only to spare a slow proxy." },
    Setting { name: "requests_per_minute", kind: int_or_absent(1, 1_000_000),
        description: "A fixed pace: at most this many requests a minute, shared by every request of the run (after a 429 the pace drops, then climbs back, never above it). Absent (the default), the tap finds Drift's pace by itself: it starts at 300 a minute, or a little below the pace the last run settled on (kept in the state), climbs while requests succeed, settles just below the pace of the first 429, and never goes above max_requests_per_minute." },
    Setting { name: "max_requests_per_minute", kind: int(6_000, 1, 1_000_000),
        description: "The highest pace the tap climbs to when requests_per_minute is absent. Drift's limit is per app and undocumented, and other integrations of the org may share it: 6000 (100 a second) reads a 2 000-conversation account in about a minute, and leaves whatever Drift allows beyond it to them. Lower it to leave them more; ignored when requests_per_minute is set." },
    Setting { name: "request_timeout_seconds", kind: int(30, 1, 3600),
        description: "Timeout of one HTTP request, connect to last byte: a server that accepts and never answers costs this long per attempt." },
    Setting { name: "connect_timeout_seconds", kind: int(5, 1, 600),
        description: "Timeout for establishing a connection." },
    Setting { name: "max_retry_minutes", kind: number(10.0, 0.0, 1440.0),
        description: "How long one request is retried through transient failures (5xx, timeouts, resets, bad bodies) before the run fails. During a sustained outage every worker waits, and one request at a time probes. Until Drift has answered once in the run, a connection that cannot be made (refused, DNS, TLS) is retried for 15 seconds only: check api_url and the network." },
    Setting { name: "max_throttle_wait_minutes", kind: number(30.0, 0.0, 1440.0),
        description: "How long the run keeps waiting out Drift's rate limit (429s without a success in between) before it stops; a Retry-After longer than this stops the run at once, saying when to retry." },
    Setting { name: "max_attempts", kind: int(100, 1, 10_000),
        description: "Upper bound on the attempts of one request through transient failures (the time budget, max_retry_minutes, usually ends them first)." },
    Setting { name: "on_missing_scope", kind: SettingKind::Choice { default: "skip", options: &["skip", "fail"] },
        description: "What a stream the token may not read does: skip (one warning; the run goes on and exits 0) or fail (the run stops with one line)." },
    Setting { name: "new_fields", kind: SettingKind::Choice { default: "add", options: &["add", "drop"] },
        description: "What a field Drift sends that the stream's schema lacks becomes: add (the default: a new nullable column, its type inferred from the values and only ever widened; the stream's SCHEMA is sent again before the first record carrying it, with one info line) or drop (one warning per stream and field). A catalog that deselects any field of a stream has chosen its fields: new ones are then dropped." },
    Setting { name: "contact_attribute_columns", kind: SettingKind::Boolean { default: true },
        description: "With the all_contact_read scope, each of the account's contact attributes (GET /contacts/attributes: Drift's standard ones and every custom one) becomes a typed column of the contacts stream (one request a run, and one in --discover with a config)." },
    Setting { name: "contact_attributes_object", kind: SettingKind::Boolean { default: true },
        description: "Whether contacts also keep their attributes whole, as one object column (attributes)." },
    Setting { name: "flattening_enabled", kind: SettingKind::Boolean { default: false },
        description: "Flatten objects into columns named parent__child (in SCHEMA and RECORD alike), down to flattening_max_depth, as the Meltano SDK does; arrays stay JSON. For warehouses without JSON functions." },
    Setting { name: "flattening_max_depth", kind: int(1, 1, 10),
        description: "How many levels of objects flattening_enabled turns into columns (1: author becomes author__id, author__type, …; deeper objects stay JSON)." },
    Setting { name: "metrics_log_level", kind: SettingKind::Choice { default: "debug", options: &["debug", "info"] },
        description: "The level of the per-request METRIC lines (http_request_duration, as the Meltano SDK names them): debug (the default: shown only when the log level is debug) or info (always). The per-stream record_count METRIC lines are always at info." },
    Setting { name: "backoff_base_ms", kind: int(1000, 0, 600_000),
        description: "First retry wait in milliseconds; each further retry doubles it (full jitter)." },
    Setting { name: "backoff_max_seconds", kind: int(60, 0, 3600),
        description: "Longest wait between two attempts (a server's Retry-After may ask for more, up to an hour)." },
];

/// Whether a raw config carries credentials (a token, or a refresh token): whether it may reach
/// Drift, for what is learnt from the account (discovery's attribute columns).
pub fn has_credentials(raw: &Map<String, Value>) -> bool {
    ["access_token", "refresh_token"]
        .iter()
        .any(|k| raw.get(*k).is_some_and(|v| !v.is_null()))
}

/// Looks a setting up by name.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// How epoch-millisecond fields are typed and emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// Integers, as Drift sends them (the default: existing tables never change type).
    #[default]
    EpochMs,
    /// RFC 3339 strings with `format: date-time`, so targets create timestamp columns.
    DateTime,
}

/// OAuth2 refresh credentials.
#[derive(Debug, Clone)]
pub struct OAuth {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: Secret,
    /// The refresh token.
    pub refresh_token: Secret,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bearer token (absent when it is to be obtained by OAuth2 refresh).
    pub access_token: Option<Secret>,
    /// Refresh credentials, when all three are set.
    pub oauth: Option<OAuth>,
    /// Lower bound for streams without bookmark, epoch ms.
    pub start_date_ms: Option<i64>,
    /// No record whose replication value is after this is emitted; no bookmark passes it.
    pub end_date_ms: Option<i64>,
    /// API base URL, without trailing slash.
    pub api_url: reqwest::Url,
    /// User-Agent header.
    pub user_agent: String,
    /// How epoch-millisecond fields are emitted.
    pub timestamp_format: TimestampFormat,
    /// Upper bound of the page size asked for (each endpoint keeps to its own maximum too).
    pub page_size: u32,
    /// How far behind its bookmark an incremental stream re-reads, in milliseconds.
    pub lookback_ms: i64,
    /// Concurrent requests when completing records.
    pub max_concurrency: usize,
    /// A fixed pace (`None`: the tap finds Drift's pace by itself, up to `max_requests_per_minute`).
    pub requests_per_minute: Option<u32>,
    /// The highest pace a probing run climbs to.
    pub max_requests_per_minute: u32,
    /// Per-request timeout.
    pub request_timeout_seconds: u64,
    /// Connect timeout.
    pub connect_timeout_seconds: u64,
    /// How long one request is retried through transient failures.
    pub max_retry: std::time::Duration,
    /// How long the run waits out rate limiting before it stops.
    pub max_throttle_wait: std::time::Duration,
    /// Attempts per request (an upper bound beside the time budget).
    pub max_attempts: u32,
    /// Whether a stream the token may not read fails the run (else it is skipped).
    pub fail_on_missing_scope: bool,
    /// Whether the per-request METRIC lines are logged at info (else at debug).
    pub request_metrics_at_info: bool,
    /// Whether a field a record carries that its stream's schema lacks is added (else dropped).
    pub add_new_fields: bool,
    /// Whether contact attributes become typed columns (with the scope).
    pub contact_attribute_columns: bool,
    /// Whether contacts keep their attributes object too.
    pub contact_attributes_object: bool,
    /// How many levels of objects become `parent__child` columns (`None`: no flattening).
    pub flattening: Option<u32>,
    /// First retry wait.
    pub backoff_base_ms: u64,
    /// Cap of one backoff wait.
    pub backoff_max_seconds: u64,
}

/// Reads and merges config files (later files override earlier keys). The literal `ENV` reads the
/// `TAP_DRIFT_<SETTING>` environment variables (and a `.env` file in the working directory) instead.
pub fn read_files(paths: &[impl AsRef<Path>]) -> Result<Map<String, Value>> {
    let mut merged = Map::new();
    for path in paths {
        let path = path.as_ref();
        if path == Path::new("ENV") {
            let dotenv = std::fs::read_to_string(".env").unwrap_or_default();
            merged.extend(from_env(|k| std::env::var(k).ok(), &dotenv));
            continue;
        }
        merged.extend(read_json_object(path, "config")?);
    }
    airbyte_shapes(&mut merged)?;
    Ok(merged)
}

/// The OAuth2 keys of Airbyte's `credentials` object that are taken only together.
const OAUTH_KEYS: [&str; 3] = ["client_id", "client_secret", "refresh_token"];

/// Reads the keys of a config saved for Airbyte's own `source-drift` into ours: its `credentials`
/// object (`{"credentials": "access_token", "access_token"}` or `{"credentials": "oauth2.0",
/// "client_id", "client_secret", "access_token", "refresh_token"}`) becomes the flat keys (a flat
/// key that is set wins), and its `email` (which filtered its contacts) is dropped with one info
/// line. Empty values are left out: Airbyte saved an empty `refresh_token` by default, and then
/// the access token alone is used.
pub fn airbyte_shapes(raw: &mut Map<String, Value>) -> Result<()> {
    if raw.remove("email").is_some_and(|e| !e.is_null()) {
        tracing::info!("ignoring `email` (Airbyte's source-drift config): every contact is read");
    }
    let credentials = match raw.remove("credentials") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(c)) => c,
        Some(_) => return Err(bad("credentials", "must be an object, as Airbyte saves it: {\"credentials\": \"access_token\", \"access_token\": \"…\"} or {\"credentials\": \"oauth2.0\", \"client_id\", \"client_secret\", \"access_token\", \"refresh_token\"}")),
    };
    match credentials.get("credentials") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "access_token" || s == "oauth2.0" => {}
        Some(other) => {
            return Err(bad(
                "credentials.credentials",
                format!("must be \"access_token\" or \"oauth2.0\", got {other}"),
            ))
        }
    }
    let given = |k: &str| {
        credentials
            .get(k)
            .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
    };
    let oauth = OAUTH_KEYS.iter().all(|k| given(k).is_some());
    for (key, value) in &credentials {
        let wanted = match key.as_str() {
            "credentials" => false,
            "access_token" => true,
            // a part of the OAuth2 trio alone is taken only when there is no token to use instead
            k if OAUTH_KEYS.contains(&k) => oauth || given("access_token").is_none(),
            other => {
                tracing::warn!("ignoring unknown config setting `credentials.{other}`");
                false
            }
        };
        let flat_set = raw.get(key).is_some_and(|v| !v.is_null());
        if wanted && !flat_set && given(key).is_some() {
            raw.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}

/// The `KEY=value` lines of a `.env` file (comments, blank lines and `export ` prefixes allowed).
fn dotenv_lines(dotenv: &str) -> Vec<(String, String)> {
    dotenv
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// Settings from `TAP_DRIFT_<NAME>` variables (the process environment wins over `.env` lines),
/// typed as the settings table says. A malformed value stays a string, so validation names it.
pub fn from_env(var: impl Fn(&str) -> Option<String>, dotenv: &str) -> Map<String, Value> {
    let file = dotenv_lines(dotenv);
    let mut out = Map::new();
    for s in SETTINGS {
        let name = format!("TAP_DRIFT_{}", s.name.to_uppercase());
        let value = var(&name).or_else(|| {
            file.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        });
        if let Some(v) = value {
            let typed = match s.kind {
                SettingKind::Integer { .. } => v
                    .trim()
                    .parse::<i64>()
                    .map_or(Value::String(v.clone()), Value::from),
                SettingKind::Number { .. } => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::String(v.clone()), Value::Number),
                _ => Value::String(v),
            };
            out.insert(s.name.into(), typed);
        }
    }
    out
}

fn bad(setting: &str, reason: impl Into<String>) -> Error {
    Error::Config {
        setting: setting.to_string(),
        reason: reason.into(),
    }
}

/// An integer setting, within the range its [`Setting`] declares; its default when absent.
fn integer(raw: &Map<String, Value>, name: &str) -> Result<i64> {
    optional_integer(raw, name)?.ok_or_else(|| bad(name, "has no default (a bug in tap-drift)"))
}

/// An integer setting, within the range its [`Setting`] declares; `None` when it is absent and
/// has no default.
fn optional_integer(raw: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    let Some(SettingKind::Integer { default, min, max }) = setting(name).map(|s| s.kind) else {
        return Err(bad(name, "is not an integer setting (a bug in tap-drift)"));
    };
    match raw.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            // Meltano and env-style configs may carry numbers as strings.
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
            match n {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(bad(
                    name,
                    format!("must be an integer from {min} to {max}, got {v}"),
                )),
            }
        }
    }
}

/// An integer setting as an unsigned number (every integer setting's range starts at 0 or more).
fn unsigned<T: TryFrom<i64>>(raw: &Map<String, Value>, name: &str) -> Result<T> {
    T::try_from(integer(raw, name)?).map_err(|_| bad(name, "is out of range"))
}

/// A number setting in minutes, as a duration, within the range its [`Setting`] declares.
fn minutes(raw: &Map<String, Value>, name: &str) -> Result<std::time::Duration> {
    let Some(SettingKind::Number { default, min, max }) = setting(name).map(|s| s.kind) else {
        return Err(bad(name, "is not a number setting (a bug in tap-drift)"));
    };
    let n = match raw.get(name) {
        None | Some(Value::Null) => Some(default),
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())),
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(std::time::Duration::from_secs_f64(n * 60.0)),
        _ => Err(bad(
            name,
            format!(
                "must be a number from {min} to {max}, got {}",
                raw.get(name).cloned().unwrap_or_default()
            ),
        )),
    }
}

fn string<'a>(raw: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(name, "must be a string")),
    }
}

/// A boolean setting (`true`/`false`, also as strings, as Meltano and env-style configs write them).
fn boolean(raw: &Map<String, Value>, name: &str) -> Result<bool> {
    let Some(SettingKind::Boolean { default }) = setting(name).map(|s| s.kind) else {
        return Err(bad(name, "is not a boolean setting (a bug in tap-drift)"));
    };
    match raw.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(bad(name, format!("must be true or false, got {other}"))),
    }
}

/// A choice setting: one of the options its [`Setting`] declares.
fn choice(raw: &Map<String, Value>, name: &str) -> Result<&'static str> {
    let Some(SettingKind::Choice { default, options }) = setting(name).map(|s| s.kind) else {
        return Err(bad(name, "is not a choice setting (a bug in tap-drift)"));
    };
    let Some(given) = string(raw, name)? else {
        return Ok(default);
    };
    // in any case: `INFO` as Meltano writes levels, `info` as the table does
    match options.iter().find(|o| o.eq_ignore_ascii_case(given)) {
        Some(option) => Ok(option),
        None => {
            let other = given;
            let quoted: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
            Err(bad(
                name,
                format!("must be {}, got {other:?}", quoted.join(" or ")),
            ))
        }
    }
}

/// The `timestamp_format` setting (also read, alone, by discovery).
pub fn timestamp_format(raw: &Map<String, Value>) -> Result<TimestampFormat> {
    Ok(match choice(raw, "timestamp_format")? {
        "date-time" => TimestampFormat::DateTime,
        _ => TimestampFormat::EpochMs,
    })
}

/// A text that goes into a request (a header, a form, a URL) must hold no control character: a
/// line break or tab inside a pasted value cannot form a request, and would otherwise be retried
/// as a transient fault. The error names the setting and where, never the value (it may be a
/// secret).
fn sendable(name: &str, value: &str) -> Result<()> {
    match value.chars().position(char::is_control) {
        None => Ok(()),
        Some(at) => Err(bad(
            name,
            format!("contains a control character (a line break or tab?) at character {}: it cannot go into a request; set it again as one line", at + 1),
        )),
    }
}

/// The credentials: an access token, refresh credentials, or both.
fn credentials(raw: &Map<String, Value>) -> Result<(Option<Secret>, Option<OAuth>)> {
    let nonempty = |name: &str| -> Result<Option<String>> {
        let value = string(raw, name)?
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        value.as_deref().map(|v| sendable(name, v)).transpose()?;
        Ok(value)
    };
    let access_token = nonempty("access_token")?.map(Secret::new);
    let oauth = match (
        nonempty("client_id")?,
        nonempty("client_secret")?,
        nonempty("refresh_token")?,
    ) {
        (Some(client_id), Some(secret), Some(refresh)) => Some(OAuth {
            client_id,
            client_secret: Secret::new(secret),
            refresh_token: Secret::new(refresh),
        }),
        (None, None, None) => None,
        (id, secret, _) => {
            let missing = match (id, secret) {
                (None, _) => "client_id",
                (_, None) => "client_secret",
                _ => "refresh_token",
            };
            return Err(bad(missing, "is missing: OAuth2 refresh needs client_id, client_secret and refresh_token together"));
        }
    };
    if access_token.is_none() && oauth.is_none() {
        return Err(bad(
            "access_token",
            "is missing: add \"access_token\" (a Drift OAuth token), or client_id, client_secret and refresh_token",
        ));
    }
    Ok((access_token, oauth))
}

fn date(raw: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    string(raw, name)?
        .map(|s| {
            parse_timestamp_ms(s).ok_or_else(|| {
                bad(
                    name,
                    format!("is not an RFC 3339 timestamp (e.g. 2024-01-01T00:00:00Z): {s:?}"),
                )
            })
        })
        .transpose()
}

/// `start_date` and `end_date`, the second after the first.
fn dates(raw: &Map<String, Value>) -> Result<(Option<i64>, Option<i64>)> {
    let (start, end) = (date(raw, "start_date")?, date(raw, "end_date")?);
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(bad(
                "end_date",
                "is not after start_date: set end_date later than start_date, or leave it out",
            ));
        }
    }
    Ok((start, end))
}

/// The base URL: http or https with a host; no control character (the URL parser would drop a
/// line break silently), no user or password (they would be shown in logs and errors), no query
/// or fragment (the tap appends paths to it).
fn api_url(raw: &Map<String, Value>) -> Result<reqwest::Url> {
    let url_text = string(raw, "api_url")?.unwrap_or(DEFAULT_API_URL);
    sendable("api_url", url_text)?;
    let url = reqwest::Url::parse(url_text.trim_end_matches('/'))
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let Some(url) = url else {
        return Err(bad(
            "api_url",
            format!("must be an http or https URL, got {url_text:?}"),
        ));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("api_url", "must not hold a user name or password: give Drift's (or your proxy's) address alone, and a proxy's credentials in HTTPS_PROXY"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "api_url",
            format!(
                "must not have a query or fragment (the tap appends paths to it), got {url_text:?}"
            ),
        ));
    }
    Ok(url)
}

impl Config {
    /// Validates a merged raw config.
    pub fn from_raw(raw: &Map<String, Value>) -> Result<Config> {
        for key in raw.keys().filter(|k| setting(k).is_none()) {
            tracing::warn!("ignoring unknown config setting `{key}`");
        }
        let (access_token, oauth) = credentials(raw)?;
        let user_agent = string(raw, "user_agent")?
            .map(str::to_string)
            .unwrap_or_else(|| format!("tap-drift/{}", env!("CARGO_PKG_VERSION")));
        sendable("user_agent", &user_agent)?;
        let (start_date_ms, end_date_ms) = dates(raw)?;
        Ok(Config {
            timestamp_format: timestamp_format(raw)?,
            access_token,
            oauth,
            start_date_ms,
            end_date_ms,
            api_url: api_url(raw)?,
            user_agent,
            page_size: unsigned(raw, "page_size")?,
            lookback_ms: integer(raw, "lookback_seconds")? * 1000,
            max_concurrency: unsigned(raw, "max_concurrency")?,
            requests_per_minute: optional_integer(raw, "requests_per_minute")?
                .map(|n| {
                    u32::try_from(n).map_err(|_| bad("requests_per_minute", "is out of range"))
                })
                .transpose()?,
            max_requests_per_minute: unsigned(raw, "max_requests_per_minute")?,
            request_timeout_seconds: unsigned(raw, "request_timeout_seconds")?,
            connect_timeout_seconds: unsigned(raw, "connect_timeout_seconds")?,
            max_attempts: unsigned(raw, "max_attempts")?,
            max_retry: minutes(raw, "max_retry_minutes")?,
            max_throttle_wait: minutes(raw, "max_throttle_wait_minutes")?,
            fail_on_missing_scope: choice(raw, "on_missing_scope")? == "fail",
            request_metrics_at_info: choice(raw, "metrics_log_level")? == "info",
            add_new_fields: choice(raw, "new_fields")? == "add",
            contact_attribute_columns: boolean(raw, "contact_attribute_columns")?,
            contact_attributes_object: boolean(raw, "contact_attributes_object")?,
            flattening: boolean(raw, "flattening_enabled")?
                .then(|| unsigned(raw, "flattening_max_depth"))
                .transpose()?,
            backoff_base_ms: unsigned(raw, "backoff_base_ms")?,
            backoff_max_seconds: unsigned(raw, "backoff_max_seconds")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<Config> {
        Config::from_raw(v.as_object().unwrap())
    }

    #[test]
    fn missing_token_names_the_setting() {
        let e = cfg(json!({})).unwrap_err().to_string();
        assert!(e.contains("access_token"), "{e}");
    }

    #[test]
    fn defaults_and_validation() {
        let c = cfg(json!({"access_token": "t", "page_size": "20"})).unwrap();
        assert_eq!(c.page_size, 20);
        assert_eq!(c.max_concurrency, 32);
        assert_eq!(c.api_url.as_str(), "https://driftapi.com/");
        let e = cfg(json!({"access_token": "t", "page_size": 0}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("page_size") && e.contains("from 1 to 100"),
            "{e}"
        );
        assert!(cfg(json!({"access_token": "t", "api_url": "ftp://x"}))
            .unwrap_err()
            .to_string()
            .contains("api_url"));
        let both = json!({"access_token": "t", "start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"});
        assert!(cfg(both).unwrap_err().to_string().contains("end_date"));
        let range = json!({"access_token": "t", "start_date": "2024-01-01T00:00:00Z", "end_date": "2024-02-01T00:00:00Z"});
        assert_eq!(cfg(range).unwrap().end_date_ms, Some(1_706_745_600_000));
        assert!(cfg(json!({"access_token": "t", "start_date": "yesterday"}))
            .unwrap_err()
            .to_string()
            .contains("start_date"));
        let e = cfg(json!({"access_token": "t", "timestamp_format": "iso"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"epoch_ms\" or \"date-time\""), "{e}");
    }

    #[test]
    fn an_absent_requests_per_minute_leaves_the_pace_to_the_tap() {
        let c = cfg(json!({"access_token": "t"})).unwrap();
        assert_eq!(c.requests_per_minute, None);
        assert_eq!(c.max_requests_per_minute, 6_000);
        let c = cfg(json!({"access_token": "t", "requests_per_minute": "600", "max_requests_per_minute": 900})).unwrap();
        assert_eq!(
            (c.requests_per_minute, c.max_requests_per_minute),
            (Some(600), 900)
        );
        let e = cfg(json!({"access_token": "t", "requests_per_minute": 0}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("requests_per_minute") && e.contains("from 1"),
            "{e}"
        );
    }

    #[test]
    fn every_setting_read_by_name_is_in_the_table() {
        // `integer` and `choice` look settings up by name: a typo would be a runtime error
        let c = cfg(json!({"access_token": "t"})).unwrap();
        assert_eq!(c.timestamp_format, TimestampFormat::EpochMs);
        for s in SETTINGS {
            if let SettingKind::Integer { default, min, max } = s.kind {
                let default = default.unwrap_or(min);
                assert!(min <= default && default <= max, "{}", s.name);
                assert!(min >= 0, "{} is read as unsigned", s.name);
            }
        }
    }

    #[test]
    fn env_settings_are_typed_and_override_dotenv() {
        let env = |k: &str| (k == "TAP_DRIFT_PAGE_SIZE").then(|| "25".to_string());
        let m = from_env(
            env,
            "# c\nexport TAP_DRIFT_ACCESS_TOKEN=\"abc\"\nTAP_DRIFT_PAGE_SIZE=9\nOTHER=1\n",
        );
        assert_eq!(m.get("page_size"), Some(&json!(25)));
        assert_eq!(m.get("access_token"), Some(&json!("abc")));
        assert_eq!(m.len(), 2);
    }

    fn shaped(v: Value) -> Result<Map<String, Value>> {
        let mut raw = v.as_object().unwrap().clone();
        airbyte_shapes(&mut raw).map(|()| raw)
    }

    #[test]
    fn airbyte_credentials_become_the_flat_keys() {
        let token = shaped(json!({"credentials": {"credentials": "access_token", "access_token": "t"}, "email": "a@b.c"})).unwrap();
        assert_eq!(Value::Object(token), json!({"access_token": "t"}));
        let oauth = json!({"credentials": "oauth2.0", "client_id": "i", "client_secret": "s", "access_token": "t", "refresh_token": "r"});
        let flat = shaped(json!({ "credentials": oauth })).unwrap();
        let c = Config::from_raw(&flat).unwrap();
        assert!(c.access_token.is_some() && c.oauth.is_some());
        // the refresh token Airbyte left empty: the access token alone
        let empty = json!({"credentials": "oauth2.0", "client_id": "i", "client_secret": "s", "access_token": "t", "refresh_token": ""});
        let c = Config::from_raw(&shaped(json!({ "credentials": empty })).unwrap()).unwrap();
        assert!(c.access_token.is_some() && c.oauth.is_none());
        // a flat key that is set wins
        let both =
            shaped(json!({"access_token": "flat", "credentials": {"access_token": "nested"}}))
                .unwrap();
        assert_eq!(both["access_token"], "flat");
        for bad in [
            json!({"credentials": "t"}),
            json!({"credentials": {"credentials": "api_key"}}),
        ] {
            let e = shaped(bad).unwrap_err().to_string();
            assert!(e.contains("`credentials"), "{e}");
        }
    }

    #[test]
    fn oauth_needs_all_three() {
        let c = cfg(json!({"client_id": "i", "client_secret": "s", "refresh_token": "r"})).unwrap();
        assert!(c.access_token.is_none() && c.oauth.is_some());
        let e = cfg(json!({"client_id": "i", "refresh_token": "r"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("client_secret"), "{e}");
    }

    #[test]
    fn values_that_cannot_form_a_request_fail_naming_the_setting_not_the_value() {
        let all = json!({"access_token": "t", "client_id": "i", "client_secret": "s", "refresh_token": "r"});
        for name in [
            "access_token",
            "client_id",
            "client_secret",
            "refresh_token",
            "user_agent",
        ] {
            let mut raw = all.clone();
            raw[name] = json!("s3cr3t\nsecond-line");
            let e = cfg(raw).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{name}`")) && e.contains("control character"),
                "{e}"
            );
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        // a line break at either end is trimmed, as pasted values often carry one
        assert!(cfg(json!({"access_token": "t\n"})).is_ok());
        for url in [
            "https://drift\napi.com",
            "https://user:pw@driftapi.com",
            "https://driftapi.com/?x=1",
            "https://driftapi.com/#top",
        ] {
            let e = cfg(json!({"access_token": "t", "api_url": url}))
                .unwrap_err()
                .to_string();
            assert!(e.contains("`api_url`"), "{e}");
            assert!(!e.contains("pw@"), "{e}");
        }
        let proxy = cfg(json!({"access_token": "t", "api_url": "http://127.0.0.1:8080/drift/"}));
        assert_eq!(
            proxy.unwrap().api_url.as_str(),
            "http://127.0.0.1:8080/drift"
        );
    }

    #[test]
    fn token_never_prints() {
        let c = cfg(json!({"access_token": "s3cr3t-value", "client_id": "i", "client_secret": "s3cr3t-2", "refresh_token": "s3cr3t-3"})).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
