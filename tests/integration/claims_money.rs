//! Money as people see it on the pages: mileage counted across claims and split at the
//! tax year, the policy's flags and the second-approval threshold at its boundary,
//! foreign-currency lines with their rate and the accounting export, categories that
//! belong to each organisation, the dashboards' figures, and the VAT field's checks.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, Page, field_value};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, ClaimFields, LineInput};
use expenseplus::expenses::finance;
use expenseplus::expenses::status::{Status, Transition};
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;
use time::{Date, Duration, Month, OffsetDateTime};

/// Today as the app counts line dates (UK).
fn uk_today() -> Date {
    expenseplus::privacy::deadlines::uk_today(OffsetDateTime::now_utc())
}

fn day(ago: i64) -> String {
    (uk_today() - Duration::days(ago)).to_string()
}

static KEYS: AtomicUsize = AtomicUsize::new(0);

fn key() -> String {
    format!("k{}", KEYS.fetch_add(1, Ordering::Relaxed))
}

/// One line as typed on the claim page. Fields left out are empty.
#[derive(Clone, Copy, Default)]
struct Line<'a> {
    date: &'a str,
    category: &'a str,
    merchant: &'a str,
    amount: &'a str,
    currency: &'a str,
    rate: &'a str,
    vat: &'a str,
    miles: &'a str,
}

impl<'a> Line<'a> {
    fn gbp(date: &'a str, category: &'a str, merchant: &'a str, amount: &'a str) -> Self {
        Line {
            date,
            category,
            merchant,
            amount,
            currency: "GBP",
            ..Default::default()
        }
    }

    fn miles(date: &'a str, miles: &'a str) -> Self {
        Line {
            date,
            category: "mileage",
            merchant: "Own car",
            currency: "GBP",
            miles,
            ..Default::default()
        }
    }
}

/// Posts a line on the claim page's form (with a receipt if given).
async fn post_line<S, B>(
    c: &mut Client<'_, S>,
    url: &str,
    l: Line<'_>,
    receipt: Option<&[u8]>,
) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let k = key();
    let fields = [
        ("date", l.date),
        ("category", l.category),
        ("merchant", l.merchant),
        ("description", ""),
        ("amount", l.amount),
        ("currency", l.currency),
        ("rate", l.rate),
        ("vat", l.vat),
        ("miles", l.miles),
        ("form_key", k.as_str()),
    ];
    c.post_multipart(
        &format!("{url}/lines"),
        &fields,
        receipt.map(|r| ("receipt", "r.png", r)),
    )
    .await
}

/// As [`post_line`], asserting the line was added.
async fn add_line<S, B>(c: &mut Client<'_, S>, url: &str, l: Line<'_>, receipt: Option<&[u8]>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let page = post_line(c, url, l, receipt).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

/// Posts `action` (submit, approve, reject, paid) on the claim with its page's version.
async fn act<S, B>(c: &mut Client<'_, S>, url: &str, action: &str) -> Page
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let page = c.get(url).await;
    assert_eq!(page.status, StatusCode::OK, "{url}");
    let version = field_value(&page.body, "version").unwrap();
    let done = c
        .post(&format!("{url}/{action}"), &[("version", &version)])
        .await;
    assert_eq!(done.location(), Some(url), "{action}: {}", done.body);
    done
}

/// The edit page of the first line linked in `html` (a row of claim `url`'s page).
fn edit_link(html: &str, url: &str) -> String {
    let marker = format!("href=\"{url}/lines/");
    let at = html.find(&marker).unwrap() + marker.len();
    let line = &html[at..at + html[at..].find('/').unwrap()];
    format!("{url}/lines/{line}/edit")
}

/// The claim page's status, as shown next to its title.
fn status_of(body: &str) -> String {
    let at = body.find("<span class=\"status\">").unwrap() + "<span class=\"status\">".len();
    body[at..at + body[at..].find('<').unwrap()].to_owned()
}

/// The claim page's total ("95.00 GBP"), as shown next to its title.
fn total_of(body: &str) -> String {
    let at = body.find("</span> · total ").unwrap() + "</span> · total ".len();
    body[at..at + body[at..].find('<').unwrap()].to_owned()
}

/// The table row of the claim page's line whose cells include exactly `cell`.
fn line_row<'a>(body: &'a str, cell: &str) -> &'a str {
    let rows: Vec<&str> = body
        .split("<tr><td>")
        .skip(1)
        .map(|r| &r[..r.find("</tr>").unwrap()])
        .filter(|r| {
            r.starts_with(&format!("{cell}</td>")) || r.contains(&format!("<td>{cell}</td>"))
        })
        .collect();
    assert_eq!(rows.len(), 1, "one line row with {cell:?} in {body}");
    rows[0]
}

