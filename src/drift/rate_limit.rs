//! The one limiter of the process: every request waits for its slot here. Drift's limit is an
//! undocumented leaky bucket, so the limiter finds the pace by itself: it starts where it is safe
//! (300 a minute, or a little below the pace the last run settled on), doubles the pace every
//! [`DOUBLING`] while requests succeed and wait for their slots, and never goes above its ceiling
//! (`max_requests_per_minute`; a fixed `requests_per_minute` starts at its ceiling). A 429 pauses
//! every worker and lowers the pace: to just below the pace that was throttled, or by half for the
//! run's first 429 and one soon after another (the bucket's burst hides how far a fast climb went
//! past its rate); below that settled pace it climbs back fast, beyond it by 1 % a minute. A
//! sustained outage pauses every worker too, and one request at a time probes it, ever less often
//! (each failure doubles the pause, up to the longest backoff). Knows nothing of HTTP: the client
//! tells it what happened. Whether it is waiting out a throttle can be watched (read-only,
//! [`RateLimiter::watch`]), for a protocol that shows it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Where a run without a remembered pace starts (requests a minute): today's safe guess.
pub const START_PACE: u32 = 300;
/// While requests succeed and wait for their slots, the pace doubles this often (until a 429, or
/// up to the pace settled after one).
const DOUBLING: Duration = Duration::from_millis(1000);
/// After a 429, the pace settles at this share of the pace that was throttled.
const SETTLE: f64 = 0.9;
/// The run's first 429, and one that follows another within [`SOON`], halve the pace.
const HALVE: f64 = 0.5;
/// A 429 this soon after the last one says the settled pace is still too high.
const SOON: Duration = Duration::from_secs(10);
/// Beyond the settled pace, the pace climbs by this share of it a minute.
const CREEP: f64 = 0.01;
/// A run starts at this share of the pace the last run settled on.
const RESUME: f64 = 0.9;
/// A 429 is set against the pace at which this many requests before it actually went (the run
/// may send slower than its pace allows, and then the pace overstates what Drift refused).
const SENT_LAST: usize = 20;
/// The pace climbs only while a caller waited for its slot this recently (else the limiter is not
/// what holds the run back, and a pace it does not use says nothing of Drift's limit).
const BUSY: Duration = Duration::from_secs(1);
/// The first pause after a 429 that names no wait; it doubles while 429s follow one another.
const FIRST_THROTTLE_PAUSE: Duration = Duration::from_secs(1);
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

/// The limiter is waiting out Drift's rate limit (from a 429 until the next success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// When Drift said its quota resets (from a `Retry-After`), in epoch milliseconds.
    pub reset_ms: Option<i64>,
}

/// The pace a run learnt, for the next run to start from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learnt {
    /// Requests a minute.
    pub per_minute: f64,
    /// Whether a 429 came near it (else it is as far as a run climbed without one).
    pub limit_found: bool,
}

#[derive(Debug)]
struct Inner {
    /// Requests per minute now.
    pace: f64,
    /// Just below the pace of the last 429 (or the pace remembered from a run that found Drift's
    /// limit): the pace climbs fast up to it and slowly beyond. `None`: no limit found yet.
    settled: Option<f64>,
    /// What the last run learnt, when this run started from it.
    remembered: Option<Learnt>,
    /// Bursts of 429s in this run (the first 429 after a success starts one).
    bursts: u64,
    /// When the last burst began.
    burst_at: Option<Instant>,
    /// The next free slot.
    next: Option<Instant>,
    /// The last [`SENT_LAST`] slots given out (some may be ahead of now).
    sent: VecDeque<Instant>,
    /// When the last pause ended (or ends).
    resumed_at: Option<Instant>,
    /// When a caller last had to wait for its slot.
    waited_at: Option<Instant>,
    /// No request goes before this (a throttle or an outage).
    paused_until: Option<Instant>,
    /// 429s seen in the run.
    throttles: u64,
    /// 429s since the last success, not counting those answered during a pause.
    throttles_in_row: u32,
    /// When the 429s since the last success began.
    throttled_since: Option<Instant>,
    /// Transient failures since the last success.
    failures_in_row: u32,
    /// During an outage: the pause after each probe, so that one request at a time probes.
    probe_gap: Duration,
    /// When the pace last climbed (or may start climbing again after a pause).
    raised_at: Instant,
}

