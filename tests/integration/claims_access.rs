//! Changing ids in URLs: whoever posts to a claim, a delegation or a dashboard they have
//! no part in gets the app's not-found answer (or a refusal that says why), and nothing
//! changes: not the claim's status, version, lines or history. Also the state machine
//! walked through the pages: every move the acting role may not make is refused with a
//! message, never a 500.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, Page};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, ClaimFields, LineInput};
use expenseplus::expenses::delegation::{self, DelegationInput};
use expenseplus::expenses::status::{Status, Transition};
use expenseplus::ids::UserId;
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;

/// What the 404 page says (and all a person learns about a claim that is not theirs).
const NOT_FOUND_TEXT: &str = "There is no page at this address.";

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// A UK day, as delegations count them.
fn uk_day(offset: i64) -> String {
    let today = expenseplus::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
    (today + time::Duration::days(offset)).to_string()
}

fn line(amount: &str, category: &str, key: &str) -> LineInput {
    LineInput {
        date: today(),
        category: category.into(),
        merchant: "Great Western Railway".into(),
        description: "Client visit".into(),
        amount: amount.into(),
        currency: "GBP".into(),
        form_key: key.into(),
        ..Default::default()
    }
}

/// A draft of `owner` with one line; `title` must be unique (it makes the form keys).
fn draft(org: &Org, owner: UserId, title: &str, amount: &str, category: &str) -> i64 {
    let id = claims::create(org, owner, title, &format!("form-{title}")).unwrap();
    assert!(matches!(
        claims::add_line(
            org,
            owner,
            id,
            &line(amount, category, &format!("line-{title}"))
        )
        .unwrap(),
        AddLine::Added
    ));
    id
}

/// One step of the state machine as `who` (holding `r`), from the claim as it is now.
fn step(org: &Org, who: UserId, r: &str, id: i64, t: Transition, comment: &str) -> Status {
    let v = claims::get(org, id).unwrap().version;
    claims::transition(org, who, roles(r), id, Some(v), t, comment).unwrap()
}

/// Everything about a claim a refused request must leave alone.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: Status,
    version: i64,
    events: usize,
    lines: usize,
    total: i64,
}

fn seen(org: &Org, id: i64) -> Seen {
    let c = claims::get(org, id).unwrap();
    Seen {
        status: c.status(),
        version: c.version,
        events: claims::history(org, id).unwrap().len(),
        lines: claims::lines(org, id).unwrap().len(),
        total: c.total_minor,
    }
}

fn assert_not_found(page: &Page, what: &str) {
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{what}: {}", page.body);
    assert!(
        page.body.contains(NOT_FOUND_TEXT),
        "{what}: the 404 page: {}",
        page.body
    );
}

/// The red banner of a claim page that refused a change.
fn alert(body: &str) -> Option<String> {
    let marker = "<p class=\"notice bad\" role=\"alert\">";
    let rest = &body[body.find(marker)? + marker.len()..];
    Some(rest[..rest.find("</p>")?].to_owned())
}

fn listed(body: &str, id: i64) -> bool {
    body.contains(&format!("href=\"/claims/{id}\""))
}

async fn signed_in<'a, S, B>(app: &'a S, who: &str) -> Client<'a, S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut c = Client::new(app);
    c.sign_in("acme", &format!("{who}@acme.example"), PASSWORD)
        .await;
    c
}

/// Otto (not Eve's manager) and Bea (her manager) post a line to Eve's draft and submit
/// it, by its URL: the not-found answer each time, and the draft as it was.
#[actix_web::test]
async fn nobody_but_the_owner_adds_lines_to_or_submits_a_draft() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = draft(&org, acme.emp, "Eve's draft", "20.00", "travel");
    let before = seen(&org, id);
    assert_eq!((before.status, before.lines), (Status::Draft, 1));
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let url = format!("/claims/{id}");
    let date = today();
    for who in ["other", "boss"] {
        let mut c = signed_in(&app, who).await;
        let key = format!("hijack-{who}");
        let fields = [
            ("date", date.as_str()),
            ("category", "meals"),
            ("merchant", "Cafe Hijack"),
            ("description", "not mine"),
            ("amount", "9.99"),
            ("currency", "GBP"),
            ("form_key", key.as_str()),
        ];
        let page = c
            .post_multipart(&format!("{url}/lines"), &fields, None)
            .await;
        assert_not_found(&page, &format!("{who} adds a line"));
        let version = before.version.to_string();
        let page = c
            .post(&format!("{url}/submit"), &[("version", &version)])
            .await;
        assert_not_found(&page, &format!("{who} submits"));
        // A form without the version acts on the claim as it is now: still not theirs.
        let page = c.post(&format!("{url}/submit"), &[]).await;
        assert_not_found(&page, &format!("{who} submits without a version"));
        assert_eq!(seen(&org, id), before, "{who}: nothing changed");
    }
    let mut eve = signed_in(&app, "emp").await;
    let page = eve.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Cafe Hijack"));
    assert!(page.body.contains("20.00 GBP"));
}

