//! The Drift side: the HTTP client (the only sender), the access token and its OAuth2 refresh, the
//! retry decision table, the rate limiter, the gate on requests in flight, typed endpoints with the one page walker (by pages or by
//! spans of time, a report's answer kept on disk), and the reads
//! that complete a record, list a parent's children or fetch a referenced record. Never imports
//! `singer/` or `streams/`: it knows endpoints, not streams, and records only as JSON objects.

pub mod auth;
pub mod client;
pub mod gate;
pub mod page;
pub mod rate_limit;
pub mod read;
pub mod request;
pub mod retry;
pub mod span;
pub mod spool;

pub use client::DriftClient;
