//! What can go wrong, on purpose: the emulator's fault injection, decided per request from a seed
//! and the request's number, so every test run sees the same faults. Compiled only with the `faults`
//! feature (the tests' switches); it decides, the server in `lib.rs` acts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::rng::mix;

/// A burst of 429 answers.
#[derive(Debug, Clone, Copy)]
pub struct Storm {
    /// Requests served normally before the storm.
    pub after: u32,
    /// Consecutive requests answered 429.
    pub length: u32,
    /// The `Retry-After` header's seconds.
    pub retry_after_seconds: u32,
}

/// An outage: from the `after`-th request on, every request is answered 503 for `length`.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// Requests served normally before it starts.
    pub after: u32,
    /// How long it lasts.
    pub length: Duration,
}

/// Drift's rate limit as a leaky bucket: it drains `per_minute` requests a minute and holds
/// `capacity`; a request that would overflow it is answered 429 (with `Retry-After`, or without it,
/// as Drift promises none). Drift publishes no number: tests pick any rate.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// How fast the bucket drains.
    pub per_minute: u32,
    /// How many requests it holds.
    pub capacity: u32,
    /// Whether a 429 says when to come back (`Retry-After`).
    pub retry_after: bool,
}

/// Faults to inject (all off by default).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// An outage of a given length.
    pub outage: Option<Outage>,
    /// A leaky-bucket rate limit.
    pub bucket: Option<Bucket>,
    /// Every answer leaves this long after its request came (a fixed network and server delay;
    /// the bucket counts the request when it comes).
    pub latency: Duration,
    /// Error bodies echo the request's Authorization header (as a careless proxy does).
    pub echo_authorization: bool,
    /// Lists answer their first page again and again, each time with a fresh cursor.
    pub cursor_loop: bool,
    /// Only conversations' message lists go round in circles (the conversation list pages well).
    pub messages_loop: bool,
    /// Seed of the random choices.
    pub seed: u64,
    /// Percentage of requests answered 500, 502 (an HTML proxy page) or 503.
    pub server_error_percent: u32,
    /// A 429 storm.
    pub storm: Option<Storm>,
    /// Every n-th request hangs for `hang` before it is answered.
    pub hang_every: Option<u32>,
    /// How long a hang lasts.
    pub hang: Duration,
    /// The first request of each list endpoint gets a body cut off mid-stream.
    pub truncate_first_page: bool,
    /// The first request of each list endpoint gets valid JSON with the wrong envelope.
    pub malformed_first_page: bool,
    /// Every request to a path starting with this prefix is answered 500.
    pub always_fail_prefix: Option<String>,
    /// The initial access token expires after this many authenticated requests.
    pub expire_token_after: Option<u32>,
    /// Every 10th conversation carries values of the wrong JSON type (`inboxId` as a numeric
    /// string, `orgId` as a word, `status` as a number), as an API regression would.
    pub wrong_types: bool,
    /// A request for one record by id (a conversation's details, a contact) is answered with
    /// another record, the next one that exists, when the asked record's number (its generation
    /// index; a contact's number after 9100000000) is a multiple of this: a proxy or cache fault.
    pub misdirect_every: Option<u32>,
}

/// What the fault injection remembers between requests.
#[derive(Debug)]
pub struct FaultState {
    /// Paths that already had their once-per-path fault.
    pub once: HashSet<String>,
    /// When the outage began, once it did.
    pub outage_began: Option<Instant>,
    /// The bucket's level, and when it was last drained.
    pub bucket: (f64, Instant),
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            once: HashSet::new(),
            outage_began: None,
            bucket: (0.0, Instant::now()),
        }
    }
}

/// What the emulator does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Serve it normally.
    None,
    /// 429, with `Retry-After` seconds if given.
    TooMany(Option<u32>),
    /// A 5xx answer.
    Server {
        /// The status.
        status: u16,
        /// An HTML page (as a proxy sends) instead of Drift's JSON error.
        html: bool,
    },
    /// Wait, then serve normally.
    Hang(Duration),
    /// 200 whose body stops half-way (the connection is cut).
    Truncate,
    /// 200 with JSON in the wrong shape.
    Malformed,
}