/// Finance asks to pay a claim still waiting for its manager, one waiting for finance's
/// own (second) approval, and their own approved claim: each refused, with the reason
/// or the not-found page, and no history written.
#[actix_web::test]
async fn finance_cannot_pay_what_is_not_approved_or_is_their_own() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let fay = acme.env.create_user(
        &org,
        "fay@acme.example",
        "Fay Finance",
        "finance,employee",
        Some(acme.boss),
    );
    let submitted = draft(&org, acme.emp, "Waiting for Bea", "20.00", "travel");
    step(
        &org,
        acme.emp,
        "employee",
        submitted,
        Transition::Submit,
        "",
    );
    // Over the second-approval threshold (1,000.00): approved once, waits for finance.
    let awaiting = draft(&org, acme.emp, "Conference", "1500.00", "training");
    step(&org, acme.emp, "employee", awaiting, Transition::Submit, "");
    assert_eq!(
        step(
            &org,
            acme.boss,
            "manager,employee",
            awaiting,
            Transition::Approve,
            ""
        ),
        Status::AwaitingFinance
    );
    let own = draft(&org, fay, "Fay's trip", "20.00", "travel");
    step(&org, fay, "finance,employee", own, Transition::Submit, "");
    assert_eq!(
        step(
            &org,
            acme.boss,
            "manager,employee",
            own,
            Transition::Approve,
            ""
        ),
        Status::Approved
    );

    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut finn = signed_in(&app, "fin").await;
    let mut fay_c = signed_in(&app, "fay").await;

    // Not yet finance's to see: the not-found page.
    let before = seen(&org, submitted);
    let v = before.version.to_string();
    let page = finn
        .post(&format!("/claims/{submitted}/paid"), &[("version", &v)])
        .await;
    assert_not_found(&page, "paying a submitted claim");
    assert_eq!(seen(&org, submitted), before);

    // Finance sees it, but it still needs their approval: refused, and said why.
    let before = seen(&org, awaiting);
    let v = before.version.to_string();
    let page = finn
        .post(&format!("/claims/{awaiting}/paid"), &[("version", &v)])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let said = alert(&page.body).unwrap_or_default();
    assert!(
        said.ends_with("A claim awaiting finance approval cannot be marked paid."),
        "{said:?}"
    );
    assert_eq!(seen(&org, awaiting), before);

    // Nobody pays themselves, even holding the finance role.
    let before = seen(&org, own);
    let v = before.version.to_string();
    let page = fay_c
        .post(&format!("/claims/{own}/paid"), &[("version", &v)])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let said = alert(&page.body).unwrap_or_default();
    assert!(said.contains("your own claim"), "{said:?}");
    assert_eq!(seen(&org, own), before);
    assert_eq!(before.status, Status::Approved);
}

/// A manager opening a report's draft by its id (a fresh one, or one they had sent back
/// for changes) gets the not-found page: a draft is its owner's alone.
#[actix_web::test]
async fn a_manager_cannot_open_a_reports_draft() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let fresh = draft(&org, acme.emp, "Fresh draft", "12.00", "travel");
    let returned = draft(&org, acme.emp, "Returned draft", "13.00", "travel");
    step(&org, acme.emp, "employee", returned, Transition::Submit, "");
    step(
        &org,
        acme.boss,
        "manager,employee",
        returned,
        Transition::ReturnForChanges,
        "Add the receipt",
    );
    assert_eq!(claims::get(&org, returned).unwrap().status(), Status::Draft);
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut bea = signed_in(&app, "boss").await;
    for id in [fresh, returned] {
        let page = bea.get(&format!("/claims/{id}")).await;
        assert_not_found(&page, &format!("draft {id}"));
        assert!(!page.body.contains("Returned draft") && !page.body.contains("Fresh draft"));
    }
    let queue = bea.get("/approvals").await;
    assert!(!listed(&queue.body, fresh) && !listed(&queue.body, returned));
    let mut eve = signed_in(&app, "emp").await;
    assert_eq!(
        eve.get(&format!("/claims/{fresh}")).await.status,
        StatusCode::OK
    );
}

