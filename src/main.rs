//! The `tap-drift` binary: parse the command line, start logging on stderr, run, and turn an error
//! into one CRITICAL line and exit code 1. No logic here.

use std::process::ExitCode;

use clap::Parser;
use tap_drift::cli::Cli;
use tracing_subscriber::EnvFilter;

fn init_logging() {
    let level = std::env::var("TAP_DRIFT_LOGLEVEL")
        .or_else(|_| std::env::var("LOGLEVEL"))
        .unwrap_or_else(|_| "info".into())
        .to_lowercase();
    let filter = EnvFilter::try_new(format!("warn,tap_drift={level}"))
        .unwrap_or_else(|_| EnvFilter::new("warn,tap_drift=info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("CRITICAL cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tap_drift::run(&cli, std::io::stdout())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // the one place that prints an error: one line, for Meltano and people alike
            eprintln!("CRITICAL {e}");
            ExitCode::FAILURE
        }
    }
}
