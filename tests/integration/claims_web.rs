//! The claim journey through the pages: employee files, manager decides, finance pays;
//! what each role sees, and what they must not.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, TestEnv};
use expenseplus::expenses::claims::ClaimFields;
use expenseplus::web::build_app;

fn env() -> TestEnv {
    common::acme_with_people().env
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

#[actix_web::test]
async fn employee_files_manager_approves_finance_pays() {
    let env = env();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let created = emp
        .post(
            "/claims",
            &[
                ("title", "Bristol <script>alert(1)</script>"),
                ("form_key", "k1"),
            ],
        )
        .await;
    let url = created.location().unwrap().to_owned();
    assert!(url.starts_with("/claims/"), "{url}");
    // The same form posted again lands on the same claim.
    let again = emp
        .post(
            "/claims",
            &[
                ("title", "Bristol <script>alert(1)</script>"),
                ("form_key", "k1"),
            ],
        )
        .await;
    assert_eq!(again.location(), Some(url.as_str()));
    let page = emp.get(&url).await;
    assert!(
        page.body
            .contains("Bristol &#60;script&#62;alert(1)&#60;/script&#62;"),
        "escaped title"
    );
    assert!(!page.body.contains("<script>alert"));

    let date = today();
    let line = |amount: &'static str, key: &'static str| {
        vec![
            ("date", date.clone()),
            ("category", "travel".to_owned()),
            ("merchant", "=HYPERLINK(\"http://evil.example\")".to_owned()),
            ("description", "Train <b>return</b>".to_owned()),
            ("amount", amount.to_owned()),
            ("currency", "GBP".to_owned()),
            ("form_key", key.to_owned()),
        ]
    };
    // A bad amount comes back with a message on the field and the other input kept.
    let bad: Vec<(&str, String)> = line("12.345", "l0");
    let bad_refs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = emp
        .post_multipart(&format!("{url}/lines"), &bad_refs, None)
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("at most 2 decimal places"));
    assert!(
        page.body
            .contains("value=\"Train &#60;b&#62;return&#60;/b&#62;\""),
        "input kept, escaped"
    );

    let good = line("42.50", "l1");
    let good_refs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let added = emp
        .post_multipart(&format!("{url}/lines"), &good_refs, None)
        .await;
    assert_eq!(added.location(), Some(url.as_str()), "{}", added.body);
    let page = emp.get(&url).await;
    assert!(page.body.contains("42.50 GBP"));
    assert!(
        page.body.contains("needs a receipt"),
        "policy flag shown before submitting"
    );
    assert!(
        page.body
            .contains("=HYPERLINK(&#34;http://evil.example&#34;)")
    );
    let version = page
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let submitted = emp
        .post(&format!("{url}/submit"), &[("version", &version)])
        .await;
    assert_eq!(submitted.location(), Some(url.as_str()));
    // The employee cannot approve (no approver role): 403 at the route.
    assert_eq!(
        emp.post(&format!("{url}/approve"), &[("version", "1")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Another manager cannot see it, by list or by changing the id in the URL.
    let mut other = Client::new(&app);
    other.sign_in("acme", "other@acme.example", PASSWORD).await;
    assert!(!other.get("/approvals").await.body.contains("Bristol"));
    assert_eq!(other.get(&url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other
            .post(&format!("{url}/approve"), &[("version", "3")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let queue = boss.get("/approvals").await;
    assert!(
        queue.body.contains("Bristol &#60;script&#62;"),
        "{}",
        queue.body
    );
    assert!(queue.body.contains("Eve Employee"));
    // Seeing other people's names and claims in the queue is an audited view.
    let viewed = expenseplus::audit::page(
        &env.org("acme"),
        &expenseplus::audit::Filter {
            action: Some(expenseplus::audit::Action::ViewedPerson),
            ..Default::default()
        },
        None,
        100,
    )
    .unwrap();
    // In the claimant's own trail, so her data export and a filter by her show it.
    let eve = expenseplus::auth::users::find_by_email(&env.org("acme"), "emp@acme.example")
        .unwrap()
        .unwrap()
        .user_id();
    assert!(
        viewed
            .iter()
            .any(|e| e.detail == "approvals queue (1 claim)" && e.subject_id == Some(eve.0)),
        "{:?}",
        viewed
            .iter()
            .map(|e| (&e.detail, e.subject_id))
            .collect::<Vec<_>>()
    );
    let page = boss.get(&url).await;
    assert!(
        page.body.contains("needs a receipt"),
        "flags shown to the approver"
    );
    let version = page
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // Rejecting needs a reason.
    let no_reason = boss
        .post(
            &format!("{url}/reject"),
            &[("version", &version), ("comment", "")],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body.contains("A reason is required."));
    assert!(
        no_reason
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"reject-comment-error\"")
    );
    let approved = boss
        .post(
            &format!("{url}/approve"),
            &[("version", &version), ("comment", "Fine by me")],
        )
        .await;
    assert_eq!(approved.location(), Some(url.as_str()));
    // A second click on the same page is told it was already done; nothing more happens.
    let again = boss
        .post(
            &format!("{url}/approve"),
            &[("version", &version), ("comment", "again")],
        )
        .await;
    assert_eq!(again.location(), Some(url.as_str()));
    assert!(
        boss.get(&url)
            .await
            .body
            .contains("You had already done that: the claim is approved.")
    );
    let page = emp.get(&url).await;
    assert!(page.body.contains("approved"));
    assert!(page.body.contains("Fine by me"));
    assert!(page.body.contains("Bea Boss"));

    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let page = fin.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    let version = page
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let paid = fin
        .post(&format!("{url}/paid"), &[("version", &version)])
        .await;
    assert_eq!(paid.location(), Some(url.as_str()));
    assert!(emp.get(&url).await.body.contains("paid"));
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 20, y as u8 * 20, 7]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Each role's view of one claim, reached by its real URLs and by changed ids: only the
/// owner, their manager and (once approved) finance see it; everyone else, whatever
/// URL or POST they try, gets the same 404 as for a claim that does not exist, and
/// nothing changes.
#[actix_web::test]
async fn each_role_sees_only_its_claims_even_with_changed_ids() {
    use expenseplus::expenses::claims;
    use expenseplus::expenses::status::Status;
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let date = today();
    let receipt = png();

    // Eve files a claim with a receipt; Bea (a manager) has a claim of her own.
    let mut files = Vec::new();
    for (who, title) in [
        ("emp@acme.example", "Eve's trip"),
        ("boss@acme.example", "Bea's trip"),
    ] {
        let mut c = Client::new(&app);
        c.sign_in("acme", who, PASSWORD).await;
        c.get("/claims").await;
        let url = c
            .post("/claims", &[("title", title), ("form_key", title)])
            .await
            .location()
            .unwrap()
            .to_owned();
        let fields = [
            ("date", date.as_str()),
            ("category", "meals"),
            ("merchant", "Diner"),
            ("amount", "30.00"),
            ("currency", "GBP"),
            ("form_key", who),
        ];
        c.post_multipart(
            &format!("{url}/lines"),
            &fields,
            Some(("receipt", "r.png", &receipt)),
        )
        .await;
        let page = c.get(&url).await;
        let receipt_url = format!(
            "{url}/receipts/{}",
            page.body
                .split(&format!("href=\"{url}/receipts/"))
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        );
        let line = page
            .body
            .split(&format!("href=\"{url}/lines/"))
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let version = common::field_value(&page.body, "version").unwrap();
        c.post(&format!("{url}/submit"), &[("version", &version)])
            .await;
        files.push((url, receipt_url, line));
    }
    let (eve_url, eve_receipt, eve_line) = files[0].clone();
    let (bea_url, bea_receipt, _) = files[1].clone();
    let eve_id: i64 = eve_url.trim_start_matches("/claims/").parse().unwrap();
    let version = claims::get(&org, eve_id).unwrap().version.to_string();

    // Otto (another manager), Mo (a manager without reports), finance before approval,
    // the DPO and the admin: nothing of Eve's claim by any URL.
    for who in ["other", "mgr", "fin", "dpo", "admin"] {
        let mut c = Client::new(&app);
        c.sign_in("acme", &format!("{who}@acme.example"), PASSWORD)
            .await;
        assert_eq!(
            c.get(&eve_url).await.status,
            StatusCode::NOT_FOUND,
            "{who} claim page"
        );
        assert_eq!(
            c.get(&eve_receipt).await.status,
            StatusCode::NOT_FOUND,
            "{who} receipt"
        );
        for action in ["approve", "reject", "return"] {
            let s = c
                .post(
                    &format!("{eve_url}/{action}"),
                    &[("version", &version), ("comment", "x")],
                )
                .await
                .status;
            // Roles without approval rights are stopped at the route (403), the others
            // by the claim (404); either way nothing happens.
            assert!(
                s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
                "{who} {action}: {s}"
            );
        }
        let s = c
            .get(&format!("{eve_url}/lines/{eve_line}/edit"))
            .await
            .status;
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
            "{who} edit: {s}"
        );
        let s = c
            .post(
                &format!("{eve_url}/lines/{eve_line}/remove"),
                &[("version", &version), ("confirm", "yes")],
            )
            .await
            .status;
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
            "{who} remove: {s}"
        );
        if who == "other" || who == "mgr" {
            assert!(
                !c.get("/approvals").await.body.contains("Eve&#39;s trip"),
                "{who} queue"
            );
        }
    }
    // Eve cannot see her manager's claim, nor reach a receipt of it through her own claim.
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert_eq!(eve.get(&bea_url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(eve.get(&bea_receipt).await.status, StatusCode::NOT_FOUND);
    let bea_receipt_id = bea_receipt.rsplit('/').next().unwrap();
    assert_eq!(
        eve.get(&format!("{eve_url}/receipts/{bea_receipt_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "another claim's receipt under one's own claim id"
    );
    assert_eq!(eve.get(&eve_url).await.status, StatusCode::OK);
    assert_eq!(eve.get(&eve_receipt).await.status, StatusCode::OK);
    assert_eq!(
        claims::get(&org, eve_id).unwrap().status(),
        Status::Submitted,
        "nothing changed"
    );

    // Bea, Eve's manager, sees claim and receipt, but cannot change Eve's lines.
    let mut bea = Client::new(&app);
    bea.sign_in("acme", "boss@acme.example", PASSWORD).await;
    assert!(bea.get("/approvals").await.body.contains("Eve&#39;s trip"));
    assert_eq!(bea.get(&eve_url).await.status, StatusCode::OK);
    assert_eq!(bea.get(&eve_receipt).await.status, StatusCode::OK);
    assert_eq!(
        bea.get(&format!("{eve_url}/lines/{eve_line}/edit"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let approved = bea
        .post(&format!("{eve_url}/approve"), &[("version", &version)])
        .await;
    assert_eq!(approved.location(), Some(eve_url.as_str()));

    // Finance now sees the approved claim and its receipt; still not Bea's submitted one.
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    assert_eq!(fin.get(&eve_url).await.status, StatusCode::OK);
    assert_eq!(fin.get(&eve_receipt).await.status, StatusCode::OK);
    assert_eq!(fin.get(&bea_url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(fin.get(&bea_receipt).await.status, StatusCode::NOT_FOUND);
}

/// A decision sent twice (a double click) is told it was already done, not that
/// someone else acted; a claim returned for changes sends its approver back to the
/// queue, since it is its owner's again.
#[actix_web::test]
async fn a_decision_sent_twice_is_done_once_and_said_so() {
    let env = env();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let date = today();
    macro_rules! file {
        ($title:expr) => {{
            let url = emp
                .post("/claims", &[("title", $title), ("form_key", $title)])
                .await
                .location()
                .unwrap()
                .to_owned();
            let line = [
                ("date", date.as_str()),
                ("category", "meals"),
                ("merchant", "Cafe"),
                ("amount", "5.00"),
                ("currency", "GBP"),
            ];
            emp.post_multipart(&format!("{url}/lines"), &line, None)
                .await;
            emp.post(&format!("{url}/submit"), &[]).await;
            url
        }};
    }
    let first = file!("Lunch");
    let second = file!("Dinner");

    let version = common::field_value(&boss.get(&first).await.body, "version").unwrap();
    let fields = [("version", version.as_str()), ("comment", "")];
    let once = boss.post(&format!("{first}/approve"), &fields).await;
    assert_eq!(once.location(), Some(first.as_str()));
    let twice = boss.post(&format!("{first}/approve"), &fields).await;
    assert_eq!(twice.location(), Some(first.as_str()), "{}", twice.body);
    let page = boss.get(&first).await;
    assert!(
        page.body
            .contains("You had already done that: the claim is approved."),
        "{}",
        page.body
    );
    let id: i64 = first.trim_start_matches("/claims/").parse().unwrap();
    let org = env.org("acme");
    let history = expenseplus::expenses::claims::history(&org, id).unwrap();
    assert_eq!(history.len(), 2, "submitted, approved: once");

    let version = common::field_value(&boss.get(&second).await.body, "version").unwrap();
    let fields = [
        ("version", version.as_str()),
        ("comment", "Add the receipt"),
    ];
    let back = boss.post(&format!("{second}/return"), &fields).await;
    assert_eq!(back.location(), Some("/approvals"));
    assert!(
        boss.get("/approvals")
            .await
            .body
            .contains("The claim went back to its owner for changes.")
    );
    let again = boss.post(&format!("{second}/return"), &fields).await;
    assert_eq!(again.location(), Some("/approvals"));
    assert!(
        boss.get("/approvals")
            .await
            .body
            .contains("You had already done that: the claim is draft.")
    );
}

/// Someone holding manager and finance who gives a claim its first approval does not
/// find it waiting for their second, nor an Approve button on it; another finance
/// person does.
#[actix_web::test]
async fn the_first_approver_is_not_offered_the_second_approval() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::claims::{self, LineInput};
    use expenseplus::expenses::status::{Status, Transition};
    let env = env();
    let org = env.org("acme");
    let bea = env.create_user(
        &org,
        "bea@acme.example",
        "Bea Both",
        "manager,finance",
        None,
    );
    let eve = env.create_user(
        &org,
        "eve@acme.example",
        "Eve Report",
        "employee",
        Some(bea),
    );
    let id = claims::create(&org, eve, "Conference", "c").unwrap();
    let line = LineInput {
        date: today(),
        category: "training".into(),
        merchant: "Conf Ltd".into(),
        amount: "1500.00".into(),
        currency: "GBP".into(),
        form_key: "c-l".into(),
        ..Default::default()
    };
    claims::add_line(&org, eve, id, &line).unwrap();
    for (who, roles, t) in [
        (eve, "employee", Transition::Submit),
        (bea, "manager,finance", Transition::Approve),
    ] {
        let v = claims::get(&org, id).unwrap().version;
        let roles = Roles::parse_list(roles).unwrap();
        claims::transition(&org, who, roles, id, Some(v), t, "").unwrap();
    }
    assert_eq!(
        claims::get(&org, id).unwrap().status(),
        Status::AwaitingFinance
    );

    let app = atest::init_service(build_app(env.state.clone())).await;
    let url = format!("/claims/{id}");
    let mut both = Client::new(&app);
    both.sign_in("acme", "bea@acme.example", PASSWORD).await;
    assert!(
        !both
            .get("/approvals")
            .await
            .body
            .contains(&format!("href=\"{url}\""))
    );
    let page = both.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains(&format!("{url}/approve")),
        "{}",
        page.body
    );
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    assert!(
        fin.get("/approvals")
            .await
            .body
            .contains(&format!("href=\"{url}\""))
    );
    assert!(fin.get(&url).await.body.contains(&format!("{url}/approve")));
}