/// The admin moves Eve from Bea to Otto: from then on her submitted claim is Otto's to
/// see and decide, and Bea, by URL or queue, has nothing of it.
#[actix_web::test]
async fn a_former_manager_loses_sight_of_the_claims() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = draft(&org, acme.emp, "Moving team", "20.00", "travel");
    step(&org, acme.emp, "employee", id, Transition::Submit, "");
    let url = format!("/claims/{id}");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut bea = signed_in(&app, "boss").await;
    let mut otto = signed_in(&app, "other").await;
    // Before: Bea's, not Otto's.
    assert_eq!(bea.get(&url).await.status, StatusCode::OK);
    assert!(listed(&bea.get("/approvals").await.body, id));
    assert_not_found(&otto.get(&url).await, "Otto before the move");
    assert!(!listed(&otto.get("/approvals").await.body, id));

    let mut admin = signed_in(&app, "admin").await;
    let user_page = format!("/admin/users/{}", acme.emp);
    admin.get(&user_page).await;
    let otto_id = acme.other.0.to_string();
    let moved = admin
        .post(&format!("{user_page}/manager"), &[("manager", &otto_id)])
        .await;
    assert_eq!(moved.location(), Some(user_page.as_str()), "{}", moved.body);
    assert_eq!(
        expenseplus::auth::users::get(&org, acme.emp)
            .unwrap()
            .unwrap()
            .manager_id,
        Some(acme.other.0)
    );

    let before = seen(&org, id);
    // Bea, with the session she had: not found, not queued, cannot decide it.
    assert_not_found(&bea.get(&url).await, "Bea after the move");
    let queue = bea.get("/approvals").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(!listed(&queue.body, id), "still in Bea's queue");
    let v = before.version.to_string();
    let page = bea
        .post(&format!("{url}/approve"), &[("version", &v)])
        .await;
    assert_not_found(&page, "Bea approves after the move");
    assert_eq!(seen(&org, id), before);

    // Otto now sees it, in his queue, with the decision form.
    let page = otto.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Moving team"));
    assert!(page.body.contains("Your decision"), "{}", page.body);
    assert!(listed(&otto.get("/approvals").await.body, id));
}

/// The SVG chart inside a dashboard, decoded from its `data:` URI.
fn chart_svg(body: &str) -> String {
    let marker = "src=\"data:image/svg+xml;base64,";
    let at = body.find(marker).expect("a chart") + marker.len();
    let encoded = &body[at..at + body[at..].find('"').unwrap()];
    let encoded = encoded
        .replace("&#43;", "+")
        .replace("&#47;", "/")
        .replace("&#61;", "=");
    String::from_utf8(data_encoding::BASE64.decode(encoded.as_bytes()).unwrap()).unwrap()
}

/// The team-spend table of a dashboard.
fn spend_table(body: &str) -> String {
    let at = body.find("<table class=\"spend\">").expect("a spend table");
    let end = at + body[at..].find("</table>").unwrap();
    body[at..end].to_owned()
}

/// Claims of another manager's reports are in neither the table nor the chart of a
/// manager's team spend; their own manager sees them.
#[actix_web::test]
async fn team_spend_shows_only_ones_own_reports() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let olly = acme.env.create_user(
        &org,
        "olly@acme.example",
        "Olly Ottoteam",
        "employee",
        Some(acme.other),
    );
    let eve_claim = draft(&org, acme.emp, "Eve lunch", "12.34", "meals");
    step(
        &org,
        acme.emp,
        "employee",
        eve_claim,
        Transition::Submit,
        "",
    );
    let olly_claim = draft(&org, olly, "Olly hotel", "177.77", "accommodation");
    step(&org, olly, "employee", olly_claim, Transition::Submit, "");
    step(
        &org,
        acme.other,
        "manager,employee",
        olly_claim,
        Transition::Approve,
        "",
    );

    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut bea = signed_in(&app, "boss").await;
    let home = bea.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let table = spend_table(&home.body);
    assert!(table.contains(">Meals</th>"), "{table}");
    assert!(table.contains("<td class=\"num\">12.34</td>"), "{table}");
    assert!(!table.contains("Accommodation"), "{table}");
    assert!(!table.contains("177.77"), "{table}");
    let svg = chart_svg(&home.body);
    assert!(svg.contains("Meals"), "{svg}");
    assert!(svg.contains("12.34 GBP"), "{svg}");
    assert!(!svg.contains("Accommodation"), "{svg}");
    assert!(!svg.contains("177.77"), "{svg}");
    assert!(!home.body.contains("177.77"));

    // The control: Otto's dashboard has Olly's spend and none of Eve's.
    let mut otto = signed_in(&app, "other").await;
    let home = otto.get("/").await;
    let table = spend_table(&home.body);
    assert!(table.contains(">Accommodation</th>"), "{table}");
    assert!(table.contains("<td class=\"num\">177.77</td>"), "{table}");
    assert!(
        !table.contains("Meals") && !table.contains("12.34"),
        "{table}"
    );
    let svg = chart_svg(&home.body);
    assert!(
        svg.contains("177.77 GBP") && !svg.contains("12.34"),
        "{svg}"
    );
}

