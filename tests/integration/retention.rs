//! Retention: UK tax-year arithmetic (5 April vs 6 April), erasure scheduled for the end
//! of retention and carried out by `expenseplus retention run --today`, claims deleted
//! once their period is over (never while in progress), deactivated profiles shredded
//! after their period, the audit log kept whole, and the DPO's retention form.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, acme_with_people};
use diesel::prelude::*;
use expenseplus::audit::{self, Action, Filter};
use expenseplus::auth::Roles;
use expenseplus::auth::users;
use expenseplus::crypto::Revealed;
use expenseplus::db::schema::org::{claim_lines, claims as claims_t};
use expenseplus::expenses::claims::{self, ClaimError};
use expenseplus::expenses::status::Transition;
use expenseplus::privacy::retention::{self, Periods, add_months, claim_shred_on, tax_year_end};
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;
use time::macros::date;
use time::{Date, Duration, OffsetDateTime};

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

#[test]
fn tax_years_turn_between_the_5th_and_the_6th_of_april() {
    assert_eq!(tax_year_end(date!(2020 - 04 - 05)), date!(2020 - 04 - 05));
    assert_eq!(tax_year_end(date!(2020 - 04 - 06)), date!(2021 - 04 - 05));
    assert_eq!(tax_year_end(date!(2023 - 12 - 31)), date!(2024 - 04 - 05));
    assert_eq!(tax_year_end(date!(2024 - 01 - 01)), date!(2024 - 04 - 05));
    // Kept for six whole tax years after the one the claim falls in, gone the day after.
    assert_eq!(
        claim_shred_on(date!(2020 - 04 - 05), 6),
        date!(2026 - 04 - 06)
    );
    assert_eq!(
        claim_shred_on(date!(2020 - 04 - 06), 6),
        date!(2027 - 04 - 06)
    );
    assert_eq!(
        claim_shred_on(date!(2019 - 04 - 06), 6),
        date!(2026 - 04 - 06)
    );
    assert_eq!(
        claim_shred_on(date!(2024 - 02 - 29), 6),
        date!(2030 - 04 - 06)
    );
    assert_eq!(add_months(date!(2025 - 01 - 31), 13), date!(2026 - 02 - 28));
}

fn exists(org: &Org, claim: i64) -> bool {
    claims::get(org, claim).is_ok()
}

#[actix_web::test]
async fn claims_go_the_day_after_their_tax_retention_and_never_while_in_progress() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let a = common::claim_with_line(&org, p.emp, "a");
    let b = common::claim_with_line(&org, p.emp, "b");
    let open = common::claim_with_line(&org, p.emp, "open");
    let v = claims::get(&org, open).unwrap().version;
    claims::transition(
        &org,
        p.emp,
        Roles::parse_list("employee").unwrap(),
        open,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();
    common::age_claim(&org, a, date!(2019 - 04 - 05));
    common::age_claim(&org, b, date!(2019 - 04 - 06));
    common::age_claim(&org, open, date!(2019 - 04 - 05));

    let r = retention::run(&org, date!(2025 - 04 - 05)).unwrap();
    assert!(r.claims_deleted.is_empty());
    let r = retention::run(&org, date!(2025 - 04 - 06)).unwrap();
    assert_eq!(r.claims_deleted, vec![a]);
    assert_eq!(r.claims_open_past_period, 1);
    assert!(!exists(&org, a) && exists(&org, b) && exists(&org, open));
    let mut conn = org.conn().unwrap();
    let left: i64 = claim_lines::table
        .filter(claim_lines::claim_id.eq(a))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
    drop(conn);
    let r = retention::run(&org, date!(2026 - 04 - 05)).unwrap();
    assert!(r.claims_deleted.is_empty());
    let r = retention::run(&org, date!(2026 - 04 - 06)).unwrap();
    assert_eq!(r.claims_deleted, vec![b]);
    assert!(exists(&org, open));
    // The audit log is never shortened: old entries are reported, the chain holds.
    let r = retention::run(&org, add_months(today(), 12 * 7)).unwrap();
    assert!(r.audit_past_period > 0);
    audit::verify(&org).unwrap();
    let log = retention::recent_log(&org, 10).unwrap();
    assert!(
        log.iter()
            .any(|e| e.kind == "claims deleted" && e.detail == b.to_string())
    );
    assert!(log.iter().any(|e| e.kind == "audit entries kept"));
}

