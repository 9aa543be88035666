//! Hostile text in every text field of a claim (title, merchant, description, return
//! reason, approval comment) is shown as text on every page it reaches, for every
//! role, and never reaches the accounting CSV as a formula.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
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

// ---------------------------------------------------------------------------------
// Hostile text that reaches pages by other ways: reasons and comments, people's and
// the organisation's names, the list filters' query strings, and refused line forms.

/// A hostile text told apart by `tag`: a formula and a script tag.
fn hostile(tag: &str) -> String {
    format!("=HYPERLINK(\"http://x\",\"{tag}\")<script>alert(1)</script>")
}

/// How a page must show [`hostile`]`(tag)`.
fn shown(tag: &str) -> String {
    format!(
        "=HYPERLINK(&#34;http://x&#34;,&#34;{tag}&#34;)&#60;script&#62;alert(1)&#60;/script&#62;"
    )
}

/// Short enough for the filters (which keep 40 characters) and made to leave an
/// attribute value if it were not escaped.
const BREAKOUT: &str = "\"><script>alert(1)</script>";
const BREAKOUT_SHOWN: &str = "&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;";

/// A UK day `offset` days from today, as delegations count them.
fn uk_day(offset: i64) -> String {
    let today = expenseplus::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
    (today + time::Duration::days(offset)).to_string()
}

/// No raw markup anywhere on the page, and each of `needles` in it.
fn shows(page: &common::Page, what: &str, needles: &[&str]) {
    assert!(
        !page.body.contains("<script"),
        "raw script on {what}: {}",
        page.body
    );
    assert!(!page.body.contains("\"http://x\""), "raw quotes on {what}");
    for needle in needles {
        assert!(
            page.body.contains(needle),
            "{what}: expected {needle:?} in {}",
            page.body
        );
    }
}

static KEYS: AtomicUsize = AtomicUsize::new(0);

fn key() -> String {
    format!("k{}", KEYS.fetch_add(1, Ordering::Relaxed))
}

/// A draft with one line (today, in GBP), made through the pages; returns its URL.
async fn draft<S, B>(c: &mut Client<'_, S>, title: &str, category: &str, amount: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    c.get("/claims").await;
    let made = c
        .post("/claims", &[("title", title), ("form_key", &key())])
        .await;
    let url = made.location().unwrap().to_owned();
    let (date, k) = (today(), key());
    let fields = [
        ("date", date.as_str()),
        ("category", category),
        ("merchant", "Shop"),
        ("amount", amount),
        ("currency", "GBP"),
        ("form_key", k.as_str()),
    ];
    let added = c
        .post_multipart(&format!("{url}/lines"), &fields, None)
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    url
}

/// Posts `action` (submit, approve, reject, return) on the claim with its version.
async fn act<S, B>(c: &mut Client<'_, S>, url: &str, action: &str, comment: &str) -> common::Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let page = c.get(url).await;
    let version = field_value(&page.body, "version").unwrap();
    c.post(
        &format!("{url}/{action}"),
        &[("version", &version), ("comment", comment)],
    )
    .await
}