/// Paces requests, shared by all tasks.
#[derive(Debug)]
pub struct RateLimiter {
    /// The pace never goes above this.
    ceiling: f64,
    /// Whether the pace is found by probing (else the ceiling is a fixed `requests_per_minute`,
    /// and nothing is learnt for the next run).
    probing: bool,
    patience: Duration,
    inner: Mutex<Inner>,
    /// Whether it is waiting out a throttle now.
    waiting: watch::Sender<Option<Waiting>>,
}

fn interval(pace: f64) -> Duration {
    Duration::from_secs_f64(60.0 / pace.max(0.1))
}

impl RateLimiter {
    /// A limiter allowing at most `per_minute` requests a minute (and starting there), which waits
    /// out 429s for up to `patience` without a success.
    pub fn new(per_minute: u32, patience: Duration) -> Self {
        let ceiling = f64::from(per_minute.max(1));
        RateLimiter::starting(ceiling, ceiling, false, patience)
    }

    /// A limiter that finds Drift's pace: from [`START_PACE`] up to at most `max` a minute.
    pub fn probing(max: u32, patience: Duration) -> Self {
        let ceiling = f64::from(max.max(1));
        RateLimiter::starting(f64::from(START_PACE).min(ceiling), ceiling, true, patience)
    }

    fn starting(pace: f64, ceiling: f64, probing: bool, patience: Duration) -> Self {
        RateLimiter {
            ceiling,
            probing,
            patience,
            inner: Mutex::new(Inner {
                pace,
                settled: None,
                remembered: None,
                bursts: 0,
                burst_at: None,
                next: None,
                sent: VecDeque::new(),
                resumed_at: None,
                waited_at: None,
                paused_until: None,
                throttles: 0,
                throttles_in_row: 0,
                throttled_since: None,
                failures_in_row: 0,
                probe_gap: Duration::ZERO,
                raised_at: Instant::now(),
            }),
            waiting: watch::Sender::new(None),
        }
    }

