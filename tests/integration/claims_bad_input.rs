//! Bad input through the pages (issue point 9): every case comes back as a 422 with the
//! message on its field and the rest of the input kept, never a 500, and writes nothing.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, field_value};
use expenseplus::expenses::claims;
use expenseplus::web::build_app;

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

#[actix_web::test]
async fn every_kind_of_bad_input_gets_a_field_message_and_writes_nothing() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;

    // Claim titles: too long, control characters.
    let long = "x".repeat(10_000);
    for (title, msg) in [
        (long.as_str(), "at most 200 characters"),
        ("Trip\u{1b}[31m red", "cannot contain control characters"),
        ("   ", "Enter the claim title."),
    ] {
        let page = emp
            .post("/claims", &[("title", title), ("form_key", "t")])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{msg}");
        assert!(page.body.contains(msg), "{msg}");
    }
    assert!(
        claims::list_own(&org, acme.emp, &Default::default(), None, 10)
            .unwrap()
            .is_empty()
    );

    let url = emp
        .post("/claims", &[("title", "Bad input walk"), ("form_key", "c")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    let version_before = claims::get(&org, id).unwrap().version;
    let date = today();
    let good: Vec<(&str, String)> = vec![
        ("date", date.clone()),
        ("category", "travel".into()),
        ("merchant", "Kept Merchant".into()),
        ("description", "Kept description".into()),
        ("amount", "12.50".into()),
        ("currency", "GBP".into()),
        ("rate", String::new()),
        ("form_key", "line".into()),
    ];
    let long_text = "d".repeat(10_000);
    let cases: Vec<(&str, String, &str, &str)> = vec![
        // (field, bad value, the field's message, currency to use)
        (
            "amount",
            "0".into(),
            "the amount must be more than zero",
            "GBP",
        ),
        (
            "amount",
            "-5.00".into(),
            "the amount must be more than zero",
            "GBP",
        ),
        (
            "amount",
            "12.345".into(),
            "GBP amounts have at most 2 decimal places",
            "GBP",
        ),
        (
            "amount",
            "12.3".into(),
            "JPY amounts have at most 0 decimal places",
            "JPY",
        ),
        (
            "amount",
            "99999999999999999999999999".into(),
            "the amount is too large",
            "GBP",
        ),
        (
            "amount",
            "1e9".into(),
            "enter the amount as a number",
            "GBP",
        ),
        (
            "currency",
            "XYZ".into(),
            "is not an ISO 4217 currency code",
            "XYZ",
        ),
        (
            "date",
            "2026-02-30".into(),
            "enter a real date as YYYY-MM-DD",
            "GBP",
        ),
        (
            "date",
            "30/01/2026".into(),
            "enter a real date as YYYY-MM-DD",
            "GBP",
        ),
        (
            "description",
            long_text.clone(),
            "the description can be at most 1000 characters",
            "GBP",
        ),
        (
            "merchant",
            "Shop\u{0}Name".into(),
            "the merchant cannot contain control characters",
            "GBP",
        ),
        (
            "description",
            "bell\u{7}".into(),
            "the description cannot contain control characters",
            "GBP",
        ),
        (
            "category",
            "yachts".into(),
            "choose a category from the list",
            "GBP",
        ),
    ];
    for (field, value, msg, currency) in &cases {
        let mut fields = good.clone();
        for (k, v) in fields.iter_mut() {
            if k == field {
                *v = value.clone();
            }
            if *k == "currency" && *field != "currency" {
                *v = (*currency).to_owned();
            }
            if *k == "rate" && *currency == "JPY" {
                *v = "0.0052".into();
            }
        }
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = emp
            .post_multipart(&format!("{url}/lines"), &refs, None)
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value:.20}"
        );
        // The message as a sentence, under its field, which points at it.
        let shown = format!("{}{}", msg[..1].to_uppercase(), &msg[1..]);
        let on_field = format!(
            "<p class=\"field-error\" id=\"{field}-error\">{}",
            shown.replace('"', "&#34;")
        );
        assert!(
            page.body.contains(&on_field) || page.body.contains(msg),
            "{field}: {msg} not shown"
        );
        assert!(
            page.body.contains(&on_field) || *field == "currency",
            "{msg} on its field"
        );
        assert!(
            page.body.contains(&format!(
                "aria-invalid=\"true\" aria-describedby=\"{field}-error\""
            )),
            "{field} marked invalid"
        );
        // The rest of what was typed comes back.
        let kept = if *field == "merchant" {
            "description"
        } else {
            "merchant"
        };
        let want = if kept == "merchant" {
            "Kept Merchant"
        } else {
            "Kept description"
        };
        assert_eq!(
            field_value(&page.body, kept).as_deref(),
            Some(want),
            "{field}"
        );
        assert_eq!(
            field_value(&page.body, "date")
                .as_deref()
                .map(|d| d == date || *field == "date"),
            Some(true)
        );
        // Nothing written.
        assert!(claims::lines(&org, id).unwrap().is_empty(), "{field}");
        let claim = claims::get(&org, id).unwrap();
        assert_eq!((claim.total_minor, claim.version), (0, version_before));
    }

    // The same walk's good cases: JPY without decimals is fine, at a rate to GBP.
    let mut jpy = good.clone();
    for (k, v) in jpy.iter_mut() {
        match *k {
            "amount" => *v = "1234".into(),
            "currency" => *v = "JPY".into(),
            "rate" => *v = "0.0052".into(),
            _ => {}
        }
    }
    let refs: Vec<(&str, &str)> = jpy.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ok = emp
        .post_multipart(&format!("{url}/lines"), &refs, None)
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let page = emp.get(&url).await;
    assert!(page.body.contains("1,234 JPY"));
    assert_eq!(
        claims::get(&org, id).unwrap().total_minor,
        642,
        "1234 x 0.0052 = 6.4168 -> 6.42"
    );

    // Decisions: a 10,000-character or control-character comment is refused whole.
    let version = field_value(&page.body, "version").unwrap();
    emp.post(&format!("{url}/submit"), &[("version", &version)])
        .await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let version = field_value(&boss.get(&url).await.body, "version").unwrap();
    for (comment, msg) in [
        (long.as_str(), "The comment can be at most 1000 characters."),
        (
            "no\u{8}pe",
            "The comment cannot contain control characters.",
        ),
    ] {
        let page = boss
            .post(
                &format!("{url}/reject"),
                &[("version", &version), ("comment", comment)],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains(msg), "{msg}");
    }
    assert_eq!(
        claims::history(&org, id).unwrap().len(),
        1,
        "only the submission"
    );
}
