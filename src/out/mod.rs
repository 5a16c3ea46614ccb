//! What leaves the process: the [`output`] seam the engine writes events to, stdout's one owner
//! ([`stdout`]), the logger ([`logging`]), the live terminal display ([`display`]) and the run's
//! counters ([`tally`]) that the display and the summary read. Knows no protocol: a protocol wing
//! plugs its writer into the seam and its log format into the logger.

pub mod display;
pub mod logging;
pub mod output;
pub mod stdout;
pub mod tally;
