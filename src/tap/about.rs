//! `--about`: what Meltano and people read about the tap (text, JSON in the Meltano SDK's exact
//! keys, or Markdown), and the README's settings and streams tables, generated from the one
//! settings table in `config.rs` and the stream table. No I/O.

use serde_json::{json, Map, Value};

use crate::config::{Setting, SettingKind, SETTINGS};
use crate::drift::page::{Endpoint, Pagination};
use crate::drift::span::Span;
use crate::streams::{self, StreamDef, STREAMS};
use crate::tap::cli::AboutFormat;

/// Capabilities actually implemented (`structured-logging`: the SDK's JSON log lines when the
/// `SINGER_SDK_LOG_CONFIG` that Meltano hands such plugins asks for its structured formatter).
pub const CAPABILITIES: &[&str] = &[
    "catalog",
    "discover",
    "state",
    "about",
    "test",
    "activate-version",
    "schema-flattening",
    "structured-logging",
];

/// The settings that make a config complete, one group of which must be set: a token, or the
/// refresh credentials to obtain one.
pub const CREDENTIAL_GROUPS: &[&[&str]] = &[
    &["access_token"],
    &["client_id", "client_secret", "refresh_token"],
];

/// One line saying what the tap is, naming every stream.
pub fn description() -> String {
    format!(
        "Singer tap for Drift: {} from Drift's REST API.",
        streams::names()
    )
}

/// A setting's property in the settings JSON Schema.
fn setting_schema(s: &Setting) -> Value {
    let mut p = match s.kind {
        SettingKind::Integer {
            default: Some(default),
            min,
            max,
        } => {
            json!({"type": ["integer", "null"], "default": default, "minimum": min, "maximum": max})
        }
        SettingKind::Integer {
            default: None,
            min,
            max,
        } => json!({"type": ["integer", "null"], "minimum": min, "maximum": max}),
        SettingKind::Number { default, min, max } => {
            json!({"type": ["number", "null"], "default": default, "minimum": min, "maximum": max})
        }
        SettingKind::DateTime => json!({"type": ["string", "null"], "format": "date-time"}),
        SettingKind::Choice { default, options } => {
            json!({"type": ["string", "null"], "default": default, "enum": options})
        }
        SettingKind::Boolean { default } => {
            json!({"type": ["boolean", "null"], "default": default})
        }
        SettingKind::Text { default: Some(d) } if !d.contains('<') => {
            json!({"type": ["string", "null"], "default": d})
        }
        _ => json!({"type": ["string", "null"]}),
    };
    p["description"] = json!(streams::describe(s));
    if s.secret() {
        p["secret"] = json!(true);
        p["writeOnly"] = json!(true);
    }
    p
}

/// A setting's type as the README and the text format show it, with its range.
fn type_text(s: &Setting) -> String {
    match s.kind {
        SettingKind::Integer { min, max, .. } => format!("integer ({min} to {max})"),
        SettingKind::Number { min, max, .. } => format!("number ({min} to {max})"),
        SettingKind::Choice { options, .. } => options.join(" \\| "),
        other => other.type_name().to_string(),
    }
}

/// The settings as a JSON Schema (secrets marked `secret` and `writeOnly`).
pub fn settings_schema() -> Value {
    let props: Map<String, Value> = SETTINGS
        .iter()
        .map(|s| (s.name.to_string(), setting_schema(s)))
        .collect();
    let any_of: Vec<Value> = CREDENTIAL_GROUPS
        .iter()
        .map(|g| json!({ "required": g }))
        .collect();
    json!({"type": "object", "properties": props, "required": [], "anyOf": any_of})
}

/// The README's config table (kept in sync by a test).
pub fn settings_table() -> String {
    let mut t = String::from("| setting | type | default | environment variable | description |\n|---|---|---|---|---|\n");
    for s in SETTINGS {
        let default = s
            .kind
            .default_text()
            .map_or("—".into(), |d| format!("`{d}`"));
        let secret = if s.secret() {
            " Secret: never printed or logged."
        } else {
            ""
        };
        t += &format!(
            "| `{}` | {} | {default} | `TAP_DRIFT_{}` | {}{secret} |\n",
            s.name,
            type_text(s),
            s.name.to_uppercase(),
            streams::describe(s),
        );
    }
    t
}

