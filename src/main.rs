//! The `tap-drift` binary: parse the command line, start logging (above a live display when a sync
//! runs on a terminal), run, end the display with its summary, and turn an error into one CRITICAL
//! line and its exit code. No logic here.
// the one place besides the logger that writes stderr: the final line of a failed run
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use tap_drift::out::display::{self, Display};
use tap_drift::out::logging::{self, Sink};
use tap_drift::out::tally::Tally;
use tap_drift::tap::cli::{Cli, Mode};

fn main() -> ExitCode {
    let cli =
        match Cli::parse().with_sandbox_env(std::env::var("TAP_DRIFT_SANDBOX").ok().as_deref()) {
            Ok(cli) => cli,
            Err(e) => {
                eprintln!("CRITICAL {e}");
                return ExitCode::FAILURE;
            }
        };
    let tally = Tally::new();
    let display = match cli.mode() {
        Mode::Sync(_) if display::wanted() => Some(Display::start(tally.clone())),
        _ => None,
    };
    logging::init(display.clone().map_or(Sink::Stderr, Sink::Terminal));
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
    let result = runtime.block_on(tap_drift::tap::run(
        &cli,
        tap_drift::out::stdout::raw(),
        tally,
    ));
    if let Some(display) = display {
        display.finish();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ tap_drift::error::Error::Interrupted(_)) => {
            eprintln!("WARN  {}", tap_drift::secret::scrub(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            // the one place that prints an error: one line, for Meltano and people alike
            eprintln!("CRITICAL {}", tap_drift::secret::scrub(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