/// Every `name="x" value="y"` input of a page, CSRF token aside: the form as a
/// browser would post it untouched.
fn form_fields(body: &str) -> Vec<(String, String)> {
    body.split("name=\"")
        .skip(1)
        .filter_map(|rest| {
            let name = &rest[..rest.find('"')?];
            let after = &rest[name.len() + 1..];
            let value = after.strip_prefix(" value=\"")?;
            Some((name.to_owned(), value[..value.find('"')?].to_owned()))
        })
        .filter(|(name, _)| name != "csrf_token")
        .collect()
}

/// Saves the expense policy through the admin page: the form as shown, with `changes`.
async fn set_policy<S, B>(admin: &mut Client<'_, S>, changes: &[(&str, &str)])
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let page = admin.get("/admin/expense-policy").await;
    assert_eq!(page.status, StatusCode::OK);
    let mut fields = form_fields(&page.body);
    for (name, value) in changes {
        let slot = fields.iter_mut().find(|(n, _)| n == name).unwrap();
        slot.1 = (*value).to_owned();
    }
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let saved = admin.post("/admin/expense-policy", &refs).await;
    assert_eq!(
        saved.location(),
        Some("/admin/expense-policy"),
        "{}",
        saved.body
    );
}

// 1. Mileage across claims ----------------------------------------------------------

#[actix_web::test]
async fn miles_on_an_earlier_claim_count_toward_the_band_of_a_new_one() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let today = day(0);

    // Claim A: 9,950 miles, all at 45p, approved by the manager and then finance.
    let a = emp.start_claim("Driving, part one").await;
    add_line(&mut emp, &a, Line::miles(&today, "9950"), None).await;
    let page = emp.get(&a).await;
    assert!(
        line_row(&page.body, "Mileage")
            .contains("4,477.50 GBP<br><span class=\"hint\">9950.0 miles at 45p</span>"),
        "{}",
        page.body
    );
    act(&mut emp, &a, "submit").await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    act(&mut boss, &a, "approve").await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    act(&mut fin, &a, "approve").await;
    assert_eq!(status_of(&emp.get(&a).await.body), "approved");

    // Claim B: 100 miles, of which 50 are left at 45p and 50 go at 25p.
    let b = emp.start_claim("Driving, part two").await;
    add_line(&mut emp, &b, Line::miles(&today, "100"), None).await;
    let page = emp.get(&b).await;
    let row = line_row(&page.body, "Mileage");
    assert!(
        row.contains(
            "<td class=\"num\">35.00 GBP<br><span class=\"hint\">50.0 miles at 45p + 50.0 miles at 25p</span></td>"
        ),
        "22.50 + 12.50: {row}"
    );
    assert!(
        row.contains("<td class=\"num\">35.00</td>"),
        "in GBP: {row}"
    );
    assert_eq!(total_of(&page.body), "35.00 GBP");
}

// 2. Tax-year boundary --------------------------------------------------------------

#[actix_web::test]
async fn miles_of_the_last_tax_year_do_not_count_toward_the_new_one() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    set_policy(&mut admin, &[("max_line_age_days", "800")]).await;

    // The latest 5 and 6 April that are both past (or today).
    let today = uk_today();
    let april = |y: i32, d: u8| Date::from_calendar_date(y, Month::April, d).unwrap();
    let year = if today >= april(today.year(), 6) {
        today.year()
    } else {
        today.year() - 1
    };
    let (apr4, apr5, apr6) = (
        april(year, 4).to_string(),
        april(year, 5).to_string(),
        april(year, 6).to_string(),
    );

    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = emp.start_claim("Around the year end").await;
    add_line(&mut emp, &url, Line::miles(&apr5, "10000"), None).await;
    add_line(&mut emp, &url, Line::miles(&apr6, "100"), None).await;
    // Control: a line of the old tax year, entered later, comes first in that year
    // (the draft is priced in date order), so the 5 April line crosses the band.
    add_line(&mut emp, &url, Line::miles(&apr4, "10"), None).await;
    let page = emp.get(&url).await;
    let row = line_row(&page.body, &apr5);
    assert!(
        row.contains(
            "4,498.00 GBP<br><span class=\"hint\">9990.0 miles at 45p + 10.0 miles at 25p</span>"
        ),
        "{row}"
    );
    let row = line_row(&page.body, &apr6);
    assert!(
        row.contains("45.00 GBP<br><span class=\"hint\">100.0 miles at 45p</span>"),
        "a new tax year starts at 45p: {row}"
    );
    let row = line_row(&page.body, &apr4);
    assert!(
        row.contains("4.50 GBP<br><span class=\"hint\">10.0 miles at 45p</span>"),
        "the old year's first line is in the band: {row}"
    );
    assert_eq!(total_of(&page.body), "4,547.50 GBP");
}

// 3. Policy flags and the second-approval threshold ---------------------------------

