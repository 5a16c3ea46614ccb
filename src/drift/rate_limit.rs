//! The one client-side rate limiter: every request of the process waits for its slot here, so a
//! normal run never sees a 429. Knows nothing of HTTP.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Paces requests evenly: at most one every `60 s / requests_per_minute`, shared by all tasks.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests in any minute.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_spaced_by_the_interval() {
        let limiter = RateLimiter::new(6_000); // one per 10 ms
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(40));
    }
}
