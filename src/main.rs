//! The `tap-drift` binary: parse the command line, start logging on stderr, run, and turn an error
//! into one CRITICAL line and its exit code. No logic here.
// the one place besides the logger that writes stderr: the final line of a failed run
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use tap_drift::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tap_drift::logging::init();
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
