//! The signals that stop a run (SIGTERM, SIGINT). They are caught on a thread of their own, with a
//! runtime of its own, so a stop is noticed even while the sync task waits on a blocked stdout;
//! [`stopping`] says whether one came. Decides nothing about what a stop means: `sync/` writes the
//! last STATE, the writer gives up on a blocked output, and `error.rs` picks the exit code.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

/// A stopping signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C): exit code 130.
    Int,
    /// SIGTERM (Meltano, cron, systemd): exit code 143.
    Term,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        })
    }
}

/// 0: running; 1: SIGINT received; 2: SIGTERM received.
static STOPPING: AtomicU8 = AtomicU8::new(0);
static STOPPED_AT: OnceLock<Instant> = OnceLock::new();
static WATCH: Once = Once::new();

/// The signal that stops the run, once one came.
pub fn stopping() -> Option<Signal> {
    match STOPPING.load(Ordering::SeqCst) {
        1 => Some(Signal::Int),
        2 => Some(Signal::Term),
        _ => None,
    }
}

/// How long ago the signal that stops the run came, once one came.
pub fn stopping_for() -> Option<Duration> {
    stopping()?;
    STOPPED_AT.get().map(Instant::elapsed)
}

/// Starts catching SIGTERM and SIGINT (once per process). Until then they end the process at once.
pub fn watch() {
    WATCH.call_once(|| {
        let started = std::thread::Builder::new()
            .name("signals".into())
            .spawn(|| {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let signal = runtime.block_on(wait());
                let _ = STOPPED_AT.set(Instant::now());
                STOPPING.store(if signal == Signal::Int { 1 } else { 2 }, Ordering::SeqCst);
            });
        if started.is_err() {
            tracing::warn!(
                "cannot watch for SIGTERM and SIGINT: they will end the run without a last STATE"
            );
        }
    });
}

/// Resolves once a stopping signal came (see [`watch`]).
pub async fn stopped() -> Signal {
    loop {
        if let Some(signal) = stopping() {
            return signal;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Resolves on SIGTERM or SIGINT (never, if the handlers cannot be installed).
async fn wait() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => Signal::Term,
                _ = int.recv() => Signal::Int,
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Signal::Int,
            Err(_) => std::future::pending().await,
        }
    }
}
