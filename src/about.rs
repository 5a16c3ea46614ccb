//! `--about`: what Meltano and people read about the tap (text, JSON in the Meltano SDK's exact
//! keys, or Markdown), generated from the one settings table in `config.rs`. No I/O.

use serde_json::{json, Map, Value};

use crate::config::SETTINGS;

/// Capabilities actually implemented.
/// (JSON log lines are offered through `TAP_DRIFT_LOG_FORMAT=json`, but the SDK's
/// `structured-logging` capability also means honouring `SINGER_SDK_LOG_CONFIG`, which this tap does not.)
pub const CAPABILITIES: &[&str] = &["catalog", "discover", "state", "about", "test"];

const DESCRIPTION: &str =
    "Singer tap for Drift: accounts, conversations and users from Drift's REST API.";

/// The settings as a JSON Schema (secrets marked `secret` and `writeOnly`).
pub fn settings_schema() -> Value {
    let mut props = Map::new();
    for s in SETTINGS {
        let mut p = match s.kind {
            "integer" => json!({"type": ["integer", "null"]}),
            "boolean" => json!({"type": ["boolean", "null"]}),
            "date-time" => json!({"type": ["string", "null"], "format": "date-time"}),
            _ if s.required => json!({"type": ["string"]}),
            _ => json!({"type": ["string", "null"]}),
        };
        if let Some(d) = s.default.filter(|d| !d.contains('<')) {
            p["default"] = match s.kind {
                "integer" => d.parse::<i64>().map_or(json!(d), |n| json!(n)),
                _ => json!(d),
            };
        }
        p["description"] = json!(s.description);
        if s.secret {
            p["secret"] = json!(true);
            p["writeOnly"] = json!(true);
        }
        props.insert(s.name.into(), p);
    }
    let required: Vec<&str> = SETTINGS
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name)
        .collect();
    json!({"type": "object", "properties": props, "required": required,
        // a token, or the refresh credentials to obtain one
        "anyOf": [{"required": ["access_token"]}, {"required": ["client_id", "client_secret", "refresh_token"]}]})
}

/// The README's config table (kept in sync by a test).
pub fn settings_table() -> String {
    let mut t = String::from("| setting | type | default | environment variable | description |\n|---|---|---|---|---|\n");
    for s in SETTINGS {
        let default = match (s.default, s.required) {
            (Some(d), _) => format!("`{d}`"),
            (None, true) => "required".into(),
            (None, false) => "—".into(),
        };
        t += &format!(
            "| `{}` | {} | {} | `TAP_DRIFT_{}` | {}{} |\n",
            s.name,
            s.kind,
            default,
            s.name.to_uppercase(),
            s.description,
            if s.secret {
                " Secret: never printed or logged."
            } else {
                ""
            }
        );
    }
    t
}

/// The `--about` text in one of `text`, `json`, `markdown`.
pub fn render(format: &str) -> String {
    match format {
        "json" => {
            let about = json!({
                "name": "tap-drift", "description": DESCRIPTION, "version": env!("CARGO_PKG_VERSION"),
                "sdk_version": null, "supported_python_versions": null,
                "capabilities": CAPABILITIES, "settings": settings_schema(),
            });
            serde_json::to_string_pretty(&about).unwrap_or_default() + "\n"
        }
        "markdown" => {
            let mut md = format!("# `tap-drift`\n\n{DESCRIPTION}\n\nBuilt in Rust; not built with the Meltano Singer SDK.\n\n## Capabilities\n\n");
            for c in CAPABILITIES {
                md += &format!("* `{c}`\n");
            }
            md += "\n## Settings\n\n| Setting | Required | Default | Description |\n|:--------|:--------:|:-------:|:------------|\n";
            for s in SETTINGS {
                md += &format!(
                    "| {} | {} | {} | {} |\n",
                    s.name,
                    if s.required { "True" } else { "False" },
                    s.default.unwrap_or("None"),
                    s.description
                );
            }
            md += "\nA full list of supported settings and capabilities is available by running: `tap-drift --about`\n";
            md
        }
        _ => {
            let mut t = format!(
                "Name: tap-drift\nDescription: {DESCRIPTION}\nVersion: {}\nCapabilities:\n",
                env!("CARGO_PKG_VERSION")
            );
            for c in CAPABILITIES {
                t += &format!("  - {c}\n");
            }
            t += "Settings:\n";
            for s in SETTINGS {
                t += &format!(
                    "  - Name: {}\n    Type: {}\n    Required: {}\n    Default: {}\n    Environment Variable: TAP_DRIFT_{}\n    Description: {}\n",
                    s.name,
                    s.kind,
                    s.required,
                    s.default.unwrap_or("None"),
                    s.name.to_uppercase(),
                    s.description
                );
            }
            t
        }
    }
}
