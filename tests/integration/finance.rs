//! Finance: approved claims to pay, paying a batch in one POST (stale and unpayable
//! claims skipped with a reason), and the CSV export for accounting: pseudonymous,
//! formula-safe, audited, finance only.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::{StatusCode, header};
use actix_web::test as atest;
use common::{Acme, Client, PASSWORD, acme_with_people};
use expenseplus::audit::{self, Action, Filter};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, ClaimFields, LineInput};
use expenseplus::expenses::finance::{self, SkipReason};
use expenseplus::expenses::money::Currency;
use expenseplus::expenses::reports;
use expenseplus::expenses::status::{Status, Transition};
use expenseplus::ids::UserId;
use expenseplus::privacy::restriction;
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;
use time::{Date, Duration, OffsetDateTime};

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

fn days_ago(n: i64) -> Date {
    OffsetDateTime::now_utc().date() - Duration::days(n)
}

/// One line as (amount, VAT, days ago, category).
type Line<'a> = (&'a str, &'a str, i64, &'a str);

/// A claim by `owner` with these lines, submitted and (unless `approve` is false)
/// approved by `boss`. Returns its id.
fn claim(
    org: &Org,
    owner: UserId,
    boss: UserId,
    title: &str,
    lines: &[Line],
    approve: bool,
) -> i64 {
    let id = claims::create(org, owner, title, &format!("form-{title}")).unwrap();
    for (i, (amount, vat, ago, category)) in lines.iter().enumerate() {
        let input = LineInput {
            date: days_ago(*ago).to_string(),
            category: (*category).into(),
            merchant: "Secret Merchant Ltd".into(),
            description: "Confidential workshop description".into(),
            amount: (*amount).into(),
            currency: "GBP".into(),
            vat: (*vat).into(),
            form_key: format!("{title}-line-{i}"),
            ..Default::default()
        };
        assert!(matches!(
            claims::add_line(org, owner, id, &input).unwrap(),
            AddLine::Added
        ));
    }
    let v = claims::get(org, id).unwrap().version;
    claims::transition(
        org,
        owner,
        roles("employee"),
        id,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();
    if approve {
        let v = claims::get(org, id).unwrap().version;
        let to = claims::transition(
            org,
            boss,
            roles("manager,employee"),
            id,
            Some(v),
            Transition::Approve,
            "",
        )
        .unwrap();
        assert!(matches!(to, Status::Approved | Status::AwaitingFinance));
    }
    id
}

fn simple(p: &Acme, title: &str) -> i64 {
    let org = p.env.org("acme");
    claim(
        &org,
        p.emp,
        p.boss,
        title,
        &[("12.00", "", 1, "travel")],
        true,
    )
}

/// The `<id>:<version>` checkbox value the finance page shows for claim `id`.
fn pick(body: &str, id: i64) -> String {
    let marker = format!("name=\"pay\" value=\"{id}:");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no checkbox for {id}"))
        + marker.len();
    let version: String = body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    format!("{id}:{version}")
}

#[actix_web::test]
async fn finance_pays_two_claims_in_one_post_and_history_shows_paid() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let a = simple(&p, "Bristol");
    let b = simple(&p, "Leeds");
    let c = simple(&p, "York");
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let page = fin.get("/finance").await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "Bristol",
        "Leeds",
        "York",
        "Eve Employee",
        "12.00 GBP",
        "href=\"/finance\"",
    ] {
        assert!(page.body.contains(needle), "{needle}");
    }
    assert!(page.body.contains("Mark selected as paid"));
    assert!(page.body.contains("name=\"csrf_token\""));
    assert!(!page.body.contains("<script") && !page.body.contains("style="));
    let (pa, pb) = (pick(&page.body, a), pick(&page.body, b));
    let done = fin
        .post("/finance/pay", &[("pay", &pa), ("pay", &pb)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), Some("/finance"));
    let page = fin.get("/finance").await;
    assert!(page.body.contains("2 claims marked paid."), "{}", page.body);
    assert!(!page.body.contains("Bristol") && page.body.contains("York"));
    for id in [a, b] {
        let claim = claims::get(&org, id).unwrap();
        assert_eq!(claim.status(), Status::Paid);
        assert!(claim.paid_at.is_some());
        let last = claims::history(&org, id).unwrap().pop().unwrap();
        assert_eq!(
            (last.from_status.as_str(), last.to_status.as_str()),
            ("approved", "paid")
        );
        assert_eq!(last.actor_id, p.fin.0);
    }
    assert_eq!(claims::get(&org, c).unwrap().status(), Status::Approved);
    // The claim page shows it too.
    assert!(fin.get(&format!("/claims/{a}")).await.body.contains("paid"));
    // Nothing ticked: nothing paid, and said so.
    let none = fin.post("/finance/pay", &[]).await;
    assert_eq!(none.location(), Some("/finance"));
    assert!(
        fin.get("/finance")
            .await
            .body
            .contains("No claims were selected")
    );
    // A value that is not `<id>:<version>` is a plain 400.
    let bad = fin.post("/finance/pay", &[("pay", "x")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // More than the page offers (a script): refused whole, said so, nothing paid.
    let mut picks: Vec<String> = (1_000..1_100).map(|id| format!("{id}:1")).collect();
    picks.push(pick(&page.body, c));
    let many: Vec<(&str, &str)> = picks.iter().map(|v| ("pay", v.as_str())).collect();
    let refused = fin.post("/finance/pay", &many).await;
    assert_eq!(refused.location(), Some("/finance"));
    assert!(
        fin.get("/finance")
            .await
            .body
            .contains("At most 100 claims can be paid at once, one page; none were paid.")
    );
    assert_eq!(claims::get(&org, c).unwrap().status(), Status::Approved);
}

#[actix_web::test]
async fn a_claim_changed_meanwhile_is_skipped_with_a_reason_and_the_others_are_paid() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let a = simple(&p, "Bristol");
    let b = simple(&p, "Leeds");
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let page = fin.get("/finance").await;
    let (pa, pb) = (pick(&page.body, a), pick(&page.body, b));
    // The page is stale for `a`: pretend it showed an older version.
    let va = claims::get(&org, a).unwrap().version;
    let stale = format!("{a}:{}", va - 1);
    let done = fin
        .post("/finance/pay", &[("pay", &stale), ("pay", &pb)])
        .await;
    assert_eq!(done.location(), Some("/finance"));
    let page = fin.get("/finance").await;
    assert!(page.body.contains("1 claim marked paid."), "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "claim {a}: it changed meanwhile; look at it again"
        )),
        "{}",
        page.body
    );
    assert_eq!(claims::get(&org, a).unwrap().status(), Status::Approved);
    assert_eq!(claims::get(&org, b).unwrap().status(), Status::Paid);
    // Posting the same page again: `b` is already paid, `a` now goes through.
    fin.post("/finance/pay", &[("pay", &pa), ("pay", &pb)])
        .await;
    let page = fin.get("/finance").await;
    assert!(page.body.contains("1 claim marked paid."), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("claim {b}: it was already marked paid"))
    );
    assert_eq!(claims::get(&org, a).unwrap().status(), Status::Paid);
}

