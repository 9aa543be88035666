//! Growing delays after failed sign-ins, per account and per client address. After
//! `FREE_FAILURES` failures each further attempt must wait twice as long as the last
//! (1 s, 2 s, 4 s ... up to 15 minutes). Bounded in memory; a success clears the key.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

pub const FREE_FAILURES: u32 = 5;
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
const TRACKED_KEYS: usize = 100_000;

struct Failures {
    count: u32,
    last: Instant,
}

pub struct Throttle {
    failures: Mutex<LruCache<String, Failures>>,
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

impl Throttle {
    /// `Err(wait)` if any of `keys` must still wait before another attempt.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let wait = keys
            .iter()
            .filter_map(|k| map.peek(k))
            .map(|f| delay_after(f.count).saturating_sub(now.duration_since(f.last)))
            .max()
            .unwrap_or(Duration::ZERO);
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failure against every key; returns the highest count.
    pub fn fail(&self, keys: &[String]) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        keys.iter()
            .map(|k| {
                let entry = map.get_or_insert_mut(k.clone(), || Failures {
                    count: 0,
                    last: now,
                });
                entry.count += 1;
                entry.last = now;
                entry.count
            })
            .max()
            .unwrap_or(0)
    }

    pub fn succeed(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            map.pop(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow() {
        assert_eq!(delay_after(4), Duration::ZERO);
        assert_eq!(delay_after(5), Duration::from_secs(1));
        assert_eq!(delay_after(8), Duration::from_secs(8));
        assert_eq!(delay_after(40), MAX_DELAY);
        let t = Throttle::default();
        let keys = vec!["acct:1".to_owned(), "ip:127.0.0.1".to_owned()];
        for _ in 0..5 {
            assert!(t.check(&keys).is_ok());
            t.fail(&keys);
        }
        assert!(t.check(&keys).is_err());
        assert!(t.check(&["acct:2".to_owned()]).is_ok());
        t.succeed(&keys);
        assert!(t.check(&keys).is_ok());
    }
}