#[actix_web::test]
async fn receipt_and_limit_flags_follow_the_line() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let (today, day1, day2) = (day(0), day(1), day(2));
    let receipt = common::png();
    // Meals: a receipt is needed above 25.00, and the limit is 50.00. Each line is on
    // a day of its own, so each is judged alone.
    let url = emp.start_claim("Meals").await;
    add_line(
        &mut emp,
        &url,
        Line::gbp(&today, "meals", "Cafe Bare", "30.00"),
        None,
    )
    .await;
    add_line(
        &mut emp,
        &url,
        Line::gbp(&day1, "meals", "Cafe Receipt", "30.00"),
        Some(&receipt),
    )
    .await;
    add_line(
        &mut emp,
        &url,
        Line::gbp(&day2, "meals", "Cafe Big", "60.00"),
        Some(&receipt),
    )
    .await;
    let page = emp.get(&url).await;
    let bare = line_row(&page.body, "Cafe Bare");
    assert!(
        bare.contains("<span class=\"flag\">needs a receipt</span>"),
        "{bare}"
    );
    assert!(!bare.contains("limit"), "30.00 is under the limit: {bare}");
    let with = line_row(&page.body, "Cafe Receipt");
    assert!(with.contains("download>receipt</a>"), "{with}");
    assert!(!with.contains("class=\"flag\""), "no flag at all: {with}");
    let big = line_row(&page.body, "Cafe Big");
    assert!(
        big.contains("<span class=\"flag\">over the Meals limit of 50.00 GBP</span>"),
        "{big}"
    );
    assert!(!big.contains("needs a receipt"), "{big}");

    // Adding the receipt to the bare line by editing it takes its flag away.
    let edit = edit_link(bare, &url);
    let form = emp.get(&edit).await;
    let version = field_value(&form.body, "version").unwrap();
    let k = key();
    let saved = emp
        .post_multipart(
            &edit,
            &[
                ("date", &today),
                ("category", "meals"),
                ("merchant", "Cafe Bare"),
                ("amount", "30.00"),
                ("currency", "GBP"),
                ("form_key", &k),
                ("version", &version),
            ],
            Some(("receipt", "late.png", &receipt)),
        )
        .await;
    assert_eq!(saved.location(), Some(url.as_str()), "{}", saved.body);
    let page = emp.get(&url).await;
    let bare = line_row(&page.body, "Cafe Bare");
    assert!(!bare.contains("needs a receipt"), "{bare}");
    assert_eq!(page.body.matches("needs a receipt").count(), 0);
}

#[actix_web::test]
async fn a_line_older_than_the_policy_allows_is_flagged_to_the_approver() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    set_policy(&mut admin, &[("max_line_age_days", "120")]).await;

    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = emp.start_claim("Late receipts").await;
    let (old, new) = (day(100), day(0));
    add_line(
        &mut emp,
        &url,
        Line::gbp(&old, "travel", "Old Rail", "12.00"),
        None,
    )
    .await;
    add_line(
        &mut emp,
        &url,
        Line::gbp(&new, "travel", "New Rail", "12.00"),
        None,
    )
    .await;
    let page = emp.get(&url).await;
    assert!(!page.body.contains("older than"), "within 120 days");
    act(&mut emp, &url, "submit").await;
    // The organisation tightens the rule: lines past it on the day the claim was
    // submitted are flagged (a flag, not a refusal: the claim can still be decided).
    set_policy(&mut admin, &[("max_line_age_days", "90")]).await;

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let page = boss.get(&url).await;
    let row = line_row(&page.body, "Old Rail");
    assert!(
        row.contains("<span class=\"flag\">older than 90 days</span>"),
        "{row}"
    );
    assert!(!line_row(&page.body, "New Rail").contains("class=\"flag\""));
    assert!(
        page.body
            .contains("Some lines break the organisation's expense policy")
    );
    assert!(page.body.contains("Your decision"));

    // Returned for a better description, the old line can still be corrected: keeping
    // its date is no new claim for an old day, but moving it to another old day is.
    let version = field_value(&page.body, "version").unwrap();
    let fields = [("version", version.as_str()), ("comment", "Say who went")];
    let back = boss.post(&format!("{url}/return"), &fields).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let page = emp.get(&url).await;
    assert!(
        line_row(&page.body, "Old Rail").contains("older than 90 days"),
        "the owner sees the flag the approver will see"
    );
    let edit = edit_link(line_row(&page.body, "Old Rail"), &url);
    let form = emp.get(&edit).await;
    assert!(
        form.body.contains("value=\"Old Rail\""),
        "the old line first"
    );
    let (version, key) = (
        field_value(&form.body, "version").unwrap(),
        field_value(&form.body, "form_key").unwrap(),
    );
    let edited = |date: &str| {
        vec![
            ("date", date.to_owned()),
            ("category", "travel".to_owned()),
            ("merchant", "Old Rail".to_owned()),
            ("description", "Ann and Bo to Leeds".to_owned()),
            ("amount", "12.00".to_owned()),
            ("currency", "GBP".to_owned()),
            ("version", version.clone()),
            ("form_key", key.clone()),
        ]
    };
    let moved = edited(&day(95));
    let moved: Vec<(&str, &str)> = moved.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = emp.post_multipart(&edit, &moved, None).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("Lines older than 90 days cannot be claimed."),
        "{}",
        refused.body
    );
    let kept = edited(&old);
    let kept: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = emp.post_multipart(&edit, &kept, None).await;
    assert_eq!(saved.location(), Some(url.as_str()), "{}", saved.body);
    assert!(emp.get(&url).await.body.contains("Ann and Bo to Leeds"));
    act(&mut emp, &url, "submit").await;

    act(&mut boss, &url, "approve").await;
    assert_eq!(status_of(&emp.get(&url).await.body), "approved");
}

