//! Growing delays after failed sign-ins, per account and per client address. After
//! `FREE_FAILURES` failures each further attempt must wait twice as long as the last
//! (1 s, 2 s, 4 s ... up to 15 minutes). Bounded in memory; a success clears the key.
//! An attempt on an account is counted when it begins, in the same locked step as the
//! check: guesses sent in parallel cannot all pass the check before any has failed.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

pub const FREE_FAILURES: u32 = 5;
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
const TRACKED_KEYS: usize = 100_000;

/// Attempts counted and not yet cleared by a success, and when the last one was.
struct Failures {
    count: u32,
    last: Instant,
}

type Map = LruCache<String, Failures>;

pub struct Throttle {
    failures: Mutex<Map>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures: Mutex::new(LruCache::new(
                NonZeroUsize::new(TRACKED_KEYS).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

fn delay_after(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (count - FREE_FAILURES).min(20);
    Duration::from_secs(1u64 << exp).min(MAX_DELAY)
}

/// The keys one attempt is throttled under.
pub struct Attempt {
    /// The account (or the pending second step) tried: counted as the attempt begins,
    /// so guesses sent in parallel cannot all pass before any has failed.
    pub account: String,
    /// The client's address, if known: counted only when an attempt fails, since
    /// honest people behind one office address may well sign in at the same moment.
    pub address: Option<String>,
}

impl Attempt {
    fn keys(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.account).chain(&self.address)
    }
}

/// How long the most delayed of the attempt's keys must still wait.
fn wait_for(map: &Map, attempt: &Attempt, now: Instant) -> Duration {
    attempt
        .keys()
        .filter_map(|k| map.peek(k))
        .map(|f| delay_after(f.count).saturating_sub(now.duration_since(f.last)))
        .max()
        .unwrap_or(Duration::ZERO)
}

fn count_one(map: &mut Map, key: &str, now: Instant) -> u32 {
    let entry = map.get_or_insert_mut(key.to_owned(), || Failures {
        count: 0,
        last: now,
    });
    entry.count += 1;
    entry.last = now;
    entry.count
}

impl Throttle {
    fn lock(&self) -> MutexGuard<'_, Map> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Begins an attempt: `Err(wait)` if any of its keys must still wait; otherwise the
    /// attempt is counted against the account at once (as a failure until [`succeed`]
    /// clears it), in the same locked step as the check.
    ///
    /// [`succeed`]: Throttle::succeed
    pub fn begin(&self, attempt: &Attempt) -> Result<(), Duration> {
        let mut map = self.lock();
        let now = Instant::now();
        let wait = wait_for(&map, attempt, now);
        if !wait.is_zero() {
            return Err(wait);
        }
        count_one(&mut map, &attempt.account, now);
        Ok(())
    }

    /// Ends a failed attempt: the address counts it now; the account, which counted it
    /// as it began, starts its wait from now, as the person sees the failure. Returns
    /// the highest count.
    pub fn fail(&self, attempt: &Attempt) -> u32 {
        let mut map = self.lock();
        let now = Instant::now();
        let account = match map.get_mut(&attempt.account) {
            Some(f) => {
                f.last = now;
                f.count
            }
            // Forgotten meanwhile (the map is bounded): count it afresh.
            None => count_one(&mut map, &attempt.account, now),
        };
        let address = match &attempt.address {
            Some(a) => count_one(&mut map, a, now),
            None => 0,
        };
        account.max(address)
    }

    pub fn succeed(&self, attempt: &Attempt) {
        let mut map = self.lock();
        for k in attempt.keys() {
            map.pop(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> Attempt {
        Attempt {
            account: "acct:1".to_owned(),
            address: Some("ip:127.0.0.1".to_owned()),
        }
    }

    #[test]
    fn delays_grow() {
        assert_eq!(delay_after(4), Duration::ZERO);
        assert_eq!(delay_after(5), Duration::from_secs(1));
        assert_eq!(delay_after(8), Duration::from_secs(8));
        assert_eq!(delay_after(40), MAX_DELAY);
        let t = Throttle::default();
        let a = attempt();
        for n in 1..=FREE_FAILURES {
            assert!(t.begin(&a).is_ok());
            assert_eq!(t.fail(&a), n, "a failure is counted once");
        }
        assert!(t.begin(&a).is_err());
        let other = Attempt {
            account: "acct:2".to_owned(),
            address: None,
        };
        assert!(t.begin(&other).is_ok());
        t.succeed(&a);
        assert!(t.begin(&a).is_ok());
    }

    #[test]
    fn attempts_in_flight_count_before_they_finish() {
        let t = Throttle::default();
        let a = attempt();
        let passed = (0..FREE_FAILURES + 5)
            .filter(|_| t.begin(&a).is_ok())
            .count();
        assert_eq!(passed, FREE_FAILURES as usize);
    }

    #[test]
    fn parallel_attempts_pass_only_up_to_the_limit() {
        let t = Throttle::default();
        let a = attempt();
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|_| s.spawn(|| usize::from(t.begin(&a).is_ok())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(passed, FREE_FAILURES as usize);
    }

    #[test]
    fn many_people_at_one_address_may_sign_in_at_once() {
        let t = Throttle::default();
        let passed = (0..50)
            .filter(|i| {
                t.begin(&Attempt {
                    account: format!("acct:{i}"),
                    address: Some("ip:10.0.0.1".to_owned()),
                })
                .is_ok()
            })
            .count();
        assert_eq!(passed, 50);
    }

    #[test]
    fn a_refused_attempt_is_not_counted() {
        let t = Throttle::default();
        let a = attempt();
        for _ in 0..FREE_FAILURES {
            assert!(t.begin(&a).is_ok());
        }
        // Refusals neither count nor grow the wait: 1 s after five failures.
        for _ in 0..3 {
            assert!(matches!(t.begin(&a), Err(w) if w <= Duration::from_secs(1)));
        }
        assert_eq!(
            t.lock().peek("acct:1").map(|f| f.count),
            Some(FREE_FAILURES)
        );
    }
}
