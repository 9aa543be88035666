//! A retention run that cannot erase one person still erases the others, deletes the
//! claims due and says which erasure failed; the next run finishes it. Retention asks
//! again, inside the write that erases, whether a person is still due.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::acme_with_people;
use diesel::prelude::*;
use expenseplus::auth::users;
use expenseplus::crypto::Revealed;
use expenseplus::ids::UserId;
use expenseplus::privacy::restriction;
use expenseplus::privacy::retention::{self, add_months};
use expenseplus::tenancy::Org;
use time::{Date, OffsetDateTime};

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// Makes every change to `user`'s row fail, as a damaged row or a full disk might.
fn break_row(org: &Org, user: UserId) {
    let sql = format!(
        "CREATE TRIGGER broken_row BEFORE UPDATE ON users WHEN OLD.id = {} \
         BEGIN SELECT RAISE(ABORT, 'broken row'); END",
        user.0
    );
    let mut conn = org.conn().unwrap();
    diesel::sql_query(sql).execute(&mut conn).unwrap();
}

fn mend_row(org: &Org) {
    let mut conn = org.conn().unwrap();
    diesel::sql_query("DROP TRIGGER broken_row")
        .execute(&mut conn)
        .unwrap();
}

fn erased(org: &Org, user: UserId) -> bool {
    restriction::flags(org, user).unwrap().erased()
}

#[test]
fn one_failing_erasure_leaves_the_others_done_and_is_finished_by_the_next_run() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    // Two leavers without claims: their profiles go twelve months after they left.
    for leaver in [p.fin, p.other] {
        expenseplus::auth::account::set_active(&org, p.admin, leaver, false).unwrap();
    }
    let day = add_months(today(), 12);
    break_row(&org, p.fin);

    let backups = p.env.dir.path().join("backups");
    let outcome =
        expenseplus::privacy::retention_job::daily_run(&p.env.state.tenants, &backups, day);
    assert_eq!(outcome.unwrap_err(), "retention failed for acme");
    assert!(
        erased(&org, p.other),
        "the other leaver is erased all the same"
    );
    assert!(!erased(&org, p.fin));
    let log = retention::recent_log(&org, 10).unwrap();
    let failed = log.iter().find(|e| e.kind == "erasures failed").unwrap();
    assert_eq!(
        failed.detail,
        format!("{} (not finished; tried again at the next run)", p.fin.0)
    );
    assert!(
        log.iter()
            .any(|e| e.kind == "deactivated profiles" && e.detail == p.other.0.to_string())
    );

    mend_row(&org);
    let r = retention::run(&org, day).unwrap();
    assert_eq!(r.erased_profiles, vec![p.fin]);
    assert!(r.erasures_failed.is_empty());
    assert!(erased(&org, p.fin));
    let fin = users::get(&org, p.fin).unwrap().unwrap();
    assert_eq!(org.keys.open(&fin.name).unwrap(), Revealed::Erased);
}

/// The command goes on to the rest, says which person failed, and exits non-zero.
#[test]
fn the_command_reports_a_failed_erasure_and_exits_non_zero() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    for leaver in [p.fin, p.other] {
        expenseplus::auth::account::set_active(&org, p.admin, leaver, false).unwrap();
    }
    break_row(&org, p.fin);
    let day = add_months(today(), 12).to_string();
    let out = common::run_cli(&p.env.data_dir(), &["retention", "run", "--today", &day]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("1 deactivated profile(s) erased"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "In acme, 1 erasure(s) failed (the retention log names the people); \
             the next run tries again."
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("Retention did not finish for acme: see the messages above."),
        "{stderr}"
    );
    assert!(erased(&org, p.other));
}

/// A person chosen by retention but no longer due when the write comes (restricted by
/// the DPO, reactivated, their scheduled erasure cancelled) is left alone: these are the
/// checks `retention::run` makes inside the write, called after the choice was made.
#[test]
fn a_person_no_longer_due_inside_the_write_is_not_erased() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let gone =
        expenseplus::privacy::erasure::erase_if(&org, None, p.emp, "test", |_| Ok(false)).unwrap();
    assert_eq!(gone, None);
    assert!(!erased(&org, p.emp));
    let emp = users::get(&org, p.emp).unwrap().unwrap();
    assert!(org.keys.open(&emp.name).unwrap().as_str().is_some());

    // Three leavers, all due a year on; then one is restricted and one comes back.
    for leaver in [p.fin, p.other, p.mgr] {
        expenseplus::auth::account::set_active(&org, p.admin, leaver, false).unwrap();
    }
    let day = add_months(today(), 12);
    let periods = retention::periods(&org).unwrap();
    restriction::restrict(&org, p.dpo, p.fin, "legal claim").unwrap();
    expenseplus::auth::account::set_active(&org, p.admin, p.other, true).unwrap();
    for kept in [p.fin, p.other] {
        assert_eq!(
            retention::erase_profile_if_due(&org, kept, day, &periods).unwrap(),
            None
        );
        assert!(!erased(&org, kept));
    }
    assert!(
        retention::erase_profile_if_due(&org, p.mgr, day, &periods)
            .unwrap()
            .is_some()
    );
    assert!(erased(&org, p.mgr));

    // An erasure scheduled for the end of retention, then cancelled by lifting the
    // restriction: not carried out on the day it was due.
    common::claim_with_line(&org, p.emp, "kept");
    let scheduled = expenseplus::privacy::erasure::erase(
        &org,
        p.dpo,
        p.emp,
        expenseplus::privacy::erasure::Mode::AfterRetention,
        today(),
    )
    .unwrap();
    let expenseplus::privacy::erasure::Outcome::Scheduled(due) = scheduled else {
        panic!("scheduled: {scheduled:?}");
    };
    restriction::lift(&org, p.dpo, p.emp).unwrap();
    assert_eq!(
        retention::erase_scheduled_if_due(&org, p.emp, due).unwrap(),
        None
    );
    assert!(!erased(&org, p.emp));
}