/// A £90 dinner entered as four £22.50 "meals" lines is still over a £50 limit and
/// still needs its receipt: each line is judged with the day's other lines of its
/// category, so splitting a receipt hides nothing. Another day's line is not counted.
#[actix_web::test]
async fn a_receipt_split_into_small_lines_is_still_flagged() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    set_policy(
        &mut admin,
        &[("limit_meals", "50.00"), ("receipt_meals", "25.00")],
    )
    .await;

    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = emp.start_claim("Client dinner").await;
    let (today, yesterday) = (day(1), day(2));
    for n in 1..=4 {
        let merchant = format!("Bistro part {n}");
        add_line(
            &mut emp,
            &url,
            Line::gbp(&today, "meals", &merchant, "22.50"),
            None,
        )
        .await;
    }
    add_line(
        &mut emp,
        &url,
        Line::gbp(&yesterday, "meals", "Cafe Alone", "22.50"),
        None,
    )
    .await;
    let page = emp.get(&url).await;
    let part = line_row(&page.body, "Bistro part 2");
    assert!(
        part.contains("the day&#39;s Meals come to 90.00 GBP, over the limit of 50.00 GBP"),
        "{part}"
    );
    assert!(
        part.contains("needs a receipt: the day&#39;s Meals come to 90.00 GBP"),
        "{part}"
    );
    let alone = line_row(&page.body, "Cafe Alone");
    assert!(!alone.contains("class=\"flag\""), "{alone}");
    // With its receipt, a part is flagged for the limit only.
    let with_receipt = post_line(
        &mut emp,
        &url,
        Line::gbp(&today, "meals", "Bistro tip", "5.00"),
        Some(&common::png()),
    )
    .await;
    assert_eq!(with_receipt.status, StatusCode::SEE_OTHER);
    let tip = line_row(&emp.get(&url).await.body, "Bistro tip").to_owned();
    assert!(
        tip.contains("over the limit") && !tip.contains("needs a receipt"),
        "{tip}"
    );
}

/// The claimant types the exchange rate: a rate far from what others used for that
/// currency around the same day (an inverted 1.17 for 0.85) is flagged to the approver;
/// one close to it is not.
#[actix_web::test]
async fn a_rate_far_from_the_organisations_is_flagged() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let eur = |merchant, rate| Line {
        currency: "EUR",
        rate,
        ..Line::gbp("", "travel", merchant, "100.00")
    };
    let (d1, d2) = (day(3), day(2));
    let earlier = emp.start_claim("Paris in spring").await;
    add_line(
        &mut emp,
        &earlier,
        Line {
            date: &d1,
            ..eur("Metro", "0.85")
        },
        None,
    )
    .await;
    add_line(
        &mut emp,
        &earlier,
        Line {
            date: &d1,
            ..eur("Taxi", "0.86")
        },
        None,
    )
    .await;
    // Until it is sent for approval, nobody's rate is a reference.
    let url = emp.start_claim("Paris again").await;
    add_line(
        &mut emp,
        &url,
        Line {
            date: &d2,
            ..eur("Hotel", "1.17")
        },
        None,
    )
    .await;
    assert!(!emp.get(&url).await.body.contains("far from"));
    act(&mut emp, &earlier, "submit").await;
    add_line(
        &mut emp,
        &url,
        Line {
            date: &d2,
            ..eur("Museum", "0.8600")
        },
        None,
    )
    .await;
    let page = emp.get(&url).await;
    let hotel = line_row(&page.body, "Hotel");
    assert!(
        hotel.contains("rate 1.17 is far from the 0.86 others used around that day"),
        "{hotel}"
    );
    assert!(!line_row(&page.body, "Museum").contains("far from"));
}

