//! tap-drift: a Singer tap for Drift, and `source-drift`, the same sync as an Airbyte source.
//! The module list only. The rooms, from the front doors down:
//! - `tap/` and `airbyte/`: the two front doors (`tap-drift`'s command line and modes, and
//!   `source-drift`'s);
//! - `session/`: one sync from checked inputs, shared by both (sandbox, persisted token);
//! - `sync/`: the engine, the only room that joins Drift to a protocol, and `--estimate`;
//! - `streams/`: the stream table and its schemas; `drift/`: HTTP to Drift; `singer/`: the Singer
//!   protocol and the core model both protocols run on;
//! - `out/`: what leaves the process (the output seam, stdout's owner, logging, the display, the
//!   counters);
//! - the leaves: config, errors, input files, secrets, signals, time, `--discover`.

pub mod airbyte;
pub mod config;
pub mod discover;
pub mod drift;
pub mod error;
pub mod input;
pub mod out;
pub mod secret;
pub mod session;
pub mod signal;
pub mod singer;
pub mod streams;
pub mod sync;
pub mod tap;
pub mod time;
