//! Forms as people and scripts really send them: without the page's hidden keys (as
//! CONTRACT.md lists the fields), from a tab that is out of date, with text far too
//! long inside a multipart form, with rates that make a line absurd. Each gets a plain
//! answer, never a 500 and never a silently dropped line.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, field_value};
use expenseplus::expenses::claims::{self, ClaimFields};
use expenseplus::expenses::status::Status;
use expenseplus::web::build_app;

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// A line as CONTRACT.md lists its fields: no `form_key`.
fn contract_line(date: &str, merchant: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("date", date.to_owned()),
        ("category", "travel".into()),
        ("merchant", merchant.into()),
        ("description", "Train".into()),
        ("amount", "12.50".into()),
        ("currency", "GBP".into()),
    ]
}

/// Eve signed in, with a new draft claim: her client, the claim's address and id.
async fn eve_with_a_claim<'a, S, B>(app: &'a S) -> (Client<'a, S>, String, i64)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut emp = Client::new(app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let url = emp
        .post("/claims", &[("title", "Trip")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let id = url.trim_start_matches("/claims/").parse().unwrap();
    (emp, url, id)
}

fn refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[actix_web::test]
async fn contract_fields_alone_work_and_no_line_is_swallowed() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;

    // `title` alone makes a claim; two such posts are two claims.
    let first = emp.post("/claims", &[("title", "Trip one")]).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let second = emp.post("/claims", &[("title", "Trip two")]).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_ne!(first.location(), second.location());
    let url = first.location().unwrap().to_owned();
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();

    // Lines without a form key are each kept (before, the second and every later
    // one were taken for a repeat of the first and dropped without a word).
    let date = today();
    for merchant in ["First Rail", "Second Rail", "Third Rail"] {
        let page = emp
            .post_multipart(
                &format!("{url}/lines"),
                &refs(&contract_line(&date, merchant)),
                None,
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{merchant}");
    }
    assert_eq!(claims::lines(&org, id).unwrap().len(), 3);
    assert_eq!(claims::get(&org, id).unwrap().total_minor, 3 * 1250);

    // Submit and approve without the page's version: the claim as it is now.
    let page = emp.post(&format!("{url}/submit"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    boss.get(&url).await;
    let page = boss
        .post(&format!("{url}/approve"), &[("comment", "Fine")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(claims::get(&org, id).unwrap().status(), Status::Approved);
    // A second approval of the same claim is told plainly, not a 500.
    let page = boss.post(&format!("{url}/approve"), &[]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("role=\"alert\""), "{}", page.body);
}

#[actix_web::test]
async fn a_line_from_a_tab_left_open_after_submitting_gets_a_message() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    let date = today();
    let line = contract_line(&date, "First Rail");
    emp.post_multipart(&format!("{url}/lines"), &refs(&line), None)
        .await;
    assert_eq!(emp.post(&format!("{url}/submit"), &[]).await.status, 303);

    let late = contract_line(&date, "Late Rail");
    let page = emp
        .post_multipart(&format!("{url}/lines"), &refs(&late), None)
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("Only a draft claim can be changed."),
        "{}",
        page.body
    );
    assert_eq!(claims::lines(&org, id).unwrap().len(), 1);
}

#[actix_web::test]
async fn overlong_text_in_a_multipart_form_is_reported_on_its_field() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    // 10,000 three-byte characters: 30 KB, past the 16 KB a text part may hold.
    let mut line = contract_line(&today(), "Kept Merchant");
    line[3].1 = "€".repeat(10_000);
    let page = emp
        .post_multipart(&format!("{url}/lines"), &refs(&line), None)
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains(
            "<p class=\"field-error\" id=\"description-error\">The description can be at most 1000 characters."
        ),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("aria-invalid=\"true\" aria-describedby=\"description-error\"")
    );
    assert_eq!(
        field_value(&page.body, "merchant").as_deref(),
        Some("Kept Merchant")
    );
    assert!(claims::lines(&org, id).unwrap().is_empty());
    // The same in an ordinary form: 90 KB once percent-encoded, still a field message.
    let page = emp.post("/claims", &[("title", &"€".repeat(10_000))]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("at most 200 characters"),
        "{}",
        page.body
    );
    // Past 128 KB an ordinary form is refused whole, with a page that says so.
    let page = emp
        .post("/claims", &[("title", &"x".repeat(200_000))])
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.body.contains("larger than this page accepts"));
}

#[actix_web::test]
async fn a_rate_that_makes_a_line_absurd_or_worthless_is_refused_on_the_rate() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    for (amount, currency, rate, message) in [
        (
            "1000000",
            "EUR",
            "999999",
            "The line comes to more than 1,000,000.00 GBP",
        ),
        (
            "1",
            "JPY",
            "0.004",
            "The line comes to less than the smallest amount in GBP",
        ),
    ] {
        let mut line = contract_line(&today(), "Kept Merchant");
        line[4].1 = amount.into();
        line[5].1 = currency.into();
        line.push(("rate", rate.into()));
        let page = emp
            .post_multipart(&format!("{url}/lines"), &refs(&line), None)
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        // Shown as a sentence under the rate field, which points at it.
        assert!(
            page.body.contains(&format!(
                "<p class=\"field-error\" id=\"rate-error\">{message}"
            )),
            "{message}: {}",
            page.body
        );
        assert!(
            page.body
                .contains("aria-invalid=\"true\" aria-describedby=\"rate-error\"")
        );
        assert_eq!(field_value(&page.body, "rate").as_deref(), Some(rate));
    }
    // Text-direction overrides would show a merchant other than the one stored.
    let mut line = contract_line(&today(), "Kept Merchant");
    line[2].1 = "Rail \u{202E}gpj.exe".into();
    let page = emp
        .post_multipart(&format!("{url}/lines"), &refs(&line), None)
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(
        "<p class=\"field-error\" id=\"merchant-error\">The merchant cannot contain characters that turn the text around (right-to-left overrides)."
    ));
    assert!(claims::lines(&org, id).unwrap().is_empty());
}