/// The tax year turns at midnight UK time. A claim last changed at 00:30 BST on
/// 6 April (23:30 UTC on the 5th) is in the new tax year: kept a year longer than one
/// changed at 23:30 BST on 5 April, and its owner's claims are judged the same way.
#[actix_web::test]
async fn a_change_just_after_midnight_bst_on_6_april_is_in_the_new_tax_year() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let late_5th = common::claim_with_line(&org, p.emp, "late");
    let early_6th = common::claim_with_line(&org, p.boss, "early");
    let set = |claim: i64, at: OffsetDateTime| {
        let mut conn = org.conn().unwrap();
        diesel::update(claims_t::table.find(claim))
            .set(claims_t::updated_at.eq(at.unix_timestamp()))
            .execute(&mut conn)
            .unwrap();
    };
    // 23:30 BST on 5 April and 00:30 BST on 6 April 2019.
    set(late_5th, time::macros::datetime!(2019-04-05 22:30 UTC));
    set(early_6th, time::macros::datetime!(2019-04-05 23:30 UTC));
    let periods = Periods::default();
    assert_eq!(
        retention::claims_shred_on(&org, p.boss, &periods).unwrap(),
        Some(date!(2026 - 04 - 06))
    );
    assert_eq!(
        retention::claims_shred_on(&org, p.emp, &periods).unwrap(),
        Some(date!(2025 - 04 - 06))
    );
    let r = retention::run(&org, date!(2025 - 04 - 06)).unwrap();
    assert_eq!(r.claims_deleted, vec![late_5th]);
    assert!(exists(&org, early_6th));
    let r = retention::run(&org, date!(2026 - 04 - 05)).unwrap();
    assert!(r.claims_deleted.is_empty());
    assert!(exists(&org, early_6th));
    let r = retention::run(&org, date!(2026 - 04 - 06)).unwrap();
    assert_eq!(r.claims_deleted, vec![early_6th]);
}

#[actix_web::test]
async fn erasure_after_retention_restricts_now_and_the_retention_run_shreds_on_the_day() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let claim = common::claim_with_line(&org, p.emp, "kept");
    let due = claim_shred_on(today(), 6);
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = format!("/privacy/people/{}", p.emp.0);
    dpo.get(&url).await;
    let done = dpo
        .post(
            &format!("{url}/erase"),
            &[("mode", "after_retention"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = dpo.get(&url).await;
    assert!(
        page.body.contains(&format!("erasure due on {due}")),
        "{}",
        page.body
    );
    // Restricted meanwhile: nothing of theirs can change.
    assert!(matches!(
        claims::create(&org, p.emp, "x", "form-x"),
        Err(ClaimError::Restricted)
    ));

    // The day before: nothing happens.
    let before = common::run_cli(
        &p.env.data_dir(),
        &[
            "retention",
            "run",
            "--org",
            "acme",
            "--today",
            &(due - Duration::days(1)).to_string(),
        ],
    );
    assert!(
        before.status.success(),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    assert!(String::from_utf8_lossy(&before.stdout).contains("0 scheduled erasure(s)"));
    // On the day: shredded.
    let on = common::run_cli(
        &p.env.data_dir(),
        &[
            "retention",
            "run",
            "--org",
            "acme",
            "--today",
            &due.to_string(),
        ],
    );
    let out = String::from_utf8_lossy(&on.stdout);
    assert!(
        on.status.success(),
        "{}",
        String::from_utf8_lossy(&on.stderr)
    );
    assert!(out.contains("1 scheduled erasure(s)"), "{out}");
    // Reopened (the command changed the files, not this process's key cache).
    p.env.state.tenants.evict(org.id);
    let fresh = p.env.org("acme");
    let row = users::get(&fresh, p.emp).unwrap().unwrap();
    assert_eq!(fresh.keys.open(&row.name).unwrap(), Revealed::Erased);
    assert!(
        users::find_by_email(&fresh, "emp@acme.example")
            .unwrap()
            .is_none()
    );
    // The draft claim's period ended the same day: it is gone too.
    assert!(!exists(&fresh, claim));
    let logged = audit::page(
        &fresh,
        &Filter {
            action: Some(Action::ErasedPerson),
            person: Some(p.emp),
            ..Default::default()
        },
        None,
        5,
    )
    .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].actor_id, None);
    let shown = dpo.get("/privacy/retention").await;
    assert!(shown.body.contains("scheduled erasures"), "{}", shown.body);

    // Bad input to the command: one sentence, exit 1.
    let bad = common::run_cli(
        &p.env.data_dir(),
        &["retention", "run", "--today", "2026-02-30"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));
}

#[actix_web::test]
async fn a_person_with_nothing_to_keep_is_erased_at_once_and_leavers_after_their_period() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let out = expenseplus::privacy::erasure::erase(
        &org,
        p.dpo,
        p.mgr,
        expenseplus::privacy::erasure::Mode::AfterRetention,
        today(),
    )
    .unwrap();
    assert!(matches!(
        out,
        expenseplus::privacy::erasure::Outcome::Erased(_)
    ));

    // A leaver without claims goes twelve months after deactivation...
    expenseplus::auth::account::set_active(&org, p.admin, p.fin, false).unwrap();
    // ...one with a claim waits for the claim's tax period as well.
    expenseplus::auth::account::set_active(&org, p.admin, p.other, false).unwrap();
    common::claim_with_line(&org, p.other, "leaver");
    let year = add_months(today(), 12);
    let r = retention::run(&org, year - Duration::days(1)).unwrap();
    assert!(r.erased_profiles.is_empty());
    let r = retention::run(&org, year).unwrap();
    assert_eq!(r.erased_profiles, vec![p.fin]);
    assert_eq!(r.destroyed_keys.len(), 1);
    let fin = users::get(&org, p.fin).unwrap().unwrap();
    assert_eq!(org.keys.open(&fin.name).unwrap(), Revealed::Erased);
    let other = users::get(&org, p.other).unwrap().unwrap();
    assert!(matches!(
        org.keys.open(&other.name).unwrap(),
        Revealed::Value(_)
    ));
    let r = retention::run(&org, claim_shred_on(today(), 6)).unwrap();
    assert_eq!(r.erased_profiles, vec![p.other]);
}