    /// Whether the limiter is waiting out Drift's rate limit: it changes at the first 429 after a
    /// success (to `Some`) and at the next success (to `None`).
    pub fn watch(&self) -> watch::Receiver<Option<Waiting>> {
        self.waiting.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts from what the last run learnt: a little below its pace (within the ceiling), climbing
    /// slowly beyond it when it was near Drift's limit. Returns the pace it starts at, or `None` for
    /// a fixed ceiling, which ignores it.
    pub fn resume(&self, last: Learnt) -> Option<f64> {
        if !self.probing || !last.per_minute.is_finite() || last.per_minute < 1.0 {
            return None;
        }
        let mut inner = self.lock();
        let known = last.per_minute.min(self.ceiling);
        inner.pace = (known * RESUME).max(1.0);
        inner.settled = last.limit_found.then_some(known);
        inner.remembered = Some(last);
        Some(inner.pace)
    }

    /// What this run learnt of Drift's pace, for the next run (`None` with a fixed ceiling): the
    /// pace it settled on, or reached; a run that met no 429 and stayed below what it remembered
    /// learnt nothing new, and hands that on.
    pub fn learnt(&self) -> Option<Learnt> {
        if !self.probing {
            return None;
        }
        let inner = self.lock();
        let now = Learnt {
            per_minute: inner.pace.max(inner.settled.unwrap_or(0.0)),
            limit_found: inner.settled.is_some(),
        };
        Some(match inner.remembered {
            Some(last) if inner.bursts == 0 && now.per_minute < last.per_minute => last,
            _ => now,
        })
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
                        if slot > now {
                            inner.waited_at = Some(now);
                        }
                        inner.sent.push_back(slot);
                        if inner.sent.len() > SENT_LAST {
                            inner.sent.pop_front();
                        }
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

    /// A request succeeded: throttling and outage are over, and the pace climbs while the callers
    /// wait for their slots: doubling every [`DOUBLING`] up to the settled pace, by [`CREEP`] of it
    /// a minute beyond.
    pub fn succeeded(&self) {
        self.waiting.send_if_modified(|w| w.take().is_some());
        let mut inner = self.lock();
        inner.throttles_in_row = 0;
        inner.throttled_since = None;
        if inner.failures_in_row >= OUTAGE_FAILURES {
            // the outage is over: nobody waits for a probe any more
            inner.paused_until = None;
        }
        inner.failures_in_row = 0;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(inner.raised_at);
        inner.raised_at = inner.raised_at.max(now);
        let busy = inner
            .waited_at
            .is_some_and(|w| now.duration_since(w) < BUSY.max(2 * interval(inner.pace)));
        if !busy || inner.pace >= self.ceiling {
            return;
        }
        inner.pace = match inner.settled {
            Some(settled) if inner.pace >= settled => {
                inner.pace + settled * CREEP * elapsed.as_secs_f64() / 60.0
            }
            settled => {
                let doubled = elapsed.as_secs_f64() / DOUBLING.as_secs_f64();
                (inner.pace * doubled.exp2()).min(settled.unwrap_or(f64::INFINITY))
            }
        }
        .min(self.ceiling);
    }

    /// Drift answered 429, asking to wait `retry_after` (if it said): every worker pauses, and the
    /// first 429 after a success lowers the pace; or the run's patience is over. A 429 answered
    /// during a pause is one of the requests already in flight: it says nothing new.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Throttle {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.throttles += 1;
        let since = *inner.throttled_since.get_or_insert(now);
        let waited = now.duration_since(since);
        if waited > self.patience || retry_after.is_some_and(|r| r > self.patience) {
            return Throttle::GiveUp {
                waited,
                retry_after,
            };
        }
        let paused = inner.paused_until.filter(|p| *p > now);
        if paused.is_none() {
            inner.throttles_in_row += 1;
            if inner.throttles_in_row == 1 {
                inner.lower(now);
            }
        }
        let doubling =
            FIRST_THROTTLE_PAUSE.saturating_mul(1 << (inner.throttles_in_row.max(1) - 1).min(16));
        let pause = match (retry_after, paused) {
            (Some(after), _) => after,
            (None, Some(until)) => until - now,
            (None, None) => doubling.min(LONGEST_THROTTLE_PAUSE),
        };
        let until = inner
            .paused_until
            .map_or(now + pause, |p| p.max(now + pause));
        inner.paused_until = Some(until);
        // no climb for the time paused
        inner.raised_at = until;
        inner.resumed_at = Some(until);
        let reset_ms = retry_after.map(|r| crate::time::now_ms() + r.as_millis() as i64);
        self.waiting.send_if_modified(|w| {
            let first = w.is_none();
            *w = Some(Waiting { reset_ms });
            first
        });
        Throttle::Pause(pause)
    }

    /// A request failed for a transient reason, its next attempt due after `backoff`; after a few
    /// failures in a row (an outage) every worker pauses that long, instead of each burning its own
    /// retries, and each failure after doubles the pause, up to `longest`: however many requests
    /// take turns probing, the outage is probed ever less often.
    pub fn failed(&self, backoff: Duration, longest: Duration) {
        let mut inner = self.lock();
        inner.failures_in_row += 1;
        if inner.failures_in_row >= OUTAGE_FAILURES {
            let doubled = match inner.failures_in_row > OUTAGE_FAILURES {
                true => inner.probe_gap.saturating_mul(2).min(longest),
                false => Duration::ZERO,
            };
            inner.probe_gap = backoff.max(doubled);
            let until = Instant::now() + inner.probe_gap;
            inner.paused_until = Some(inner.paused_until.map_or(until, |p| p.max(until)));
            inner.raised_at = inner.raised_at.max(until);
            inner.resumed_at = inner.resumed_at.max(Some(until));
        }
    }

    /// The effective pace (requests a minute) and the 429s seen so far.
    pub fn stats(&self) -> (f64, u64) {
        let inner = self.lock();
        (inner.pace, inner.throttles)
    }
}

impl Inner {
    /// The pace at which the last [`SENT_LAST`] requests since the last pause actually went
    /// (from the first of their slots to the last), if there are enough of them to tell.
    fn sent_pace(&self, now: Instant) -> Option<f64> {
        let after_pause = |s: &&Instant| **s <= now && self.resumed_at.is_none_or(|r| **s >= r);
        let slots: Vec<&Instant> = self.sent.iter().filter(after_pause).collect();
        let (first, last) = (slots.first()?, slots.last()?);
        let span = last.duration_since(**first).as_secs_f64();
        (slots.len() >= 4 && span > 0.0).then(|| (slots.len() - 1) as f64 * 60.0 / span)
    }