#[actix_web::test]
async fn a_total_at_the_threshold_needs_no_finance_approval_and_a_penny_more_does() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let today = day(0);
    // The default threshold is 1,000.00; training has no limit.
    let mut urls = Vec::new();
    for amount in ["1000.00", "1000.01"] {
        let url = emp.start_claim(&format!("Course {amount}")).await;
        add_line(
            &mut emp,
            &url,
            Line::gbp(&today, "training", "College", amount),
            None,
        )
        .await;
        urls.push(url);
    }
    let (at, above) = (&urls[0], &urls[1]);
    let finance_note = "finance approves it as well as the manager";
    let page = emp.get(at).await;
    assert_eq!(total_of(&page.body), "1,000.00 GBP");
    assert!(
        !page.body.contains(finance_note),
        "exactly at the threshold"
    );
    let page = emp.get(above).await;
    assert_eq!(total_of(&page.body), "1,000.01 GBP");
    assert!(page.body.contains(finance_note), "a penny above");

    for url in [at, above] {
        act(&mut emp, url, "submit").await;
        act(&mut boss, url, "approve").await;
    }
    assert_eq!(status_of(&emp.get(at).await.body), "approved");
    assert_eq!(
        status_of(&emp.get(above).await.body),
        "awaiting finance approval"
    );
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let page = fin.get("/finance").await;
    assert!(page.body.contains("Course 1000.00"), "to pay");
    assert!(!page.body.contains("Course 1000.01"), "not approved yet");
}

// 4. Foreign currency -----------------------------------------------------------------

/// A draft with a EUR line (100.00 at 0.85, VAT 20.00) and a GBP line (10.00).
async fn euro_claim<S, B>(emp: &mut Client<'_, S>) -> (String, Page)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let today = day(0);
    let url = emp.start_claim("Paris").await;
    let receipt = common::png();
    let eur = Line {
        date: &today,
        category: "travel",
        merchant: "SNCF",
        amount: "100.00",
        currency: "EUR",
        rate: "0.85",
        vat: "20.00",
        miles: "",
    };
    add_line(emp, &url, eur, Some(&receipt)).await;
    add_line(
        emp,
        &url,
        Line::gbp(&today, "travel", "Heathrow Express", "10.00"),
        None,
    )
    .await;
    let page = emp.get(&url).await;
    (url, page)
}