#[actix_web::test]
async fn hostile_names_reasons_and_second_approval_comments_are_shown_as_text() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    // Hal manages Mal; Fay is in finance. All three have hostile names.
    let hal = env.create_user(&org, "hal@acme.example", &hostile("hal"), "manager", None);
    env.create_user(
        &org,
        "mal@acme.example",
        &hostile("mal"),
        "employee",
        Some(hal),
    );
    env.create_user(&org, "fay@acme.example", &hostile("fay"), "finance", None);
    let (hal_s, mal_s, fay_s) = (shown("hal"), shown("mal"), shown("fay"));
    let app = atest::init_service(build_app(env.state.clone())).await;

    // Bea may name Hal or Fay as her delegate: the drop-down shows their names as text.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let page = boss.get("/approvals").await;
    assert_eq!(page.status, StatusCode::OK);
    shows(
        &page,
        "delegate drop-down",
        &[
            &format!("<option value=\"{}\">{hal_s}</option>", hal.0),
            &format!(">{fay_s}</option>"),
        ],
    );

    // Hal names Bea while he is away; his page lists her, hers names him.
    let mut hal_c = Client::new(&app);
    hal_c.sign_in("acme", "hal@acme.example", PASSWORD).await;
    shows(
        &hal_c.get("/").await,
        "Hal's header",
        &[&format!("<span class=\"person\">{hal_s}</span>")],
    );
    hal_c.get("/approvals").await;
    let boss_id = acme.boss.0.to_string();
    let added = hal_c
        .post(
            "/approvals/delegations",
            &[
                ("delegate", boss_id.as_str()),
                ("from", &uk_day(0)),
                ("to", &uk_day(7)),
            ],
        )
        .await;
    assert_eq!(added.location(), Some("/approvals"), "{}", added.body);
    shows(
        &boss.get("/approvals").await,
        "approvals delegated to Bea",
        &[&format!("<li>{hal_s}'s reports, ")],
    );

    // Mal's own pages greet her by name, as text.
    let mut mal_c = Client::new(&app);
    mal_c.sign_in("acme", "mal@acme.example", PASSWORD).await;
    shows(
        &mal_c.get("/").await,
        "Mal's dashboard",
        &[
            &format!("Welcome, {mal_s}</h1>"),
            &format!("<span class=\"person\">{mal_s}</span>"),
        ],
    );
    let taxi = draft(&mut mal_c, "Taxi", "travel", "20.00").await;
    let laptop = draft(&mut mal_c, "Laptop", "training", "1200.00").await;
    let party = draft(&mut mal_c, "Party", "other", "30.00").await;
    for url in [&taxi, &laptop, &party] {
        let sent = act(&mut mal_c, url, "submit", "").await;
        assert_eq!(sent.location(), Some(url.as_str()));
    }

    // Bea's queue (as Hal's delegate) and the claim page name Mal as text.
    let queue = boss.get("/approvals").await;
    for (url, title) in [(&taxi, "Taxi"), (&laptop, "Laptop"), (&party, "Party")] {
        shows(
            &queue,
            "approvals queue",
            &[&format!(
                "<td><a href=\"{url}\">{title}</a></td><td>{mal_s}</td>"
            )],
        );
    }
    shows(
        &boss.get(&taxi).await,
        "claim page (delegate)",
        &[
            &format!("by {mal_s} · <span class=\"status\">submitted</span>"),
            &format!("<strong>submitted</strong> by {mal_s}, "),
        ],
    );

    // Bea decides two for Hal: "on behalf of" names him as text.
    for url in [&taxi, &laptop] {
        let done = act(&mut boss, url, "approve", "").await;
        assert_eq!(done.location(), Some(url.as_str()), "{}", done.body);
    }
    shows(
        &boss.get(&taxi).await,
        "claim page after a delegate's decision",
        &[&format!(
            "<strong>approved</strong> by Bea Boss on behalf of {hal_s}, "
        )],
    );
    shows(
        &mal_c.get(&laptop).await,
        "owner's page after a delegate's decision",
        &[&format!(
            "<strong>awaiting finance approval</strong> by Bea Boss on behalf of {hal_s}, "
        )],
    );

    // Hal rejects the third himself, with a hostile reason: the owner's banner and
    // the history show both his name and the reason as text.
    let rejected = act(&mut hal_c, &party, "reject", &hostile("reason")).await;
    assert_eq!(
        rejected.location(),
        Some(party.as_str()),
        "{}",
        rejected.body
    );
    let reason_s = shown("reason");
    let page = mal_c.get(&party).await;
    shows(
        &page,
        "owner's rejected claim",
        &[
            &format!("<strong>{hal_s} rejected this claim</strong> on "),
            &format!("<p>Their reason: “{reason_s}”</p>"),
            &format!("<strong>rejected</strong> by {hal_s}, "),
            &format!(": “{reason_s}”</li>"),
        ],
    );
    assert_eq!(
        page.body.matches(&reason_s).count(),
        2,
        "banner and history"
    );
    shows(
        &hal_c.get(&party).await,
        "rejecter's view of the history",
        &[&format!(": “{reason_s}”</li>")],
    );

    // Fay gives the second approval with a hostile comment: everyone who sees the
    // claim sees her name and the comment as text.
    let mut fay_c = Client::new(&app);
    fay_c.sign_in("acme", "fay@acme.example", PASSWORD).await;
    let second = act(&mut fay_c, &laptop, "approve", &hostile("second")).await;
    assert_eq!(second.location(), Some(laptop.as_str()), "{}", second.body);
    let second_s = shown("second");
    let history = format!("<strong>approved</strong> by {fay_s}, ");
    let comment = format!(": “{second_s}”</li>");
    shows(
        &fay_c.get(&laptop).await,
        "finance's view",
        &[&history, &comment],
    );
    shows(
        &mal_c.get(&laptop).await,
        "owner's view",
        &[&history, &comment],
    );
    shows(
        &boss.get(&laptop).await,
        "delegate's view",
        &[&history, &comment],
    );

    // Finance's to-pay rows name Mal as text.
    let page = fay_c.get("/finance").await;
    for (url, title) in [(&taxi, "Taxi"), (&laptop, "Laptop")] {
        shows(
            &page,
            "finance to-pay rows",
            &[&format!(
                "<td><a href=\"{url}\">{title}</a></td><td>{mal_s}</td>"
            )],
        );
    }
}

