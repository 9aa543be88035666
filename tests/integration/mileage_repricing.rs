//! Draft mileage is priced again whenever the miles before it change: a line removed,
//! a claim rejected or returned, a draft discarded, new rates. Decided claims keep the
//! prices their approvers saw.

#![allow(clippy::unwrap_used)]

use crate::common;

use diesel::prelude::*;
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, ClaimFields, LineInput};
use expenseplus::expenses::mileage::tax_year_start;
use expenseplus::expenses::status::{Status, Transition};
use expenseplus::expenses::{drafts, line_edit};
use expenseplus::ids::UserId;
use expenseplus::tenancy::Org;
use time::{Duration, OffsetDateTime};

/// A day of last tax year (whole, and far from its ends), `n` days into November-ish.
fn day(n: i64) -> String {
    let this_year = tax_year_start(OffsetDateTime::now_utc().date());
    let last_year = this_year.replace_year(this_year.year() - 1).unwrap();
    (last_year + Duration::days(200 + n)).to_string()
}

/// Lines from last tax year are allowed: the age limit is set far out.
fn allow_old_lines(org: &Org) {
    diesel::sql_query(
        "REPLACE INTO settings (name, value) VALUES ('expense.max_line_age_days', '3650')",
    )
    .execute(&mut org.conn().unwrap())
    .unwrap();
}

fn miles(org: &Org, owner: UserId, claim: i64, on: &str, miles: &str) -> i64 {
    let input = LineInput {
        date: on.to_owned(),
        category: "mileage".into(),
        merchant: String::new(),
        description: "Site visit".into(),
        miles: miles.into(),
        currency: "GBP".into(),
        ..LineInput::default()
    };
    match claims::add_line(org, owner, claim, &input).unwrap() {
        AddLine::Added => {}
        AddLine::Invalid(e) => panic!("{e:?}"),
    }
    claims::lines(org, claim)
        .unwrap()
        .into_iter()
        .filter(|l| l.spent_on == on && l.miles_tenths.is_some())
        .map(|l| l.id)
        .max()
        .unwrap()
}

/// Each line's amount in pence, in date order, and the claim's total.
fn priced(org: &Org, claim: i64) -> (Vec<i64>, i64) {
    let lines = claims::lines(org, claim).unwrap();
    let total = claims::get(org, claim).unwrap().total_minor;
    (lines.into_iter().map(|l| l.amount_minor).collect(), total)
}

fn version(org: &Org, claim: i64) -> i64 {
    claims::get(org, claim).unwrap().version
}

fn decide(org: &Org, who: UserId, roles: &str, claim: i64, t: Transition) {
    let roles = Roles::parse_list(roles).unwrap();
    claims::transition(org, who, roles, claim, None, t, "noted").unwrap();
}

#[test]
fn removing_miles_gives_the_first_rate_back_to_later_draft_lines() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    allow_old_lines(&org);
    let claim = claims::create(&org, acme.emp, "Driving", "k1").unwrap();
    let big = miles(&org, acme.emp, claim, &day(1), "9990");
    miles(&org, acme.emp, claim, &day(2), "20");
    // 10 miles left at 45p, 10 at 25p.
    assert_eq!(priced(&org, claim).1, 449_550 + 700);
    // A line entered late for an earlier day comes first in the year: the lines
    // after it move along the band.
    miles(&org, acme.emp, claim, &day(0), "5");
    assert_eq!(priced(&org, claim), (vec![225, 449_550, 600], 450_375));

    let v = version(&org, claim);
    line_edit::remove(&org, acme.emp, claim, big, v).unwrap();
    // All 25 miles left are within the band: 5 x 45p and 20 x 45p.
    assert_eq!(priced(&org, claim), (vec![225, 900], 1_125));
    assert!(version(&org, claim) > v);
    let page = claims::lines(&org, claim).unwrap();
    assert_eq!(
        claims::mileage_text(&page[1], claims::get(&org, claim).unwrap().currency()),
        "20.0 miles at 45p"
    );
}

#[test]
fn a_rejected_claims_miles_stop_counting_and_a_decided_claim_keeps_its_prices() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    allow_old_lines(&org);
    // Claim A (submitted): 10,000 miles, the whole band.
    let a = claims::create(&org, acme.emp, "Driving A", "ka").unwrap();
    miles(&org, acme.emp, a, &day(1), "10000");
    decide(&org, acme.emp, "employee", a, Transition::Submit);
    // Claim C (approved by the manager, under the finance threshold): 10 miles after.
    let c = claims::create(&org, acme.emp, "Driving C", "kc").unwrap();
    miles(&org, acme.emp, c, &day(2), "10");
    decide(&org, acme.emp, "employee", c, Transition::Submit);
    decide(&org, acme.boss, "manager,employee", c, Transition::Approve);
    // Draft B: 100 miles, all at 25p while A counts.
    let b = claims::create(&org, acme.emp, "Driving B", "kb").unwrap();
    miles(&org, acme.emp, b, &day(3), "100");
    assert_eq!(priced(&org, b), (vec![2_500], 2_500));
    assert_eq!(priced(&org, c), (vec![250], 250));

    decide(&org, acme.boss, "manager,employee", a, Transition::Reject);
    // B gets the band back; C, decided at 25p, stays as approved.
    assert_eq!(priced(&org, b), (vec![4_500], 4_500));
    assert_eq!(priced(&org, c), (vec![250], 250));
    assert_eq!(claims::get(&org, c).unwrap().status(), Status::Approved);
}

