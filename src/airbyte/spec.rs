//! The connector specification the Airbyte platform shows users: `documentationUrl`, the
//! connection specification (every setting of the one settings table, typed, with a human title,
//! its `order` in the form, examples and a pattern where a string has a form; plus Airbyte
//! `source-drift`'s `credentials` shapes, so a config saved for that connector validates), and
//! `advanced_auth`, the "Authenticate your Drift account" OAuth 2.0 button. Pure: reads the
//! settings table, never a config.

use serde_json::{json, Map, Value};

use crate::config::{Setting, SettingKind, SETTINGS};

/// The setup guide the platform links to: Airbyte's page for Drift, which documents the same
/// `credentials` shapes and OAuth button (this repository's own page is `airbyte/drift.md`).
pub const DOCUMENTATION_URL: &str = "https://docs.airbyte.com/integrations/sources/drift";

/// Drift's OAuth 2.0 consent page and token endpoint.
const AUTHORIZE_URL: &str = "https://dev.drift.com/authorize";
const TOKEN_URL: &str = "https://driftapi.com/oauth2/token";

/// A token or id: one word, surrounding white space allowed (it is trimmed).
const WORD: &str = r"^\s*\S+\s*$";
/// An RFC 3339 timestamp.
const DATE_TIME: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";

/// The settings' human titles; a setting not listed is titled from its name.
const TITLES: &[(&str, &str)] = &[
    ("access_token", "Access Token"),
    ("client_id", "Client ID"),
    ("client_secret", "Client Secret"),
    ("refresh_token", "Refresh Token"),
    ("start_date", "Start Date"),
    ("api_url", "API URL"),
    ("user_agent", "User-Agent"),
    ("timestamp_format", "Timestamp Format"),
    ("page_size", "Page Size"),
    ("lookback_seconds", "Lookback (seconds)"),
    ("max_concurrency", "Concurrent Requests"),
    ("requests_per_minute", "Fixed Requests per Minute"),
    ("max_requests_per_minute", "Highest Requests per Minute"),
    ("request_timeout_seconds", "Request Timeout (seconds)"),
    ("connect_timeout_seconds", "Connect Timeout (seconds)"),
    ("max_retry_minutes", "Retry Budget (minutes)"),
    ("max_throttle_wait_minutes", "Rate-Limit Patience (minutes)"),
    ("max_attempts", "Attempts per Request"),
    ("on_missing_scope", "When a Scope Is Missing"),
    ("new_fields", "New Fields"),
    ("contact_attribute_columns", "Contact Attribute Columns"),
    (
        "contact_attributes_object",
        "Keep the Contact Attributes Object",
    ),
    ("flattening_enabled", "Flatten Objects"),
    ("flattening_max_depth", "Flattening Depth"),
    ("metrics_log_level", "Request Metrics Log Level"),
    ("backoff_base_ms", "First Retry Wait (ms)"),
    ("backoff_max_seconds", "Longest Retry Wait (seconds)"),
];

/// The flat credential keys: hidden in the platform's form, which shows `credentials` instead.
const FLAT_CREDENTIALS: [&str; 4] = [
    "access_token",
    "client_id",
    "client_secret",
    "refresh_token",
];

/// `max_requests_per_minute` → "Max requests per minute", for a setting without a title.
fn title_of(name: &str) -> String {
    if let Some((_, t)) = TITLES.iter().find(|(n, _)| *n == name) {
        return (*t).to_string();
    }
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map_or(String::new(), |c| {
        c.to_uppercase().chain(chars).collect::<String>()
    })
}

/// A setting's type, range and default, with examples and a pattern for a free string.
fn typed(s: &Setting) -> Value {
    match s.kind {
        SettingKind::Integer { default, min, max } => {
            let mut p = json!({"type": "integer", "minimum": min, "maximum": max,
                "examples": [default.unwrap_or(600.clamp(min, max))]});
            if let Some(d) = default {
                p["default"] = json!(d);
            }
            p
        }
        SettingKind::Number { default, min, max } => json!({"type": "number", "default": default,
            "minimum": min, "maximum": max, "examples": [default]}),
        SettingKind::Choice { default, options } => {
            json!({"type": "string", "default": default, "enum": options, "examples": options})
        }
        SettingKind::Boolean { default } => {
            json!({"type": "boolean", "default": default, "examples": [default]})
        }
        SettingKind::DateTime => json!({"type": "string", "format": "date-time",
            "pattern": DATE_TIME, "pattern_descriptor": "YYYY-MM-DDTHH:mm:ssZ",
            "examples": ["2024-01-01T00:00:00Z"]}),
        SettingKind::Secret => json!({"type": "string", "airbyte_secret": true, "pattern": WORD}),
        SettingKind::Text { default } => {
            let pattern = match s.name {
                "api_url" => r"^https?://[^\s/?#@]+[^\s?#@]*$",
                "client_id" => WORD,
                _ => r"^[^\n\r\t]*$",
            };
            let mut p = json!({"type": "string", "pattern": pattern});
            if let Some(d) = default.filter(|_| s.name == "api_url") {
                p["default"] = json!(d);
            }
            // a text without a default is an id (a Drift app's client id looks like this one)
            p["examples"] = json!([default.unwrap_or("xY3kZp9QwE2rT5uI")]);
            p
        }
    }
}

