//! Turns for reading uploads (and, with their own shares, for writing data exports:
//! `handlers::me`). Each multipart body being read may hold a 10 MB receipt
//! in memory, so only a few are read at once; each person may hold only two of those
//! turns and each organisation all but two (one person or one tenant sending slowly
//! cannot hold them all); a body must arrive within [`READ_TIME`] (a stalled one cannot
//! hold a turn for ever), and nobody waits for a turn longer than [`WAIT_TIME`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Uploads read at once, in all.
pub const AT_ONCE: usize = 8;
/// Uploads one person may be sending at once.
pub const PER_PERSON: usize = 2;
/// Uploads one organisation's people may be sending at once: all but two turns, so a
/// one-organisation server uses nearly all of them and another tenant always finds two.
pub const PER_ORG: usize = AT_ONCE - 2;
/// The longest a multipart body may take to arrive: 32 MB at about 1 Mbit/s.
pub const READ_TIME: Duration = Duration::from_secs(300);
/// The longest an upload waits for a turn before it is turned away.
pub const WAIT_TIME: Duration = Duration::from_secs(20);

/// Data exports written at once, in all; each person has one at a time, and none waits.
pub const EXPORTS_AT_ONCE: usize = 6;
/// Exports of one organisation at once: all but two, as with uploads. An export holds
/// its turn while the client reads it, slowly if it likes: without this, one tenant's
/// slow downloads could refuse another's DPO a subject-access export with a deadline.
pub const EXPORTS_PER_ORG: usize = EXPORTS_AT_ONCE - 2;

/// Who is uploading: (organisation, user), as the session names them.
pub type Uploader = (i64, i64);

/// Kept in the app's state (one set per app, not per process), and shared with the
/// turns it hands out, which may outlive the request (an export's writer holds one).
pub struct Turns(Arc<Shares>);

struct Shares {
    all: Arc<Semaphore>,
    held: Mutex<Held>,
    at_once: usize,
    per_person: usize,
    per_org: usize,
    wait: Duration,
}

/// Turns held or waited for, by person and by organisation.
#[derive(Default)]
struct Held {
    by_person: HashMap<Uploader, usize>,
    by_org: HashMap<i64, usize>,
}

/// One fewer for `key`, forgetting it at none.
fn less<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// One upload's turn; given back when dropped.
pub struct Turn {
    shares: Arc<Shares>,
    who: Uploader,
    _permit: OwnedSemaphorePermit,
}

/// Why an upload was turned away.
#[derive(Debug, PartialEq, Eq)]
pub enum Busy {
    /// The person already has [`PER_PERSON`] uploads under way.
    Person,
    /// Their organisation already has [`PER_ORG`] uploads under way.
    Organisation,
    /// No turn came free within [`WAIT_TIME`].
    Server,
}

impl Busy {
    pub fn message(&self) -> &'static str {
        match self {
            Busy::Person => {
                "You are already sending two files. Wait until they have arrived, then send this one again."
            }
            Busy::Organisation => {
                "Many people in your organisation are sending files right now. Try again in a minute."
            }
            Busy::Server => "The server is receiving many files right now. Try again in a minute.",
        }
    }
}

impl Turns {
    pub fn new(at_once: usize, per_person: usize, per_org: usize, wait: Duration) -> Turns {
        Turns(Arc::new(Shares {
            all: Arc::new(Semaphore::new(at_once)),
            held: Mutex::new(Held::default()),
            at_once,
            per_person,
            per_org,
            wait,
        }))
    }

    /// The upload turns: [`AT_ONCE`] in all, [`PER_PERSON`], [`PER_ORG`], [`WAIT_TIME`].
    pub fn for_uploads() -> Turns {
        Turns::new(AT_ONCE, PER_PERSON, PER_ORG, WAIT_TIME)
    }

    /// The turns for writing data exports: [`EXPORTS_AT_ONCE`] in all, one per person,
    /// [`EXPORTS_PER_ORG`], and a refusal at once rather than a wait.
    pub fn for_exports() -> Turns {
        Turns::new(EXPORTS_AT_ONCE, 1, EXPORTS_PER_ORG, Duration::ZERO)
    }