#[test]
fn mark_paid_reports_each_skip_and_never_half_applies() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let fin2 = p.env.create_user(
        &org,
        "fin2@acme.example",
        "Fay Finance",
        "finance,employee",
        Some(p.boss),
    );
    let ok = simple(&p, "Ok");
    let submitted = claim(
        &org,
        p.emp,
        p.boss,
        "Waiting",
        &[("5", "", 1, "travel")],
        false,
    );
    let own = claim(&org, fin2, p.boss, "Mine", &[("5", "", 1, "travel")], true);
    let v = |id| claims::get(&org, id).unwrap().version;
    let batch = [
        (ok, v(ok)),
        (ok, v(ok)),
        (submitted, v(submitted)),
        (own, v(own)),
        (9999, 1),
    ];
    let events_before = claims::history(&org, submitted).unwrap().len();
    let out = finance::mark_paid(&org, fin2, roles("finance,employee"), &batch).unwrap();
    assert_eq!(out.paid, vec![ok], "listed twice, paid once");
    assert_eq!(
        out.skipped,
        vec![
            (submitted, SkipReason::NotFound),
            (own, SkipReason::OwnClaim),
            (9999, SkipReason::NotFound),
        ]
    );
    // The skipped claims are untouched: same status, version and history.
    assert_eq!(claims::get(&org, own).unwrap().status(), Status::Approved);
    assert_eq!(
        claims::get(&org, submitted).unwrap().status(),
        Status::Submitted
    );
    assert_eq!(
        claims::history(&org, submitted).unwrap().len(),
        events_before
    );
    // Another finance person sees the submitted claim only once it reaches finance;
    // a claim finance can see but that is not approved is "not approved".
    let big = claim(
        &org,
        p.emp,
        p.boss,
        "Big",
        &[("1500", "", 1, "training")],
        true,
    );
    assert_eq!(
        claims::get(&org, big).unwrap().status(),
        Status::AwaitingFinance
    );
    let out = finance::mark_paid(&org, p.fin, roles("finance"), &[(big, v(big))]).unwrap();
    assert_eq!(out.skipped, vec![(big, SkipReason::NotApproved)]);
    // The queue holds approved claims only, oldest first.
    let queue: Vec<i64> = finance::to_pay(&org, None, 1000)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(queue, vec![own]);
}

