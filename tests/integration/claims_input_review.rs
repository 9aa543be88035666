//! Findings of the review of bad input on the claim forms: every refusal is said on the
//! field it is about (`field-error` under an input marked `aria-invalid` and pointing at
//! it), what was typed is kept, and nothing is written.

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

fn refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The value of the input with this `id`, wherever its `value` sits in the tag.
fn value_by_id(body: &str, id: &str) -> Option<String> {
    let tag = &body[body.find(&format!("id=\"{id}\""))?..];
    let tag = &tag[..tag.find('>')?];
    let rest = &tag[tag.find("value=\"")? + "value=\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Asserts the page says `message` on the field whose input has id `input` (its
/// message element being `{input}-error`), and marks that input.
#[track_caller]
fn on_field(body: &str, input: &str, message: &str) {
    let error = format!("<p class=\"field-error\" id=\"{input}-error\">{message}</p>");
    assert!(body.contains(&error), "wanted {error} in:\n{body}");
    let tag = &body[body
        .find(&format!("<input id=\"{input}\""))
        .unwrap_or_else(|| panic!("no input {input}"))..];
    let tag = &tag[..tag.find('>').unwrap()];
    assert!(
        tag.contains(&format!(
            "aria-invalid=\"true\" aria-describedby=\"{input}-error\""
        )),
        "{input} not marked: {tag}"
    );
}

/// A line of the add-line form.
fn line(merchant: &str, amount: &str) -> Vec<(&'static str, String)> {
    vec![
        ("date", today()),
        ("category", "travel".into()),
        ("merchant", merchant.into()),
        ("description", "Train".into()),
        ("amount", amount.into()),
        ("currency", "GBP".into()),
        ("rate", String::new()),
        ("vat", String::new()),
        ("miles", String::new()),
    ]
}

fn set(fields: &mut [(&'static str, String)], name: &str, value: &str) {
    fields.iter_mut().find(|(k, _)| *k == name).unwrap().1 = value.into();
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

/// Finding 1: a comment refused for what it holds is said on the comment field of the
/// form that was used, not only in the banner, and the text typed is kept.
#[actix_web::test]
async fn a_refused_comment_is_said_on_its_own_field() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    let added = emp
        .post_multipart(
            &format!("{url}/lines"),
            &refs(&line("First Rail", "12.50")),
            None,
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(emp.post(&format!("{url}/submit"), &[]).await.status, 303);
    let before = claims::get(&org, id).unwrap().version;

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let version = field_value(&boss.get(&url).await.body, "version").unwrap();
    let long = "x".repeat(10_000);
    let cases = [
        (long.as_str(), "The comment can be at most 1000 characters."),
        (
            "Missing\u{0}receipt",
            "The comment cannot contain control characters.",
        ),
        (
            "Fine \u{202E}kcab",
            "The comment cannot contain characters that turn the text around (right-to-left overrides).",
        ),
        (
            "Fine\u{200B}",
            "The comment cannot contain invisible formatting characters, which often come with pasted text: type it in again.",
        ),
    ];
    for (comment, message) in cases {
        // Approving: on the approve form's comment.
        let page = boss
            .post(
                &format!("{url}/approve"),
                &[("version", &version), ("comment", comment)],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        on_field(&page.body, "approve-comment", message);
        assert!(
            page.body
                .contains("The claim was not approved: see the message on the comment below."),
            "{}",
            page.body
        );
        assert!(!page.body.contains("id=\"reject-comment-error\""));
        assert_eq!(
            value_by_id(&page.body, "approve-comment").as_deref(),
            Some(comment)
        );
        // Rejecting and returning: on the reason field.
        for (action, verb) in [("reject", "rejected"), ("return", "returned")] {
            let page = boss
                .post(
                    &format!("{url}/{action}"),
                    &[("version", &version), ("comment", comment)],
                )
                .await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
            on_field(&page.body, "reject-comment", message);
            assert!(page.body.contains(&format!(
                "The claim was not {verb}: see the message on the reason below."
            )));
            assert!(!page.body.contains("id=\"approve-comment-error\""));
            assert_eq!(
                value_by_id(&page.body, "reject-comment").as_deref(),
                Some(comment),
                "{action}"
            );
        }
    }
    // A reason of joiners alone is no reason: said on the field as before.
    let page = boss
        .post(
            &format!("{url}/reject"),
            &[("version", &version), ("comment", "\u{200D}")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    on_field(&page.body, "reject-comment", "A reason is required.");

    let claim = claims::get(&org, id).unwrap();
    assert_eq!(claim.status(), Status::Submitted, "nothing decided");
    assert_eq!(claim.version, before);
    assert_eq!(
        claims::history(&org, id).unwrap().len(),
        1,
        "the submission"
    );
}

/// Findings 2 and 4: a refused title is said on the title field as a sentence, and a
/// title of invisible characters alone is no title.
#[actix_web::test]
async fn a_refused_title_is_said_on_the_title_field() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let long = "t".repeat(201);
    for (title, message) in [
        ("", "Enter the claim title."),
        ("\u{200B}", "Enter the claim title."),
        ("\u{FEFF}", "Enter the claim title."),
        (" \u{200B}\u{2060} ", "Enter the claim title."),
        (
            long.as_str(),
            "The claim title can be at most 200 characters.",
        ),
        (
            "Trip\u{1b}[31m",
            "The claim title cannot contain control characters.",
        ),
        (
            "Trip\u{2060} to Leeds",
            "The claim title cannot contain invisible formatting characters, which often come with pasted text: type it in again.",
        ),
    ] {
        let page = emp
            .post("/claims", &[("title", title), ("form_key", "t1")])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{title:?}");
        on_field(&page.body, "title", message);
        assert!(
            page.body
                .contains("The claim was not created: see the message below.")
        );
        assert_eq!(value_by_id(&page.body, "title").as_deref(), Some(title));
    }
    assert!(
        claims::list_own(&org, acme.emp, &Default::default(), None, 10)
            .unwrap()
            .is_empty(),
        "no claim made"
    );
    // Joiners that scripts need are kept.
    let made = emp
        .post(
            "/claims",
            &[
                ("title", "Team \u{1F469}\u{200D}\u{1F4BB} offsite"),
                ("form_key", "t2"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
}

/// Finding 3: an edit refused because the claim changed keeps what was typed; a version
/// that is not a number is an unreadable form, not "changed".
#[actix_web::test]
async fn a_refused_line_edit_keeps_what_was_typed() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    emp.post_multipart(
        &format!("{url}/lines"),
        &refs(&line("Stored Rail", "10.00")),
        None,
    )
    .await;
    let page = emp.get(&url).await;
    let line_id = page
        .body
        .split(&format!("href=\"{url}/lines/"))
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let edit = format!("{url}/lines/{line_id}/edit");
    let form = emp.get(&edit).await;
    let old_version = field_value(&form.body, "version").unwrap();
    let key = field_value(&form.body, "form_key").unwrap();
    // Another tab adds a line meanwhile.
    emp.post_multipart(
        &format!("{url}/lines"),
        &refs(&line("Other Tab", "5.00")),
        None,
    )
    .await;
    let before = claims::get(&org, id).unwrap();
    assert_eq!(before.total_minor, 1500);

    let mut typed = line("Typed Rail", "99.00");
    set(&mut typed, "description", "Typed description");
    typed.push(("form_key", key.clone()));
    typed.push(("version", old_version.clone()));
    let page = emp.post_multipart(&edit, &refs(&typed), None).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("changed after you opened the page"));
    assert_eq!(
        field_value(&page.body, "merchant").as_deref(),
        Some("Typed Rail")
    );
    assert_eq!(field_value(&page.body, "amount").as_deref(), Some("99.00"));
    assert_eq!(
        field_value(&page.body, "description").as_deref(),
        Some("Typed description")
    );
    assert!(
        page.body
            .contains(&format!("href=\"{edit}\">See the line as it is now</a>"))
    );
    let current = field_value(&page.body, "version").unwrap();
    assert_eq!(
        current,
        before.version.to_string(),
        "the claim as it is now"
    );
    let after = claims::get(&org, id).unwrap();
    assert_eq!(
        (after.version, after.total_minor),
        (before.version, before.total_minor),
        "nothing written"
    );
    assert!(!emp.get(&url).await.body.contains("Typed Rail"));

    // A version that is not a number: the form could not be read, nothing more.
    let mut bad = typed.clone();
    set(&mut bad, "version", "abc");
    let page = emp.post_multipart(&edit, &refs(&bad), None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("The form could not be read."));
    assert!(!page.body.contains("changed"), "{}", page.body);
    assert_eq!(claims::get(&org, id).unwrap().version, before.version);

    // The kept form, sent again, saves what was typed.
    set(&mut typed, "version", &current);
    let saved = emp.post_multipart(&edit, &refs(&typed), None).await;
    assert_eq!(saved.location(), Some(url.as_str()), "{}", saved.body);
    assert_eq!(claims::get(&org, id).unwrap().total_minor, 9900 + 500);
}

/// Finding 4: a merchant of invisible characters alone is no merchant, and characters
/// that disguise text are refused on the field they are in.
#[actix_web::test]
async fn invisible_text_is_not_text() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    let disguise = "cannot contain invisible formatting characters, which often come with pasted text: type it in again.";
    let cases = [
        ("merchant", "\u{200B}", "Enter the merchant.".to_owned()),
        ("merchant", "\u{FEFF}", "Enter the merchant.".to_owned()),
        (
            "merchant",
            " \u{2063}\u{200D} ",
            "Enter the merchant.".to_owned(),
        ),
        (
            "merchant",
            "Rail\u{FFF9}",
            format!("The merchant {disguise}"),
        ),
        (
            "merchant",
            "Rail\u{180E}One",
            format!("The merchant {disguise}"),
        ),
        (
            "merchant",
            "Rail\u{206A}",
            format!("The merchant {disguise}"),
        ),
        (
            "description",
            "Train\u{2028}ride",
            format!("The description {disguise}"),
        ),
        (
            "description",
            "Train\u{FEFF}",
            format!("The description {disguise}"),
        ),
    ];
    for (field, value, message) in cases {
        let mut fields = line("Kept Rail", "12.50");
        set(&mut fields, field, value);
        let page = emp
            .post_multipart(&format!("{url}/lines"), &refs(&fields), None)
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{value:?}");
        on_field(&page.body, field, &message);
        assert_eq!(field_value(&page.body, field).as_deref(), Some(value));
        assert_eq!(field_value(&page.body, "amount").as_deref(), Some("12.50"));
    }
    assert!(
        claims::lines(&org, id).unwrap().is_empty(),
        "nothing written"
    );
    // The joiners scripts need pass.
    let ok = emp
        .post_multipart(
            &format!("{url}/lines"),
            &refs(&line(
                "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0627}\u{0646}\u{0647}",
                "12.50",
            )),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
}

/// Finding 5: a mileage line with another currency or a rate is told so on that field
/// rather than having it ignored, and a line of more than 10,000 miles is a slip.
#[actix_web::test]
async fn mileage_refuses_a_currency_a_rate_and_absurd_miles() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    let miles = |miles: &str, currency: &str, rate: &str| {
        let mut f = line("", "");
        set(&mut f, "category", "mileage");
        set(&mut f, "miles", miles);
        set(&mut f, "currency", currency);
        set(&mut f, "rate", rate);
        f
    };
    for (fields, field, message, kept) in [
        (
            miles("12", "EUR", ""),
            "currency",
            "Mileage is paid in GBP at the organisation&#39;s rates: leave the currency as GBP.",
            "EUR",
        ),
        (
            miles("12", "XXX", ""),
            "currency",
            "Mileage is paid in GBP at the organisation&#39;s rates: leave the currency as GBP.",
            "XXX",
        ),
        (
            miles("12", "GBP", "1.2"),
            "rate",
            "Mileage is paid in GBP at the organisation&#39;s rates: leave the exchange rate empty.",
            "1.2",
        ),
        (
            miles("10000.1", "GBP", ""),
            "miles",
            "One line can claim at most 10,000 miles; check the figure, or split a longer trip over its days.",
            "10000.1",
        ),
        (
            miles("250000", "GBP", ""),
            "miles",
            "One line can claim at most 10,000 miles; check the figure, or split a longer trip over its days.",
            "250000",
        ),
    ] {
        let page = emp
            .post_multipart(&format!("{url}/lines"), &refs(&fields), None)
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        on_field(&page.body, field, message);
        assert_eq!(field_value(&page.body, field).as_deref(), Some(kept));
    }
    assert!(
        claims::lines(&org, id).unwrap().is_empty(),
        "nothing written"
    );
    // The form's own currency (the base), or none, is fine; so is 10,000 miles.
    for (m, currency) in [("12", "GBP"), ("3", ""), ("10000", "gbp")] {
        let page = emp
            .post_multipart(
                &format!("{url}/lines"),
                &refs(&miles(m, currency, "")),
                None,
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{m}: {}", page.body);
    }
    assert_eq!(claims::lines(&org, id).unwrap().len(), 3);
}

/// Finding 6: negative VAT is said to be negative, not "more than zero"; zero VAT
/// (a zero-rated receipt) is still fine.
#[actix_web::test]
async fn negative_vat_is_called_negative() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let (mut emp, url, id) = eve_with_a_claim(&app).await;
    for vat in ["-1", "-0.50", " -2 "] {
        let mut fields = line("Kept Rail", "12.50");
        set(&mut fields, "vat", vat);
        let page = emp
            .post_multipart(&format!("{url}/lines"), &refs(&fields), None)
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{vat}");
        on_field(
            &page.body,
            "vat",
            "VAT cannot be negative: enter 0 for a zero-rated receipt.",
        );
        assert!(!page.body.contains("must be more than zero"));
        assert_eq!(field_value(&page.body, "vat").as_deref(), Some(vat));
    }
    assert!(
        claims::lines(&org, id).unwrap().is_empty(),
        "nothing written"
    );
    let mut fields = line("Zero Rated", "12.50");
    set(&mut fields, "vat", "0");
    let page = emp
        .post_multipart(&format!("{url}/lines"), &refs(&fields), None)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(claims::lines(&org, id).unwrap()[0].vat_minor, Some(0));
}
