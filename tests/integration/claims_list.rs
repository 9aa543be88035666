//! My claims: pages of 50, newest first, with an "Older claims" link that keeps the
//! filters; filters by status, category and line dates; bad filter values explained;
//! never anyone else's claims. Plain lists are read on the request's thread and line
//! filters on a blocking one: both paths are driven here through the pages.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, LineInput};
use expenseplus::expenses::status::Transition;
use expenseplus::web::build_app;
use time::{Duration, OffsetDateTime};

fn day(offset: i64) -> String {
    (OffsetDateTime::now_utc().date() + Duration::days(offset)).to_string()
}

/// The claim titles a list page shows, in order.
fn titles(body: &str) -> Vec<String> {
    body.split("<tr><td><a href=\"/claims/")
        .skip(1)
        .map(|row| {
            let start = row.find('>').unwrap() + 1;
            row[start..row.find("</a>").unwrap()].to_owned()
        })
        .collect()
}

/// The "Older claims" link, unescaped.
fn older(body: &str) -> Option<String> {
    let end = body.find("\">Older claims</a>")?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(body[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

#[actix_web::test]
async fn my_claims_are_paged_and_filtered() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    // 55 claims of Eve: even ones travel 10 days ago, odd ones meals today.
    for i in 0..55 {
        let id = claims::create(&org, acme.emp, &format!("Trip {i}"), &format!("c{i}")).unwrap();
        let (category, date) = if i % 2 == 0 {
            ("travel", day(-10))
        } else {
            ("meals", day(0))
        };
        let line = LineInput {
            date,
            category: category.into(),
            merchant: "Rail".into(),
            amount: "12.00".into(),
            currency: "GBP".into(),
            form_key: format!("l{i}"),
            ..Default::default()
        };
        assert!(matches!(
            claims::add_line(&org, acme.emp, id, &line).unwrap(),
            AddLine::Added
        ));
        if i < 3 {
            let v = claims::get(&org, id).unwrap().version;
            let roles = Roles::parse_list("employee").unwrap();
            claims::transition(&org, acme.emp, roles, id, Some(v), Transition::Submit, "").unwrap();
        }
    }
    // Someone else's claim never appears.
    claims::create(&org, acme.other, "Otto's own trip", "o").unwrap();

    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;

    let first = eve.get("/claims").await;
    assert_eq!(first.status, StatusCode::OK);
    let shown = titles(&first.body);
    let newest: Vec<String> = (5..55).rev().map(|i| format!("Trip {i}")).collect();
    assert_eq!(shown, newest, "the newest 50, newest first");
    assert!(first.body.contains("12.00 GBP"));
    let link = older(&first.body).expect("an Older claims link");
    let second = eve.get(&link).await;
    let rest: Vec<String> = (0..5).rev().map(|i| format!("Trip {i}")).collect();
    assert_eq!(titles(&second.body), rest);
    assert!(older(&second.body).is_none(), "no link past the last page");
    assert!(!first.body.contains("Otto") && !second.body.contains("Otto"));

    let submitted = eve.get("/claims?status=submitted").await;
    assert_eq!(titles(&submitted.body), ["Trip 2", "Trip 1", "Trip 0"]);
    assert!(submitted.body.contains("submitted"));

    // A line filter: the odd claims (meals), paged with the filter kept.
    let meals = eve.get("/claims?category=meals").await;
    assert_eq!(meals.status, StatusCode::OK);
    let odd: Vec<String> = (0..55)
        .rev()
        .filter(|i| i % 2 == 1)
        .map(|i| format!("Trip {i}"))
        .collect();
    assert_eq!(titles(&meals.body), odd, "27 meals claims, one page");
    assert!(older(&meals.body).is_none());

    let range = format!("/claims?from={}&to={}", day(-11), day(-9));
    let travel = eve.get(&range).await;
    let even: Vec<String> = (0..55)
        .rev()
        .step_by(2)
        .map(|i| format!("Trip {i}"))
        .collect();
    assert_eq!(titles(&travel.body), even, "the travel lines 10 days ago");

    let both = eve.get(&format!("{range}&category=meals")).await;
    assert!(titles(&both.body).is_empty());
    assert!(both.body.contains("No claims match these filters."));

    let bad = eve.get("/claims?from=2026-02-30&category=caviar").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body
            .contains("The from date must be a date like 2026-01-31.")
    );
    assert!(bad.body.contains("Choose a category from the list."));
    assert!(titles(&bad.body).is_empty());
}