#[actix_web::test]
async fn only_finance_reaches_the_finance_routes() {
    let p = acme_with_people();
    simple(&p, "Bristol");
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    for email in [
        "emp@acme.example",
        "boss@acme.example",
        "mgr@acme.example",
        "dpo@acme.example",
        "admin@acme.example",
    ] {
        let mut c = Client::new(&app);
        c.sign_in("acme", email, PASSWORD).await;
        let home = c.get("/").await;
        assert!(
            !home.body.contains("href=\"/finance\""),
            "{email}: nav link"
        );
        assert_eq!(
            c.get("/finance").await.status,
            StatusCode::FORBIDDEN,
            "{email}"
        );
        assert_eq!(
            c.get("/finance/export.csv").await.status,
            StatusCode::FORBIDDEN,
            "{email}"
        );
        assert_eq!(
            c.post("/finance/pay", &[("pay", "1:3")]).await.status,
            StatusCode::FORBIDDEN,
            "{email}"
        );
    }
    let org = p.env.org("acme");
    assert_eq!(
        finance::to_pay(&org, None, 1000).unwrap()[0].status(),
        Status::Approved
    );
    let mut anon = Client::new(&app);
    assert_eq!(
        anon.get("/finance/export.csv").await.location(),
        Some("/login")
    );
}

