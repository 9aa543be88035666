//! The daily jobs make up a slot the server missed: their last successful run is kept in
//! the registry, and a start after a passed slot runs them at once.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use expenseplus::jobs::{self, DailyJob, RunRecord};
use expenseplus::tenancy::job_runs::JobRuns;
use time::OffsetDateTime;

use crate::common::TestEnv;

/// Long enough for a loaded CI machine; the tests wait for an event, not for time.
const EVENT: Duration = Duration::from_secs(60);

/// The registry's record, telling the test each time a run is recorded.
struct Told {
    runs: JobRuns,
    tell: Sender<String>,
}

impl RunRecord for Told {
    fn last_run(&self, job: &str) -> Result<Option<OffsetDateTime>, String> {
        self.runs.last_run(job)
    }
    fn set_last_run(&self, job: &str, at: OffsetDateTime) -> Result<(), String> {
        self.runs.set_last_run(job, at)?;
        let _ = self.tell.send(job.to_owned());
        Ok(())
    }
}

fn runs(env: &TestEnv) -> JobRuns {
    JobRuns(env.state.tenants.registry().pool().clone())
}

/// A job due at the time of day twelve hours from now: its next slot is far off, so
/// only a missed one makes it run while the test waits.
fn job(name: &'static str, ran: Sender<&'static str>, ok: bool) -> DailyJob {
    let at = (OffsetDateTime::now_utc() + time::Duration::hours(12)).time();
    DailyJob::new(name, at, move || {
        let _ = ran.send(name);
        if ok {
            Ok("done".into())
        } else {
            Err("it broke".into())
        }
    })
}

/// Starts the scheduler on `jobs`, which report on `ran`; gives it and what it records.
fn start(env: &TestEnv, jobs: Vec<DailyJob>) -> (jobs::Scheduler, mpsc::Receiver<String>) {
    let (tell, recorded) = mpsc::channel();
    let runs = runs(env);
    (jobs::start(jobs, Told { runs, tell }).unwrap(), recorded)
}

#[test]
fn a_start_after_a_missed_slot_runs_the_job_at_once_and_records_it() {
    let env = TestEnv::new();
    let two_days_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
    runs(&env).set_last_run("backup", two_days_ago).unwrap();
    let (ran, job_ran) = mpsc::channel();
    let started = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let (_scheduler, recorded) = start(&env, vec![job("backup", ran, true)]);
    assert_eq!(job_ran.recv_timeout(EVENT).unwrap(), "backup");
    assert_eq!(recorded.recv_timeout(EVENT).unwrap(), "backup");
    let last = runs(&env).last_run("backup").unwrap().unwrap();
    assert!(last >= started, "recorded {last}, started {started}");
}

#[test]
fn a_first_start_is_recorded_so_a_later_start_can_tell_a_missed_slot() {
    let env = TestEnv::new();
    assert_eq!(runs(&env).last_run("backup").unwrap(), None);
    let (ran, _job_ran) = mpsc::channel();
    let started = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let (_scheduler, recorded) = start(&env, vec![job("backup", ran, true)]);
    assert_eq!(recorded.recv_timeout(EVENT).unwrap(), "backup");
    let last = runs(&env).last_run("backup").unwrap().unwrap();
    assert!(last >= started);
}

/// A failed run is not recorded, so a restart before the next slot tries again.
#[test]
fn a_failed_run_is_not_recorded() {
    let env = TestEnv::new();
    let long_ago = OffsetDateTime::now_utc() - time::Duration::days(30);
    for name in ["retention", "backup"] {
        runs(&env).set_last_run(name, long_ago).unwrap();
    }
    let (ran, job_ran) = mpsc::channel();
    let jobs = vec![
        job("retention", ran.clone(), false),
        job("backup", ran, true),
    ];
    let (_scheduler, recorded) = start(&env, jobs);
    // Both run, in order; the first one's record would have come before the second's.
    assert_eq!(job_ran.recv_timeout(EVENT).unwrap(), "retention");
    assert_eq!(job_ran.recv_timeout(EVENT).unwrap(), "backup");
    assert_eq!(recorded.recv_timeout(EVENT).unwrap(), "backup");
    assert_eq!(
        runs(&env)
            .last_run("retention")
            .unwrap()
            .unwrap()
            .unix_timestamp(),
        long_ago.unix_timestamp()
    );
}
