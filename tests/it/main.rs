//! The one integration-test binary: every test drives the real `tap-drift` binary against the
//! in-process Drift emulator over real HTTP on 127.0.0.1.

mod cli;
mod generated;
mod incremental;
mod meltano;
mod support;
mod sync;
