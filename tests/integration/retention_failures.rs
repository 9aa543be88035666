//! A retention run that cannot erase one person still erases the others, deletes the
//! claims due and says which erasure failed; the next run finishes it. Retention asks
//! again, inside the write that erases, whether a person is still due.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Command;

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
        format!("{} (not erased; tried again at the next run)", p.fin.0)
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
    let out = Command::new(env!("CARGO_BIN_EXE_expenseplus"))
        .arg("--data-dir")
        .arg(p.env.data_dir())
        .args(["retention", "run", "--today", &day])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("1 deactivated profile(s) erased"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "In acme, erasing person(s) {} failed; the next run tries again.",
            p.fin.0
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Retention did not finish for acme; the rest was applied."),
        "{stderr}"
    );
    assert!(erased(&org, p.other));
}

/// A person chosen by retention but no longer due when the write comes (restricted by
/// the DPO, reactivated, their scheduled erasure cancelled) is left alone.
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

    // A restricted leaver: the rule retention chooses people by is the one it asks
    // inside the write, so both say no.
    expenseplus::auth::account::set_active(&org, p.admin, p.fin, false).unwrap();
    let day = add_months(today(), 12);
    restriction::restrict(&org, p.dpo, p.fin, "legal claim").unwrap();
    let r = retention::run(&org, day).unwrap();
    assert!(r.erased_profiles.is_empty());
    assert!(!erased(&org, p.fin));
}
