//! Daily jobs inside `serve` (backups, and others such as the retention run): each job
//! has a name, a UTC time of day and a function returning a one-line summary. One
//! background thread sleeps until the next job is due, runs it, and logs the result.
//! Summaries and errors go to the log, so they must hold nothing personal. Each
//! successful run is recorded, so a server that was down at a job's time runs it as
//! soon as it starts again rather than a day late.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use time::{OffsetDateTime, Time};

/// What a job does: a one-line summary on success, a plain sentence on failure.
pub type JobFn = Box<dyn Fn() -> Result<String, String> + Send + 'static>;

pub struct DailyJob {
    pub name: &'static str,
    /// Time of day, UTC.
    pub at: Time,
    pub run: JobFn,
}

impl DailyJob {
    pub fn new(
        name: &'static str,
        at: Time,
        run: impl Fn() -> Result<String, String> + Send + 'static,
    ) -> DailyJob {
        DailyJob {
            name,
            at,
            run: Box::new(run),
        }
    }
}

/// The first moment strictly after `now` at time of day `at` (UTC).
pub fn next_run(now: OffsetDateTime, at: Time) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    let today = now.date().with_time(at).assume_utc();
    if today > now {
        today
    } else {
        today + time::Duration::days(1)
    }
}

/// Where the scheduler keeps when each job last ran successfully (the registry, in
/// production). A job that has never run gets the scheduler's first start as its
/// record: slots before the server ever ran are not missed.
pub trait RunRecord: Send + 'static {
    fn last_run(&self, job: &str) -> Result<Option<OffsetDateTime>, String>;
    fn set_last_run(&self, job: &str, at: OffsetDateTime) -> Result<(), String>;
}

/// A day plus the longest a run and a restart may take: a daily job whose last run is
/// older than this has missed a slot or failed.
pub const LATE_AFTER: time::Duration = time::Duration::hours(26);

/// Whether a daily job is late at `now`, for something that exists since `since`: its
/// last run (if any) is more than [`LATE_AFTER`] ago, or it never ran and the thing is
/// that old.
pub fn late(last: Option<OffsetDateTime>, since: OffsetDateTime, now: OffsetDateTime) -> bool {
    now - last.unwrap_or(since) > LATE_AFTER
}

/// How close to its slot a missed job waits for the slot rather than running at once.
const MAKE_UP_BEFORE: time::Duration = time::Duration::hours(1);

/// When a job is first due after a start at `now`, given its last run: at once if a
/// slot passed since then (the server was down, or the run failed, at that time),
/// else at its next slot. Several missed slots make one run: a backup taken now holds
/// what each would have, and retention deletes all that is due by today.
pub fn first_due(now: OffsetDateTime, at: Time, last: Option<OffsetDateTime>) -> OffsetDateTime {
    let next = next_run(now, at);
    match last {
        // Within the hour the slot itself makes it up; running now too would run twice.
        Some(last) if last < next - time::Duration::days(1) && next - now >= MAKE_UP_BEFORE => now,
        _ => next,
    }
}

/// When a job planned for `due` should run, seen at `now`: if `due` is more than a day
/// ahead, the clock was set back since it was planned (an NTP correction after starting
/// with a fast clock), and waiting for it would stop the job for as long.
pub fn replan(due: OffsetDateTime, now: OffsetDateTime, at: Time) -> OffsetDateTime {
    if due - now > time::Duration::days(1) {
        next_run(now, at)
    } else {
        due
    }
}

/// The longest the scheduler sleeps before looking at the clock again: the sleep runs
/// on a monotonic clock, which neither a clock change nor a suspended machine moves.
const LOOK_AGAIN: Duration = Duration::from_secs(5 * 60);

/// Parses `HH:MM` (24-hour, UTC), for `--backup-at`.
pub fn parse_time_of_day(s: &str) -> Result<Time, String> {
    let bad = || format!("{s} is not a time of day (expected HH:MM, e.g. 02:00)");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::from_hms(h, m, 0).map_err(|_| bad())
}

/// Runs one job, turning a panic into an error so the scheduler carries on.
pub fn run_now(job: &DailyJob) -> Result<String, String> {
    match catch_unwind(AssertUnwindSafe(|| (job.run)())) {
        Ok(r) => r,
        Err(_) => Err("the job panicked".into()),
    }
}

