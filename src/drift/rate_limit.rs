//! The one limiter of the process: every request waits for its slot here. It paces requests at an
//! effective rate that starts at the configured ceiling, adapts to Drift's undocumented leaky bucket
//! (a 429 pauses every worker and lowers the pace multiplicatively; the pace climbs back additively
//! while requests succeed: fast up to just below the pace that was throttled, slowly beyond), and
//! pauses every worker during a sustained outage. Knows nothing of HTTP: the client tells it what
//! happened.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A 429 lowers the pace to this share of what it was.
const DECREASE: f64 = 0.7;
/// The first pause after a 429 that names no wait; it doubles while 429s follow one another.
const FIRST_THROTTLE_PAUSE: Duration = Duration::from_secs(10);
/// The longest pause after a 429 that names no wait.
const LONGEST_THROTTLE_PAUSE: Duration = Duration::from_secs(300);
/// Failures in a row (no success between) that make an outage: every worker pauses.
const OUTAGE_FAILURES: u32 = 3;

/// What the limiter says of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Every worker pauses this long, then goes on at the lowered pace.
    Pause(Duration),
    /// Drift has throttled without a success in between for longer than the run's patience, or
    /// asks for a wait beyond it: stop, and come back after this long.
    GiveUp {
        /// How long the run has been throttled.
        waited: Duration,
        /// How long Drift asks to wait (if it says).
        retry_after: Option<Duration>,
    },
}

#[derive(Debug)]
struct Inner {
    /// Requests per minute now.
    pace: f64,
    /// The pace at which the last 429 came.
    throttled_at: Option<f64>,
    /// The next free slot.
    next: Option<Instant>,
    /// No request goes before this (a throttle or an outage).
    paused_until: Option<Instant>,
    /// 429s seen in the run.
    throttles: u64,
    /// 429s since the last success.
    throttles_in_row: u32,
    /// When the 429s since the last success began.
    throttled_since: Option<Instant>,
    /// Transient failures since the last success.
    failures_in_row: u32,
    /// During an outage: the pause after each probe, so that one request at a time probes.
    probe_gap: Duration,
    /// When the pace last climbed.
    raised_at: Instant,
}

/// Paces requests, shared by all tasks.
#[derive(Debug)]
pub struct RateLimiter {
    ceiling: f64,
    patience: Duration,
    inner: Mutex<Inner>,
}

fn interval(pace: f64) -> Duration {
    Duration::from_secs_f64(60.0 / pace.max(0.1))
}

impl RateLimiter {
    /// A limiter allowing at most `per_minute` requests a minute, which waits out 429s for up to
    /// `patience` without a success.
    pub fn new(per_minute: u32, patience: Duration) -> Self {
        let ceiling = f64::from(per_minute.max(1));
        RateLimiter {
            ceiling,
            patience,
            inner: Mutex::new(Inner {
                pace: ceiling,
                throttled_at: None,
                next: None,
                paused_until: None,
                throttles: 0,
                throttles_in_row: 0,
                throttled_since: None,
                failures_in_row: 0,
                probe_gap: Duration::ZERO,
                raised_at: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this caller's slot (after any pause, including one that began while it waited).
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut inner = self.lock();
                let now = Instant::now();
                match inner.paused_until.filter(|p| *p > now) {
                    Some(paused) => Err(paused),
                    None => {
                        let slot = inner.next.map_or(now, |n| n.max(now));
                        inner.next = Some(slot + interval(inner.pace));
                        let probe = inner.failures_in_row >= OUTAGE_FAILURES;
                        if probe {
                            // an outage: this request probes, the others wait for its answer
                            inner.paused_until = Some(slot + inner.probe_gap);
                        }
                        Ok((slot, probe))
                    }
                }
            };
            match wait {
                Ok((slot, probe)) => {
                    tokio::time::sleep_until(slot).await;
                    let paused = self.lock().paused_until.is_some_and(|p| p > Instant::now());
                    if probe || !paused {
                        return;
                    }
                }
                Err(paused) => tokio::time::sleep_until(paused).await,
            }
        }
    }

    /// A request succeeded: throttling and outage are over, and the pace climbs back.
    pub fn succeeded(&self) {
        let mut inner = self.lock();
        inner.throttles_in_row = 0;
        inner.throttled_since = None;
        if inner.failures_in_row >= OUTAGE_FAILURES {
            // the outage is over: nobody waits for a probe any more
            inner.paused_until = None;
        }
        inner.failures_in_row = 0;
        let minutes = inner.raised_at.elapsed().as_secs_f64() / 60.0;
        inner.raised_at = Instant::now();
        if inner.pace < self.ceiling {
            // fast back to just below where Drift throttled, slowly beyond it
            let fast = inner.throttled_at.is_none_or(|t| inner.pace < 0.8 * t);
            let per_minute = if fast {
                self.ceiling / 10.0
            } else {
                self.ceiling / 200.0
            };
            inner.pace = (inner.pace + per_minute.max(1.0) * minutes).min(self.ceiling);
        }
    }

    /// Drift answered 429, asking to wait `retry_after` (if it said): every worker pauses and the
    /// pace drops; or the run's patience is over.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Throttle {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.throttles += 1;
        inner.throttles_in_row += 1;
        let since = *inner.throttled_since.get_or_insert(now);
        let waited = now.duration_since(since);
        if waited > self.patience || retry_after.is_some_and(|r| r > self.patience) {
            return Throttle::GiveUp {
                waited,
                retry_after,
            };
        }
        if inner.throttles_in_row == 1 {
            // one drop per burst: the 429s of requests already in flight say the same thing
            inner.throttled_at = Some(inner.pace);
            inner.pace = (inner.pace * DECREASE).max(1.0);
        }
        let doubling =
            FIRST_THROTTLE_PAUSE.saturating_mul(1 << (inner.throttles_in_row - 1).min(8));
        let pause = retry_after.unwrap_or(doubling.min(LONGEST_THROTTLE_PAUSE));
        let until = now + pause;
        inner.paused_until = Some(inner.paused_until.map_or(until, |p| p.max(until)));
        inner.raised_at = now;
        Throttle::Pause(pause)
    }