impl Faults {
    /// An outage or a full bucket, by time.
    fn timed(&self, n: u32, state: &mut FaultState) -> Option<Fault> {
        let now = Instant::now();
        if let Some(o) = self.outage.filter(|o| n > o.after) {
            let began = *state.outage_began.get_or_insert(now);
            if now.duration_since(began) < o.length {
                return Some(Fault::Server {
                    status: 503,
                    html: false,
                });
            }
        }
        let b = self.bucket?;
        let rate = f64::from(b.per_minute) / 60.0;
        let (level, at) = state.bucket;
        let level = (level - now.duration_since(at).as_secs_f64() * rate).max(0.0);
        if level + 1.0 > f64::from(b.capacity) {
            state.bucket = (level, now);
            let wait = ((level + 1.0 - f64::from(b.capacity)) / rate).ceil() as u32;
            return Some(Fault::TooMany(b.retry_after.then_some(wait.max(1))));
        }
        state.bucket = (level + 1.0, now);
        None
    }

    /// The fault for request number `n` (1-based) to `path`; `state` remembers what the faults
    /// need to (once-per-path faults, the outage, the bucket).
    pub fn decide(&self, n: u32, path: &str, state: &mut FaultState) -> Fault {
        if let Some(fault) = self.timed(n, state) {
            return fault;
        }
        let hit = &mut state.once;
        if self
            .always_fail_prefix
            .as_deref()
            .is_some_and(|p| path.starts_with(p))
        {
            return Fault::Server {
                status: 500,
                html: false,
            };
        }
        if let Some(s) = self.storm {
            if n > s.after && n <= s.after + s.length {
                return Fault::TooMany(Some(s.retry_after_seconds));
            }
        }
        let is_list = path == "/accounts" || path.ends_with("/list");
        if is_list
            && (self.truncate_first_page || self.malformed_first_page)
            && hit.insert(path.to_string())
        {
            return if self.truncate_first_page {
                Fault::Truncate
            } else {
                Fault::Malformed
            };
        }
        if self
            .hang_every
            .is_some_and(|every| every > 0 && n % every == 0)
        {
            return Fault::Hang(self.hang);
        }
        let r = mix(self.seed ^ u64::from(n));
        if (r % 100) < u64::from(self.server_error_percent) {
            return match (r >> 8) % 3 {
                0 => Fault::Server {
                    status: 500,
                    html: false,
                },
                1 => Fault::Server {
                    status: 502,
                    html: true,
                },
                _ => Fault::Server {
                    status: 503,
                    html: false,
                },
            };
        }
        Fault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fraction_is_roughly_as_asked_and_deterministic() {
        let f = Faults {
            seed: 9,
            server_error_percent: 20,
            ..Faults::default()
        };
        let mut state = FaultState::default();
        let errors = (1..=1000)
            .filter(|n| f.decide(*n, "/users/1", &mut state) != Fault::None)
            .count();
        assert!((150..=250).contains(&errors), "{errors}");
        assert_eq!(f.decide(7, "/x", &mut state), f.decide(7, "/x", &mut state));
    }

    #[test]
    fn once_per_list_path() {
        let f = Faults {
            truncate_first_page: true,
            ..Faults::default()
        };
        let mut state = FaultState::default();
        assert_eq!(f.decide(1, "/accounts", &mut state), Fault::Truncate);
        assert_eq!(f.decide(2, "/accounts", &mut state), Fault::None);
        assert_eq!(
            f.decide(3, "/conversations/list", &mut state),
            Fault::Truncate
        );
        assert_eq!(f.decide(4, "/conversations/5", &mut state), Fault::None);
    }

    #[test]
    fn a_bucket_overflows_and_drains() {
        let f = Faults {
            bucket: Some(Bucket {
                per_minute: 60,
                capacity: 3,
                retry_after: true,
            }),
            ..Faults::default()
        };
        let mut state = FaultState::default();
        let answers: Vec<Fault> = (1..=5).map(|n| f.decide(n, "/x", &mut state)).collect();
        assert_eq!(&answers[..3], &[Fault::None, Fault::None, Fault::None]);
        assert_eq!(answers[3], Fault::TooMany(Some(1)));
        state.bucket.1 -= Duration::from_secs(2);
        assert_eq!(f.decide(6, "/x", &mut state), Fault::None, "drained");
    }
}