#[actix_web::test]
async fn a_foreign_line_shows_both_amounts_and_the_total_and_export_follow() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let (url, page) = euro_claim(&mut emp).await;
    assert!(
        page.body
            .contains("<th scope=\"col\" class=\"num\">In GBP</th>")
    );
    let row = line_row(&page.body, "SNCF");
    assert!(row.contains("<td class=\"num\">100.00 EUR</td>"), "{row}");
    assert!(
        row.contains("<td class=\"num\">20.00 EUR</td>"),
        "VAT in EUR: {row}"
    );
    assert!(row.contains("<td class=\"num\">85.00<br>"), "in GBP: {row}");
    let row = line_row(&page.body, "Heathrow Express");
    assert!(row.contains("<td class=\"num\">10.00 GBP</td>"), "{row}");
    assert!(row.contains("<td class=\"num\">10.00</td>"), "{row}");
    assert_eq!(total_of(&page.body), "95.00 GBP", "85.00 + 10.00");

    act(&mut emp, &url, "submit").await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let page = boss.get(&url).await;
    assert_eq!(
        total_of(&page.body),
        "95.00 GBP",
        "the approver sees it too"
    );
    act(&mut boss, &url, "approve").await;

    // The export: one row per line, amounts in the line's own currency.
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    assert!(fin.get("/finance").await.body.contains("95.00 GBP"));
    let csv = fin.get("/finance/export.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(csv.bytes.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        finance::CSV_HEADER
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let id = url.trim_start_matches("/claims/");
    let reference = finance::employee_reference(acme.emp.0);
    let want = |net: &str, vat: &str, gross: &str, cur: &str, rate: &str, paid: &str| {
        [
            day(0).as_str(),
            reference.as_str(),
            "travel",
            net,
            vat,
            gross,
            cur,
            id,
            rate,
            paid,
            "GBP",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    assert_eq!(
        rows,
        vec![
            // As on the receipt, then what it came to in GBP (85.00 + 10.00 paid).
            want("80.00", "20.00", "100.00", "EUR", "0.85", "85.00"),
            want("10.00", "0.00", "10.00", "GBP", "1", "10.00"),
        ]
    );
}

#[actix_web::test]
async fn the_claim_page_shows_the_exchange_rate_of_a_foreign_line() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let (url, page) = euro_claim(&mut emp).await;
    // The approver must be able to check 100.00 EUR -> 85.00 GBP.
    act(&mut emp, &url, "submit").await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    for (who, page) in [("owner", page), ("approver", boss.get(&url).await)] {
        let row = line_row(&page.body, "SNCF");
        assert!(
            row.contains("<td class=\"num\">85.00<br><span class=\"hint\">at 0.85</span></td>"),
            "{who}: the rate is shown under the amount in GBP: {row}"
        );
        assert!(
            row.contains("<td class=\"num\">20.00 EUR</td>"),
            "{who}: the VAT says its currency: {row}"
        );
    }
}

// 5. Categories per organisation ------------------------------------------------------

const CATEGORIES: [(&str, &str); 8] = [
    ("travel", "Travel"),
    ("mileage", "Mileage"),
    ("meals", "Meals"),
    ("accommodation", "Accommodation"),
    ("subsistence", "Subsistence"),
    ("equipment", "Equipment"),
    ("training", "Training"),
    ("other", "Other"),
];

/// The options of the new-line form's category list.
fn category_options(body: &str) -> String {
    let form = &body[body.find("action=\"/claims/").unwrap()..];
    let select = &form[form.find("<select id=\"category\"").unwrap()..];
    select[..select.find("</select>").unwrap()].to_owned()
}

#[actix_web::test]
async fn each_organisation_offers_the_categories_and_keeps_its_own_limits() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let globex = env.create_org("globex", "Globex Ltd");
    env.create_user(&globex, "admin@globex.example", "Gil Admin", "admin", None);
    let boss = env.create_user(&globex, "boss@globex.example", "Gus Boss", "manager", None);
    env.create_user(
        &globex,
        "emp@globex.example",
        "Gia Employee",
        "employee",
        Some(boss),
    );
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut a_emp = Client::new(&app);
    a_emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let mut g_emp = Client::new(&app);
    g_emp
        .sign_in("globex", "emp@globex.example", PASSWORD)
        .await;
    let a_url = a_emp.start_claim("Dinner").await;
    let g_url = g_emp.start_claim("Dinner").await;
    for (who, c, url) in [("acme", &mut a_emp, &a_url), ("globex", &mut g_emp, &g_url)] {
        let options = category_options(&c.get(url).await.body);
        for (code, label) in CATEGORIES {
            assert!(
                options.contains(&format!("<option value=\"{code}\">{label}</option>")),
                "{who}: {code} offered in {options}"
            );
        }
    }

    // Acme lowers its meals limit and raises its line age; Globex is untouched.
    let mut a_admin = Client::new(&app);
    a_admin
        .sign_in("acme", "admin@acme.example", PASSWORD)
        .await;
    set_policy(
        &mut a_admin,
        &[("limit_meals", "20.00"), ("max_line_age_days", "365")],
    )
    .await;
    let mut g_admin = Client::new(&app);
    g_admin
        .sign_in("globex", "admin@globex.example", PASSWORD)
        .await;
    let page = g_admin.get("/admin/expense-policy").await;
    assert_eq!(
        field_value(&page.body, "limit_meals").as_deref(),
        Some("50.00")
    );
    assert_eq!(
        field_value(&page.body, "max_line_age_days").as_deref(),
        Some("90")
    );
    let page = a_admin.get("/admin/expense-policy").await;
    assert_eq!(
        field_value(&page.body, "limit_meals").as_deref(),
        Some("20.00")
    );

    let today = day(0);
    let receipt = common::png();
    for (c, url) in [(&mut a_emp, &a_url), (&mut g_emp, &g_url)] {
        add_line(
            c,
            url,
            Line::gbp(&today, "meals", "Bistro", "30.00"),
            Some(&receipt),
        )
        .await;
    }
    let row = line_row(&a_emp.get(&a_url).await.body, "Bistro").to_owned();
    assert!(row.contains("over the Meals limit of 20.00 GBP"), "{row}");
    let row = line_row(&g_emp.get(&g_url).await.body, "Bistro").to_owned();
    assert!(
        !row.contains("class=\"flag\""),
        "Globex's limit is still 50.00: {row}"
    );
    // Acme's longer line age does not let Globex's people claim older lines.
    let old = day(200);
    add_line(
        &mut a_emp,
        &a_url,
        Line::gbp(&old, "travel", "Old Rail", "5.00"),
        None,
    )
    .await;
    let refused = post_line(
        &mut g_emp,
        &g_url,
        Line::gbp(&old, "travel", "Old Rail", "5.00"),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains(
        "<p class=\"field-error\" id=\"date-error\">Lines older than 90 days cannot be claimed.</p>"
    ));

    // And the other way: Globex removes its meals limit; Acme's stays.
    set_policy(&mut g_admin, &[("limit_meals", "")]).await;
    let page = a_admin.get("/admin/expense-policy").await;
    assert_eq!(
        field_value(&page.body, "limit_meals").as_deref(),
        Some("20.00")
    );
    let page = g_admin.get("/admin/expense-policy").await;
    assert_eq!(field_value(&page.body, "limit_meals").as_deref(), Some(""));
}

// 6. Dashboards -----------------------------------------------------------------------

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