#[actix_web::test]
async fn a_refused_decision_shows_the_typed_comment_back_as_text() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = draft(&mut emp, "Lunch", "meals", "12.00").await;
    act(&mut emp, &url, "submit", "").await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    // A control character makes the comment refused; what was typed comes back.
    let typed = format!("{}\u{7}", hostile("typed"));
    for action in ["approve", "reject"] {
        let page = act(&mut boss, &url, action, &typed).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        shows(
            &page,
            action,
            &[
                "The comment cannot contain control characters.",
                &format!("value=\"{}\u{7}\"", shown("typed")),
            ],
        );
    }
    let page = boss.get(&url).await;
    assert!(
        page.body
            .contains("<span class=\"status\">submitted</span>")
    );
}

#[actix_web::test]
async fn a_hostile_organisation_name_is_shown_as_text_in_the_header() {
    const TOKEN: &str = "6f1c0d2e9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e";
    const ADMIN_PASSWORD: &str = "velvet-harbour-quietly-juggles-seven-lanterns";
    let env = common::TestEnv::new();
    *env.state.setup_token.lock().unwrap() = Some(TOKEN.to_owned());
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    let path = format!("/setup/{TOKEN}");
    c.get(&path).await;
    let org_name = hostile("org");
    let org_s = shown("org");
    let form = |confirm: &'static str| {
        vec![
            ("slug", "evil"),
            ("org_name", org_name.as_str()),
            ("name", "Ida Initech"),
            ("email", "ida@evil.example"),
            ("password", ADMIN_PASSWORD),
            ("confirm_password", confirm),
        ]
    };
    // Refused: the typed name comes back in its input, as text.
    let again = c.post(&path, &form("not-the-same-password-at-all")).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    shows(
        &again,
        "refused setup form",
        &["do not match", &format!("value=\"{org_s}\"")],
    );
    let done = c.post(&path, &form(ADMIN_PASSWORD)).await;
    assert_eq!(done.location(), Some("/login"), "{}", done.body);

    let mut admin = Client::new(&app);
    admin
        .sign_in("evil", "ida@evil.example", ADMIN_PASSWORD)
        .await;
    let header = format!("<span class=\"org\">{org_s}</span>");
    for path in ["/", "/claims", "/admin/users", "/admin/expense-policy"] {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        shows(&page, path, &[&header]);
    }
}

/// `path?query` with the query's values form-encoded.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    format!("{path}?{}", serde_urlencoded::to_string(pairs).unwrap())
}