/// The README's streams table (kept in sync by a test): each stream's key, replication key and
/// endpoint from the stream table, and its notes.
pub fn streams_table() -> String {
    let mut t = String::from(
        "| stream | key | replication key | endpoint | notes |\n|---|---|---|---|---|\n",
    );
    for s in STREAMS {
        t += &format!(
            "| `{}` | `{}` | {} | `{}` | {} |\n",
            s.name,
            s.key,
            replication_text(s),
            endpoint_text(&s.list),
            s.notes
        );
    }
    t
}

/// A stream's replication key, and how it is read by default when that is not by the key.
fn replication_text(s: &StreamDef) -> String {
    match (s.replication_key, s.incremental_by_default) {
        (Some(key), true) => format!("`{key}`"),
        (Some(key), false) => format!("`{key}` (FULL_TABLE by default)"),
        (None, _) => "— (FULL_TABLE)".to_string(),
    }
}

/// An endpoint as people read it: the method, the path and the query parameters it pages by.
fn endpoint_text(e: &Endpoint) -> String {
    let query = match (e.pagination, e.page_size) {
        (Pagination::IndexSize, Some(p)) => format!("?index=&{}=", p.param),
        (Pagination::Cursor, Some(p)) => format!("?{}=", p.param),
        (Pagination::Span(Span::Query { min, max, .. }), _) => format!("?{min}=&{max}="),
        _ => String::new(),
    };
    let method = match e.pagination {
        Pagination::Span(Span::Report { .. }) => "POST",
        _ => "GET",
    };
    format!("{method} {}{query}", e.path)
}

fn json(description: &str) -> String {
    let about = json!({
        "name": "tap-drift", "description": description, "version": env!("CARGO_PKG_VERSION"),
        "sdk_version": null, "supported_python_versions": null,
        "capabilities": CAPABILITIES, "settings": settings_schema(),
    });
    serde_json::to_string_pretty(&about).unwrap_or_default() + "\n"
}

fn markdown(description: &str) -> String {
    let mut md = format!("# `tap-drift`\n\n{description}\n\nBuilt in Rust; not built with the Meltano Singer SDK.\n\n## Capabilities\n\n");
    for c in CAPABILITIES {
        md += &format!("* `{c}`\n");
    }
    md += "\n## Settings\n\n| Setting | Required | Default | Description |\n|:--------|:--------:|:-------:|:------------|\n";
    for s in SETTINGS {
        let default = s.kind.default_text().unwrap_or_else(|| "None".into());
        md += &format!(
            "| {} | False | {default} | {} |\n",
            s.name,
            streams::describe(s)
        );
    }
    md += "\nA full list of supported settings and capabilities is available by running: `tap-drift --about`\n";
    md
}

fn text(description: &str) -> String {
    let mut t = format!(
        "Name: tap-drift\nDescription: {description}\nVersion: {}\nCapabilities:\n",
        env!("CARGO_PKG_VERSION")
    );
    for c in CAPABILITIES {
        t += &format!("  - {c}\n");
    }
    t += "Settings:\n";
    for s in SETTINGS {
        t += &format!(
            "  - Name: {}\n    Type: {}\n    Required: False\n    Default: {}\n    Environment Variable: TAP_DRIFT_{}\n    Description: {}\n",
            s.name,
            type_text(s),
            s.kind.default_text().unwrap_or_else(|| "None".into()),
            s.name.to_uppercase(),
            streams::describe(s)
        );
    }
    t
}

/// The `--about` text in the asked format.
pub fn render(format: AboutFormat) -> String {
    let description = description();
    match format {
        AboutFormat::Json => json(&description),
        AboutFormat::Markdown => markdown(&description),
        AboutFormat::Text => text(&description),
    }
}
