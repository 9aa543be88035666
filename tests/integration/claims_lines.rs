//! Changing and removing lines of a draft claim through the pages: the owner only,
//! checked like a new line, guarded by the claim's version, safe to post twice, with
//! totals recomputed; anyone else, or a line of another claim, gets a 404.

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

/// The edit links of a claim page, as line ids.
fn line_ids(body: &str, claim: &str) -> Vec<String> {
    let marker = format!("href=\"{claim}/lines/");
    body.split(&marker)
        .skip(1)
        .map(|rest| rest.split('/').next().unwrap().to_owned())
        .collect()
}

fn fields<'a>(
    date: &'a str,
    merchant: &'a str,
    amount: &'a str,
    key: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("date", date),
        ("category", "meals"),
        ("merchant", merchant),
        ("description", "Team lunch"),
        ("amount", amount),
        ("currency", "GBP"),
        ("form_key", key),
    ]
}

#[actix_web::test]
async fn the_owner_edits_and_removes_lines_with_versions_and_double_posts_handled() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let url = emp
        .post("/claims", &[("title", "Lunches"), ("form_key", "c1")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let claim_id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    let date = today();
    let receipt = common::png();
    let added = emp
        .post_multipart(
            &format!("{url}/lines"),
            &fields(&date, "Cafe One", "30.00", "a1"),
            Some(("receipt", "r.png", &receipt)),
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    emp.post_multipart(
        &format!("{url}/lines"),
        &fields(&date, "Cafe Two", "12.00", "a2"),
        None,
    )
    .await;
    let page = emp.get(&url).await;
    assert!(page.body.contains("42.00 GBP"), "total of both lines");
    let ids = line_ids(&page.body, &url);
    assert_eq!(ids.len(), 2, "an edit link per line");
    let (first, second) = (ids[0].clone(), ids[1].clone());

    // The edit form shows the line as stored, with its receipt kept unless replaced.
    let form = emp.get(&format!("{url}/lines/{first}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("value=\"Cafe One\""));
    assert!(form.body.contains("value=\"30.00\""));
    assert!(form.body.contains("current receipt"));
    let version = field_value(&form.body, "version").unwrap();
    let key = field_value(&form.body, "form_key").unwrap();

    // Bad input: the same messages as adding, the typed input kept, nothing changed.
    let mut bad = fields(&date, "Cafe Uno", "12.345", &key);
    bad.push(("version", &version));
    let refused = emp
        .post_multipart(&format!("{url}/lines/{first}/edit"), &bad, None)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("at most 2 decimal places"));
    assert!(refused.body.contains("value=\"Cafe Uno\""), "input kept");
    assert_eq!(claims::get(&org, claim_id).unwrap().total_minor, 4200);

    // A good edit: the total follows, the receipt stays.
    let mut good = fields(&date, "Cafe Uno", "35.50", &key);
    good.push(("version", &version));
    let saved = emp
        .post_multipart(&format!("{url}/lines/{first}/edit"), &good, None)
        .await;
    assert_eq!(saved.location(), Some(url.as_str()), "{}", saved.body);
    let page = emp.get(&url).await;
    assert!(page.body.contains("The line was saved."));
    assert!(page.body.contains("Cafe Uno"));
    assert!(page.body.contains("47.50 GBP"));
    assert_eq!(
        page.body.matches("download>receipt</a>").count(),
        1,
        "receipt kept"
    );

    // The same form posted again (double click): done once, no error.
    let again = emp
        .post_multipart(&format!("{url}/lines/{first}/edit"), &good, None)
        .await;
    assert_eq!(again.location(), Some(url.as_str()));
    assert_eq!(claims::get(&org, claim_id).unwrap().total_minor, 4750);

    // A different edit from the stale page (another tab): told plainly, nothing changed.
    let mut stale = fields(&date, "Cafe Stale", "1.00", "another-key");
    stale.push(("version", &version));
    let conflict = emp
        .post_multipart(&format!("{url}/lines/{first}/edit"), &stale, None)
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert!(conflict.body.contains("changed after you opened the page"));
    assert!(!emp.get(&url).await.body.contains("Cafe Stale"));
    assert_eq!(claims::get(&org, claim_id).unwrap().total_minor, 4750);

    // Replacing the receipt: still exactly one for the line.
    let form = emp.get(&format!("{url}/lines/{second}/edit")).await;
    let version = field_value(&form.body, "version").unwrap();
    let key = field_value(&form.body, "form_key").unwrap();
    let mut with_file = fields(&date, "Cafe Two", "12.00", &key);
    with_file.push(("version", &version));
    emp.post_multipart(
        &format!("{url}/lines/{second}/edit"),
        &with_file,
        Some(("receipt", "new.png", &receipt)),
    )
    .await;
    let form = emp.get(&format!("{url}/lines/{first}/edit")).await;
    let version = field_value(&form.body, "version").unwrap();
    let key = field_value(&form.body, "form_key").unwrap();
    let mut replace = fields(&date, "Cafe Uno", "35.50", &key);
    replace.push(("version", &version));
    emp.post_multipart(
        &format!("{url}/lines/{first}/edit"),
        &replace,
        Some(("receipt", "again.png", &receipt)),
    )
    .await;
    let receipts = expenseplus::expenses::receipts::for_claim(&org, claim_id).unwrap();
    assert_eq!(
        receipts.len(),
        2,
        "one receipt per line, the old one replaced"
    );

    // Removing needs the confirmation box, and the current version.
    let page = emp.get(&url).await;
    let version = field_value(&page.body, "version").unwrap();
    let unconfirmed = emp
        .post(
            &format!("{url}/lines/{second}/remove"),
            &[("version", &version)],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unconfirmed.body.contains(
        "<p class=\"field-error\" id=\"confirm-error\">Tick the box to confirm the removal.</p>"
    ));
    assert!(
        unconfirmed
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"confirm-error\"")
    );
    let stale = emp
        .post(
            &format!("{url}/lines/{second}/remove"),
            &[("version", "1"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(claims::lines(&org, claim_id).unwrap().len(), 2);
    let removed = emp
        .post(
            &format!("{url}/lines/{second}/remove"),
            &[("version", &version), ("confirm", "yes")],
        )
        .await;
    assert_eq!(removed.location(), Some(url.as_str()));
    let twice = emp
        .post(
            &format!("{url}/lines/{second}/remove"),
            &[("version", &version), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        twice.location(),
        Some(url.as_str()),
        "a double post is done, not an error"
    );
    let page = emp.get(&url).await;
    assert!(!page.body.contains("Cafe Two"));
    assert!(page.body.contains("35.50 GBP"), "total recomputed");
    assert_eq!(claims::get(&org, claim_id).unwrap().total_minor, 3550);
    assert_eq!(
        expenseplus::expenses::receipts::for_claim(&org, claim_id)
            .unwrap()
            .len(),
        1,
        "the removed line's receipt went with it"
    );

    // Another claim's line through this claim's URL: 404.
    let other_url = emp
        .post("/claims", &[("title", "Other"), ("form_key", "c2")])
        .await
        .location()
        .unwrap()
        .to_owned();
    emp.post_multipart(
        &format!("{other_url}/lines"),
        &fields(&date, "Elsewhere", "5.00", "o1"),
        None,
    )
    .await;
    let other_line = line_ids(&emp.get(&other_url).await.body, &other_url)[0].clone();
    assert_eq!(
        emp.get(&format!("{url}/lines/{other_line}/edit"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let page = emp.get(&url).await;
    let version = field_value(&page.body, "version").unwrap();
    assert_eq!(
        emp.post(
            &format!("{url}/lines/{other_line}/remove"),
            &[("version", &version), ("confirm", "yes")]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(claims::lines(&org, claim_id).unwrap().len(), 1);

    // Someone else (even the owner's manager) cannot open or change the lines: 404.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    assert_eq!(
        boss.get(&format!("{url}/lines/{first}/edit")).await.status,
        StatusCode::NOT_FOUND
    );
    let mut hijack = fields(&date, "Boss was here", "1.00", "b1");
    hijack.push(("version", &version));
    assert_eq!(
        boss.post_multipart(&format!("{url}/lines/{first}/edit"), &hijack, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        boss.post(
            &format!("{url}/lines/{first}/remove"),
            &[("version", &version), ("confirm", "yes")]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(claims::get(&org, claim_id).unwrap().total_minor, 3550);

    // Once submitted, the lines are fixed.
    let submitted = emp
        .post(&format!("{url}/submit"), &[("version", &version)])
        .await;
    assert_eq!(submitted.location(), Some(url.as_str()));
    let page = emp.get(&url).await;
    assert!(
        !page.body.contains("/edit\""),
        "no edit links on a submitted claim"
    );
    let form = emp.get(&format!("{url}/lines/{first}/edit")).await;
    assert!(form.body.contains("no longer a draft"));
    let version = claims::get(&org, claim_id).unwrap().version.to_string();
    let late = emp
        .post(
            &format!("{url}/lines/{first}/remove"),
            &[("version", &version), ("confirm", "yes")],
        )
        .await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(late.body.contains("Only a draft claim can be changed."));
    assert_eq!(claims::lines(&org, claim_id).unwrap().len(), 1);

    // Every change was audited once (ids only), the double posts not at all.
    let count = |action| {
        expenseplus::audit::page(
            &org,
            &expenseplus::audit::Filter {
                action: Some(action),
                ..Default::default()
            },
            None,
            20,
        )
        .unwrap()
    };
    use expenseplus::audit::Action;
    let changed = count(Action::ClaimLineChanged);
    assert_eq!(changed.len(), 3, "three saved edits");
    assert!(
        changed
            .iter()
            .all(|e| e.detail.starts_with(&format!("claim {claim_id} line ")))
    );
    assert_eq!(count(Action::ClaimLineRemoved).len(), 1);
    expenseplus::audit::verify(&org).unwrap();
}

/// The owner discards a draft once they tick the box: the claim, its lines and its
/// receipt are gone, and the audit log says so. Nobody else can, nor can the owner
/// once the claim is submitted; a second click lands on the list.
#[actix_web::test]
async fn the_owner_discards_a_draft_and_only_a_draft() {
    use expenseplus::audit::{self, Action, Filter};
    use expenseplus::expenses::claims::ClaimFields;
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let mut new_claim = async |title: &str| {
        let url = emp
            .post("/claims", &[("title", title), ("form_key", title)])
            .await
            .location()
            .unwrap()
            .to_owned();
        let date = today();
        let receipt = common::png();
        emp.post_multipart(
            &format!("{url}/lines"),
            &fields(&date, "Cafe", "9.00", &format!("{title}-l")),
            Some(("receipt", "r.png", &receipt)),
        )
        .await;
        url
    };
    let draft = new_claim("Unwanted").await;
    let sent = new_claim("Wanted").await;
    let id = |url: &str| -> i64 { url.trim_start_matches("/claims/").parse().unwrap() };
    emp.post(&format!("{sent}/submit"), &[]).await;

    let page = emp.get(&draft).await;
    assert!(page.body.contains(&format!("action=\"{draft}/discard\"")));
    let version = field_value(&page.body, "version").unwrap();
    // Not ticked: nothing happens.
    let unticked = emp
        .post(&format!("{draft}/discard"), &[("version", &version)])
        .await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.body.contains("tick the box to confirm it first"));
    // Someone else: the list, and the claim is still there.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    boss.get("/claims").await;
    let theirs = boss
        .post(
            &format!("{draft}/discard"),
            &[("version", &version), ("confirm", "yes")],
        )
        .await;
    assert_eq!(theirs.location(), Some("/claims"));
    assert!(claims::get(&org, id(&draft)).is_ok());

    let done = emp
        .post(
            &format!("{draft}/discard"),
            &[("version", &version), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.location(), Some("/claims"));
    assert!(
        emp.get("/claims")
            .await
            .body
            .contains("The draft was discarded.")
    );
    assert!(claims::get(&org, id(&draft)).is_err());
    assert!(claims::lines(&org, id(&draft)).unwrap().is_empty());
    assert_eq!(emp.get(&draft).await.status, StatusCode::NOT_FOUND);
    let again = emp
        .post(
            &format!("{draft}/discard"),
            &[("version", &version), ("confirm", "yes")],
        )
        .await;
    assert_eq!(again.location(), Some("/claims"), "a second click");
    let filter = Filter {
        action: Some(Action::ClaimDiscarded),
        ..Default::default()
    };
    let entries = audit::page(&org, &filter, None, 100).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].detail, format!("claim {}", id(&draft)));

    // A submitted claim is not a draft (a form without the page's version too).
    let refused = emp
        .post(&format!("{sent}/discard"), &[("confirm", "yes")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Only a draft can be discarded"));
    assert_eq!(
        claims::get(&org, id(&sent)).unwrap().status().code(),
        "submitted"
    );
}