    /// Waits for a turn (at most the wait time), or refuses at once if this person or
    /// their organisation already holds its share.
    pub async fn take(&self, who: Uploader) -> Result<Turn, Busy> {
        let shares = &self.0;
        {
            let mut held = shares.held.lock().unwrap_or_else(|e| e.into_inner());
            if held.by_person.get(&who).copied().unwrap_or(0) >= shares.per_person {
                return Err(Busy::Person);
            }
            // The turns beyond an organisation's share are kept for others, and not
            // only against one other: an organisation already holding a turn leaves
            // them free, while one holding none may take them. So with many tenants
            // busy, each newcomer still gets in while any turn is free.
            let mine = held.by_org.get(&who.0).copied().unwrap_or(0);
            let total: usize = held.by_org.values().sum();
            let kept = shares.at_once.saturating_sub(shares.per_org);
            if mine >= shares.per_org || (mine > 0 && kept > 0 && total + kept >= shares.at_once) {
                return Err(Busy::Organisation);
            }
            *held.by_person.entry(who).or_insert(0) += 1;
            *held.by_org.entry(who.0).or_insert(0) += 1;
        }
        // Counted before waiting, so queued uploads count too; the guard gives the
        // count back if this future is dropped or gives up while waiting.
        let mut pending = Pending {
            shares,
            who,
            armed: true,
        };
        let acquire = Arc::clone(&shares.all).acquire_owned();
        let permit = match tokio::time::timeout(shares.wait, acquire).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(Busy::Server),
        };
        pending.armed = false;
        Ok(Turn {
            shares: Arc::clone(shares),
            who,
            _permit: permit,
        })
    }

    /// Uploads this person holds or waits for (for tests).
    pub fn held_by(&self, who: Uploader) -> usize {
        let held = self.0.held.lock().unwrap_or_else(|e| e.into_inner());
        held.by_person.get(&who).copied().unwrap_or(0)
    }

    /// Uploads this organisation's people hold or wait for (for tests).
    pub fn held_by_org(&self, org: i64) -> usize {
        let held = self.0.held.lock().unwrap_or_else(|e| e.into_inner());
        held.by_org.get(&org).copied().unwrap_or(0)
    }
}

impl Shares {
    fn give_back(&self, who: Uploader) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        less(&mut held.by_person, who);
        less(&mut held.by_org, who.0);
    }
}

struct Pending<'a> {
    shares: &'a Shares,
    who: Uploader,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shares.give_back(self.who);
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.shares.give_back(self.who);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[actix_web::test]
    async fn a_person_holds_at_most_their_share_and_gets_it_back() {
        let turns = Turns::new(8, 2, 4, WAIT_TIME);
        let (ann, bob) = ((1, 1), (1, 2));
        let a1 = turns.take(ann).await.unwrap();
        let a2 = turns.take(ann).await.unwrap();
        assert_eq!(
            turns.take(ann).await.err(),
            Some(Busy::Person),
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
        let turns = Turns::new(1, 2, 4, WAIT_TIME);
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

    #[actix_web::test]
    async fn an_organisation_holds_at_most_its_share() {
        let turns = Turns::new(8, 2, 4, WAIT_TIME);
        let acme: Vec<_> = futures_util::future::join_all((1..=4).map(|u| turns.take((1, u))))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(turns.held_by_org(1), 4);
        assert_eq!(
            turns.take((1, 5)).await.err(),
            Some(Busy::Organisation),
            "a fifth person of the same organisation is refused"
        );
        // Another organisation still gets its turns.
        let other = turns.take((2, 1)).await.unwrap();
        drop(acme);
        assert_eq!(turns.held_by_org(1), 0);
        assert!(turns.take((1, 5)).await.is_ok());
        drop(other);
    }

    #[actix_web::test]
    async fn one_organisation_cannot_hold_every_export() {
        let turns = Turns::for_exports();
        let acme: Vec<_> = futures_util::future::join_all(
            (1..=EXPORTS_PER_ORG as i64).map(|u| turns.take((1, u))),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(turns.take((1, 99)).await.err(), Some(Busy::Organisation));
        // Another tenant's DPO still gets an export out, at once, and so does a third
        // tenant's: the second may not take the last turn while it holds one.
        let dpo = turns.take((2, 1)).await.unwrap();
        assert_eq!(turns.take((2, 1)).await.err(), Some(Busy::Person));
        assert_eq!(turns.take((2, 2)).await.err(), Some(Busy::Organisation));
        let third = turns.take((3, 1)).await.unwrap();
        // Every turn is out now: the next waits for none and is told so.
        assert_eq!(turns.take((4, 1)).await.err(), Some(Busy::Server));
        drop((acme, dpo, third));
    }

    #[actix_web::test]
    async fn a_wait_for_a_turn_ends() {
        // The only turn is held; the wait gives up (paused clock: no real waiting).
        tokio::time::pause();
        let turns = Turns::new(1, 2, 4, Duration::from_secs(20));
        let held = turns.take((1, 1)).await.unwrap();
        assert_eq!(turns.take((2, 1)).await.err(), Some(Busy::Server));
        assert_eq!(turns.held_by((2, 1)), 0, "the given-up wait is not counted");
        drop(held);
    }
}
