//! `--sandbox`: starts the built-in Drift emulator on a loopback port and points the raw config at
//! it, before the config is validated. Compiled with the default `sandbox` feature only; without it,
//! `--sandbox` is refused with one line. Touches nothing but the raw config map.

use serde_json::{Map, Value};

use crate::error::Result;

/// The running emulator of a sandbox run; it stops when this is dropped.
#[cfg(feature = "sandbox")]
pub type Guard = drift_emulator::Emulator;

/// Without the `sandbox` feature there is nothing to run.
#[cfg(not(feature = "sandbox"))]
pub type Guard = ();

/// The sandbox's token (the emulator accepts only this one).
pub const SANDBOX_TOKEN: &str = "sandbox-token";

/// A number from the environment, if set and valid.
#[cfg(feature = "sandbox")]
fn env_count(name: &str) -> Option<u32> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// When the sandbox's conversations change: a day after the dataset.
#[cfg(feature = "sandbox")]
const CHANGED_AT: i64 = drift_emulator::EPOCH_END_MS + 86_400_000;

/// Starts the emulator and rewrites `raw` to use it: its URL, its token, and no rate limit (unless
/// the config sets one). So that a second run has something to pick up,
/// `TAP_DRIFT_SANDBOX_CHANGES=N` changes N conversations first, and
/// `TAP_DRIFT_SANDBOX_DELETIONS=N` deletes the first N users and accounts from the account;
/// `TAP_DRIFT_SANDBOX_NEW_FIELDS=1` gives every record a field no column table declares;
/// `TAP_DRIFT_SANDBOX_SEED=N` generates another account (other names, emails, message counts,
/// contacts), so that two sandbox runs can stand for two Drift organizations. For
/// CI, `TAP_DRIFT_SANDBOX_TRUTH=FILE` writes the emulator's own counts of each stream (after those
/// changes, `Emulator::counts`) to FILE, so checks compare the run with the emulator, not with
/// another run.
#[cfg(feature = "sandbox")]
pub async fn start(raw: &mut Map<String, Value>) -> Result<Guard> {
    use drift_emulator::{Dataset, Emulator, Options, Variants};
    use serde_json::json;
    let options = Options {
        variants: Variants {
            unknown_fields: env_count("TAP_DRIFT_SANDBOX_NEW_FIELDS").is_some_and(|n| n > 0),
            ..Variants::default()
        },
        ..Options::new(SANDBOX_TOKEN)
    };
    let dataset = match env_count("TAP_DRIFT_SANDBOX_SEED") {
        Some(seed) => Dataset {
            seed: u64::from(seed),
            ..Dataset::sandbox()
        },
        None => Dataset::sandbox(),
    };
    let emulator = Emulator::start(dataset, options)
        .await
        .map_err(|e| crate::error::Error::Emulator(e.to_string()))?;
    tracing::info!(
        "sandbox: serving an emulated Drift account at {}",
        emulator.base_url
    );
    if let Some(n) = env_count("TAP_DRIFT_SANDBOX_CHANGES") {
        // every 7th conversation gets a new message (and a new updatedAt) a day after the dataset
        let indices: Vec<u32> = (0..n).map(|i| i * 7).collect();
        emulator.touch("conversations", &indices, CHANGED_AT);
        tracing::info!("sandbox: {n} conversations changed since the dataset was generated");
    }
    if let Some(n) = env_count("TAP_DRIFT_SANDBOX_DELETIONS") {
        let indices: Vec<u32> = (0..n).collect();
        emulator.delete("users", &indices);
        emulator.delete("accounts", &indices);
        tracing::info!("sandbox: {n} users and {n} accounts deleted from the account");
    }
    if let Ok(path) = std::env::var("TAP_DRIFT_SANDBOX_TRUTH") {
        let counts = emulator.counts(CHANGED_AT).to_string();
        std::fs::write(&path, counts).map_err(|e| {
            crate::error::Error::Emulator(format!(
                "cannot write its counts to {path} (TAP_DRIFT_SANDBOX_TRUTH): {e}"
            ))
        })?;
    }
    raw.insert("api_url".into(), json!(emulator.base_url));
    raw.insert("access_token".into(), json!(SANDBOX_TOKEN));
    raw.entry("requests_per_minute").or_insert(json!(600_000));
    Ok(emulator)
}

/// Refuses: this build has no emulator.
#[cfg(not(feature = "sandbox"))]
pub async fn start(_raw: &mut Map<String, Value>) -> Result<Guard> {
    Err(crate::error::Error::NoSandbox)
}