/// Stops the scheduler thread when dropped (a running job finishes on its own).
pub struct Scheduler {
    stop: Option<Sender<()>>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Reads `job`'s last run from `record`, writing `now` there if it has none; on an
/// error the job is treated as up to date (it then runs at its next slot).
fn last_run_or_start(
    record: &dyn RunRecord,
    job: &str,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    match record.last_run(job) {
        Ok(Some(last)) => Some(last),
        Ok(None) => {
            if let Err(e) = record.set_last_run(job, now) {
                log::error!("recording the first start of daily job {job} failed: {e}");
            }
            None
        }
        Err(e) => {
            log::error!("reading when daily job {job} last ran failed: {e}");
            None
        }
    }
}

/// Starts the background thread for `jobs`, keeping their runs in `record`.
pub fn start(jobs: Vec<DailyJob>, record: impl RunRecord) -> Result<Scheduler, std::io::Error> {
    let (tx, rx) = mpsc::channel::<()>();
    if jobs.is_empty() {
        return Ok(Scheduler { stop: Some(tx) });
    }
    std::thread::Builder::new()
        .name("daily-jobs".into())
        .spawn(move || {
            let now = OffsetDateTime::now_utc();
            let mut due = Vec::with_capacity(jobs.len());
            for job in &jobs {
                let last = last_run_or_start(&record, job.name, now);
                let at = first_due(now, job.at, last);
                match last {
                    Some(last) if at == now => log::warn!(
                        "daily job {} has not run since {last}: running it now",
                        job.name
                    ),
                    _ => log::info!("daily job {} scheduled for {at}", job.name),
                }
                due.push(at);
            }
            loop {
                let now = OffsetDateTime::now_utc();
                for (job, at) in jobs.iter().zip(due.iter_mut()) {
                    let planned = replan(*at, now, job.at);
                    if planned != *at {
                        log::warn!(
                            "the clock went back: daily job {} now due at {planned}",
                            job.name
                        );
                        *at = planned;
                    }
                }
                let Some(next) = due.iter().min().copied() else {
                    return;
                };
                let wait = (next - now).max(time::Duration::ZERO);
                let wait = Duration::try_from(wait)
                    .unwrap_or(Duration::ZERO)
                    .min(LOOK_AGAIN);
                match rx.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // Told to stop, or the server is gone.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let now = OffsetDateTime::now_utc();
                for (job, at) in jobs.iter().zip(due.iter_mut()) {
                    if *at > now {
                        continue;
                    }
                    match run_now(job) {
                        Ok(summary) => {
                            log::info!("daily job {}: {summary}", job.name);
                            if let Err(e) = record.set_last_run(job.name, now) {
                                log::error!(
                                    "recording the run of daily job {} failed: {e}",
                                    job.name
                                );
                            }
                        }
                        // Not recorded: a restart before the next slot runs it again.
                        Err(e) => log::error!("daily job {} failed: {e}", job.name),
                    }
                    *at = next_run(OffsetDateTime::now_utc().max(now), job.at);
                }
            }
        })?;
    Ok(Scheduler { stop: Some(tx) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::{datetime, time};

    #[test]
    fn a_clock_set_back_replans_rather_than_waiting_for_months() {
        let at = time!(02:00);
        // Planned while the clock ran a year fast; now it is right again.
        let planned = datetime!(2027-11-26 02:00 UTC);
        let now = datetime!(2026-11-25 12:00 UTC);
        assert_eq!(replan(planned, now, at), datetime!(2026-11-26 02:00 UTC));
        // A plan within the day stands.
        let tonight = datetime!(2026-11-26 02:00 UTC);
        assert_eq!(replan(tonight, now, at), tonight);
    }

    #[test]
    fn a_missed_slot_makes_the_job_due_at_once() {
        let at = time!(02:00);
        let now = datetime!(2026-11-25 09:00 UTC);
        let tomorrow = datetime!(2026-11-26 02:00 UTC);
        // Down at 02:00 today: last ran yesterday, or days ago.
        assert_eq!(
            first_due(now, at, Some(datetime!(2026-11-24 02:00 UTC))),
            now
        );
        assert_eq!(
            first_due(now, at, Some(datetime!(2026-11-01 02:00 UTC))),
            now
        );
        // Ran at today's slot, or first started after it: nothing missed.
        assert_eq!(
            first_due(now, at, Some(datetime!(2026-11-25 02:00 UTC))),
            tomorrow
        );
        assert_eq!(
            first_due(now, at, Some(datetime!(2026-11-25 08:00 UTC))),
            tomorrow
        );
        assert_eq!(first_due(now, at, None), tomorrow);
        // Before today's slot: yesterday's is the one that counts.
        let early = datetime!(2026-11-25 01:00 UTC);
        let today = datetime!(2026-11-25 02:00 UTC);
        assert_eq!(
            first_due(early, at, Some(datetime!(2026-11-24 02:00 UTC))),
            today
        );
        assert_eq!(
            first_due(early, at, Some(datetime!(2026-11-23 23:00 UTC))),
            early
        );
        // A record from the future (the clock went back) is not a missed slot.
        assert_eq!(
            first_due(now, at, Some(datetime!(2027-01-01 02:00 UTC))),
            tomorrow
        );
    }

    #[test]
    fn next_run_is_today_if_still_ahead_else_tomorrow() {
        let at = time!(02:00);
        assert_eq!(
            next_run(datetime!(2026-11-25 01:59:59 UTC), at),
            datetime!(2026-11-25 02:00 UTC)
        );
        assert_eq!(
            next_run(datetime!(2026-11-25 02:00 UTC), at),
            datetime!(2026-11-26 02:00 UTC)
        );
        assert_eq!(
            next_run(datetime!(2026-12-31 23:00 UTC), at),
            datetime!(2027-01-01 02:00 UTC)
        );
        // A clock in another offset is read in UTC.
        assert_eq!(
            next_run(datetime!(2026-11-25 03:30 +02:00), at),
            datetime!(2026-11-25 02:00 UTC)
        );
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("02:00").unwrap(), time!(02:00));
        assert_eq!(parse_time_of_day("23:59").unwrap(), time!(23:59));
        for bad in ["2:00", "24:00", "12:60", "noon", "", "12:00:00"] {
            assert!(parse_time_of_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_crash() {
        let job = DailyJob::new("boom", time!(02:00), || panic!("boom"));
        assert!(run_now(&job).is_err());
        let ok = DailyJob::new("fine", time!(02:00), || Ok("done".into()));
        assert_eq!(run_now(&ok).unwrap(), "done");
    }
}
