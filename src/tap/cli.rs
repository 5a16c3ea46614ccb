//! The command line, as Singer and the Meltano SDK define it, and the [`Mode`] it asks for. Reads
//! no files.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::sync::TestMode;

/// Singer tap for Drift: reads Drift's REST API (streams: see --discover) and writes SCHEMA, RECORD
/// and STATE messages to stdout.
#[derive(Debug, Parser)]
#[command(name = "tap-drift", version, about, long_about = None)]
pub struct Cli {
    /// Config JSON file; repeatable, merged left to right.
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Print the catalog (streams, schemas, metadata) and exit.
    #[arg(long)]
    pub discover: bool,
    /// Catalog JSON file selecting streams and fields.
    #[arg(long, value_name = "FILE", conflicts_with = "properties")]
    pub catalog: Option<PathBuf>,
    /// Legacy name of --catalog.
    #[arg(long, value_name = "FILE")]
    pub properties: Option<PathBuf>,
    /// State JSON file to resume from (accepted, and ignored, with --discover).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Run against a built-in Drift emulator on a loopback port: no account or config needed (as
    /// does TAP_DRIFT_SANDBOX=1, for runners such as Meltano that add no arguments).
    #[arg(long)]
    pub sandbox: bool,
    /// Print what the tap is and its settings, then exit.
    #[arg(long)]
    pub about: bool,
    /// Print what a sync of the selected streams would cost (requests, and time at the configured
    /// pace), learnt with a few cheap calls, then exit.
    #[arg(long)]
    pub estimate: bool,
    /// Format of --about.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = AboutFormat::Text)]
    pub format: AboutFormat,
    /// Connection test: `--test` syncs one record per stream, `--test=schema` writes only SCHEMA messages.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "all", value_enum)]
    pub test: Option<TestMode>,
}

/// The formats of `--about`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AboutFormat {
    /// Plain text, as the Meltano SDK prints it.
    Text,
    /// JSON in the Meltano SDK's keys.
    Json,
    /// Markdown.
    Markdown,
}

/// What a command line asks the tap to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--about`.
    About(AboutFormat),
    /// `--discover`.
    Discover,
    /// `--estimate`.
    Estimate,
    /// A sync, or a connection test (`--test`).
    Sync(Option<TestMode>),
}

impl Cli {
    /// The catalog file, from --catalog or --properties.
    pub fn catalog_file(&self) -> Option<&PathBuf> {
        self.catalog.as_ref().or(self.properties.as_ref())
    }

    /// Turns the sandbox on when `TAP_DRIFT_SANDBOX` (`value`) says so: `1` or `true` (`0`, `false`
    /// or empty leave the command line as it is); anything else is an error naming the variable.
    pub fn with_sandbox_env(mut self, value: Option<&str>) -> Result<Cli, String> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "0" | "false") => {}
            Some("1" | "true") => self.sandbox = true,
            Some(other) => {
                return Err(format!(
                    "TAP_DRIFT_SANDBOX is \"{other}\": set it to 1 (run against the built-in emulator) or 0, or unset it"
                ))
            }
        }
        Ok(self)
    }

    /// The mode: `--about` wins over `--discover`, which wins over `--estimate`, which wins over a
    /// sync.
    pub fn mode(&self) -> Mode {
        if self.about {
            Mode::About(self.format)
        } else if self.discover {
            Mode::Discover
        } else if self.estimate {
            Mode::Estimate
        } else {
            Mode::Sync(self.test)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> Cli {
        Cli::parse_from(["tap-drift"])
    }

    #[test]
    fn the_sandbox_variable_turns_the_sandbox_on_or_names_itself() {
        assert!(!cli().with_sandbox_env(None).expect("unset").sandbox);
        assert!(!cli().with_sandbox_env(Some("0")).expect("0").sandbox);
        assert!(cli().with_sandbox_env(Some("1")).expect("1").sandbox);
        assert!(cli().with_sandbox_env(Some("TRUE")).expect("TRUE").sandbox);
        let e = cli().with_sandbox_env(Some("yes")).expect_err("yes");
        assert!(
            e.contains("TAP_DRIFT_SANDBOX") && e.contains("set it to 1"),
            "{e}"
        );
    }
}