    /// A request failed for a transient reason; after a few failures in a row (an outage) every
    /// worker pauses for `backoff`, instead of each burning its own retries.
    pub fn failed(&self, backoff: Duration) {
        let mut inner = self.lock();
        inner.failures_in_row += 1;
        if inner.failures_in_row >= OUTAGE_FAILURES {
            inner.probe_gap = backoff;
            let until = Instant::now() + backoff;
            inner.paused_until = Some(inner.paused_until.map_or(until, |p| p.max(until)));
        }
    }

    /// The effective pace (requests a minute) and the 429s seen so far.
    pub fn stats(&self) -> (f64, u64) {
        let inner = self.lock();
        (inner.pace, inner.throttles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_spaced_by_the_interval() {
        let limiter = RateLimiter::new(6_000, Duration::from_secs(60)); // one per 10 ms
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn a_429_lowers_the_pace_once_per_burst_and_pauses_longer_while_they_last() {
        let limiter = RateLimiter::new(600, Duration::from_secs(3600));
        assert_eq!(
            limiter.throttled(None),
            Throttle::Pause(Duration::from_secs(10))
        );
        assert_eq!(
            limiter.throttled(None),
            Throttle::Pause(Duration::from_secs(20))
        );
        let (pace, throttles) = limiter.stats();
        assert!((pace - 420.0).abs() < 1e-6, "{pace}");
        assert_eq!(throttles, 2);
        limiter.succeeded();
        assert_eq!(
            limiter.throttled(Some(Duration::from_secs(3))),
            Throttle::Pause(Duration::from_secs(3))
        );
        assert!((limiter.stats().0 - 294.0).abs() < 0.01);
    }

    #[test]
    fn patience_runs_out_or_a_long_retry_after_stops_at_once() {
        let limiter = RateLimiter::new(600, Duration::from_secs(60));
        assert!(matches!(
            limiter.throttled(Some(Duration::from_secs(7200))),
            Throttle::GiveUp {
                retry_after: Some(_),
                ..
            }
        ));
        let impatient = RateLimiter::new(600, Duration::ZERO);
        assert_eq!(
            impatient.throttled(None),
            Throttle::Pause(Duration::from_secs(10))
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(impatient.throttled(None), Throttle::GiveUp { .. }));
    }

    #[tokio::test]
    async fn during_an_outage_one_request_at_a_time_probes() {
        let limiter = RateLimiter::new(60_000, Duration::from_secs(60));
        for _ in 0..OUTAGE_FAILURES {
            limiter.failed(Duration::from_millis(100));
        }
        // after the pause one request probes; the next waits a gap for its answer
        let start = Instant::now();
        limiter.acquire().await;
        let first = start.elapsed();
        limiter.acquire().await;
        assert!(start.elapsed() >= first + Duration::from_millis(90));
        // a success ends the outage: nobody waits for a probe any more
        limiter.succeeded();
        assert!(limiter.lock().paused_until.is_none());
        limiter.acquire().await;
        assert!(
            limiter.lock().paused_until.is_none(),
            "no probe gap after it"
        );
    }

    #[tokio::test]
    async fn an_outage_pauses_every_worker() {
        let limiter = RateLimiter::new(60_000, Duration::from_secs(60));
        for _ in 0..OUTAGE_FAILURES {
            limiter.failed(Duration::from_millis(200));
        }
        let start = Instant::now();
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(150));
        limiter.succeeded();
        limiter.failed(Duration::from_secs(100));
        let start = Instant::now();
        limiter.acquire().await;
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "one failure is no outage"
        );
    }
}