/// The target of the first link whose text is `text`, as a browser would follow it.
fn link_to(body: &str, text: &str) -> Option<String> {
    let end = body.find(&format!("\">{text}</a>"))?;
    let start = body[..end].rfind("href=\"")? + "href=\"".len();
    Some(body[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

#[actix_web::test]
async fn list_filters_echo_query_strings_as_text_and_paging_links_carry_only_the_filters() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::claims::{self, AddLine, LineInput};
    use expenseplus::expenses::status::Transition;
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    // One more submitted claim than a page of either list holds.
    let roles = Roles::parse_list("employee").unwrap();
    for i in 0..51 {
        let id = claims::create(&org, acme.emp, &format!("Trip {i}"), &format!("c{i}")).unwrap();
        let line = LineInput {
            date: today(),
            category: "meals".into(),
            merchant: "Cafe".into(),
            amount: "5.00".into(),
            currency: "GBP".into(),
            form_key: format!("l{i}"),
            ..Default::default()
        };
        assert!(matches!(
            claims::add_line(&org, acme.emp, id, &line).unwrap(),
            AddLine::Added
        ));
        let v = claims::get(&org, id).unwrap().version;
        claims::transition(&org, acme.emp, roles, id, Some(v), Transition::Submit, "").unwrap();
    }
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;

    for (who, path) in [("employee", "/claims"), ("manager", "/approvals")] {
        let c = if who == "employee" {
            &mut emp
        } else {
            &mut boss
        };
        // Every filter hostile: a 400 with the messages, the dates typed shown back
        // in their inputs as text, nothing listed and no paging link.
        let url = with_query(
            path,
            &[
                ("status", BREAKOUT),
                ("category", BREAKOUT),
                ("from", BREAKOUT),
                ("to", BREAKOUT),
                ("before", BREAKOUT),
                ("after", BREAKOUT),
            ],
        );
        let page = c.get(&url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        shows(
            &page,
            path,
            &[
                "Choose a status from the list.",
                "Choose a category from the list.",
                "The from date must be a date like 2026-01-31.",
                "The to date must be a date like 2026-01-31.",
                &format!("id=\"from\" name=\"from\" type=\"date\" value=\"{BREAKOUT_SHOWN}\""),
                &format!("id=\"to\" name=\"to\" type=\"date\" value=\"{BREAKOUT_SHOWN}\""),
            ],
        );
        assert!(!page.body.contains("Trip "), "{path}: nothing listed");
        assert!(link_to(&page.body, "Older claims").is_none());
        assert!(link_to(&page.body, "Next claims in the queue").is_none());

        // Good filters with hostile extras: a full page, and a paging link carrying
        // the filters only, escaped in the page, that leads to the rest.
        let from = uk_day(-1);
        let url = with_query(
            path,
            &[
                ("status", "submitted"),
                ("category", "meals"),
                ("from", &from),
                ("evil", BREAKOUT),
                (BREAKOUT, "x"),
            ],
        );
        let page = c.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        // My claims run newest first, the queue oldest first.
        let (first, last) = if who == "employee" {
            (">Trip 50</a>", ">Trip 0</a>")
        } else {
            (">Trip 0</a>", ">Trip 50</a>")
        };
        shows(&page, path, &[first]);
        assert!(!page.body.contains(last), "{path}: one page only");
        assert!(
            !page.body.contains("evil"),
            "{path}: unknown parameters dropped"
        );
        let (text, start) = if who == "employee" {
            ("Older claims", "before")
        } else {
            ("Next claims in the queue", "after")
        };
        assert!(
            page.body.contains(&format!(
                "href=\"{path}?status=submitted&#38;category=meals&#38;from={from}&#38;{start}="
            )),
            "{path}: {}",
            page.body
        );
        let next = link_to(&page.body, text).unwrap();
        let rest = c.get(&next).await;
        assert_eq!(rest.status, StatusCode::OK, "{next}");
        assert_eq!(
            rest.body.matches("<td><a href=\"/claims/").count(),
            1,
            "{next}: the one claim left"
        );
        assert!(rest.body.contains(last), "{next}");
        assert!(
            rest.body.contains(&format!("value=\"{from}\"")),
            "filters kept"
        );
    }
    // The approvals queue takes a mangled page start for the first page; nothing of
    // it is shown back.
    let page = boss
        .get(&with_query("/approvals", &[("after", BREAKOUT)]))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    shows(&page, "approvals with a mangled start", &[">Trip 0</a>"]);
}

#[actix_web::test]
async fn refused_line_forms_show_every_typed_value_back_as_text() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = draft(&mut emp, "Trip", "travel", "10.00").await;
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    let date = today();
    // (field, category, amount, currency, rate, vat, miles): one hostile field each.
    let cases: [(&str, &str, &str, &str, &str, &str, &str); 6] = [
        ("date", "travel", "10.00", "GBP", "", "", ""),
        ("amount", "travel", BREAKOUT, "GBP", "", "", ""),
        ("currency", "travel", "10.00", BREAKOUT, "", "", ""),
        ("rate", "travel", "10.00", "EUR", BREAKOUT, "", ""),
        ("vat", "travel", "10.00", "GBP", "", BREAKOUT, ""),
        ("miles", "mileage", "", "GBP", "", "", BREAKOUT),
    ];
    for (field, category, amount, currency, rate, vat, miles) in cases {
        let k = key();
        let day = if field == "date" { BREAKOUT } else { &date };
        let fields = [
            ("date", day),
            ("category", category),
            ("merchant", "Shop"),
            ("description", ""),
            ("amount", amount),
            ("currency", currency),
            ("rate", rate),
            ("vat", vat),
            ("miles", miles),
            ("form_key", k.as_str()),
        ];
        let page = emp
            .post_multipart(&format!("{url}/lines"), &fields, None)
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        shows(
            &page,
            &format!("new line with a hostile {field}"),
            &[
                &format!("<p class=\"field-error\" id=\"{field}-error\">"),
                &format!("id=\"{field}\" name=\"{field}\" value=\"{BREAKOUT_SHOWN}\""),
            ],
        );
        // The edit form of the existing line, refused the same way.
        let line = page
            .body
            .split(&format!("href=\"{url}/lines/"))
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let edit = format!("{url}/lines/{line}/edit");
        let version = field_value(&emp.get(&edit).await.body, "version").unwrap();
        let mut edit_fields = fields.to_vec();
        edit_fields.push(("version", &version));
        let page = emp.post_multipart(&edit, &edit_fields, None).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "edit {field}"
        );
        shows(
            &page,
            &format!("line edit with a hostile {field}"),
            &[
                &format!("<p class=\"field-error\" id=\"{field}-error\">"),
                &format!("id=\"{field}\" name=\"{field}\" value=\"{BREAKOUT_SHOWN}\""),
            ],
        );
    }
    let lines = expenseplus::expenses::claims::lines(&org, id).unwrap();
    assert_eq!(lines.len(), 1, "nothing written");
    assert_eq!(lines[0].amount_minor, 1000, "nor changed");
}
