//! The dashboard's figures are in the organisation's base currency, and claims from
//! before the base changed keep theirs: a total per currency, never one sum of both.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::test as atest;
use common::{Acme, Client, PASSWORD, acme_with_people};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, LineInput};
use expenseplus::expenses::finance;
use expenseplus::expenses::money::Currency;
use expenseplus::expenses::policy::{self, ExpensePolicy};
use expenseplus::expenses::reports;
use expenseplus::expenses::status::{Status, Transition};
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

/// A claim by `emp` with one line of `amount` in `currency` dated today, approved by
/// `boss` and, if `pay`, paid by finance. Returns its id.
fn claim(p: &Acme, org: &Org, key: &str, amount: &str, currency: &str, pay: bool) -> i64 {
    let id = claims::create(org, p.emp, key, &format!("form-{key}")).unwrap();
    let input = LineInput {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        category: "travel".into(),
        merchant: "Rail".into(),
        amount: amount.into(),
        currency: currency.into(),
        form_key: format!("line-{key}"),
        ..Default::default()
    };
    assert!(matches!(
        claims::add_line(org, p.emp, id, &input).unwrap(),
        AddLine::Added
    ));
    let step = |actor, who: &str, t| {
        let v = claims::get(org, id).unwrap().version;
        claims::transition(org, actor, roles(who), id, Some(v), t, "").unwrap()
    };
    step(p.emp, "employee", Transition::Submit);
    assert_eq!(
        step(p.boss, "manager,employee", Transition::Approve),
        Status::Approved
    );
    if pay {
        let v = claims::get(org, id).unwrap().version;
        let out = finance::mark_paid(org, p.fin, roles("finance"), &[(id, v)]).unwrap();
        assert_eq!(out.paid, vec![id]);
    }
    id
}

/// A paid GBP claim from before the base became EUR, then EUR claims: one paid, one
/// approved (to pay).
fn gbp_then_eur() -> Acme {
    let p = acme_with_people();
    let org = p.env.org("acme");
    claim(&p, &org, "before", "123.45", "GBP", true);
    let eur = ExpensePolicy {
        base_currency: Currency::parse("EUR").unwrap(),
        ..policy::load(&org).unwrap()
    };
    policy::save(&org, p.admin, &eur, &Vec::new()).unwrap();
    claim(&p, &org, "after-paid", "20.00", "EUR", true);
    claim(&p, &org, "after-approved", "50.00", "EUR", false);
    p
}

#[test]
fn totals_are_kept_per_currency_with_the_base_first() {
    let p = gbp_then_eur();
    let org = p.env.org("acme");
    let eur = Currency::parse("EUR").unwrap();
    let totals = reports::totals_by_status(&org, p.emp).unwrap();
    let paid = totals.iter().find(|t| t.status == Status::Paid).unwrap();
    assert_eq!(paid.count, 2);
    assert_eq!(
        paid.amounts.as_slice(),
        [(eur, 2000), (Currency::GBP, 12345)].as_slice()
    );
    let to_pay = reports::to_pay_total(&org).unwrap();
    assert_eq!(to_pay.count, 1);
    assert_eq!(to_pay.amounts.as_slice(), [(eur, 5000)].as_slice());
    let spend = reports::team_spend(&org, p.boss, 6).unwrap();
    assert_eq!(spend.currency, eur);
    assert!(spend.others_left_out);
    assert_eq!(spend.rows.iter().map(|r| r.total_minor).sum::<i64>(), 7000);
}

#[actix_web::test]
async fn each_dashboard_shows_the_base_currency_and_never_sums_two() {
    let p = gbp_then_eur();
    let app = atest::init_service(build_app(p.env.state.clone())).await;

    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let home = emp.get("/").await.body;
    // Paid: two claims, one total per currency, the base first.
    assert!(home.contains("20.00 EUR, 123.45 GBP"), "{home}");
    assert!(home.contains("50.00 EUR"), "{home}");
    assert!(!home.contains("143.45"), "summed across currencies: {home}");

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let home = boss.get("/").await.body;
    assert!(home.contains("amounts in EUR"), "{home}");
    assert!(home.contains("(columns), EUR"), "{home}");
    assert!(
        home.contains("claims in other currencies are not included"),
        "{home}"
    );
    // This month: 20.00 + 50.00 EUR; the GBP claim is left out, not added.
    assert!(home.contains("<td class=\"num\">70.00</td>"), "{home}");
    assert!(!home.contains("193.45"), "{home}");
    assert!(!home.contains("GBP"), "{home}");
    // Whose spending it is, is personal data: the view is in the audit log.
    let org = p.env.org("acme");
    let views = common::audited(&org, expenseplus::audit::Action::ViewedPerson);
    assert!(
        views
            .iter()
            .any(|e| e.actor_id == Some(p.boss.0) && e.detail == "team spend chart"),
        "{views:?}"
    );

    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let home = fin.get("/").await.body;
    assert!(home.contains("1 claim to pay, total 50.00 EUR"), "{home}");
}

#[actix_web::test]
async fn with_nothing_to_pay_finance_sees_zero_in_the_base_currency() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let eur = ExpensePolicy {
        base_currency: Currency::parse("EUR").unwrap(),
        ..policy::load(&org).unwrap()
    };
    policy::save(&org, p.admin, &eur, &Vec::new()).unwrap();
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let home = fin.get("/").await.body;
    assert!(home.contains("0 claims to pay, total 0.00 EUR"), "{home}");
}
