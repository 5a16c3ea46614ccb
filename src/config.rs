//! Config files → a typed, validated [`Config`]. Files are merged left to right; unknown keys warn;
//! a missing or malformed value fails with one line naming the setting. The token lives in a
//! [`Secret`]. No network, no stdout.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::schema::TimestampFormat;
use crate::secret::Secret;

/// Default Drift API base URL.
pub const DEFAULT_API_URL: &str = "https://driftapi.com";

/// One documented setting: name, JSON type, default, description. Drives validation and the README.
pub struct Setting {
    /// Key in the config JSON.
    pub name: &'static str,
    /// "string", "integer" or "date-time".
    pub kind: &'static str,
    /// Default shown to users (`None`: no default).
    pub default: Option<&'static str>,
    /// Whether the value is a secret.
    pub secret: bool,
    /// Whether the run fails without it.
    pub required: bool,
    /// What it does.
    pub description: &'static str,
}

/// Every setting the tap reads.
pub static SETTINGS: &[Setting] = &[
    Setting { name: "access_token", kind: "string", default: None, secret: true, required: false,
        description: "Drift OAuth access token of an app with the conversation_read, user_read and account_read scopes. Required unless client_id, client_secret and refresh_token are set." },
    Setting { name: "client_id", kind: "string", default: None, secret: false, required: false,
        description: "OAuth2 client id of the Drift app; with client_secret and refresh_token, the tap obtains access tokens itself (at start without access_token, and once on a 401)." },
    Setting { name: "client_secret", kind: "string", default: None, secret: true, required: false,
        description: "OAuth2 client secret of the Drift app." },
    Setting { name: "refresh_token", kind: "string", default: None, secret: true, required: false,
        description: "OAuth2 refresh token. If Drift rotates it, the new one is used for the run but never written anywhere." },
    Setting { name: "start_date", kind: "date-time", default: None, secret: false, required: false,
        description: "RFC 3339 timestamp; records updated before it are skipped when a stream has no bookmark." },
    Setting { name: "api_url", kind: "string", default: Some(DEFAULT_API_URL), secret: false, required: false,
        description: "Base URL of the Drift API (any http or https URL: a proxy, or the emulator)." },
    Setting { name: "user_agent", kind: "string", default: Some("tap-drift/<version>"), secret: false, required: false,
        description: "User-Agent header sent with every request." },
    Setting { name: "timestamp_format", kind: "string", default: Some("epoch_ms"), secret: false, required: false,
        description: "epoch_ms keeps Drift's epoch-millisecond integers; date-time emits RFC 3339 strings with format date-time (timestamp columns in PostgreSQL). Changing it changes column types." },
    Setting { name: "page_size", kind: "integer", default: Some("50"), secret: false, required: false,
        description: "Records per page for conversations and accounts (1 to 100)." },
    Setting { name: "max_concurrency", kind: "integer", default: Some("8"), secret: false, required: false,
        description: "Requests in flight at once when completing conversations (1 to 64)." },
    Setting { name: "requests_per_minute", kind: "integer", default: Some("300"), secret: false, required: false,
        description: "Client-side rate limit shared by every request of the run." },
    Setting { name: "request_timeout_seconds", kind: "integer", default: Some("60"), secret: false, required: false,
        description: "Timeout of one HTTP request, connect to last byte." },
    Setting { name: "connect_timeout_seconds", kind: "integer", default: Some("10"), secret: false, required: false,
        description: "Timeout for establishing a connection." },
    Setting { name: "max_attempts", kind: "integer", default: Some("5"), secret: false, required: false,
        description: "Attempts per request on 429, 5xx and network errors before the run fails (1 to 20)." },
    Setting { name: "backoff_base_ms", kind: "integer", default: Some("1000"), secret: false, required: false,
        description: "First retry wait in milliseconds; each further retry doubles it (full jitter)." },
    Setting { name: "backoff_max_seconds", kind: "integer", default: Some("60"), secret: false, required: false,
        description: "Longest wait between two attempts (a server's Retry-After may ask for more, up to an hour)." },
];

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
    /// API base URL, without trailing slash.
    pub api_url: reqwest::Url,
    /// User-Agent header.
    pub user_agent: String,
    /// How epoch-millisecond fields are emitted.
    pub timestamp_format: TimestampFormat,
    /// Page size for paged endpoints.
    pub page_size: u32,
    /// Concurrent requests when completing records.
    pub max_concurrency: usize,
    /// Client-side rate limit.
    pub requests_per_minute: u32,
    /// Per-request timeout.
    pub request_timeout_seconds: u64,
    /// Connect timeout.
    pub connect_timeout_seconds: u64,
    /// Attempts per request.
    pub max_attempts: u32,
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
        let obj = crate::read_json_object(path, "config")?;
        merged.extend(obj);
    }
    Ok(merged)
}

