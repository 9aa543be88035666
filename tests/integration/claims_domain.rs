//! Claims in the database: idempotent creation, line validation per field, who may see
//! what, the approval chain with its second approval, and concurrent decisions.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestEnv, assert_absent};
use expenseplus::auth::{Roles, account};
use expenseplus::expenses::claims::{self, AddLine, ClaimError, ClaimFields, LineInput};
use expenseplus::expenses::finance::{self, SkipReason};
use expenseplus::expenses::status::{Actor, Status, Transition};
use expenseplus::ids::UserId;
use time::OffsetDateTime;

fn today() -> String {
    OffsetDateTime::now_utc().date().to_string()
}

fn line(amount: &str, key: &str) -> LineInput {
    LineInput {
        date: today(),
        category: "travel".into(),
        merchant: "Great Western Railway".into(),
        description: "Return to Bristol for the client workshop".into(),
        amount: amount.into(),
        currency: "GBP".into(),
        form_key: key.into(),
        ..Default::default()
    }
}

struct People {
    env: TestEnv,
    emp: UserId,
    boss: UserId,
    other_boss: UserId,
    fin: UserId,
}

fn people() -> People {
    let a = common::acme_with_people();
    People {
        env: a.env,
        emp: a.emp,
        boss: a.boss,
        other_boss: a.other,
        fin: a.fin,
    }
}

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

#[test]
fn a_form_posted_twice_makes_one_claim_and_one_line() {
    let p = people();
    let org = p.env.org("acme");
    let a = claims::create(&org, p.emp, "Bristol trip", "form-1").unwrap();
    let b = claims::create(&org, p.emp, "Bristol trip", "form-1").unwrap();
    assert_eq!(a, b);
    assert!(matches!(
        claims::add_line(&org, p.emp, a, &line("12.50", "line-1")).unwrap(),
        AddLine::Added
    ));
    assert!(matches!(
        claims::add_line(&org, p.emp, a, &line("12.50", "line-1")).unwrap(),
        AddLine::Added
    ));
    assert_eq!(claims::lines(&org, a).unwrap().len(), 1);
    assert_eq!(claims::get(&org, a).unwrap().total_minor, 1250);
}

#[test]
fn bad_lines_get_a_message_per_field_and_write_nothing() {
    let p = people();
    let org = p.env.org("acme");
    let id = claims::create(&org, p.emp, "Trip", "f").unwrap();
    let mut bad = line("-5", "l");
    bad.date = "2026-02-30".into();
    bad.category = "yachts".into();
    bad.currency = "ZZZ".into();
    bad.merchant = "\u{7}".into();
    bad.description = "x".repeat(10_000);
    let AddLine::Invalid(errors) = claims::add_line(&org, p.emp, id, &bad).unwrap() else {
        panic!("bad line accepted");
    };
    for field in ["date", "category", "currency", "merchant", "description"] {
        assert!(errors.get(field).is_some(), "{field}: {errors:?}");
    }
    for (amount, expect) in [
        ("0", "more than zero"),
        ("12.345", "decimal places"),
        // Read, but more than one line may carry in the organisation's currency.
        ("99999999", "more than 1,000,000.00 GBP"),
        ("12,50", "as a number"),
    ] {
        let AddLine::Invalid(errors) =
            claims::add_line(&org, p.emp, id, &line(amount, amount)).unwrap()
        else {
            panic!("{amount} accepted");
        };
        assert!(
            errors.get("amount").unwrap().contains(expect),
            "{amount}: {errors:?}"
        );
    }
    let mut future = line("5", "fut");
    future.date = (OffsetDateTime::now_utc().date() + time::Duration::days(2)).to_string();
    let AddLine::Invalid(errors) = claims::add_line(&org, p.emp, id, &future).unwrap() else {
        panic!()
    };
    assert!(errors.get("date").unwrap().contains("future"));
    assert!(claims::lines(&org, id).unwrap().is_empty());
    assert_eq!(claims::get(&org, id).unwrap().total_minor, 0);
}

