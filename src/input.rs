//! The tap's input files (config, catalog, state): reading a JSON object from disk, and turning a
//! parser's reason into an error that names the file and the fix. The parsers themselves (in
//! `config.rs` and `singer/`) never see a path; this is the one place that does.

use std::path::{Path, PathBuf};

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

/// Turns the reason a bookmark cannot be used into the error naming the state file it came from
/// (`None`: no state file was given).
pub fn state_error(path: Option<PathBuf>) -> Box<dyn Fn(String) -> Error> {
    Box::new(move |reason| {
        bad_file(
            "state",
            path.as_deref().unwrap_or(Path::new("(none)")),
            reason,
        )
    })
}

/// Whether a state file given on the command line exists yet. One that does not is a first run,
/// said in one info line (so `--state state.json` works on day one); a file that exists but
/// cannot be read (a directory, permissions, bad JSON) stays an error when it is read.
pub fn state_exists(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(
                "state file {} does not exist yet: a first run, every stream from start_date (save the last STATE of this run there for the next one)",
                path.display()
            );
            false
        }
        _ => true,
    }
}

/// Reads a JSON file; errors name the file and the fix.
pub fn read_json(path: &Path, kind: &'static str) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| bad_file(kind, path, e.to_string()))?;
    serde_json::from_str(&text)
        .map_err(|e| bad_file(kind, path, format!("it is not valid JSON ({e})")))
}

/// Reads a JSON file that must hold an object; errors name the file and the fix.
pub fn read_json_object(path: &Path, kind: &'static str) -> Result<Map<String, Value>> {
    match read_json(path, kind)? {
        Value::Object(m) => Ok(m),
        _ => Err(bad_file(kind, path, "it must hold a JSON object")),
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

/// Reads any JSON value from `path` (an Airbyte state may be a list) and hands it to `parse`.
pub fn parse_json_file<T>(
    path: &Path,
    kind: &'static str,
    parse: impl FnOnce(Value) -> std::result::Result<T, String>,
) -> Result<T> {
    parse(read_json(path, kind)?).map_err(|reason| bad_file(kind, path, reason))
}
