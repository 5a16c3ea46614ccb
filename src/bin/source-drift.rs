//! The `source-drift` binary: the same sync as `tap-drift`, speaking the Airbyte protocol. Parse
//! the command line, send logs as LOG messages on stdout (Airbyte reads nothing else), run, and
//! turn an error into a TRACE ERROR message and exit code 1. No logic here.
// the one line a source that cannot even start its runtime or stdout can still write
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use tap_drift::airbyte::{self, Cli};
use tap_drift::out::logging::{self, Sink};
use tap_drift::out::stdout::Lines;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lines = Lines::start(tap_drift::out::stdout::raw());
    logging::init(Sink::Lines(lines.clone(), airbyte::message::log));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(airbyte::run(&cli, &lines)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // the target may be gone: then there is nobody left to tell
            let _ = lines
                .json(&airbyte::error_message(&e))
                .and_then(|()| lines.flush());
            ExitCode::FAILURE
        }
    }
}