#[test]
fn foreign_currency_lines_convert_to_the_base_currency() {
    let p = people();
    let org = p.env.org("acme");
    let id = claims::create(&org, p.emp, "Paris", "f").unwrap();
    let mut eur = line("100.00", "eur");
    eur.currency = "EUR".into();
    let AddLine::Invalid(errors) = claims::add_line(&org, p.emp, id, &eur).unwrap() else {
        panic!()
    };
    assert!(errors.get("rate").is_some(), "a foreign line needs a rate");
    eur.rate = "0.8512".into();
    assert!(matches!(
        claims::add_line(&org, p.emp, id, &eur).unwrap(),
        AddLine::Added
    ));
    let l = &claims::lines(&org, id).unwrap()[0];
    assert_eq!(
        (l.amount_minor, l.currency.as_str(), l.base_minor),
        (10_000, "EUR", 8_512)
    );
    // A hotel in Jakarta: millions of rupiah are an ordinary receipt, held to the
    // line's bound only once converted.
    let mut idr = line("1500000", "idr");
    (idr.currency, idr.rate) = ("IDR".into(), "0.000048".into());
    assert!(matches!(
        claims::add_line(&org, p.emp, id, &idr).unwrap(),
        AddLine::Added
    ));
    let l = &claims::lines(&org, id).unwrap()[1];
    assert_eq!((l.amount_minor, l.base_minor), (150_000_000, 7_200));
    let mut huge = line("30000000000", "idr-huge");
    (huge.currency, huge.rate) = ("IDR".into(), "0.000048".into());
    let AddLine::Invalid(errors) = claims::add_line(&org, p.emp, id, &huge).unwrap() else {
        panic!("a line of 1.44 million GBP accepted")
    };
    assert!(
        errors
            .get("rate")
            .unwrap()
            .contains("more than 1,000,000.00 GBP"),
        "{errors:?}"
    );
}

