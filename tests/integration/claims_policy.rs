//! The organisation's expense policy: the admin page (field messages, nothing saved on
//! bad input, audited when saved), the domain reading it (limits, receipts, line age,
//! second approval, mileage rates), and mileage lines at HMRC's rates by default,
//! counted over the person's tax year and split across the 10,000-mile band.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, field_value};
use expenseplus::audit::{self, Action, Filter};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, ClaimFields, LineInput};
use expenseplus::expenses::mileage::MileageRates;
use expenseplus::expenses::policy::{self, ExpensePolicy};
use expenseplus::expenses::status::{Status, Transition};
use expenseplus::web::build_app;
use time::{Duration, OffsetDateTime};

fn day(ago: i64) -> String {
    (OffsetDateTime::now_utc().date() - Duration::days(ago)).to_string()
}

const POLICY_FIELDS: [&str; 7] = [
    "base_currency",
    "max_line_age_days",
    "second_approval_above",
    "max_line",
    "mileage_first_rate",
    "mileage_after_rate",
    "mileage_band_miles",
];

#[actix_web::test]
async fn the_admin_sets_the_policy_and_claims_follow_it() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let page = admin.get("/admin/expense-policy").await;
    assert_eq!(page.status, StatusCode::OK);
    // The defaults: GBP, 90 days, 1,000.00, HMRC's 45p / 25p / 10,000 miles.
    for (name, value) in
        POLICY_FIELDS
            .iter()
            .zip(["GBP", "90", "1000.00", "1000000.00", "45", "25", "10000"])
    {
        assert_eq!(
            field_value(&page.body, name).as_deref(),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(
        field_value(&page.body, "limit_meals").as_deref(),
        Some("50.00")
    );

    // Bad input: a message on each field, the input kept, nothing saved.
    let bad = admin
        .post(
            "/admin/expense-policy",
            &[
                ("base_currency", "ZZZ"),
                ("max_line_age_days", "ninety"),
                ("second_approval_above", "10"),
                ("mileage_first_rate", "-4"),
                ("mileage_after_rate", "25"),
                ("mileage_band_miles", "1e4"),
                ("limit_meals", "10.00"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("not an ISO 4217 currency"));
    assert!(
        bad.body
            .contains("enter the days as a whole number from 1 to 3650")
    );
    assert!(bad.body.contains("enter the rate as a whole number"));
    assert!(bad.body.contains("enter the miles as a whole number"));
    assert!(bad.body.contains("value=\"ninety\""), "input kept");
    let bad = admin
        .post(
            "/admin/expense-policy",
            &[
                ("base_currency", "GBP"),
                ("max_line_age_days", "90"),
                ("second_approval_above", "12.345"),
                ("mileage_first_rate", "45"),
                ("mileage_after_rate", "25"),
                ("mileage_band_miles", "10000"),
                ("limit_meals", "0"),
                ("receipt_meals", "abc"),
                ("max_line", "2000000000"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("at most 2 decimal places"));
    assert!(bad.body.contains("a limit must be more than zero"));
    assert!(bad.body.contains("enter the amount as a number"));
    assert!(
        bad.body.contains("enter at most 1,000,000,000.00 GBP"),
        "{}",
        bad.body
    );
    assert_eq!(policy::load(&org).unwrap(), ExpensePolicy::default());

    let saved = admin
        .post(
            "/admin/expense-policy",
            &[
                ("base_currency", "GBP"),
                ("max_line_age_days", "30"),
                ("second_approval_above", "10.00"),
                ("mileage_first_rate", "50"),
                ("mileage_after_rate", "20"),
                ("mileage_band_miles", "100"),
                ("limit_meals", "10.00"),
                ("receipt_meals", "5"),
                ("limit_mileage", ""),
                ("receipt_mileage", ""),
            ],
        )
        .await;
    assert_eq!(
        saved.location(),
        Some("/admin/expense-policy"),
        "{}",
        saved.body
    );
    assert!(
        admin
            .get("/admin/expense-policy")
            .await
            .body
            .contains("The expense policy was saved.")
    );
    let p = policy::load(&org).unwrap();
    assert_eq!(
        (
            p.max_line_age_days,
            p.second_approval_above_minor,
            p.mileage
        ),
        (
            30,
            1000,
            MileageRates {
                first_rate_pence: 50,
                after_rate_pence: 20,
                threshold_miles: 100
            }
        )
    );
    let entries = audit::page(
        &org,
        &Filter {
            action: Some(Action::PolicyChanged),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 1, "one entry for one save");
    assert!(
        entries[0].detail.contains("max_line_age_days"),
        "{}",
        entries[0].detail
    );
    assert!(entries[0].detail.contains("category.meals"));
    assert_eq!(entries[0].actor_id, Some(acme.admin.0));

    // The employee's claim follows the new policy.
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let url = emp
        .post("/claims", &[("title", "Policy test"), ("form_key", "c")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let line = |date: String,
                cat: &'static str,
                amount: &'static str,
                miles: &'static str,
                key: &'static str| {
        vec![
            ("date", date),
            ("category", cat.to_owned()),
            ("merchant", "Somewhere".to_owned()),
            ("description", String::new()),
            ("amount", amount.to_owned()),
            ("currency", "GBP".to_owned()),
            ("miles", miles.to_owned()),
            ("form_key", key.to_owned()),
        ]
    };
    macro_rules! add {
        ($fields:expr) => {{
            let f = $fields;
            let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            emp.post_multipart(&format!("{url}/lines"), &refs, None)
                .await
        }};
    }
    let old = add!(line(day(31), "meals", "8.00", "", "old"));
    assert_eq!(old.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(old.body.contains(
        "<p class=\"field-error\" id=\"date-error\">Lines older than 30 days cannot be claimed.</p>"
    ));
    let meal = add!(line(day(0), "meals", "20.00", "", "meal"));
    assert_eq!(meal.status, StatusCode::SEE_OTHER, "{}", meal.body);
    // Mileage: miles only, at the organisation's rates (50p up to 100 miles, then 20p).
    let with_amount = add!(line(day(0), "mileage", "10.00", "12", "m0"));
    assert_eq!(with_amount.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(with_amount.body.contains(
        "<p class=\"field-error\" id=\"amount-error\">Leave the amount empty for mileage"
    ));
    let miles_on_meal = add!(line(day(0), "meals", "5.00", "12", "m00"));
    assert!(miles_on_meal.body.contains(
        "<p class=\"field-error\" id=\"miles-error\">Miles are only for the Mileage category.</p>"
    ));
    let no_miles = add!(line(day(0), "mileage", "", "0", "m000"));
    assert!(
        no_miles
            .body
            .contains("<p class=\"field-error\" id=\"miles-error\">Enter the miles driven")
    );
    assert_eq!(
        add!(line(day(0), "mileage", "", "80", "m1")).status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        add!(line(day(0), "mileage", "", "30", "m2")).status,
        StatusCode::SEE_OTHER
    );
    let page = emp.get(&url).await;
    assert!(
        page.body.contains("80.0 miles at 50p"),
        "miles and rate shown"
    );
    assert!(page.body.contains("40.00 GBP"));
    assert!(
        page.body.contains("20.0 miles at 50p + 10.0 miles at 20p"),
        "split at the band"
    );
    assert!(page.body.contains("12.00 GBP"));
    // Flags from the policy, before submitting.
    assert!(page.body.contains("over the Meals limit of 10.00 GBP"));
    assert!(page.body.contains("needs a receipt"));
    assert!(page.body.contains("finance approves it as well"));
    let total = claims::get(&org, url.trim_start_matches("/claims/").parse().unwrap())
        .unwrap()
        .total_minor;
    assert_eq!(total, 2000 + 4000 + 1200);

    // Above the (new) threshold the manager's approval hands it to finance.
    let version = field_value(&page.body, "version").unwrap();
    emp.post(&format!("{url}/submit"), &[("version", &version)])
        .await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let page = boss.get(&url).await;
    assert!(
        page.body.contains("over the Meals limit"),
        "flags shown to the approver"
    );
    let version = field_value(&page.body, "version").unwrap();
    boss.post(&format!("{url}/approve"), &[("version", &version)])
        .await;
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    assert_eq!(
        claims::get(&org, id).unwrap().status(),
        Status::AwaitingFinance
    );
}

fn miles(date: String, miles: &str, key: &str) -> LineInput {
    LineInput {
        date,
        category: "mileage".into(),
        merchant: "Own car".into(),
        miles: miles.into(),
        form_key: key.into(),
        ..Default::default()
    }
}

#[test]
fn mileage_counts_the_tax_year_and_splits_at_ten_thousand_miles() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let emp = acme.emp;
    // Lines a year back are allowed here, to show last tax year's miles do not count.
    // This year's lines are all dated today, so the test holds on any day of the year.
    let p = ExpensePolicy {
        max_line_age_days: 800,
        ..Default::default()
    };
    policy::save(&org, acme.admin, &p, &Vec::new()).unwrap();
    let roles = Roles::parse_list("employee").unwrap();
    let boss_roles = Roles::parse_list("manager,employee").unwrap();

    // Miles need no merchant; any other line does.
    let no_merchant = claims::create(&org, emp, "No merchant", "nm").unwrap();
    let mut own_car = miles(day(0), "1", "nm1");
    own_car.merchant = String::new();
    claims::add_line(&org, emp, no_merchant, &own_car).unwrap();
    assert_eq!(claims::lines(&org, no_merchant).unwrap().len(), 1);
    own_car.category = "travel".into();
    own_car.amount = "1.00".into();
    own_car.miles = String::new();
    own_car.form_key = "nm2".into();
    assert!(matches!(
        claims::add_line(&org, emp, no_merchant, &own_car).unwrap(),
        AddLine::Invalid(e) if e.get("merchant").is_some()
    ));
    let v = claims::get(&org, no_merchant).unwrap().version;
    claims::transition(
        &org,
        emp,
        roles,
        no_merchant,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();
    let v = claims::get(&org, no_merchant).unwrap().version;
    claims::transition(
        &org,
        acme.boss,
        boss_roles,
        no_merchant,
        Some(v),
        Transition::Reject,
        "no",
    )
    .unwrap();

    let last_year = claims::create(&org, emp, "Last year", "ly").unwrap();
    claims::add_line(&org, emp, last_year, &miles(day(400), "9999", "ly1")).unwrap();
    let l = &claims::lines(&org, last_year).unwrap()[0];
    assert_eq!(l.amount_minor, 9999 * 45, "all at 45p");

    // A rejected claim's miles do not count either.
    let rejected = claims::create(&org, emp, "Rejected", "rj").unwrap();
    claims::add_line(&org, emp, rejected, &miles(day(0), "5000", "rj1")).unwrap();
    let v = claims::get(&org, rejected).unwrap().version;
    claims::transition(&org, emp, roles, rejected, Some(v), Transition::Submit, "").unwrap();
    let v = claims::get(&org, rejected).unwrap().version;
    claims::transition(
        &org,
        acme.boss,
        boss_roles,
        rejected,
        Some(v),
        Transition::Reject,
        "no",
    )
    .unwrap();

    let id = claims::create(&org, emp, "This year", "ty").unwrap();
    claims::add_line(&org, emp, id, &miles(day(0), "9950", "a")).unwrap();
    // 50 miles left at 45p, 50 after at 25p: 22.50 + 12.50.
    claims::add_line(&org, emp, id, &miles(day(0), "100", "b")).unwrap();
    claims::add_line(&org, emp, id, &miles(day(0), "10.5", "c")).unwrap();
    let lines = claims::lines(&org, id).unwrap();
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    assert_eq!(
        amounts,
        vec![9950 * 45, 3500, 263],
        "10.5 miles at 25p = 2.625 -> 2.63"
    );
    assert_eq!(lines[1].mileage_first_tenths, Some(500));
    assert_eq!(
        claims::mileage_text(&lines[1], expenseplus::expenses::money::Currency::GBP),
        "50.0 miles at 45p + 50.0 miles at 25p"
    );
    assert_eq!(
        claims::get(&org, id).unwrap().total_minor,
        9950 * 45 + 3500 + 263
    );
    assert!(
        lines
            .iter()
            .all(|l| l.currency == "GBP" && l.vat_minor.is_none())
    );

    // Editing the crossing line does not count itself: 100 -> 40 miles, all at 45p.
    let v = claims::get(&org, id).unwrap().version;
    let mut edit = miles(day(0), "40", "b-edit");
    edit.description = "shorter".into();
    let out = expenseplus::expenses::line_edit::update(
        &org,
        emp,
        id,
        lines[1].id,
        v,
        &edit,
        expenseplus::expenses::receipts::Upload::None,
    )
    .unwrap();
    assert!(matches!(out, AddLine::Added));
    let lines = claims::lines(&org, id).unwrap();
    assert_eq!(lines[1].amount_minor, 40 * 45);
    // The band it gave back goes to the line after it: 10 miles at 45p + 0.5 at 25p.
    assert_eq!(lines[2].amount_minor, 463);
    assert_eq!(
        claims::get(&org, id).unwrap().total_minor,
        9950 * 45 + 1800 + 463
    );
}

/// A line entered late for an earlier day comes first in the year: the draft's lines
/// are priced in date order, and the year's 45p miles never pass the band.
#[test]
fn a_line_entered_late_for_an_earlier_day_never_stretches_the_band() {
    use expenseplus::expenses::mileage::tax_year_start;
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let emp = acme.emp;
    let today = OffsetDateTime::now_utc().date();
    // Yesterday, unless today starts the tax year (then both lines are today's, and
    // the later one counts the earlier in full anyway).
    let earlier = if tax_year_start(today) == today { 0 } else { 1 };
    let id = claims::create(&org, emp, "Driving", "dr").unwrap();
    claims::add_line(&org, emp, id, &miles(day(0), "10000", "late")).unwrap();
    claims::add_line(&org, emp, id, &miles(day(earlier), "100", "early")).unwrap();
    let lines = claims::lines(&org, id).unwrap();
    let first: i64 = lines.iter().map(|l| l.mileage_first_tenths.unwrap()).sum();
    assert_eq!(first, 100_000, "10,000 miles at 45p in all, no more");
    // Listed (and priced) in date order: the first line is in the band, the second
    // crosses it. On the tax year's first day both are today's, in the order entered.
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    if earlier == 1 {
        assert_eq!(amounts, vec![100 * 45, 9900 * 45 + 100 * 25]);
    } else {
        assert_eq!(amounts, vec![10_000 * 45, 100 * 25]);
    }
}

#[test]
fn a_claim_holds_a_bounded_number_of_lines() {
    use expenseplus::expenses::lines::MAX_LINES_PER_CLAIM;
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = claims::create(&org, acme.emp, "Many", "many").unwrap();
    let line = |i: i64| LineInput {
        date: day(0),
        category: "meals".into(),
        merchant: "Cafe".into(),
        amount: "1.00".into(),
        currency: "GBP".into(),
        form_key: format!("k{i}"),
        ..Default::default()
    };
    for i in 0..MAX_LINES_PER_CLAIM {
        assert!(matches!(
            claims::add_line(&org, acme.emp, id, &line(i)).unwrap(),
            AddLine::Added
        ));
    }
    let over = claims::add_line(&org, acme.emp, id, &line(MAX_LINES_PER_CLAIM));
    assert!(
        matches!(&over, Err(claims::ClaimError::Invalid(m)) if m.contains("at most 300 lines")),
        "the line after the last one allowed is refused"
    );
    assert_eq!(
        claims::get(&org, id).unwrap().total_minor,
        MAX_LINES_PER_CLAIM * 100
    );
}

/// Each claim keeps the base currency it was started in, so the base may change only
/// when no claim is still open: otherwise the admin is told why, on the field.
#[actix_web::test]
async fn the_base_currency_changes_only_when_no_claim_is_open() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let with_base = |cur: &'static str| {
        [
            ("base_currency", cur),
            ("max_line_age_days", "90"),
            ("second_approval_above", "1000.00"),
            ("mileage_first_rate", "45"),
            ("mileage_after_rate", "25"),
            ("mileage_band_miles", "10000"),
        ]
    };
    // No claims yet: the change is saved and new claims are in the new base.
    let saved = admin.post("/admin/expense-policy", &with_base("EUR")).await;
    assert_eq!(
        saved.location(),
        Some("/admin/expense-policy"),
        "{}",
        saved.body
    );
    let id = claims::create(&org, acme.emp, "Trip", "k1").unwrap();
    assert_eq!(claims::get(&org, id).unwrap().currency().code(), "EUR");
    claims::add_line(&org, acme.emp, id, &miles(day(0), "10", "l1")).unwrap();
    let empty = claims::create(&org, acme.emp, "Not started", "k2").unwrap();

    // A claim with amounts in EUR is open: the change is refused on the field and
    // nothing is saved (the empty draft keeps EUR too).
    let refused = admin.post("/admin/expense-policy", &with_base("USD")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains(
            "the base currency cannot change while 1 claim is in another currency not yet paid or rejected"
        ),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"USD\""), "input kept");
    assert_eq!(policy::load(&org).unwrap().base_currency.code(), "EUR");
    assert_eq!(claims::get(&org, empty).unwrap().currency().code(), "EUR");
    // Other settings still save while claims are open.
    let mut longer = with_base("EUR");
    longer[1] = ("max_line_age_days", "60");
    let saved = admin.post("/admin/expense-policy", &longer).await;
    assert_eq!(
        saved.location(),
        Some("/admin/expense-policy"),
        "{}",
        saved.body
    );
    assert_eq!(policy::load(&org).unwrap().max_line_age_days, 60);

    // Once its owner discards that draft, the base may change; the empty draft, with
    // no amounts yet, moves to the new base.
    expenseplus::expenses::drafts::discard(&org, acme.emp, id, None).unwrap();
    let mut usd = with_base("USD");
    usd[1] = ("max_line_age_days", "60");
    let saved = admin.post("/admin/expense-policy", &usd).await;
    assert_eq!(
        saved.location(),
        Some("/admin/expense-policy"),
        "{}",
        saved.body
    );
    assert_eq!(policy::load(&org).unwrap().base_currency.code(), "USD");
    assert_eq!(claims::get(&org, empty).unwrap().currency().code(), "USD");
}

/// A policy row edited by hand (or restored from somewhere odd) with values the form
/// would refuse: each counts as unset, so nothing downstream sees a negative age or a
/// band that overflows when counted in tenths of a mile.
#[test]
fn stored_policy_values_out_of_range_count_as_unset() {
    use diesel::prelude::*;
    use expenseplus::expenses::policy::{self, ExpensePolicy};

    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    diesel::sql_query(
        "REPLACE INTO settings (name, value) VALUES \
         ('expense.max_line_age_days', '-5'), \
         ('expense.second_approval_above_minor', '-1'), \
         ('expense.mileage_first_rate', '0'), \
         ('expense.mileage_after_rate', '99999999'), \
         ('expense.mileage_band_miles', '1000000000000000000')",
    )
    .execute(&mut org.conn().unwrap())
    .unwrap();
    assert_eq!(policy::load(&org).unwrap(), ExpensePolicy::default());
}

/// A line checked against the claim's currency, and the organisation's base changed
/// before it is written (the empty draft moves to the new base): the line is not
/// written priced in the old currency; the owner is told the claim changed.
#[test]
fn a_line_priced_before_the_base_changed_is_not_written() {
    use expenseplus::expenses::claims::ClaimError;
    use expenseplus::expenses::lines;
    use expenseplus::expenses::money::Currency;

    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = claims::create(&org, acme.emp, "Trip", "k").unwrap();
    let input = LineInput {
        date: day(0),
        category: "meals".into(),
        merchant: "Cafe".into(),
        amount: "12.00".into(),
        currency: "GBP".into(),
        form_key: "l".into(),
        ..Default::default()
    };
    let checked = lines::validate(&org, acme.emp, id, &input)
        .unwrap()
        .unwrap();
    let mut p = policy::load(&org).unwrap();
    p.base_currency = Currency::parse("EUR").unwrap();
    policy::save(&org, acme.admin, &p, &Default::default()).unwrap();
    assert_eq!(claims::get(&org, id).unwrap().currency, "EUR");

    let written = lines::insert(&org, &checked, |_, _| Ok(()));
    assert!(matches!(written, Err(ClaimError::Stale)), "{written:?}");
    assert!(claims::lines(&org, id).unwrap().is_empty());
    assert_eq!(claims::get(&org, id).unwrap().total_minor, 0);
}
