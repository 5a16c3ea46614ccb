//! The tap's input files (config, catalog, state): reading a JSON object from disk, and turning a
//! parser's reason into an error that names the file and the fix. The parsers themselves (in
//! `config.rs` and `singer/`) never see a path; this is the one place that does.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The error for an input file: its kind ("config", "catalog" or "state"), its path, and why.
pub fn bad_file(kind: &'static str, path: &Path, reason: impl Into<String>) -> Error {
    Error::InputFile {
        kind,
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads a JSON file that must hold an object; errors name the file and the fix.
pub fn read_json_object(path: &Path, kind: &'static str) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| bad_file(kind, path, e.to_string()))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_file(kind, path, "it must hold a JSON object")),
        Err(e) => Err(bad_file(kind, path, format!("it is not valid JSON ({e})"))),
    }
}

/// Reads a JSON object from `path` and hands it to `parse`; a parse failure names the file.
pub fn parse_file<T>(
    path: &Path,
    kind: &'static str,
    parse: impl FnOnce(Value) -> std::result::Result<T, String>,
) -> Result<T> {
    let value = Value::Object(read_json_object(path, kind)?);
    parse(value).map_err(|reason| bad_file(kind, path, reason))
}