/// Otto posts the removal of Bea's delegation by its id. The app answers exactly as for
/// a delegation that does not exist (so ids say nothing); the delegation stays, still
/// listed for Bea and still in force.
#[actix_web::test]
async fn another_managers_delegation_cannot_be_removed() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = delegation::add(
        &org,
        acme.boss,
        roles("manager,employee"),
        &DelegationInput {
            delegate: acme.mgr.0.to_string(),
            from: uk_day(0),
            to: uk_day(3),
        },
    )
    .unwrap()
    .unwrap();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut otto = signed_in(&app, "other").await;
    otto.get("/approvals").await;

    // What a delegation that does not exist gets.
    let missing = otto
        .post(&format!("/approvals/delegations/{}/remove", id + 1000), &[])
        .await;
    let missing_notice = otto.get("/approvals").await.body;
    // Bea's.
    let theirs = otto
        .post(&format!("/approvals/delegations/{id}/remove"), &[])
        .await;
    assert_ne!(theirs.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        (theirs.status, theirs.location()),
        (missing.status, missing.location()),
        "the same answer as for no such delegation"
    );
    // The app's answer: back to the queue, told it is not there (not a 404 page).
    assert_eq!(theirs.status, StatusCode::SEE_OTHER);
    assert_eq!(theirs.location(), Some("/approvals"));
    let page = otto.get("/approvals").await;
    assert!(
        page.body.contains("That delegation is not there any more."),
        "{}",
        page.body
    );
    assert!(missing_notice.contains("That delegation is not there any more."));
    assert!(
        !page
            .body
            .contains(&format!("action=\"/approvals/delegations/{id}/remove\"")),
        "Otto is not offered Bea's delegation"
    );

    // Still there for Bea, and still in force for Mo.
    let mut bea = signed_in(&app, "boss").await;
    let page = bea.get("/approvals").await;
    assert!(
        page.body
            .contains(&format!("action=\"/approvals/delegations/{id}/remove\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("Mo Manager"));
    assert_eq!(
        delegation::current(&org, acme.boss, false)
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        vec![id]
    );
    assert_eq!(
        delegation::acting_for(&org, acme.mgr).unwrap(),
        vec![acme.boss]
    );
}

/// The claims of the walk, one per status, all Eve's (reporting to Bea).
fn one_claim_per_status(acme: &common::Acme, org: &Org) -> Vec<(Status, i64)> {
    let (emp, boss, fin) = (acme.emp, acme.boss, acme.fin);
    let mgr = "manager,employee";
    let d = draft(org, emp, "Walk draft", "20.00", "travel");
    let s = draft(org, emp, "Walk submitted", "20.00", "travel");
    step(org, emp, "employee", s, Transition::Submit, "");
    let af = draft(org, emp, "Walk awaiting", "1500.00", "training");
    step(org, emp, "employee", af, Transition::Submit, "");
    step(org, boss, mgr, af, Transition::Approve, "");
    let ap = draft(org, emp, "Walk approved", "20.00", "travel");
    step(org, emp, "employee", ap, Transition::Submit, "");
    step(org, boss, mgr, ap, Transition::Approve, "");
    let rj = draft(org, emp, "Walk rejected", "20.00", "travel");
    step(org, emp, "employee", rj, Transition::Submit, "");
    step(org, boss, mgr, rj, Transition::Reject, "No");
    let pd = draft(org, emp, "Walk paid", "20.00", "travel");
    step(org, emp, "employee", pd, Transition::Submit, "");
    step(org, boss, mgr, pd, Transition::Approve, "");
    step(org, fin, "finance", pd, Transition::MarkPaid, "");
    let out = vec![
        (Status::Draft, d),
        (Status::Submitted, s),
        (Status::AwaitingFinance, af),
        (Status::Approved, ap),
        (Status::Rejected, rj),
        (Status::Paid, pd),
    ];
    for (status, id) in &out {
        assert_eq!(claims::get(org, *id).unwrap().status(), *status);
    }
    out
}

fn verb(t: Transition) -> &'static str {
    match t {
        Transition::Submit => "submitted",
        Transition::Approve => "approved",
        Transition::Reject => "rejected",
        Transition::ReturnForChanges => "returned for changes",
        Transition::MarkPaid => "marked paid",
    }
}

/// Every status x every action by the role that would take it (the owner submits, the
/// manager decides, finance gives the second decision and pays): each move the state
/// machine does not allow is refused, with the not-found page where the actor may not
/// see the claim and otherwise the claim page saying why (422), and the claim keeps its
/// status, version, lines and history.
#[actix_web::test]
async fn every_move_the_state_machine_forbids_is_refused_through_the_pages() {
    use Status::*;
    use Transition::*;
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let walk = one_claim_per_status(&acme, &org);
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut eve = signed_in(&app, "emp").await;
    let mut bea = signed_in(&app, "boss").await;
    let mut finn = signed_in(&app, "fin").await;
    let actions: [(&str, &str, Transition); 8] = [
        ("emp", "submit", Submit),
        ("boss", "approve", Approve),
        ("boss", "reject", Reject),
        ("boss", "return", ReturnForChanges),
        ("fin", "approve", Approve),
        ("fin", "reject", Reject),
        ("fin", "return", ReturnForChanges),
        ("fin", "paid", MarkPaid),
    ];
    let sees = |who: &str, s: Status| match who {
        "emp" => true,
        "boss" => s != Draft,
        _ => matches!(s, AwaitingFinance | Approved | Paid),
    };
    let allowed = |who: &str, t: Transition, s: Status| {
        matches!(
            (s, who, t),
            (Draft, "emp", Submit)
                | (Submitted, "boss", Approve | Reject | ReturnForChanges)
                | (AwaitingFinance, "fin", Approve | Reject | ReturnForChanges)
                | (Approved, "fin", MarkPaid)
        )
    };
    let mut refused = 0;
    for (status, id) in &walk {
        let url = format!("/claims/{id}");
        for (who, action, t) in actions {
            if allowed(who, t, *status) {
                continue;
            }
            let before = seen(&org, *id);
            let v = before.version.to_string();
            let fields = [("version", v.as_str()), ("comment", "because")];
            let path = format!("{url}/{action}");
            let c = match who {
                "emp" => &mut eve,
                "boss" => &mut bea,
                _ => &mut finn,
            };
            let page = c.post(&path, &fields).await;
            let what = format!("{who} {action} on a {status:?} claim");
            if sees(who, *status) {
                assert_eq!(
                    page.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{what}: {}",
                    page.body
                );
                let said = alert(&page.body).unwrap_or_default();
                let want = if (*status, who, t) == (AwaitingFinance, "boss", Approve) {
                    // Bea gave the first approval; the second is someone else's.
                    "The second approval must come from someone other than the first approver."
                        .to_owned()
                } else {
                    let mut a_claim = status.a_claim().to_owned();
                    a_claim[..1].make_ascii_uppercase();
                    format!("{a_claim} cannot be {}.", verb(t))
                };
                assert!(said == want, "{what}: said {said:?}, want {want:?}");
                // The claim page itself, as it is now.
                assert!(page.body.contains("<h1>Walk "), "{what}: {}", page.body);
            } else {
                assert_not_found(&page, &what);
            }
            assert_eq!(seen(&org, *id), before, "{what}: nothing changed");
            refused += 1;
        }
    }
    assert_eq!(refused, 6 * 8 - 8, "every refused combination was tried");
    // And the allowed ones still work from here (the walk did not break the claims).
    let (_, draft_id) = walk[0];
    let v = claims::get(&org, draft_id).unwrap().version.to_string();
    let page = eve
        .post(&format!("/claims/{draft_id}/submit"), &[("version", &v)])
        .await;
    assert_eq!(
        page.location(),
        Some(format!("/claims/{draft_id}").as_str())
    );
}

/// A refusal reads as English: the status after "a" or "an" as the word needs.
#[actix_web::test]
async fn a_refusal_uses_the_right_article() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let walk = one_claim_per_status(&acme, &org);
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut bea = signed_in(&app, "boss").await;
    let (_, approved) = walk[3];
    let v = claims::get(&org, approved).unwrap().version.to_string();
    let page = bea
        .post(
            &format!("/claims/{approved}/approve"),
            &[("version", &v), ("comment", "again")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        alert(&page.body).as_deref(),
        Some("An approved claim cannot be approved.")
    );
}