/// A claim by Eve with these (days ago, category, amount) lines, moved along `steps`.
fn claim_for(p: &common::Acme, org: &Org, title: &str, lines: &[(i64, &str, &str)], to: Status) {
    let id = claims::create(org, p.emp, title, &format!("form-{title}")).unwrap();
    for (i, (ago, category, amount)) in lines.iter().enumerate() {
        let input = LineInput {
            date: day(*ago),
            category: (*category).into(),
            merchant: "Shop".into(),
            amount: (*amount).into(),
            currency: "GBP".into(),
            form_key: format!("{title}-{i}"),
            ..Default::default()
        };
        assert!(matches!(
            claims::add_line(org, p.emp, id, &input).unwrap(),
            AddLine::Added
        ));
    }
    let step = |who, r: &str, t| {
        let v = claims::get(org, id).unwrap().version;
        claims::transition(org, who, roles(r), id, Some(v), t, "no").unwrap()
    };
    if to == Status::Draft {
        return;
    }
    step(p.emp, "employee", Transition::Submit);
    match to {
        Status::Rejected => {
            step(p.boss, "manager,employee", Transition::Reject);
        }
        Status::AwaitingFinance | Status::Approved | Status::Paid => {
            step(p.boss, "manager,employee", Transition::Approve);
        }
        _ => {}
    }
    if to == Status::Paid {
        let v = claims::get(org, id).unwrap().version;
        let out = finance::mark_paid(org, p.fin, roles("finance"), &[(id, v)]).unwrap();
        assert_eq!(out.paid, vec![id]);
    }
    assert_eq!(claims::get(org, id).unwrap().status(), to, "{title}");
}

/// `YYYY-MM` of the day `ago` days back.
fn month(ago: i64) -> String {
    day(ago)[..7].to_owned()
}

/// The inner text of every `<tag ...>text</tag>` in `body` (no nesting).
fn texts(body: &str, open: &str, close: &str) -> Vec<String> {
    body.split(open)
        .skip(1)
        .map(|rest| {
            let rest = &rest[rest.find('>').unwrap() + 1..];
            rest[..rest.find(close).unwrap()].to_owned()
        })
        .collect()
}

#[actix_web::test]
async fn dashboards_show_team_spend_as_a_chart_matching_its_table_and_totals_per_status() {
    let p = common::acme_with_people();
    let org = p.env.org("acme");
    // Eve's claims: what the team spend counts (submitted, awaiting finance,
    // approved, paid), and what it leaves out (drafts, rejected).
    claim_for(
        &p,
        &org,
        "Now",
        &[(0, "travel", "12.00"), (0, "meals", "20.00")],
        Status::Submitted,
    );
    claim_for(
        &p,
        &org,
        "Course",
        &[(0, "training", "1500.00")],
        Status::AwaitingFinance,
    );
    claim_for(
        &p,
        &org,
        "Last month",
        &[(35, "travel", "30.00")],
        Status::Approved,
    );
    claim_for(
        &p,
        &org,
        "Hotel",
        &[(70, "accommodation", "100.00")],
        Status::Paid,
    );
    claim_for(
        &p,
        &org,
        "Unsent",
        &[(0, "training", "999.00")],
        Status::Draft,
    );
    claim_for(&p, &org, "Empty", &[], Status::Draft);
    claim_for(
        &p,
        &org,
        "Refused",
        &[(0, "other", "50.00")],
        Status::Rejected,
    );
    let app = atest::init_service(build_app(p.env.state.clone())).await;

    // Eve: each status with its count and total.
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let home = emp.get("/").await.body;
    for (label, count, total) in [
        ("draft", 2, "999.00 GBP"),
        ("submitted", 1, "32.00 GBP"),
        ("awaiting finance approval", 1, "1,500.00 GBP"),
        ("approved", 1, "30.00 GBP"),
        ("paid", 1, "100.00 GBP"),
        ("rejected", 1, "50.00 GBP"),
    ] {
        let row = format!(
            "<tr><th scope=\"row\"><span class=\"status\">{label}</span></th><td class=\"num\">{count}</td><td class=\"num\">{total}</td></tr>"
        );
        assert!(home.contains(&row), "{row} in {home}");
    }

    // Bea: the table, month by category, and the chart drawn from the same figures.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let home = boss.get("/").await.body;
    let table = &home[home.find("<table class=\"spend\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let head = &table[table.find("<thead>").unwrap()..table.find("</thead>").unwrap()];
    let columns = texts(head, "<th scope=\"col\"", "</th>");
    assert_eq!(
        columns,
        [
            "Month",
            "Accommodation",
            "Meals",
            "Training",
            "Travel",
            "Total"
        ],
        "only categories with spend, by label"
    );
    let categories = &columns[1..5];
    let rows: Vec<(String, Vec<String>)> = table
        .split("<tr><th scope=\"row\">")
        .skip(1)
        .map(|r| {
            let m = r[..r.find('<').unwrap()].to_owned();
            (m, texts(r, "<td class=\"num\"", "</td>"))
        })
        .collect();
    let months: Vec<String> =
        expenseplus::expenses::reports::last_months(OffsetDateTime::now_utc().date(), 6);
    assert_eq!(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), months);
    let expect = |m: &str| -> Vec<&str> {
        // Accommodation, Meals, Training, Travel, Total
        if m == month(0) {
            vec!["0.00", "20.00", "1,500.00", "12.00", "1,532.00"]
        } else if m == month(35) {
            vec!["0.00", "0.00", "0.00", "30.00", "30.00"]
        } else if m == month(70) {
            vec!["100.00", "0.00", "0.00", "0.00", "100.00"]
        } else {
            vec!["0.00"; 5]
        }
    };
    for (m, cells) in &rows {
        assert_eq!(cells, &expect(m), "{m}");
    }

    // The chart: an inline SVG (a data: URI) with a month label per table row, a
    // legend entry per category column and one bar segment per non-zero cell, each
    // saying its category, month and amount as the table does.
    let prefix = "<img src=\"data:image/svg+xml;base64,";
    let at = home.find(prefix).expect("the chart is on the page") + prefix.len();
    let encoded = &home[at..at + home[at..].find('"').unwrap()];
    let svg = String::from_utf8(data_encoding::BASE64.decode(encoded.as_bytes()).unwrap()).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains("role=\"img\""));
    let labels = texts(&svg, "<text ", "</text>");
    for m in &months {
        assert_eq!(labels.iter().filter(|l| *l == m).count(), 1, "{m} in {svg}");
    }
    for c in categories {
        assert!(labels.contains(c), "legend {c} in {svg}");
    }
    // Bars are the rects with a tooltip; the background and legend keys close at once.
    let mut tips: Vec<String> = svg
        .split("<rect ")
        .skip(1)
        .filter_map(|r| {
            let r = &r[..r
                .find("/>")
                .unwrap_or(r.len())
                .min(r.find("</rect>").unwrap_or(r.len()))];
            let at = r.find("><title>")? + "><title>".len();
            Some(r[at..r.find("</title>")?].to_owned())
        })
        .collect();
    tips.sort();
    let mut want = Vec::new();
    for (m, cells) in &rows {
        for (c, v) in categories.iter().zip(cells) {
            if v != "0.00" {
                want.push(format!("{c}, {m}: {v} GBP"));
            }
        }
    }
    want.sort();
    assert_eq!(want.len(), 5);
    assert_eq!(tips, want, "one bar segment per non-zero cell of the table");
}

