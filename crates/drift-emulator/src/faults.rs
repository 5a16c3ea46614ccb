//! What can go wrong, on purpose: the emulator's fault injection, decided per request from a seed
//! and the request's number, so every test run sees the same faults. Compiled only with the `faults`
//! feature (the tests' switches); it decides, the server in `lib.rs` acts.

use std::collections::HashSet;
use std::time::Duration;

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

/// Faults to inject (all off by default).
#[derive(Debug, Clone, Default)]
pub struct Faults {
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
}

/// What the emulator does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Serve it normally.
    None,
    /// 429 with `Retry-After`.
    TooMany(u32),
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
    /// The fault for request number `n` (1-based) to `path`; `hit` remembers once-per-path faults.
    pub fn decide(&self, n: u32, path: &str, hit: &mut HashSet<String>) -> Fault {
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
                return Fault::TooMany(s.retry_after_seconds);
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
        let mut hit = HashSet::new();
        let errors = (1..=1000)
            .filter(|n| f.decide(*n, "/users/1", &mut hit) != Fault::None)
            .count();
        assert!((150..=250).contains(&errors), "{errors}");
        assert_eq!(f.decide(7, "/x", &mut hit), f.decide(7, "/x", &mut hit));
    }

    #[test]
    fn once_per_list_path() {
        let f = Faults {
            truncate_first_page: true,
            ..Faults::default()
        };
        let mut hit = HashSet::new();
        assert_eq!(f.decide(1, "/accounts", &mut hit), Fault::Truncate);
        assert_eq!(f.decide(2, "/accounts", &mut hit), Fault::None);
        assert_eq!(
            f.decide(3, "/conversations/list", &mut hit),
            Fault::Truncate
        );
        assert_eq!(f.decide(4, "/conversations/5", &mut hit), Fault::None);
    }
}
