//! Hostile text in every text field of a claim (title, merchant, description, return
//! reason, approval comment) is shown as text on every page it reaches, for every
//! role, and never reaches the accounting CSV as a formula.

#![allow(clippy::unwrap_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, field_value};
use expenseplus::web::build_app;

/// Starts with `=` (a spreadsheet formula) and carries a script tag.
const HOSTILE: &str = "=HYPERLINK(\"http://x\",\"y\")<script>alert(1)</script>";
/// How a page must show it: as escaped text.
const SHOWN: &str =
    "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)&#60;script&#62;alert(1)&#60;/script&#62;";

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// The page is fine and never carries the raw markup; `shown` says it must show the text.
fn check(page: &common::Page, what: &str, shown: usize) {
    assert_eq!(page.status, StatusCode::OK, "{what}");
    assert!(
        !page.body.contains("<script>alert(1)"),
        "raw script on {what}"
    );
    assert!(!page.body.contains("\"http://x\""), "raw quotes on {what}");
    assert!(
        page.body.matches(SHOWN).count() >= shown,
        "{what}: expected the text {shown} time(s), got {}",
        page.body.matches(SHOWN).count()
    );
}

#[actix_web::test]
async fn hostile_text_is_shown_as_text_everywhere_and_never_a_formula_in_the_csv() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let url = emp
        .post("/claims", &[("title", HOSTILE), ("form_key", "c")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let fields = [
        ("date", today()),
        ("category", "travel".to_owned()),
        ("merchant", HOSTILE.to_owned()),
        ("description", HOSTILE.to_owned()),
        ("amount", "30.00".to_owned()),
        ("currency", "GBP".to_owned()),
        ("form_key", "l".to_owned()),
    ];
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let added = emp
        .post_multipart(&format!("{url}/lines"), &refs, None)
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    // A refused form shows the typed hostile text back, escaped, in its inputs.
    let mut refused = fields.clone();
    refused[4].1 = "0".into();
    refused[6].1 = "l2".into();
    let refs2: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = emp
        .post_multipart(&format!("{url}/lines"), &refs2, None)
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!again.body.contains("<script>alert(1)"));
    assert!(
        again.body.matches(SHOWN).count() >= 3,
        "title, merchant and description inputs"
    );

    let page = emp.get(&url).await;
    check(&page, "claim page (owner)", 3);
    let line = page
        .body
        .split(&format!("href=\"{url}/lines/"))
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    check(
        &emp.get(&format!("{url}/lines/{line}/edit")).await,
        "line edit page",
        3,
    );
    check(&emp.get("/claims").await, "claims list", 1);
    check(&emp.get("/").await, "employee dashboard", 0);
    let version = field_value(&page.body, "version").unwrap();
    emp.post(&format!("{url}/submit"), &[("version", &version)])
        .await;

    // The manager sees it in the queue, returns it with a hostile reason.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    check(&boss.get("/approvals").await, "approvals", 1);
    check(&boss.get("/").await, "manager dashboard", 0);
    let page = boss.get(&url).await;
    check(&page, "claim page (manager)", 3);
    let version = field_value(&page.body, "version").unwrap();
    let back = boss
        .post(
            &format!("{url}/return"),
            &[("version", &version), ("comment", HOSTILE)],
        )
        .await;
    assert_eq!(back.location(), Some("/approvals"));
    let page = emp.get(&url).await;
    // In its history and in the banner telling the owner what to change.
    check(&page, "claim page with the reason", 5);
    assert!(
        page.body
            .contains("returned this claim for changes</strong>")
    );
    let version = field_value(&page.body, "version").unwrap();
    emp.post(&format!("{url}/submit"), &[("version", &version)])
        .await;
    let version = field_value(&boss.get(&url).await.body, "version").unwrap();
    let approved = boss
        .post(
            &format!("{url}/approve"),
            &[("version", &version), ("comment", HOSTILE)],
        )
        .await;
    assert_eq!(approved.location(), Some(url.as_str()));
    check(&boss.get(&url).await, "claim page with both comments", 5);

    // Finance: the pay list, the claim, the dashboard, then the CSV.
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    check(&fin.get("/finance").await, "finance page", 1);
    check(&fin.get("/").await, "finance dashboard", 0);
    let page = fin.get(&url).await;
    check(&page, "claim page (finance)", 5);
    let version = field_value(&page.body, "version").unwrap();
    fin.post(&format!("{url}/paid"), &[("version", &version)])
        .await;
    check(&emp.get("/claims").await, "claims list after payment", 1);

    let csv = fin.get("/finance/export.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = String::from_utf8(csv.bytes.clone()).unwrap();
    assert!(
        !text.contains("HYPERLINK"),
        "no free text in the export: {text}"
    );
    assert!(!text.contains("script"));
    let mut reader = csv::Reader::from_reader(csv.bytes.as_slice());
    let mut rows = 0;
    for record in reader.records() {
        rows += 1;
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would run: {cell:?}"
            );
        }
    }
    assert_eq!(rows, 1, "one row for the one line");
}