#[test]
fn who_sees_a_claim() {
    let p = people();
    let org = p.env.org("acme");
    let id = claims::create(&org, p.emp, "Trip", "f").unwrap();
    claims::add_line(&org, p.emp, id, &line("12.50", "l")).unwrap();
    let claim = claims::get(&org, id).unwrap();
    let part = |who, r| claims::role_for(&org, who, roles(r), &claim).unwrap();
    assert_eq!(part(p.emp, "employee"), Some(Actor::Owner));
    // A draft is the owner's alone.
    assert_eq!(part(p.boss, "manager"), None);
    let v = claim.version;
    claims::transition(
        &org,
        p.emp,
        roles("employee"),
        id,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();
    let claim = claims::get(&org, id).unwrap();
    let part = |who, r| claims::role_for(&org, who, roles(r), &claim).unwrap();
    assert_eq!(part(p.boss, "manager,employee"), Some(Actor::Approver));
    assert_eq!(
        part(p.other_boss, "manager,employee"),
        None,
        "not their report"
    );
    assert_eq!(
        part(p.fin, "finance"),
        None,
        "finance sees approved claims only"
    );
}

#[test]
fn approval_chain_second_approval_and_conflicts() {
    let p = people();
    let org = p.env.org("acme");
    let id = claims::create(&org, p.emp, "Conference", "f").unwrap();
    // Above the second-approval threshold (1,000.00).
    let mut big = line("1500.00", "l");
    big.category = "training".into();
    claims::add_line(&org, p.emp, id, &big).unwrap();
    let v = claims::get(&org, id).unwrap().version;
    // Nobody approves their own claim, even holding the manager role.
    assert!(matches!(
        claims::transition(
            &org,
            p.emp,
            roles("employee,manager"),
            id,
            Some(v),
            Transition::Approve,
            ""
        ),
        Err(ClaimError::Transition(_))
    ));
    claims::transition(
        &org,
        p.emp,
        roles("employee"),
        id,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();
    let v = claims::get(&org, id).unwrap().version;
    // A reason is required to reject.
    assert!(
        claims::transition(
            &org,
            p.boss,
            roles("manager"),
            id,
            Some(v),
            Transition::Reject,
            " "
        )
        .is_err()
    );
    assert_eq!(
        claims::transition(
            &org,
            p.boss,
            roles("manager"),
            id,
            Some(v),
            Transition::Approve,
            "ok"
        )
        .unwrap(),
        Status::AwaitingFinance
    );
    // The same approval sent again from the same page is told it was already done.
    assert!(matches!(
        claims::transition(
            &org,
            p.boss,
            roles("manager"),
            id,
            Some(v),
            Transition::Approve,
            "again"
        ),
        Err(ClaimError::AlreadyDone(Status::AwaitingFinance))
    ));
    // Finance acting on that older page version is told someone else acted.
    assert!(matches!(
        claims::transition(
            &org,
            p.fin,
            roles("finance"),
            id,
            Some(v),
            Transition::Reject,
            "no"
        ),
        Err(ClaimError::Conflict)
    ));
    let v = claims::get(&org, id).unwrap().version;
    assert_eq!(
        claims::transition(
            &org,
            p.fin,
            roles("finance"),
            id,
            Some(v),
            Transition::Approve,
            ""
        )
        .unwrap(),
        Status::Approved
    );
    let v = claims::get(&org, id).unwrap().version;
    assert_eq!(
        claims::transition(
            &org,
            p.fin,
            roles("finance"),
            id,
            Some(v),
            Transition::MarkPaid,
            ""
        )
        .unwrap(),
        Status::Paid
    );
    let history = claims::history(&org, id).unwrap();
    let steps: Vec<_> = history
        .iter()
        .map(|e| (e.from_status.as_str(), e.to_status.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("draft", "submitted"),
            ("submitted", "awaiting_finance"),
            ("awaiting_finance", "approved"),
            ("approved", "paid")
        ]
    );
    let comment = org.keys.open(history[1].comment.as_ref().unwrap()).unwrap();
    assert_eq!(comment.as_str(), Some("ok"));
}

#[test]
fn two_approvers_at_once_one_wins() {
    let p = people();
    let org = p.env.org("acme");
    let id = claims::create(&org, p.emp, "Lunch", "f").unwrap();
    claims::add_line(&org, p.emp, id, &line("20.00", "l")).unwrap();
    let v = claims::get(&org, id).unwrap().version;
    claims::transition(
        &org,
        p.emp,
        roles("employee"),
        id,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();
    let v = claims::get(&org, id).unwrap().version;
    let org2 = org.clone();
    let boss = p.boss;
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let org = org2.clone();
            std::thread::spawn(move || {
                let t = if i == 0 {
                    Transition::Approve
                } else {
                    Transition::Reject
                };
                claims::transition(&org, boss, roles("manager"), id, Some(v), t, "decided")
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(ClaimError::Conflict))),
        "{results:?}"
    );
    assert_eq!(claims::history(&org, id).unwrap().len(), 2);
}

#[test]
fn claim_text_is_encrypted_at_rest() {
    let p = people();
    let org = p.env.org("acme");
    let id = claims::create(&org, p.emp, "Secret Offsite Zanzibar", "f").unwrap();
    let mut l = line("12.50", "l");
    l.merchant = "Merchant Quokka Ltd".into();
    l.description = "Description Wombat Lunch".into();
    claims::add_line(&org, p.emp, id, &l).unwrap();
    for needle in [
        "Secret Offsite Zanzibar",
        "Merchant Quokka",
        "Description Wombat",
    ] {
        assert_absent(&p.env.data_dir(), needle);
    }
}

/// A claim by `owner`, submitted and approved by `approver` (holding `their_roles`).
fn approved(
    org: &expenseplus::tenancy::Org,
    owner: UserId,
    approver: UserId,
    their_roles: &str,
    key: &str,
) -> i64 {
    let id = claims::create(org, owner, "Lunch", key).unwrap();
    claims::add_line(org, owner, id, &line("20.00", &format!("{key}-l"))).unwrap();
    for (who, r, t) in [
        (owner, "employee", Transition::Submit),
        (approver, their_roles, Transition::Approve),
    ] {
        let v = claims::get(org, id).unwrap().version;
        claims::transition(org, who, roles(r), id, Some(v), t, "").unwrap();
    }
    assert_eq!(claims::get(org, id).unwrap().status(), Status::Approved);
    id
}

/// A manager who also pays (a small company's finance director) pays their own
/// reports' claims once approved: at finance's stage they act as finance.
#[test]
fn a_manager_who_also_pays_pays_their_reports_claims() {
    let p = people();
    let org = p.env.org("acme");
    let bea = p.env.create_user(
        &org,
        "bea@acme.example",
        "Bea Both",
        "manager,finance",
        None,
    );
    let eve = p.env.create_user(
        &org,
        "eve@acme.example",
        "Eve Report",
        "employee",
        Some(bea),
    );
    let id = approved(&org, eve, bea, "manager,finance", "bea-1");
    let claim = claims::get(&org, id).unwrap();
    assert_eq!(
        claims::part_for(&org, bea, roles("manager,finance"), &claim).unwrap(),
        Some((Actor::Finance, None))
    );
    let out =
        finance::mark_paid(&org, bea, roles("manager,finance"), &[(id, claim.version)]).unwrap();
    assert_eq!(out.paid, vec![id], "{out:?}");
    assert_eq!(claims::get(&org, id).unwrap().status(), Status::Paid);
}

/// A write that fails partway through a batch stops it: the claims before are paid
/// and reported so, the failing one and the rest are untouched and reported unsaved.
#[test]
fn a_batch_stopped_by_a_failed_write_says_what_was_paid_and_what_was_not() {
    use diesel::connection::SimpleConnection;
    let p = people();
    let org = p.env.org("acme");
    let ids: Vec<i64> = (0..3)
        .map(|i| approved(&org, p.emp, p.boss, "manager", &format!("b{i}")))
        .collect();
    // The second claim's write fails as a failing disk would make it fail.
    org.conn()
        .unwrap()
        .batch_execute(&format!(
            "CREATE TRIGGER fail_second BEFORE UPDATE OF status ON claims WHEN NEW.id = {} \
             BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END;",
            ids[1]
        ))
        .unwrap();
    let batch: Vec<(i64, i64)> = ids
        .iter()
        .map(|&id| (id, claims::get(&org, id).unwrap().version))
        .collect();
    let out = finance::mark_paid(&org, p.fin, roles("finance"), &batch).unwrap();
    assert_eq!(out.paid, vec![ids[0]]);
    assert_eq!(
        out.skipped,
        vec![
            (ids[1], SkipReason::NotSaved),
            (ids[2], SkipReason::NotSaved)
        ]
    );
    let status = |id| claims::get(&org, id).unwrap().status();
    assert_eq!(
        [status(ids[0]), status(ids[1]), status(ids[2])],
        [Status::Paid, Status::Approved, Status::Approved]
    );
    // Nothing half-written: the failed claim's history ends at its approval.
    assert_eq!(claims::history(&org, ids[1]).unwrap().len(), 2);
}

#[test]
fn a_claim_is_not_sent_where_nobody_can_approve_it() {
    let a = common::acme_with_people();
    let org = a.env.org("acme");
    let id = claims::create(&org, a.boss, "Conference", "no-manager").unwrap();
    claims::add_line(&org, a.boss, id, &line("40.00", "l")).unwrap();
    let submit = || {
        let v = claims::get(&org, id).unwrap().version;
        claims::transition(
            &org,
            a.boss,
            roles("manager,employee"),
            id,
            Some(v),
            Transition::Submit,
            "",
        )
    };
    // Nobody manages the boss: sent, the claim would sit in no queue, and its owner
    // could not take it back.
    let Err(ClaimError::Invalid(why)) = submit() else {
        panic!("submitted with nobody to approve it")
    };
    assert!(why.contains("no manager who can approve claims"), "{why}");
    // Nor a manager who lost the role (the finance person here).
    account::set_manager(&org, a.admin, a.boss, Some(a.fin)).unwrap();
    assert!(matches!(submit(), Err(ClaimError::Invalid(_))));
    assert_eq!(claims::get(&org, id).unwrap().status(), Status::Draft);
    // Once an administrator names one, it goes to them.
    account::set_manager(&org, a.admin, a.boss, Some(a.other)).unwrap();
    assert_eq!(submit().unwrap(), Status::Submitted);
    let claim = claims::get(&org, id).unwrap();
    assert_eq!(
        claims::role_for(&org, a.other, roles("manager,employee"), &claim).unwrap(),
        Some(Actor::Approver)
    );
}

/// A line is bounded in the organisation's currency; 1,000,000 units is little in one
/// of small units, so the policy says how much a line may come to.
#[test]
fn an_organisation_in_rupiah_sets_how_much_a_line_may_carry() {
    use expenseplus::expenses::money::Currency;
    use expenseplus::expenses::policy::{self, ExpensePolicy};
    let a = common::acme_with_people();
    let org = a.env.org("acme");
    let idr = Currency::parse("IDR").unwrap();
    let mut p = ExpensePolicy {
        base_currency: idr,
        max_line_minor: idr.max_line_minor(),
        ..Default::default()
    };
    policy::save(&org, a.admin, &p, &Vec::new()).unwrap();
    let id = claims::create(&org, a.emp, "Jakarta", "idr-claim").unwrap();
    let mut hotel = line("5000000", "hotel");
    hotel.currency = "IDR".into();
    let AddLine::Invalid(errors) = claims::add_line(&org, a.emp, id, &hotel).unwrap() else {
        panic!("over the default bound")
    };
    assert!(
        errors
            .get("amount")
            .unwrap()
            .contains("more than 1,000,000.00 IDR"),
        "{errors:?}"
    );
    p.max_line_minor = 100_000_000 * 100;
    policy::save(&org, a.admin, &p, &Vec::new()).unwrap();
    assert_eq!(
        policy::load(&org).unwrap().max_line_minor,
        100_000_000 * 100
    );
    hotel.form_key = "hotel-again".into();
    assert!(matches!(
        claims::add_line(&org, a.emp, id, &hotel).unwrap(),
        AddLine::Added
    ));
    assert_eq!(claims::get(&org, id).unwrap().total_minor, 500_000_000);
}