/// Airbyte `source-drift`'s `credentials`: a token, or an OAuth 2.0 app's id, secret and tokens.
fn credentials() -> Value {
    let secret = |title: &str, description: &str| {
        json!({"type": "string", "title": title, "description": description,
            "airbyte_secret": true, "pattern": WORD})
    };
    json!({"type": "object", "title": "Authorization Method", "order": 0,
        "description": "How to authenticate to Drift: OAuth 2.0 (the \"Authenticate your Drift account\" button), or an access token from a Drift app.",
        "oneOf": [
            {"type": "object", "title": "OAuth2.0", "required": ["client_id", "client_secret", "access_token", "refresh_token"],
             "properties": {
                "credentials": {"type": "string", "const": "oauth2.0", "order": 0},
                "client_id": {"type": "string", "title": "Client ID", "description": "The Client ID of your Drift app.", "airbyte_secret": true, "pattern": WORD, "order": 1},
                "client_secret": secret("Client Secret", "The Client Secret of your Drift app."),
                "access_token": secret("Access Token", "The access token the OAuth flow gave (renewed with the refresh token)."),
                "refresh_token": secret("Refresh Token", "The refresh token that renews the access token (Drift may rotate it).")}},
            {"type": "object", "title": "Access Token", "required": ["access_token"],
             "properties": {
                "credentials": {"type": "string", "const": "access_token", "order": 0},
                "access_token": secret("Access Token", "A Drift app's access token (\"Install to Drift\" gives one that never expires). Its scopes decide which streams are read.")}}]})
}

/// The connection specification: `credentials`, every setting, `sandbox`, and `email` (accepted
/// from an Airbyte config, ignored); valid with a token or refresh credentials in either shape,
/// or the sandbox.
pub fn connection_specification() -> Value {
    let mut props = Map::new();
    props.insert("credentials".into(), credentials());
    for (order, s) in SETTINGS.iter().enumerate() {
        let mut p = typed(s);
        p["title"] = json!(title_of(s.name));
        p["description"] = json!(crate::streams::describe(s));
        p["order"] = json!(order + 1);
        if FLAT_CREDENTIALS.contains(&s.name) {
            p["airbyte_hidden"] = json!(true);
        }
        props.insert(s.name.into(), p);
    }
    let last = SETTINGS.len() + 1;
    props.insert("sandbox".into(), json!({"type": "boolean", "default": false, "title": "Sandbox",
        "order": last, "examples": [true],
        "description": "Read the built-in Drift emulator instead of Drift (no token needed): to try the source."}));
    props.insert("email".into(), json!({"type": "string", "title": "Email (ignored)",
        "airbyte_hidden": true, "order": last + 1, "examples": ["someone@example.com"],
        "pattern": r"^[^\s@]*@?[^\s@]*$",
        "description": "Kept from Airbyte's own Drift connector, which filtered contacts by it: ignored (every contact is read)."}));
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Drift Source Spec",
        "type": "object", "properties": props, "additionalProperties": true,
        "anyOf": [{"required": ["credentials"]}, {"required": ["access_token"]},
            {"required": ["client_id", "client_secret", "refresh_token"]},
            {"required": ["sandbox"], "properties": {"sandbox": {"const": true}}}]})
}

/// `advanced_auth`: the platform's OAuth 2.0 flow for the `oauth2.0` branch of `credentials`,
/// with the app's id and secret from the server side and the tokens it obtains written into it.
pub fn advanced_auth() -> Value {
    let into =
        |key: &str| json!({"type": "string", "path_in_connector_config": ["credentials", key]});
    let consent = format!("{AUTHORIZE_URL}?response_type=code&{{{{client_id_key}}}}={{{{client_id_value}}}}&{{{{redirect_uri_key}}}}={{{{redirect_uri_value | urlEncoder}}}}&{{{{state_key}}}}={{{{state_value}}}}");
    let token = format!("{TOKEN_URL}?grant_type=authorization_code&{{{{client_id_key}}}}={{{{client_id_value}}}}&{{{{client_secret_key}}}}={{{{client_secret_value}}}}&{{{{auth_code_key}}}}={{{{auth_code_value}}}}&{{{{redirect_uri_key}}}}={{{{redirect_uri_value | urlEncoder}}}}");
    json!({"auth_flow_type": "oauth2.0", "predicate_key": ["credentials", "credentials"],
        "predicate_value": "oauth2.0",
        "oauth_config_specification": {
            "oauth_connector_input_specification": {"consent_url": consent, "access_token_url": token,
                "extract_output": ["access_token", "refresh_token"]},
            "complete_oauth_output_specification": {"type": "object", "additionalProperties": false,
                "properties": {"access_token": into("access_token"), "refresh_token": into("refresh_token")}},
            "complete_oauth_server_input_specification": {"type": "object", "additionalProperties": false,
                "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"}}},
            "complete_oauth_server_output_specification": {"type": "object", "additionalProperties": false,
                "properties": {"client_id": into("client_id"), "client_secret": into("client_secret")}}}})
}

/// The `spec` of the SPEC message.
pub fn spec() -> Value {
    json!({"documentationUrl": DOCUMENTATION_URL,
        "connectionSpecification": connection_specification(),
        "supportsIncremental": true,
        "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        "advanced_auth": advanced_auth()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_has_a_title_an_order_and_examples_or_a_secret() {
        let spec = connection_specification();
        let props = spec["properties"].as_object().unwrap();
        let mut orders: Vec<i64> = Vec::new();
        for (name, p) in props {
            assert!(p["title"].is_string(), "{name}");
            orders.push(p["order"].as_i64().unwrap_or_else(|| panic!("{name}")));
            let secret = p["airbyte_secret"] == true;
            assert!(
                name == "credentials" || secret || p["examples"].is_array(),
                "{name}"
            );
            if p["type"] == "string" && p.get("enum").is_none() {
                assert!(p["pattern"].is_string(), "{name}");
            }
        }
        orders.sort_unstable();
        orders.dedup();
        assert_eq!(orders.len(), props.len(), "each property its own place");
        assert_eq!(title_of("end_date"), "End date");
    }
}
