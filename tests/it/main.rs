//! The one integration-test binary: every test drives the real `tap-drift` binary against the
//! in-process Drift emulator over real HTTP on 127.0.0.1.
// test helpers panic on purpose: a failed expectation is a failed test
#![allow(clippy::expect_used)]

mod airbyte;
mod airbyte_platform;
mod bodies;
mod cli;
mod fuzz;
mod generated;
mod incremental;
mod matrix;
mod meltano;
mod more_streams;
mod pace;
mod patience;
mod resilience;
mod resume;
mod scopes;
mod shapes;
mod support;
mod sync;
mod terminal;
mod unexpected;
mod verdict;
