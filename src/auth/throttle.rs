//! Growing delays after failed sign-ins, per account and per client address. After
//! its free failures a key must wait twice as long after each further failure as after
//! the last (1 s, 2 s, 4 s ... up to 15 minutes). Bounded in memory.
//!
//! A success clears the account's key only, never the address's: otherwise anyone could
//! guess against other people's accounts, sign in to their own to wipe the address's
//! count, and go on (password spraying). The address's count instead fades with time.
//! An attempt on an account is counted when it begins, in the same locked step as the
//! check: guesses sent in parallel cannot all pass the check before any has failed.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

/// Failures an account (or a pending second step) may have before it must wait.
pub const FREE_FAILURES: u32 = 5;
/// Failures one client address may have before it must wait: higher than an account's
/// because an office behind one NAT is one address, and every colleague's typo counts
/// there while no success clears it. A guesser is still slowed, since spreading guesses
/// over many accounts (where each account's own limit never trips) all counts here.
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// An address is forgiven one failure for each such span since its last failure, so
/// occasional typos never add up to a wait (an hour without one forgives all twenty),
/// while a guesser gets about twenty guesses an hour from one address.
pub const ADDRESS_FORGIVES_ONE_EVERY: Duration = Duration::from_secs(3 * 60);
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
const TRACKED_KEYS: usize = 100_000;

/// Attempts counted and not yet cleared (or, for an address, forgiven), and when the
/// last one was.
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

fn delay_after(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let exp = (count - free).min(20);
    Duration::from_secs(1u64 << exp).min(MAX_DELAY)
}

/// What is still to wait after `f`, whose key is free for `free` failures.
fn still_to_wait(f: &Failures, free: u32, now: Instant) -> Duration {
    delay_after(f.count, free).saturating_sub(now.duration_since(f.last))
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

/// How long the most delayed of the attempt's keys must still wait.
fn wait_for(map: &Map, attempt: &Attempt, now: Instant) -> Duration {
    let account = map
        .peek(&attempt.account)
        .map(|f| still_to_wait(f, FREE_FAILURES, now));
    let address = attempt
        .address
        .as_ref()
        .and_then(|a| map.peek(a))
        .map(|f| still_to_wait(f, ADDRESS_FREE_FAILURES, now));
    account.max(address).unwrap_or(Duration::ZERO)
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

/// Counts a failure from an address, after forgiving those that time has faded.
fn count_address(map: &mut Map, key: &str, now: Instant) -> u32 {
    if let Some(f) = map.get_mut(key) {
        let spans = now.duration_since(f.last).as_secs() / ADDRESS_FORGIVES_ONE_EVERY.as_secs();
        let forgiven = u32::try_from(spans).unwrap_or(u32::MAX);
        f.count = f.count.saturating_sub(forgiven);
    }
    count_one(map, key, now)
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
        self.begin_at(attempt, Instant::now())
    }

    fn begin_at(&self, attempt: &Attempt, now: Instant) -> Result<(), Duration> {
        let mut map = self.lock();
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
        self.fail_at(attempt, Instant::now())
    }

    fn fail_at(&self, attempt: &Attempt, now: Instant) -> u32 {
        let mut map = self.lock();
        let account = match map.get_mut(&attempt.account) {
            Some(f) => {
                f.last = now;
                f.count
            }
            // Forgotten meanwhile (the map is bounded): count it afresh.
            None => count_one(&mut map, &attempt.account, now),
        };
        let address = match &attempt.address {
            Some(a) => count_address(&mut map, a, now),
            None => 0,
        };
        account.max(address)
    }

    /// Ends a successful attempt: clears the account's count only. The address keeps
    /// its count (see the module docs), which fades with time.
    pub fn succeed(&self, attempt: &Attempt) {
        self.lock().pop(&attempt.account);
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
        assert_eq!(delay_after(4, FREE_FAILURES), Duration::ZERO);
        assert_eq!(delay_after(5, FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(delay_after(8, FREE_FAILURES), Duration::from_secs(8));
        assert_eq!(delay_after(40, FREE_FAILURES), MAX_DELAY);
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

    /// A failed attempt at someone else's account, from `ip`.
    fn guess(i: u32, ip: &str) -> Attempt {
        Attempt {
            account: format!("acct:victim{i}"),
            address: Some(ip.to_owned()),
        }
    }

    #[test]
    fn signing_in_to_ones_own_account_does_not_clear_the_address() {
        let t = Throttle::default();
        let ip = "ip:203.0.113.9";
        let own = Attempt {
            account: "acct:attacker".to_owned(),
            address: Some(ip.to_owned()),
        };
        let mut guesses = 0;
        while guesses < ADDRESS_FREE_FAILURES {
            for _ in 0..(FREE_FAILURES - 1).min(ADDRESS_FREE_FAILURES - guesses) {
                let g = guess(guesses, ip);
                assert!(t.begin(&g).is_ok());
                t.fail(&g);
                guesses += 1;
            }
            if guesses < ADDRESS_FREE_FAILURES {
                assert!(t.begin(&own).is_ok());
                t.succeed(&own);
            }
        }
        assert!(t.begin(&guess(guesses, ip)).is_err());
        assert!(
            t.begin(&own).is_err(),
            "the address waits, whoever it tries"
        );
        // The attacker's own account was cleared: only the address waits.
        assert!(t.lock().peek("acct:attacker").is_none());
    }

    #[test]
    fn colleagues_typos_behind_one_address_fade_and_never_lock_the_office_out() {
        let t = Throttle::default();
        let ip = "ip:10.0.0.1";
        let start = Instant::now();
        // A typo every ten minutes all day long: never a wait for anyone.
        for i in 0..60u32 {
            let at = start + Duration::from_secs(u64::from(i) * 600);
            let g = guess(i, ip);
            assert_eq!(t.begin_at(&g, at), Ok(()), "typo {i}");
            assert_eq!(t.fail_at(&g, at), 1, "the earlier ones were forgiven");
        }
        // A burst of typos at nine o'clock short of the address's limit: no wait either.
        let t = Throttle::default();
        for i in 0..ADDRESS_FREE_FAILURES - 1 {
            let g = guess(i, ip);
            assert!(t.begin_at(&g, start).is_ok());
            t.fail_at(&g, start);
        }
        let colleague = guess(999, ip);
        assert_eq!(t.begin_at(&colleague, start), Ok(()));
        // One more failure makes the address wait one second, then it is free again.
        t.fail_at(&colleague, start);
        assert!(t.begin_at(&guess(1000, ip), start).is_err());
        let later = start + Duration::from_secs(1);
        assert_eq!(t.begin_at(&guess(1001, ip), later), Ok(()));
        // An hour without a failure forgives the address all of them.
        let hour = later + ADDRESS_FORGIVES_ONE_EVERY * ADDRESS_FREE_FAILURES;
        assert_eq!(t.fail_at(&guess(1002, ip), hour), 1);
    }
}