fn rows(csv_bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(csv_bytes);
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[actix_web::test]
async fn the_csv_export_is_pseudonymous_per_line_and_audited() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let a = claim(
        &org,
        p.emp,
        p.boss,
        "Hotel",
        &[
            ("120.00", "20.00", 10, "accommodation"),
            ("42.50", "", 2, "travel"),
        ],
        true,
    );
    // Over the threshold: finance approves it as well, then pays it.
    let b = claim(
        &org,
        p.emp,
        p.boss,
        "Paid",
        &[("1234.56", "205.76", 1, "equipment")],
        true,
    );
    let vb = claims::get(&org, b).unwrap().version;
    claims::transition(
        &org,
        p.fin,
        roles("finance"),
        b,
        Some(vb),
        Transition::Approve,
        "",
    )
    .unwrap();
    // Over the threshold, so it waits for finance: not exported.
    let waiting = claim(
        &org,
        p.emp,
        p.boss,
        "Waiting",
        &[("1500", "", 1, "training")],
        true,
    );
    let draft = claims::create(&org, p.emp, "Draft", "form-draft").unwrap();
    let vb = claims::get(&org, b).unwrap().version;
    finance::mark_paid(&org, p.fin, roles("finance"), &[(b, vb)]).unwrap();

    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let resp = fin.get("/finance/export.csv").await;
    assert_eq!(resp.status, StatusCode::OK);
    let h = |name| resp.headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(h(header::CONTENT_TYPE), "text/csv; charset=utf-8");
    assert_eq!(
        h(header::CONTENT_DISPOSITION),
        "attachment; filename=\"expenses-all-all.csv\""
    );
    assert_eq!(h(header::CACHE_CONTROL), "no-store");
    let (head, lines) = rows(resp.body.as_bytes());
    assert_eq!(
        head,
        [
            "date",
            "employee_reference",
            "category",
            "net",
            "vat",
            "gross",
            "currency",
            "claim_id",
            "exchange_rate",
            "gross_in_base",
            "base_currency"
        ]
    );
    let reference = format!("E{:06}", p.emp.0);
    let want = |ago, cat: &str, net: &str, vat: &str, gross: &str, id: i64| {
        vec![
            days_ago(ago).to_string(),
            reference.clone(),
            cat.to_owned(),
            net.to_owned(),
            vat.to_owned(),
            gross.to_owned(),
            "GBP".to_owned(),
            id.to_string(),
            "1".to_owned(),
            gross.to_owned(),
            "GBP".to_owned(),
        ]
    };
    assert_eq!(
        lines,
        vec![
            want(10, "accommodation", "100.00", "20.00", "120.00", a),
            want(2, "travel", "42.50", "0.00", "42.50", a),
            want(1, "equipment", "1028.80", "205.76", "1234.56", b),
        ],
        "one row per line of approved and paid claims, oldest first, no separators"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l[7] == waiting.to_string() || l[7] == draft.to_string())
    );
    for secret in [
        "Eve",
        "Employee",
        "emp@acme.example",
        "Secret Merchant",
        "Confidential",
        "Hotel",
    ] {
        assert!(
            !resp.body.contains(secret),
            "{secret} leaked into the export"
        );
    }

    // The date range filters by the line's date (both ends inclusive).
    let (from, to) = (days_ago(5), days_ago(1));
    let resp = fin
        .get(&format!("/finance/export.csv?from={from}&to={to}"))
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        resp.headers.get(header::CONTENT_DISPOSITION).unwrap(),
        format!("attachment; filename=\"expenses-{from}-{to}.csv\"").as_str()
    );
    let (_, lines) = rows(resp.body.as_bytes());
    assert_eq!(lines.len(), 2);
    let only_paid = finance::export_csv(&org, p.fin, None, None, &[Status::Paid]).unwrap();
    assert_eq!(rows(&only_paid).1.len(), 1);
    assert!(finance::export_csv(&org, p.fin, None, None, &[Status::Draft]).is_err());

    // Every export is audited with counts and dates only.
    let entries = audit::page(
        &org,
        &Filter {
            action: Some(Action::ExportedAccounts),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 3);
    let newest = &entries[0];
    assert_eq!(newest.actor_id, Some(p.fin.0));
    assert_eq!(newest.detail, "csv lines 1 from any to any statuses paid");
    assert_eq!(
        entries[1].detail,
        format!("csv lines 2 from {from} to {to} statuses approved,paid")
    );
    assert_eq!(
        Action::from_code("exported_accounts"),
        Some(Action::ExportedAccounts)
    );
    // Each person whose lines went out has it in their own trail.
    let theirs = audit::page(
        &org,
        &Filter {
            person: Some(p.emp),
            ..Default::default()
        },
        None,
        100,
    )
    .unwrap();
    assert!(
        theirs.iter().any(|e| e.detail
            == format!(
                "accounting export (csv lines 2 from {from} to {to} statuses approved,paid)"
            )
            && e.actor_id == Some(p.fin.0)),
        "{:?}",
        theirs.iter().map(|e| &e.detail).collect::<Vec<_>>()
    );
    audit::verify(&org).unwrap();
}