#[test]
fn a_returned_claim_and_a_discarded_draft_reprice_the_drafts() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    allow_old_lines(&org);
    let a = claims::create(&org, acme.emp, "Driving A", "ka").unwrap();
    miles(&org, acme.emp, a, &day(5), "9995");
    decide(&org, acme.emp, "employee", a, Transition::Submit);
    // An earlier-dated draft entered after A was submitted takes what A left.
    let b = claims::create(&org, acme.emp, "Driving B", "kb").unwrap();
    miles(&org, acme.emp, b, &day(1), "10");
    assert_eq!(priced(&org, b), (vec![350], 350), "5 x 45p + 5 x 25p");

    // Returned for changes, A is a draft again: in date order B comes first.
    decide(
        &org,
        acme.boss,
        "manager,employee",
        a,
        Transition::ReturnForChanges,
    );
    assert_eq!(priced(&org, b), (vec![450], 450));
    assert_eq!(
        priced(&org, a),
        (vec![449_675], 449_675),
        "9,990 x 45p + 5 x 25p"
    );

    // B discarded: A has the whole band again.
    drafts::discard(&org, acme.emp, b, None).unwrap();
    assert_eq!(priced(&org, a), (vec![449_775], 449_775));
}

#[test]
fn new_mileage_rates_reprice_drafts_only() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    allow_old_lines(&org);
    let submitted = claims::create(&org, acme.emp, "Sent", "ks").unwrap();
    miles(&org, acme.emp, submitted, &day(1), "100");
    decide(&org, acme.emp, "employee", submitted, Transition::Submit);
    let draft = claims::create(&org, acme.emp, "Draft", "kd").unwrap();
    miles(&org, acme.emp, draft, &day(2), "100");
    // A restricted person's draft may not be changed (GDPR Art. 18).
    let held = claims::create(&org, acme.boss, "Held", "kh").unwrap();
    miles(&org, acme.boss, held, &day(2), "100");
    expenseplus::privacy::restriction::restrict(&org, acme.dpo, acme.boss, "contested").unwrap();

    let mut policy = expenseplus::expenses::policy::load(&org).unwrap();
    policy.mileage.first_rate_pence = 50;
    let cats = Default::default();
    expenseplus::expenses::policy::save(&org, acme.admin, &policy, &cats).unwrap();
    assert_eq!(priced(&org, draft), (vec![5_000], 5_000));
    assert_eq!(priced(&org, submitted), (vec![4_500], 4_500));
    assert_eq!(priced(&org, held), (vec![4_500], 4_500));
}

/// New rates can price a draft's mileage where no line could be entered: to nothing
/// (a tenth of a mile past the band at a penny a mile) or past what one line may claim
/// (ten thousand miles at the highest rate, in yen). Repricing holds it to the same
/// bounds as entry: one minor unit, and the per-line cap.
#[test]
fn repricing_keeps_amounts_within_what_a_line_may_claim() {
    use expenseplus::expenses::money::Currency;
    use expenseplus::expenses::policy;

    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    allow_old_lines(&org);
    let cats = Default::default();
    let mut p = policy::load(&org).unwrap();
    p.mileage.threshold_miles = 0;
    policy::save(&org, acme.admin, &p, &cats).unwrap();
    let tiny = claims::create(&org, acme.emp, "Tiny", "kt").unwrap();
    miles(&org, acme.emp, tiny, &day(1), "0.1");
    assert_eq!(priced(&org, tiny), (vec![3], 3), "a tenth at 25p, rounded");
    p.mileage.after_rate_pence = 1;
    policy::save(&org, acme.admin, &p, &cats).unwrap();
    assert_eq!(priced(&org, tiny), (vec![1], 1), "never nothing");

    // In yen (no claim of the boss's open, so the base may change for the test).
    let other = common::acme_with_people();
    let org = other.env.org("acme");
    allow_old_lines(&org);
    let mut p = policy::load(&org).unwrap();
    p.base_currency = Currency::parse("JPY").unwrap();
    p.max_line_minor = p.base_currency.max_line_minor();
    policy::save(&org, other.admin, &p, &cats).unwrap();
    let long = claims::create(&org, other.emp, "Long", "kl").unwrap();
    let input = LineInput {
        date: day(1),
        category: "mileage".into(),
        description: "Grand tour".into(),
        miles: "10000".into(),
        currency: "JPY".into(),
        ..LineInput::default()
    };
    let added = claims::add_line(&org, other.emp, long, &input).unwrap();
    assert!(matches!(added, AddLine::Added), "{added:?}");
    p.mileage.first_rate_pence = 10_000;
    policy::save(&org, other.admin, &p, &cats).unwrap();
    let cap = Currency::parse("JPY").unwrap().max_line_minor();
    assert_eq!(priced(&org, long), (vec![cap], cap));
}