// 7. VAT input --------------------------------------------------------------------------

#[actix_web::test]
async fn bad_vat_is_refused_on_its_field_with_the_input_kept_and_nothing_written() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = emp.start_claim("Receipts").await;
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    let today = day(0);
    let line = |amount, vat, miles, category| Line {
        date: &today,
        category,
        merchant: "Shop",
        amount,
        currency: "GBP",
        vat,
        miles,
        rate: "",
    };
    for (what, typed, message) in [
        (
            line("10.00", "12.00", "", "travel"),
            "12.00",
            "VAT cannot be more than the amount.",
        ),
        (
            line("", "1.00", "25", "mileage"),
            "1.00",
            "Mileage lines have no VAT.",
        ),
        (
            line("10.00", "1,50", "", "travel"),
            "1,50",
            "Enter the amount as a number, for example 12.50, without a currency sign or thousands separators.",
        ),
        (
            line("10.00", "£1.50", "", "travel"),
            "£1.50",
            "Enter the amount as a number, for example 12.50, without a currency sign or thousands separators.",
        ),
        (
            line("10.00", "1.505", "", "travel"),
            "1.505",
            "GBP amounts have at most 2 decimal places.",
        ),
    ] {
        let page = post_line(&mut emp, &url, what, None).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{typed}");
        assert!(
            page.body.contains(&format!(
                "<p class=\"field-error\" id=\"vat-error\">{message}</p>"
            )),
            "{typed}: {}",
            page.body
        );
        assert!(
            page.body.contains(&format!(
                "id=\"vat\" name=\"vat\" value=\"{typed}\" type=\"text\" inputmode=\"decimal\" maxlength=\"20\" aria-invalid=\"true\" aria-describedby=\"vat-error\""
            )),
            "{typed}: input kept and marked"
        );
        assert!(
            page.body
                .contains("The line was not added: see the messages below."),
            "{typed}"
        );
        assert!(page.body.contains("No lines yet."), "{typed}");
        assert!(claims::lines(&org, id).unwrap().is_empty(), "{typed}");
    }
    // VAT equal to the amount is fine.
    add_line(&mut emp, &url, line("10.00", "10.00", "", "travel"), None).await;
    let row = line_row(&emp.get(&url).await.body, "Shop").to_owned();
    assert!(
        row.contains("<td class=\"num\">10.00</td><td class=\"num\">10.00</td>"),
        "{row}"
    );
    // So is zero, for a zero-rated receipt: kept as 0.00, not left out.
    add_line(&mut emp, &url, line("4.00", "0", "", "travel"), None).await;
    assert_eq!(claims::lines(&org, id).unwrap().len(), 2);
    let zero_rated = claims::lines(&org, id)
        .unwrap()
        .into_iter()
        .find(|l| l.amount_minor == 400)
        .unwrap();
    assert_eq!(zero_rated.vat_minor, Some(0));
}