#[actix_web::test]
async fn the_dpo_changes_the_periods_with_checks_and_an_audit_entry() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    assert_eq!(retention::periods(&org).unwrap(), Periods::default());
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert_eq!(
        emp.get("/privacy/retention").await.status,
        StatusCode::FORBIDDEN
    );

    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let page = dpo.get("/privacy/retention").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"6\"") && page.body.contains("value=\"12\""));
    let bad = dpo
        .post(
            "/privacy/retention",
            &[
                ("claims_years", "0"),
                ("profile_months", "12"),
                ("audit_years", "6"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("must be between 1 and 20"));
    assert!(bad.body.contains("value=\"0\""));
    let words = dpo
        .post(
            "/privacy/retention",
            &[
                ("claims_years", "six"),
                ("profile_months", "12"),
                ("audit_years", "6"),
            ],
        )
        .await;
    assert!(words.body.contains("whole number"));
    let ok = dpo
        .post(
            "/privacy/retention",
            &[
                ("claims_years", "7"),
                ("profile_months", "24"),
                ("audit_years", "8"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(
        retention::periods(&org).unwrap(),
        Periods {
            claims_years: 7,
            profile_months: 24,
            audit_years: 8
        }
    );
    let entries = audit::page(
        &org,
        &Filter {
            action: Some(Action::RetentionChanged),
            ..Default::default()
        },
        None,
        5,
    )
    .unwrap();
    assert_eq!(entries[0].detail, "claims 7y profiles 24m audit 8y");
}

/// The command runs each organisation on one database connection: with a deactivated
/// person whose profile period is still running, it asked for a second one while
/// holding the first, waited ten seconds and failed ("the database is unavailable").
#[test]
fn the_command_weighs_a_deactivated_person_on_its_one_connection() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    common::claim_with_line(&org, p.emp, "kept for tax");
    expenseplus::auth::account::set_active(&org, p.admin, p.emp, false).unwrap();
    let out = common::run_cli(
        &p.env.data_dir(),
        &[
            "retention",
            "run",
            "--org",
            "acme",
            "--today",
            &today().to_string(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 scheduled erasure(s)"), "{stdout}");
    // Still there: their periods are not over.
    let row = users::get(&org, p.emp).unwrap().unwrap();
    assert!(org.keys.open(&row.name).unwrap().as_str().is_some());
}
