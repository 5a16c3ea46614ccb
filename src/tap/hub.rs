//! The Meltano Hub's plugin definition of the extractor (the YAML file the Hub keeps at
//! `_data/meltano/extractors/tap-drift/<variant>.yml`, checked in under `hub/`), generated from the
//! settings table, the capabilities and the stream table so that it cannot fall behind them (a
//! golden test compares the checked-in file). Also what `meltano add --from-ref` reads. No I/O.

use serde_json::{json, Value};

use crate::config::{Setting, SettingKind, SETTINGS};
use crate::streams::{self, STREAMS};
use crate::tap::about::{CAPABILITIES, CREDENTIAL_GROUPS};

/// The variant's name on the Hub (the maintainer's namespace; also the file's name).
pub const VARIANT: &str = "tapdrift";

/// Where the definition lives, relative to the repository (the Hub's own layout below `hub/`).
pub fn path() -> String {
    format!("hub/_data/meltano/extractors/tap-drift/{VARIANT}.yml")
}

/// A setting's label: its words capitalised, abbreviations as people write them.
fn label(name: &str) -> String {
    let words: Vec<String> = name
        .split('_')
        .map(|w| match w {
            "id" => "ID".to_string(),
            "api" => "API".to_string(),
            "url" => "URL".to_string(),
            "ms" => "(ms)".to_string(),
            w => w[..1].to_uppercase() + &w[1..],
        })
        .collect();
    words.join(" ")
}

/// An option's label: what choosing it does.
fn option_label(value: &str) -> &str {
    match value {
        "epoch_ms" => "Epoch milliseconds",
        "date-time" => "RFC 3339 date-time",
        "skip" => "Skip the stream",
        "fail" => "Fail the run",
        "add" => "Add a column",
        "drop" => "Drop the field",
        "debug" => "Debug",
        "info" => "Info",
        other => other,
    }
}

/// A setting as the Hub's `base_setting` schema has it: kind, label, description, default.
fn setting(s: &Setting) -> Value {
    let (kind, value) = match s.kind {
        SettingKind::Secret => ("password", None),
        SettingKind::DateTime => ("date_iso8601", None),
        SettingKind::Integer { default, .. } => ("integer", default.map(|d| json!(d))),
        SettingKind::Number { default, .. } => ("decimal", Some(json!(default))),
        SettingKind::Boolean { default } => ("boolean", Some(json!(default))),
        SettingKind::Choice { default, .. } => ("options", Some(json!(default))),
        // a default shown with a placeholder (`<version>`) is the tap's to fill in
        SettingKind::Text { default } => (
            "string",
            default.filter(|d| !d.contains('<')).map(|d| json!(d)),
        ),
    };
    let mut v = json!({"name": s.name, "label": label(s.name), "kind": kind,
        "description": streams::describe(s)});
    if let SettingKind::Choice { options, .. } = s.kind {
        v["options"] = options
            .iter()
            .map(|o| json!({"label": option_label(o), "value": o}))
            .collect();
    }
    if let Some(value) = value {
        v["value"] = value;
    }
    if s.secret() {
        v["sensitive"] = json!(true);
    }
    v
}

/// The Drift scopes the streams need, for the Hub page's settings section.
fn settings_preamble() -> String {
    let mut md = String::from("The Drift app's token needs a scope per stream (a stream whose scope the token lacks is skipped with a warning, see `on_missing_scope`):\n\n");
    for s in STREAMS {
        md += &format!("- `{}`: `{}`\n", s.name, s.scope);
        if let Some(t) = s.typed_attributes {
            md += &format!(
                "  (and `{}` for its attributes as typed columns)\n",
                t.scope
            );
        }
    }
    md + "\nSet either `access_token`, or `client_id`, `client_secret` and `refresh_token`.\n"
}

/// The definition's fields, in the Hub's key order (alphabetical).
fn definition_value() -> Value {
    let mut caps: Vec<&str> = CAPABILITIES.to_vec();
    caps.sort_unstable();
    json!({
        "capabilities": caps,
        "description": "Conversational Marketing Software",
        "domain_url": "https://www.drift.com/",
        "executable": "tap-drift",
        "keywords": ["api", "rust"],
        "label": "Drift",
        "logo_url": "/assets/logos/extractors/drift.png",
        "maintenance_status": "beta",
        "name": "tap-drift",
        "namespace": "tap_drift",
        "prereq": "A single Rust binary, without Docker or Python: install `tap-drift` on the `PATH` (`cargo install --locked` from the repository). `TAP_DRIFT_SANDBOX=1` runs it against a built-in Drift emulator, without an account.\n",
        "quality": "unknown",
        "settings": SETTINGS.iter().map(setting).collect::<Vec<_>>(),
        "settings_group_validation": CREDENTIAL_GROUPS,
        "settings_preamble": settings_preamble(),
        "variant": VARIANT,
    })
}

/// A scalar as YAML: plain when it cannot be read as anything else, else double-quoted (JSON's
/// escapes are YAML's).
fn scalar(v: &Value) -> String {
    let Value::String(s) = v else {
        return v.to_string();
    };
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./ ".contains(c))
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    match plain {
        true => s.clone(),
        false => v.to_string(),
    }
}

/// A JSON value as block YAML at `indent`, keys in alphabetical order as the Hub's yamllint wants
/// them (strings double-quoted: JSON's escapes are YAML's).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by_key(|(k, _)| *k);
            for (i, (k, v)) in entries.into_iter().enumerate() {
                // the first key of a list item follows its "- "
                if i > 0 || !out.ends_with("- ") {
                    out.push_str(&pad);
                }
                out.push_str(k);
                out.push(':');
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        yaml(v, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        yaml(v, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(v));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                match item {
                    Value::Object(_) => yaml(item, indent + 2, out),
                    Value::Array(a) => out.push_str(&format!("{}\n", Value::Array(a.clone()))),
                    _ => out.push_str(&format!("{}\n", scalar(item))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

/// The definition as the Hub's YAML file.
pub fn definition() -> String {
    let mut out = String::from("# Generated from src/config.rs's settings table by `UPDATE_GOLDEN=1 cargo test --test it generated`.\n");
    yaml(&definition_value(), 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("access_token"), "Access Token");
        assert_eq!(label("client_id"), "Client ID");
        assert_eq!(label("api_url"), "API URL");
        assert_eq!(label("backoff_base_ms"), "Backoff Base (ms)");
    }

    #[test]
    fn the_yaml_nests_objects_in_lists() {
        let mut out = String::new();
        yaml(
            &json!({"a": [{"b": 1, "c": ["x"]}], "d": "e: f"}),
            0,
            &mut out,
        );
        assert_eq!(out, "a:\n- b: 1\n  c:\n  - x\nd: \"e: f\"\n");
        assert_eq!(scalar(&json!("no")), "\"no\"");
        assert_eq!(scalar(&json!("date-time")), "date-time");
        assert_eq!(scalar(&json!("1.5")), "\"1.5\"");
    }
}
