//! The Singer side: message types and their writer, catalog discovery and selection, state, and
//! record conformance. Never imports `drift/`: it knows streams only as the [`catalog::StreamInfo`]
//! it is handed, and records only as JSON objects.

pub mod catalog;
pub mod conform;
pub mod flatten;
pub mod message;
pub mod state;
pub mod writer;