/// Settings from `TAP_DRIFT_<NAME>` variables (the process environment wins over `.env` lines),
/// typed as the settings table says. A malformed value stays a string, so validation names it.
pub fn from_env(var: impl Fn(&str) -> Option<String>, dotenv: &str) -> Map<String, Value> {
    let file: Vec<(String, String)> = dotenv
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches(|c| c == '"' || c == '\'').to_string(),
            )
        })
        .collect();
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
                "integer" => v
                    .trim()
                    .parse::<i64>()
                    .map_or(Value::String(v.clone()), Value::from),
                "boolean" => Value::Bool(matches!(
                    v.to_lowercase().as_str(),
                    "true" | "1" | "yes" | "y" | "on" | "t"
                )),
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

fn int(raw: &Map<String, Value>, name: &str, default: i64, min: i64, max: i64) -> Result<i64> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            // Meltano and env-style configs may carry numbers as strings.
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
            match n {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(bad(
                    name,
                    format!("must be an integer from {min} to {max}, got {v}"),
                )),
            }
        }
    }
}

fn string<'a>(raw: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(name, "must be a string")),
    }
}

/// Parses an RFC 3339 timestamp (a bare date is read as midnight UTC) into epoch milliseconds.
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// The `timestamp_format` setting (also read, alone, by discovery).
pub fn timestamp_format(raw: &Map<String, Value>) -> Result<TimestampFormat> {
    match string(raw, "timestamp_format")? {
        None | Some("epoch_ms") => Ok(TimestampFormat::EpochMs),
        Some("date-time") => Ok(TimestampFormat::DateTime),
        Some(other) => Err(bad(
            "timestamp_format",
            format!("must be \"epoch_ms\" or \"date-time\", got {other:?}"),
        )),
    }
}

impl Config {
    /// Validates a merged raw config.
    pub fn from_raw(raw: &Map<String, Value>) -> Result<Config> {
        for key in raw.keys() {
            if !SETTINGS.iter().any(|s| s.name == key) {
                tracing::warn!("ignoring unknown config setting `{key}`");
            }
        }
        let nonempty = |name: &str| -> Result<Option<String>> {
            Ok(string(raw, name)?
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string))
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
                let missing = if id.is_none() {
                    "client_id"
                } else if secret.is_none() {
                    "client_secret"
                } else {
                    "refresh_token"
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
        let start_date_ms = match string(raw, "start_date")? {
            None => None,
            Some(s) => Some(parse_timestamp_ms(s).ok_or_else(|| {
                bad(
                    "start_date",
                    format!("is not an RFC 3339 timestamp (e.g. 2024-01-01T00:00:00Z): {s:?}"),
                )
            })?),
        };
        let url_text = string(raw, "api_url")?.unwrap_or(DEFAULT_API_URL);
        let api_url = reqwest::Url::parse(url_text.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                bad(
                    "api_url",
                    format!("must be an http or https URL, got {url_text:?}"),
                )
            })?;
        let user_agent = string(raw, "user_agent")?
            .map(str::to_string)
            .unwrap_or_else(|| format!("tap-drift/{}", env!("CARGO_PKG_VERSION")));
        Ok(Config {
            timestamp_format: timestamp_format(raw)?,
            access_token,
            oauth,
            start_date_ms,
            api_url,
            user_agent,
            page_size: int(raw, "page_size", 50, 1, 100)? as u32,
            max_concurrency: int(raw, "max_concurrency", 8, 1, 64)? as usize,
            requests_per_minute: int(raw, "requests_per_minute", 300, 1, 1_000_000)? as u32,
            request_timeout_seconds: int(raw, "request_timeout_seconds", 60, 1, 3600)? as u64,
            connect_timeout_seconds: int(raw, "connect_timeout_seconds", 10, 1, 600)? as u64,
            max_attempts: int(raw, "max_attempts", 5, 1, 20)? as u32,
            backoff_base_ms: int(raw, "backoff_base_ms", 1000, 0, 600_000)? as u64,
            backoff_max_seconds: int(raw, "backoff_max_seconds", 60, 0, 3600)? as u64,
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
        assert_eq!(c.api_url.as_str(), "https://driftapi.com/");
        assert!(cfg(json!({"access_token": "t", "page_size": 0}))
            .unwrap_err()
            .to_string()
            .contains("page_size"));
        assert!(cfg(json!({"access_token": "t", "api_url": "ftp://x"}))
            .unwrap_err()
            .to_string()
            .contains("api_url"));
        assert!(cfg(json!({"access_token": "t", "start_date": "yesterday"}))
            .unwrap_err()
            .to_string()
            .contains("start_date"));
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
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
    fn token_never_prints() {
        let c = cfg(json!({"access_token": "s3cr3t-value", "client_id": "i", "client_secret": "s3cr3t-2", "refresh_token": "s3cr3t-3"})).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