    /// A burst of 429s begins: the pace settles just below the pace that was throttled (the pace
    /// at which requests actually went, when that was slower), or halves when this is the run's
    /// first burst or it came soon after the last one.
    fn lower(&mut self, now: Instant) {
        let throttled = self.pace.min(self.sent_pace(now).unwrap_or(f64::INFINITY));
        let soon = self
            .burst_at
            .is_some_and(|at| now.duration_since(at) < SOON);
        let share = match self.bursts == 0 || soon {
            true => HALVE,
            false => SETTLE,
        };
        self.settled = Some((throttled * SETTLE).max(1.0));
        self.pace = (throttled * share).max(1.0);
        self.bursts += 1;
        self.burst_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_interval() {
        let limiter = std::sync::Arc::new(RateLimiter::new(1_200, Duration::from_secs(60)));
        let start = Instant::now();
        // eight workers at once, as max_concurrency sends them: one slot per 50 ms between them
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    let mut sent = Vec::new();
                    for _ in 0..5 {
                        limiter.acquire().await;
                        sent.push(start.elapsed());
                    }
                    sent
                })
            })
            .collect();
        let mut sent = Vec::new();
        for w in workers {
            sent.extend(w.await.expect("a worker"));
        }
        sent.sort();
        let gaps: Vec<Duration> = sent.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| *g >= Duration::from_millis(50)),
            "{sent:?}"
        );
        assert_eq!(sent.last(), Some(&Duration::from_millis(39 * 50)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_lowers_the_pace_once_per_burst_and_pauses_longer_while_they_last() {
        let limiter = RateLimiter::new(600, Duration::from_secs(3600));
        let second = Duration::from_secs(1);
        assert_eq!(limiter.throttled(None), Throttle::Pause(second));
        assert_eq!(
            limiter.stats(),
            (300.0, 1),
            "the run's first 429 halves the pace"
        );
        // answered during the pause: a request already in flight, the same burst
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(
            limiter.throttled(None),
            Throttle::Pause(Duration::from_millis(600))
        );
        assert_eq!(limiter.stats(), (300.0, 2));
        // after the pause, without a success: the pause doubles, the pace stays
        tokio::time::advance(second).await;
        assert_eq!(limiter.throttled(None), Throttle::Pause(2 * second));
        assert_eq!(limiter.stats().0, 300.0);
        // a success, then a 429 soon after the last burst: halved again, for the time it asks
        tokio::time::advance(3 * second).await;
        limiter.succeeded();
        let asked = Duration::from_secs(3);
        assert_eq!(limiter.throttled(Some(asked)), Throttle::Pause(asked));
        assert_eq!(limiter.stats().0, 150.0);
        // long after: just below the pace that was throttled
        tokio::time::advance(Duration::from_secs(60)).await;
        limiter.succeeded();
        let pace = limiter.stats().0;
        limiter.throttled(None);
        assert!((limiter.stats().0 - pace * SETTLE).abs() < 1e-9);
    }

    #[test]
    fn the_wait_for_a_throttle_is_watched_from_the_first_429_to_the_next_success() {
        let limiter = RateLimiter::new(600, Duration::from_secs(3600));
        let mut watch = limiter.watch();
        limiter.throttled(Some(Duration::from_secs(5)));
        assert!(watch.has_changed().unwrap());
        let waiting = watch.borrow_and_update().expect("waiting");
        assert!(waiting.reset_ms.is_some());
        limiter.throttled(None);
        assert!(!watch.has_changed().unwrap(), "the same wait");
        limiter.succeeded();
        assert!(watch.has_changed().unwrap());
        assert_eq!(*watch.borrow_and_update(), None);
        limiter.succeeded();
        assert!(!watch.has_changed().unwrap());
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
            Throttle::Pause(FIRST_THROTTLE_PAUSE)
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(impatient.throttled(None), Throttle::GiveUp { .. }));
    }

    #[tokio::test]
    async fn during_an_outage_one_request_at_a_time_probes() {
        let limiter = RateLimiter::new(60_000, Duration::from_secs(60));
        for _ in 0..OUTAGE_FAILURES {
            limiter.failed(Duration::from_millis(100), Duration::from_secs(4));
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

    #[test]
    fn each_failure_of_an_outage_doubles_the_pause_up_to_the_longest() {
        let limiter = RateLimiter::new(60_000, Duration::from_secs(60));
        let (short, longest) = (Duration::from_millis(100), Duration::from_millis(500));
        let mut gaps = Vec::new();
        for _ in 0..OUTAGE_FAILURES + 4 {
            // whichever request fails, with its own short backoff
            limiter.failed(short, longest);
            gaps.push(limiter.lock().probe_gap.as_millis());
        }
        assert_eq!(gaps, [0, 0, 100, 200, 400, 500, 500]);
        // a backoff longer than the doubled gap (a Retry-After) is kept
        limiter.failed(Duration::from_secs(2), longest);
        assert_eq!(limiter.lock().probe_gap, Duration::from_secs(2));
        // a success ends the outage: the next one starts short again
        limiter.succeeded();
        for _ in 0..OUTAGE_FAILURES {
            limiter.failed(short, longest);
        }
        assert_eq!(limiter.lock().probe_gap, short);
    }

    #[tokio::test]
    async fn an_outage_pauses_every_worker() {
        let limiter = RateLimiter::new(60_000, Duration::from_secs(60));
        for _ in 0..OUTAGE_FAILURES {
            limiter.failed(Duration::from_millis(200), Duration::from_secs(4));
        }
        let start = Instant::now();
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(150));
        limiter.succeeded();
        limiter.failed(Duration::from_secs(100), Duration::from_secs(100));
        let start = Instant::now();
        limiter.acquire().await;
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "one failure is no outage"
        );
    }

    /// Drift's limit as a leaky bucket on the limiter's clock: `per_minute` drains, 20 held.
    struct Bucket {
        per_second: f64,
        level: f64,
        at: Instant,
    }

    impl Bucket {
        fn new(per_minute: f64) -> Bucket {
            Bucket {
                per_second: per_minute / 60.0,
                level: 0.0,
                at: Instant::now(),
            }
        }
        fn take(&mut self) -> bool {
            let now = Instant::now();
            let drained = now.duration_since(self.at).as_secs_f64() * self.per_second;
            self.level = (self.level - drained).max(0.0);
            self.at = now;
            let fits = self.level + 1.0 <= 20.0;
            if fits {
                self.level += 1.0;
            }
            fits
        }
    }

    /// `requests` requests sent one after another through `limiter` against a bucket: the 429s.
    async fn against(limiter: &RateLimiter, bucket: &mut Bucket, requests: u32) -> u32 {
        let mut throttled = 0;
        for _ in 0..requests {
            loop {
                limiter.acquire().await;
                if bucket.take() {
                    limiter.succeeded();
                    break;
                }
                throttled += 1;
                assert!(matches!(limiter.throttled(None), Throttle::Pause(_)));
            }
        }
        throttled
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_doubles_while_requests_succeed_and_stops_at_its_ceiling() {
        let limiter = RateLimiter::probing(6_000, Duration::from_secs(60));
        assert_eq!(limiter.stats().0, 300.0);
        let mut roomy = Bucket::new(1e9);
        let mut highest: f64 = 0.0;
        for _ in 0..2_000 {
            against(&limiter, &mut roomy, 1).await;
            highest = highest.max(limiter.stats().0);
        }
        assert_eq!(highest, 6_000.0, "climbed to the ceiling, never above");
        let learnt = limiter.learnt().expect("a probe learns");
        assert_eq!((learnt.per_minute, learnt.limit_found), (6_000.0, false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_settles_just_below_drifts_rate_with_few_429s() {
        for rate in [120.0, 600.0, 1_200.0, 3_000.0] {
            let limiter = RateLimiter::probing(6_000, Duration::from_secs(600));
            let mut bucket = Bucket::new(rate);
            let requests = (rate as u32 * 4).max(2_000); // four minutes at the bucket's rate
            let throttled = against(&limiter, &mut bucket, requests).await;
            let learnt = limiter.learnt().expect("a probe learns");
            assert!(learnt.limit_found, "{rate}");
            assert!(
                // at the end it may have crept past the rate by a few %, the bucket's 20 unspent
                (0.75 * rate..=1.1 * rate).contains(&learnt.per_minute),
                "{rate}: settled at {}",
                learnt.per_minute
            );
            assert!(throttled * 100 <= requests * 2, "{rate}: {throttled} 429s");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_remembered_pace_starts_the_run_a_little_below_it_and_a_stale_one_settles() {
        let limiter = RateLimiter::probing(6_000, Duration::from_secs(600));
        let last = Learnt {
            per_minute: 1_000.0,
            limit_found: true,
        };
        assert_eq!(limiter.resume(last), Some(900.0));
        // nothing new learnt below it: handed on as it was
        assert_eq!(limiter.learnt(), Some(last));
        let stale = RateLimiter::probing(6_000, Duration::from_secs(600));
        let far = Learnt {
            per_minute: 50_000.0,
            limit_found: true,
        };
        assert_eq!(stale.resume(far), Some(5_400.0), "within the ceiling");
        let throttled = against(&stale, &mut Bucket::new(600.0), 2_400).await;
        let learnt = stale.learnt().expect("a probe learns");
        // settled near the bucket's rate (crept past it by a few % at most, as above)
        assert!(learnt.per_minute < 1.1 * 600.0, "{learnt:?}");
        assert!(throttled <= 48, "{throttled}");
        let fixed = RateLimiter::new(300, Duration::from_secs(60));
        assert_eq!(fixed.resume(last), None, "a fixed pace ignores it");
        assert_eq!(fixed.learnt(), None);
    }
}