#[actix_web::test]
async fn a_refused_decision_keeps_the_comment_typed() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, _) = eve_with_a_claim(&app).await;
    let line = contract_line(&today(), "First Rail");
    emp.post_multipart(&format!("{url}/lines"), &refs(&line), None)
        .await;
    assert_eq!(emp.post(&format!("{url}/submit"), &[]).await.status, 303);

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    boss.get(&url).await;
    let long = format!("Receipts missing for {}", "x".repeat(1000));
    let page = boss
        .post(&format!("{url}/reject"), &[("comment", &long)])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("at most 1000 characters"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("value=\"{long}\"")));
}

/// A rejected claim tells its owner, at the top, who rejected it, why, and what to do
/// next; the approver does not get that banner.
#[actix_web::test]
async fn a_rejected_claim_tells_its_owner_why_and_what_next() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, _) = eve_with_a_claim(&app).await;
    let line = contract_line(&today(), "First Rail");
    emp.post_multipart(&format!("{url}/lines"), &refs(&line), None)
        .await;
    assert_eq!(emp.post(&format!("{url}/submit"), &[]).await.status, 303);
    assert!(
        !emp.get(&url)
            .await
            .body
            .contains("class=\"notice bad outcome\"")
    );

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    boss.get(&url).await;
    // No reason: the reason field is marked and carries the message.
    let refused = boss
        .post(&format!("{url}/reject"), &[("comment", "")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("The claim was not rejected: give a reason below.")
    );
    assert!(
        refused
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"reject-comment-error\"")
    );
    assert!(refused.body.contains(
        "<p class=\"field-error\" id=\"reject-comment-error\">A reason is required.</p>"
    ));
    let done = boss
        .post(
            &format!("{url}/reject"),
            &[("comment", "Not a business trip")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);

    let page = emp.get(&url).await;
    assert!(
        page.body.contains("class=\"notice bad outcome\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("rejected this claim</strong>"));
    assert!(page.body.contains("Their reason: “Not a business trip”"));
    assert!(
        page.body
            .contains("href=\"/claims#new\">start a new claim</a>")
    );
    assert!(!boss.get(&url).await.body.contains("notice bad outcome"));
}
