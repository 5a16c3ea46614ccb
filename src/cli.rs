//! The command line, as Singer and the Meltano SDK define it. Reads no files.

use std::path::PathBuf;

use clap::Parser;

/// Singer tap for Drift: reads accounts, conversations and users from Drift's REST API and writes
/// SCHEMA, RECORD and STATE messages to stdout.
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
    /// Run against a built-in Drift emulator on a loopback port: no account or config needed.
    #[arg(long)]
    pub sandbox: bool,
    /// Print what the tap is and its settings, then exit.
    #[arg(long)]
    pub about: bool,
    /// Format of --about: text, json or markdown.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json", "markdown"])]
    pub format: String,
    /// Connection test: `--test` syncs one record per stream, `--test=schema` writes only SCHEMA messages.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "all", value_parser = ["all", "schema"])]
    pub test: Option<String>,
}

impl Cli {
    /// The catalog file, from --catalog or --properties.
    pub fn catalog_file(&self) -> Option<&PathBuf> {
        self.catalog.as_ref().or(self.properties.as_ref())
    }
}