#[actix_web::test]
async fn bad_export_dates_get_the_finance_page_with_a_plain_message() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    for (query, message) in [
        ("from=2026-02-30", "Enter the start date as a real date"),
        ("to=yesterday", "Enter the end date as a real date"),
        ("from=%3Cb%3E", "Enter the start date as a real date"),
        (
            "from=2026-03-02&to=2026-03-01",
            "The start date is after the end date.",
        ),
    ] {
        let page = fin.get(&format!("/finance/export.csv?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(page.body.contains(message), "{query}: {}", page.body);
        assert!(page.body.contains("Export for accounting"), "{query}");
        assert!(!page.body.contains("<b>"), "{query}: typed text is escaped");
    }
    // Refused exports are not audited as exports.
    let entries = audit::page(
        &org,
        &Filter {
            action: Some(Action::ExportedAccounts),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert!(entries.is_empty());
}

#[test]
fn cells_a_spreadsheet_would_run_are_neutralised() {
    for bad in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tX", "\rX"] {
        assert_eq!(finance::cell(bad), format!("'{bad}"), "{bad:?}");
    }
    for fine in ["travel", "100.00", "E000001", "2026-01-31", ""] {
        assert_eq!(finance::cell(fine), fine);
    }
    assert_eq!(
        finance::plain_amount(123_456_789, expenseplus::expenses::money::Currency::GBP),
        "1234567.89"
    );
}

#[actix_web::test]
async fn the_payment_queue_is_paged_oldest_first() {
    let p = acme_with_people();
    // One more than a page: all decided within the same second, so the id breaks ties.
    let ids: Vec<i64> = (0..101).map(|i| simple(&p, &format!("Trip {i}"))).collect();
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let first = fin.get("/finance").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains(&pick(&first.body, ids[0])));
    assert!(first.body.contains(&pick(&first.body, ids[99])));
    assert!(!first.body.contains(&format!("value=\"{}:", ids[100])));
    let at = first.body.find("href=\"/finance?after=").unwrap() + "href=\"".len();
    let next = first.body[at..first.body[at..].find('"').unwrap() + at].replace("&amp;", "&");
    let second = fin.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.body.contains(&pick(&second.body, ids[100])));
    assert!(!second.body.contains(&format!("value=\"{}:", ids[0])));
    assert!(!second.body.contains("/finance?after="));
    // A mangled cursor is just the first page.
    let bad = fin.get("/finance?after=x.y").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains(&pick(&bad.body, ids[0])));
}

#[test]
fn to_pay_leaves_out_only_a_restricted_persons_approved_claims() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let sam = p.env.create_user(
        &org,
        "sam@acme.example",
        "Sam Second",
        "employee",
        Some(p.boss),
    );
    let travel = |amount| [(amount, "", 1, "travel")];
    claim(&org, p.emp, p.boss, "eve-1", &travel("10.00"), true);
    claim(&org, p.emp, p.boss, "eve-2", &travel("5.00"), true);
    claim(&org, sam, p.boss, "sam-1", &travel("25.00"), true);
    // Submitted, not yet approved: not to pay.
    claim(&org, sam, p.boss, "sam-2", &travel("7.00"), false);
    let figures = || {
        let t = reports::to_pay_total(&org).unwrap();
        (t.count, t.amounts.get(Currency::GBP))
    };
    assert_eq!(figures(), (3, 4000));
    restriction::restrict(&org, p.dpo, p.emp, "Accuracy contested").unwrap();
    assert_eq!(figures(), (1, 2500), "Eve's approved claims are taken off");
    restriction::lift(&org, p.dpo, p.emp).unwrap();
    assert_eq!(figures(), (3, 4000));
}
