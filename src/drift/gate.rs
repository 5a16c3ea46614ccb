//! The gate on requests in flight: by Little's law, the requests a pace keeps in flight are the
//! pace times the time an answer takes. The gate measures that time (a moving average of the
//! answers) and lets in that many requests, plus [`SPARE`] waiting for their slots so the limiter
//! always has one to send, never more than `max_concurrency`. Knows nothing of HTTP or of the
//! limiter: the client tells it the pace and how long each answer took.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// Requests let in beyond the pace × answer time: they wait for their slots in the limiter, so a
/// slot never goes unused for want of a request (and the limiter sees callers waiting).
pub const SPARE: usize = 2;
/// The share of the pace × answer time let in: answers vary around their average.
const HEADROOM: f64 = 1.25;
/// The weight of the newest answer in the moving average.
const WEIGHT: f64 = 0.1;
/// The answer time assumed before the first answer.
const FIRST_GUESS: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Inner {
    in_flight: usize,
    /// The moving average of answer times, in seconds.
    answer_s: f64,
    /// The most requests let in at once so far.
    peak: usize,
}

/// Bounds the requests in flight, shared by all tasks.
#[derive(Debug)]
pub struct Gate {
    max: usize,
    inner: Mutex<Inner>,
    freed: Notify,
}

/// A request let in: it leaves the gate when dropped.
#[derive(Debug)]
pub struct Permit<'g>(&'g Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        self.0.freed.notify_one();
    }
}

impl Gate {
    /// A gate letting in at most `max` requests at once.
    pub fn new(max: usize) -> Self {
        Gate {
            max: max.max(1),
            inner: Mutex::new(Inner {
                in_flight: 0,
                answer_s: FIRST_GUESS.as_secs_f64(),
                peak: 0,
            }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many requests may be in flight at `per_minute`, with answers taking `answer_s`.
    fn allowed(&self, per_minute: f64, answer_s: f64) -> usize {
        let busy = (per_minute / 60.0 * answer_s * HEADROOM).ceil();
        (busy.min(self.max as f64) as usize + SPARE).min(self.max)
    }

    /// Waits until a request may go at `pace()` requests a minute (read again at each try).
    pub async fn enter(&self, pace: impl Fn() -> f64) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            futures_util::pin_mut!(freed);
            // registered before looking, so a permit freed meanwhile wakes this task
            freed.as_mut().enable();
            {
                let mut inner = self.lock();
                let allowed = self.allowed(pace(), inner.answer_s);
                if inner.in_flight < allowed {
                    inner.in_flight += 1;
                    inner.peak = inner.peak.max(inner.in_flight);
                    if inner.in_flight < allowed {
                        // the gate widened (the pace climbed): the next waiter may come in too
                        self.freed.notify_one();
                    }
                    return Permit(self);
                }
            }
            freed.await;
        }
    }

    /// An answer came after `took`: it moves the average answer time.
    pub fn answered(&self, took: Duration) {
        let mut inner = self.lock();
        inner.answer_s += WEIGHT * (took.as_secs_f64() - inner.answer_s);
    }

    /// The requests in flight the gate allows now at `per_minute`, and the most it let in at once.
    pub fn stats(&self, per_minute: f64) -> (usize, usize) {
        let inner = self.lock();
        (self.allowed(per_minute, inner.answer_s), inner.peak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_follows_pace_times_answer_time_up_to_its_maximum() {
        let gate = Gate::new(32);
        // 6 000 a minute, answers in 100 ms: 10 busy, 12.5 with headroom, plus the spare
        gate.answered(Duration::from_millis(100));
        assert_eq!(gate.stats(6_000.0).0, 13 + SPARE);
        // 300 a minute: one busy, and the spare
        assert_eq!(gate.stats(300.0).0, 1 + SPARE);
        // answers slow to a second: the maximum
        for _ in 0..100 {
            gate.answered(Duration::from_secs(1));
        }
        assert_eq!(gate.stats(6_000.0).0, 32);
        assert_eq!(Gate::new(1).stats(6_000.0).0, 1);
    }

    #[tokio::test]
    async fn a_request_waits_for_a_permit_and_a_freed_one_lets_it_in() {
        let gate = std::sync::Arc::new(Gate::new(2));
        let (a, b) = (gate.enter(|| 60.0).await, gate.enter(|| 60.0).await);
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _third = gate.enter(|| 60.0).await;
            })
        };
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "two in flight, two allowed");
        drop(a);
        waiting.await.expect("let in once one was freed");
        drop(b);
        assert_eq!(gate.stats(60.0).1, 2, "never more than two at once");
    }
}
