//! Turns for reading uploads. Each multipart body being read may hold a 10 MB receipt
//! in memory, so only a few are read at once, each person may hold only two of those
//! turns (one person sending slowly cannot hold them all), and a body must arrive
//! within [`READ_TIME`] (a stalled one cannot hold a turn for ever).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Uploads read at once, in all.
pub const AT_ONCE: usize = 8;
/// Uploads one person may be sending at once.
pub const PER_PERSON: usize = 2;
/// The longest a multipart body may take to arrive: 32 MB at about 1 Mbit/s.
pub const READ_TIME: Duration = Duration::from_secs(300);

/// Who is uploading: (organisation, user), as the session names them.
pub type Uploader = (i64, i64);

pub struct Turns {
    all: Semaphore,
    by_person: Mutex<HashMap<Uploader, usize>>,
    per_person: usize,
}

/// One upload's turn; given back when dropped.
pub struct Turn<'a> {
    turns: &'a Turns,
    who: Uploader,
    _permit: SemaphorePermit<'a>,
}

/// The person already has [`PER_PERSON`] uploads under way.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl Turns {
    pub fn new(at_once: usize, per_person: usize) -> Turns {
        Turns {
            all: Semaphore::new(at_once),
            by_person: Mutex::new(HashMap::new()),
            per_person,
        }
    }

    /// Waits for a turn, or refuses at once if this person already holds their share.
    pub async fn take(&self, who: Uploader) -> Result<Turn<'_>, Busy> {
        {
            let mut map = self.by_person.lock().unwrap_or_else(|e| e.into_inner());
            let held = map.entry(who).or_insert(0);
            if *held >= self.per_person {
                return Err(Busy);
            }
            *held += 1;
        }
        // Counted before waiting, so a person's queued uploads count too; the guard
        // gives the count back if this future is dropped while waiting.
        let mut pending = Pending {
            turns: self,
            who,
            armed: true,
        };
        let permit = self.all.acquire().await.map_err(|_| Busy)?;
        pending.armed = false;
        Ok(Turn {
            turns: self,
            who,
            _permit: permit,
        })
    }

    fn give_back(&self, who: Uploader) {
        let mut map = self.by_person.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = map.get_mut(&who) {
            *held -= 1;
            if *held == 0 {
                map.remove(&who);
            }
        }
    }

    /// Uploads this person holds or waits for (for tests).
    pub fn held_by(&self, who: Uploader) -> usize {
        let map = self.by_person.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&who).copied().unwrap_or(0)
    }
}

struct Pending<'a> {
    turns: &'a Turns,
    who: Uploader,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.turns.give_back(self.who);
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.turns.give_back(self.who);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[actix_web::test]
    async fn a_person_holds_at_most_their_share_and_gets_it_back() {
        let turns = Turns::new(8, 2);
        let (ann, bob) = ((1, 1), (1, 2));
        let a1 = turns.take(ann).await.unwrap();
        let a2 = turns.take(ann).await.unwrap();
        assert_eq!(
            turns.take(ann).await.err(),
            Some(Busy),
            "a third is refused"
        );
        // The same user id in another organisation is someone else.
        let other_org = turns.take((2, 1)).await.unwrap();
        let b1 = turns.take(bob).await.unwrap();
        drop(a1);
        assert_eq!(turns.held_by(ann), 1);
        let a3 = turns.take(ann).await.unwrap();
        drop((a2, a3, b1, other_org));
        assert_eq!(turns.held_by(ann), 0);
        assert_eq!(turns.held_by(bob), 0);
    }

    #[actix_web::test]
    async fn a_wait_given_up_gives_the_share_back() {
        let turns = Turns::new(1, 2);
        let first = turns.take((1, 1)).await.unwrap();
        {
            // A second upload waits for the only turn; the client goes away meanwhile.
            let waiting = turns.take((1, 1));
            let mut waiting = std::pin::pin!(waiting);
            assert!(waiting.as_mut().now_or_never().is_none(), "it waits");
            assert_eq!(turns.held_by((1, 1)), 2);
        }
        assert_eq!(
            turns.held_by((1, 1)),
            1,
            "the abandoned wait is not counted"
        );
        drop(first);
        assert!(turns.take((1, 1)).await.is_ok());
    }
}
