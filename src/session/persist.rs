//! Keeping a rotated refresh token: where a setting came from (the last config file that set it,
//! or the environment), and writing a new value back into that file: an atomic replace, mode 0600,
//! every other key and their order untouched. Never logs a value; says what it did, once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};

use crate::secret::Secret;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A config file.
    File(PathBuf),
    /// `--config ENV`: the environment or a `.env` file.
    Env,
}

/// Where `key` came from among the `--config` arguments (the last one that set it wins).
pub fn source_of(paths: &[PathBuf], key: &str) -> Option<Source> {
    let mut source = None;
    for path in paths {
        if path == Path::new("ENV") {
            let var = format!("TAP_DRIFT_{}", key.to_uppercase());
            let dotenv = std::fs::read_to_string(".env").unwrap_or_default();
            if std::env::var_os(&var).is_some() || dotenv.contains(&format!("{var}=")) {
                source = Some(Source::Env);
            }
        } else if crate::input::read_json_object(path, "config").is_ok_and(|m| m.contains_key(key))
        {
            source = Some(Source::File(path.clone()));
        }
    }
    source
}

/// Sets `key` to `value` in the JSON config file at `path`, replacing the file atomically (a
/// temporary file beside it, mode 0600, then a rename); other keys keep their values and order.
pub fn write_setting(path: &Path, key: &str, value: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut config: Map<String, Value> =
        serde_json::from_str(&text).map_err(std::io::Error::other)?;
    config.insert(key.to_string(), Value::String(value.to_string()));
    let mut out = if text.contains('\n') {
        serde_json::to_string_pretty(&config)
    } else {
        serde_json::to_string(&config)
    }
    .map_err(std::io::Error::other)?;
    if text.ends_with('\n') {
        out.push('\n');
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(out.as_bytes())?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            // best effort: a leftover temporary file holds a secret
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// What to do with a refresh token Drift rotated: save it where the old one came from, or say
/// once what the user must update.
pub fn on_rotate(source: Option<Source>) -> impl Fn(&Secret) + Send + Sync {
    let warned = AtomicBool::new(false);
    move |token: &Secret| {
        let warn_once = |what: String| {
            if !warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("drift replaced the refresh token: {what}");
            }
        };
        match &source {
            Some(Source::File(path)) => match write_setting(path, "refresh_token", token.expose()) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "drift replaced the refresh token; the new one is saved in the config file");
                    if path.to_string_lossy().contains(".meltano/run/") {
                        warn_once("Meltano deletes this config file after the run, so update `refresh_token` in Meltano's settings, or use an access token from \"Install to Drift\", which never expires".into());
                    }
                }
                Err(e) => warn_once(format!("it could not be saved in {} ({e}): update `refresh_token` there before the next run", path.display())),
            },
            Some(Source::Env) => warn_once("it came from the environment (TAP_DRIFT_REFRESH_TOKEN), which the tap cannot change: update it before the next run".into()),
            None => warn_once("update `refresh_token` in the config before the next run".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_replaced_in_place_and_the_rest_kept() {
        let dir = std::env::temp_dir().join(format!("tap-drift-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            "{\n  \"z\": 1,\n  \"refresh_token\": \"old\",\n  \"a\": [true]\n}\n",
        )
        .unwrap();
        write_setting(&path, "refresh_token", "new").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\n  \"z\": 1,\n  \"refresh_token\": \"new\",\n  \"a\": [\n    true\n  ]\n}\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            source_of(std::slice::from_ref(&path), "refresh_token"),
            Some(Source::File(path.clone()))
        );
        assert_eq!(source_of(std::slice::from_ref(&path), "nope"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
