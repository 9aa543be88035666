//! The request register through the pages: a request's whole life, refusal and
//! extension rules, one organisation's ids are another's 404, employees see only their
//! own requests, notes are sealed and escaped and erased with their subject.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD};
use diesel::prelude::*;
use expenseplus::audit::{self, Action, Filter};
use expenseplus::privacy::{self, deadlines};
use expenseplus::web::build_app;

fn today() -> time::Date {
    deadlines::uk_today(time::OffsetDateTime::now_utc())
}

fn days_ago(n: i64) -> String {
    (today() - time::Duration::days(n)).to_string()
}

fn audit_count(org: &expenseplus::tenancy::Org, action: Action) -> usize {
    let filter = Filter {
        action: Some(action),
        ..Default::default()
    };
    audit::page(org, &filter, None, 1000).unwrap().len()
}

#[actix_web::test]
async fn a_request_from_logging_to_completion() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let list = dpo.get("/privacy/requests").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("No requests yet."));
    // The received date defaults to today.
    assert!(list.body.contains(&format!("value=\"{}\"", today())));

    let made = dpo
        .post(
            "/privacy/requests",
            &[
                ("subject_email", " EMP@acme.example "),
                ("kind", "access"),
                ("received", "2026-01-31"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let url = made.location().unwrap().to_owned();
    let id: i64 = url.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(
        privacy::subject_of(&org, id).unwrap(),
        Some(acme.emp),
        "subject_of names the subject"
    );
    assert_eq!(privacy::subject_of(&org, id + 100).unwrap(), None);

    let page = dpo.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Eve Employee"));
    assert!(page.body.contains("emp@acme.example"));
    // Received 31 January: due on the last day of February.
    assert!(page.body.contains("2026-02-28"), "{}", page.body);
    assert!(page.body.contains("Request ") && page.body.contains("received"));
    // Looking at the request is a view of the subject's data.
    assert_eq!(audit_count(&org, Action::ViewedPerson), 1);

    let list = dpo.get("/privacy/requests").await;
    assert!(list.body.contains("Eve Employee"));
    assert!(list.body.contains("overdue"), "received long ago: overdue");
    // The list names her too: a view in her trail, which an administrator's audit
    // viewer does not show (it would tell them she has dealings with the DPO).
    let hers = |without_privacy| {
        let f = Filter {
            person: Some(acme.emp),
            without_privacy,
            ..Default::default()
        };
        audit::page(&org, &f, None, 100).unwrap()
    };
    assert!(
        hers(false)
            .iter()
            .any(|e| e.detail == "privacy request list" && e.subject_id == Some(acme.emp.0)),
        "{:?}",
        hers(false)
    );
    assert!(hers(true).iter().all(|e| !e.detail.starts_with("privacy")));

    // Work cannot start before identity is verified; verification needs a method.
    let early = dpo.post(&format!("{url}/start"), &[]).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        early
            .body
            .contains("once the person&#39;s identity is verified")
            || early.body.contains("identity is verified")
    );
    let blank = dpo
        .post(&format!("{url}/verify"), &[("method", "  ")])
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.body.contains("Give how identity was checked."));

    let v = dpo
        .post(
            &format!("{url}/verify"),
            &[("method", "asked in person, badge seen")],
        )
        .await;
    assert_eq!(v.status, StatusCode::SEE_OTHER);
    let page = dpo.get(&url).await;
    assert!(page.body.contains("identity verified"));
    assert!(page.body.contains("asked in person, badge seen"));
    // An access request offers the subject's export once identity is verified.
    assert!(
        page.body
            .contains(&format!("href=\"/privacy/requests/{id}/export\""))
    );

    assert_eq!(
        dpo.post(&format!("{url}/start"), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(dpo.get(&url).await.body.contains("in progress"));
    assert_eq!(
        dpo.post(&format!("{url}/complete"), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    let page = dpo.get(&url).await;
    assert!(page.body.contains("completed"));
    assert!(
        !page.body.contains("Mark completed"),
        "no actions on a closed request"
    );
    // Completing twice is refused with a message, not an error page.
    let again = dpo.post(&format!("{url}/complete"), &[]).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(audit_count(&org, Action::PrivacyRequestOpened), 1);
    assert_eq!(audit_count(&org, Action::PrivacyRequestUpdated), 2);
    assert_eq!(audit_count(&org, Action::PrivacyRequestCompleted), 1);
    audit::verify(&org).unwrap();
}

#[actix_web::test]
async fn bad_input_gives_field_messages_and_keeps_what_was_typed() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    dpo.get("/privacy/requests").await;
    let unknown = dpo
        .post(
            "/privacy/requests",
            &[
                ("subject_email", "nobody@acme.example"),
                ("kind", "erasure"),
                ("received", ""),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown
            .body
            .contains("There is no one in this organisation with that email address.")
    );
    assert!(unknown.body.contains("value=\"nobody@acme.example\""));
    assert!(unknown.body.contains("value=\"erasure\" selected"));
    let future = dpo
        .post(
            "/privacy/requests",
            &[
                ("subject_email", "emp@acme.example"),
                ("kind", "access"),
                ("received", "2999-01-01"),
            ],
        )
        .await;
    assert!(future.body.contains("cannot be in the future"));
    let kind = dpo
        .post(
            "/privacy/requests",
            &[("subject_email", "emp@acme.example"), ("kind", "gossip")],
        )
        .await;
    assert!(kind.body.contains("Choose the kind of request."));
    let date = dpo
        .post(
            "/privacy/requests",
            &[
                ("subject_email", "emp@acme.example"),
                ("kind", "access"),
                ("received", "31/01/2026"),
            ],
        )
        .await;
    assert!(date.body.contains("YYYY-MM-DD"));
    assert!(
        dpo.get("/privacy/requests")
            .await
            .body
            .contains("No requests yet.")
    );
}

#[actix_web::test]
async fn deactivated_people_can_be_subjects() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let mut conn = org.conn().unwrap();
    diesel::sql_query("UPDATE users SET active = 0 WHERE email_index IS NOT NULL AND id = ?")
        .bind::<diesel::sql_types::BigInt, _>(acme.other.0)
        .execute(&mut conn)
        .unwrap();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    dpo.get("/privacy/requests").await;
    let made = dpo
        .post(
            "/privacy/requests",
            &[("subject_email", "other@acme.example"), ("kind", "erasure")],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER);
    let page = dpo.get(made.location().unwrap()).await;
    assert!(page.body.contains("Otto Other (deactivated)"));
}

async fn logged<S, B>(dpo: &mut Client<'_, S>, email: &str, kind: &str, received: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    dpo.get("/privacy/requests").await;
    let made = dpo
        .post(
            "/privacy/requests",
            &[
                ("subject_email", email),
                ("kind", kind),
                ("received", received),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    made.location().unwrap().to_owned()
}

#[actix_web::test]
async fn refusal_needs_a_reason_and_the_person_sees_it() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = logged(&mut dpo, "emp@acme.example", "objection", "").await;
    dpo.get(&url).await;
    let bare = dpo.post(&format!("{url}/refuse"), &[("reason", " ")]).await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bare.body.contains("Give the reason for refusing."));
    assert!(
        dpo.get(&url)
            .await
            .body
            .contains("<span class=\"status\">received</span>")
    );
    let ok = dpo
        .post(
            &format!("{url}/refuse"),
            &[("reason", "The processing is needed to pay you.")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let page = dpo.get(&url).await;
    assert!(page.body.contains("Refused because"));
    assert!(page.body.contains("The processing is needed to pay you."));
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let mine = emp.get("/me/privacy").await;
    assert!(mine.body.contains("refused"));
    assert!(mine.body.contains("The processing is needed to pay you."));
}

#[actix_web::test]
async fn extension_once_by_at_most_two_months_within_the_first_month() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = logged(&mut dpo, "emp@acme.example", "access", &days_ago(3)).await;
    let page = dpo.get(&url).await;
    assert!(page.body.contains("Extend the deadline"));
    let three = dpo
        .post(
            &format!("{url}/extend"),
            &[("months", "3"), ("extension_reason", "many claims")],
        )
        .await;
    assert_eq!(three.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        three
            .body
            .contains("An extension must be one or two months.")
    );
    let no_reason = dpo.post(&format!("{url}/extend"), &[("months", "2")]).await;
    assert!(
        no_reason
            .body
            .contains("Give the reason for the extension.")
    );
    let ok = dpo
        .post(
            &format!("{url}/extend"),
            &[
                ("months", "2"),
                ("extension_reason", "Six years of claims to gather."),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let page = dpo.get(&url).await;
    let received = today() - time::Duration::days(3);
    let due = deadlines::add_months(received, 3);
    assert!(
        page.body.contains(&due.to_string()),
        "due {due}: {}",
        page.body
    );
    assert!(page.body.contains("Six years of claims to gather."));
    assert!(
        !page.body.contains("Extend the deadline"),
        "offered only once"
    );
    let again = dpo
        .post(
            &format!("{url}/extend"),
            &[("months", "1"), ("extension_reason", "more")],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("already been extended once"));

    // A request whose first month is over can no longer be extended.
    let old = logged(&mut dpo, "emp@acme.example", "access", &days_ago(40)).await;
    let late = dpo
        .post(
            &format!("{old}/extend"),
            &[("months", "1"), ("extension_reason", "busy")],
        )
        .await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        late.body
            .contains("only be extended within the first month")
    );
}

#[actix_web::test]
async fn asking_for_proof_of_identity_stops_the_clock() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = logged(&mut dpo, "boss@acme.example", "portability", &days_ago(10)).await;
    dpo.get(&url).await;
    assert_eq!(
        dpo.post(&format!("{url}/ask-identity"), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    let page = dpo.get(&url).await;
    assert!(page.body.contains("waiting for proof of identity"));
    let list = dpo.get("/privacy/requests").await;
    assert!(!list.body.contains("overdue by"), "paused, not overdue");
    dpo.post(
        &format!("{url}/verify"),
        &[("method", "passport copy by post")],
    )
    .await;
    let page = dpo.get(&url).await;
    // The clock runs from verification (today), not from receipt 10 days ago.
    let due = deadlines::add_months(today(), 1);
    assert!(page.body.contains(&due.to_string()));
}

#[actix_web::test]
async fn another_organisations_request_ids_are_404() {
    let acme = common::acme_with_people();
    let globex = acme.env.create_org("globex", "Globex plc");
    acme.env
        .create_user(&globex, "dpo@globex.example", "Gail DPO", "dpo", None);
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = logged(&mut dpo, "emp@acme.example", "erasure", "").await;
    let mut other = Client::new(&app);
    other
        .sign_in("globex", "dpo@globex.example", PASSWORD)
        .await;
    assert_eq!(other.get(&url).await.status, StatusCode::NOT_FOUND);
    for step in [
        "verify",
        "start",
        "complete",
        "refuse",
        "extend",
        "note",
        "ask-identity",
    ] {
        let p = other
            .post(
                &format!("{url}/{step}"),
                &[("method", "x"), ("reason", "x"), ("note", "x")],
            )
            .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{step}");
    }
    assert!(
        other
            .get("/privacy/requests")
            .await
            .body
            .contains("No requests yet.")
    );
    // The acme request is untouched.
    assert!(
        dpo.get(&url)
            .await
            .body
            .contains("<span class=\"status\">received</span>")
    );
}

#[actix_web::test]
async fn employees_start_and_see_only_their_own_requests() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let page = emp.get("/me/privacy").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("href=\"/me/data\""));
    assert!(page.body.contains("You have made no requests."));
    let made = emp
        .post(
            "/me/privacy",
            &[
                ("kind", "rectification"),
                ("note", "My surname is misspelt."),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER);
    assert_eq!(made.location(), Some("/me/privacy"));
    let bad = emp.post("/me/privacy", &[("kind", "nonsense")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Choose what you are asking for."));

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    boss.get("/me/privacy").await;
    boss.post("/me/privacy", &[("kind", "erasure")]).await;

    let mine = emp.get("/me/privacy").await;
    assert!(mine.body.contains("rectification"));
    assert!(
        !mine.body.contains("erasure</td>"),
        "not the boss's request"
    );
    assert!(
        mine.body
            .contains(&deadlines::add_months(today(), 1).to_string())
    );
    let theirs = boss.get("/me/privacy").await;
    assert!(theirs.body.contains("erasure</td>"));
    assert!(!theirs.body.contains("rectification</td>"));
    // Employees cannot open the register or a request page.
    assert_eq!(
        emp.get("/privacy/requests").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        emp.get("/privacy/requests/1").await.status,
        StatusCode::FORBIDDEN
    );

    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let list = dpo.get("/privacy/requests").await;
    assert!(list.body.contains("Eve Employee") && list.body.contains("Bea Boss"));
    let page = dpo.get("/privacy/requests/1").await;
    assert!(page.body.contains("from their own privacy page"));
    assert!(page.body.contains("My surname is misspelt."));
}

#[actix_web::test]
async fn notes_are_escaped_sealed_and_erased_with_their_subject() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = logged(&mut dpo, "emp@acme.example", "erasure", "").await;
    let note = "<script>alert('Quetzalcoatl')</script>";
    assert_eq!(
        dpo.post(&format!("{url}/note"), &[("note", note)])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // The form's choice: this one is kept out of the person's own copy.
    let held = "Spoke to her manager Okapi";
    dpo.post(
        &format!("{url}/note"),
        &[("note", held), ("withheld", "yes")],
    )
    .await;
    let id: i64 = url.rsplit('/').next().unwrap().parse().unwrap();
    let notes = expenseplus::privacy::requests::notes_of(&org, id).unwrap();
    assert_eq!(
        notes.iter().map(|n| n.withheld).collect::<Vec<_>>(),
        [false, true]
    );
    assert!(
        dpo.get(&url)
            .await
            .body
            .contains("(withheld from their copy)")
    );
    dpo.post(
        &format!("{url}/verify"),
        &[("method", "Zanzibar-badge-check")],
    )
    .await;
    let page = dpo.get(&url).await;
    assert!(!page.body.contains("<script>alert"), "escaped");
    assert!(page.body.contains("&#60;script&#62;alert"), "{}", page.body);
    // The erasure request offers the erase form (wired by the erasure module).
    assert!(page.body.contains(&format!("action=\"{url}/erase\"")));
    assert!(page.body.contains("name=\"mode\" value=\"now\""));
    assert!(
        page.body
            .contains("name=\"mode\" value=\"after_retention\"")
    );
    assert!(page.body.contains("name=\"confirm\""));
    common::assert_absent(&acme.env.data_dir(), "Quetzalcoatl");
    common::assert_absent(&acme.env.data_dir(), "Zanzibar-badge-check");

    // Erase the subject by destroying their key: the notes read "erased", the row stays.
    let person = expenseplus::auth::users::get(&org, acme.emp)
        .unwrap()
        .unwrap();
    org.keys.destroy(person.person_key()).unwrap();
    let page = dpo.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Quetzalcoatl"));
    assert!(!page.body.contains("Zanzibar"));
    assert!(page.body.contains("erased"));
    // Completing still works after erasure; new notes are refused in plain words.
    let id: i64 = url.rsplit('/').next().unwrap().parse().unwrap();
    let not_dpo = expenseplus::auth::Roles::parse_list("admin,employee").unwrap();
    assert_eq!(
        privacy::Dpo::check(acme.admin, not_dpo),
        None,
        "the domain checks the role"
    );
    let dpo_role = expenseplus::auth::Roles::parse_list("dpo").unwrap();
    let as_dpo = privacy::Dpo::check(acme.dpo, dpo_role).unwrap();
    privacy::mark_completed(&org, as_dpo, id, today()).unwrap();
    let refused = dpo.post(&format!("{url}/note"), &[("note", "more")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("has been erased"));
    assert!(
        dpo.get("/privacy/requests")
            .await
            .body
            .contains("completed")
    );
}

#[actix_web::test]
async fn dashboard_counts_requests_due_soon_and_overdue() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let home = dpo.get("/").await;
    assert!(home.body.contains("0 requests overdue"));
    logged(&mut dpo, "emp@acme.example", "access", &days_ago(40)).await;
    logged(&mut dpo, "boss@acme.example", "access", &days_ago(40)).await;
    // Received 26 days ago: due in at most 5 days whatever the month lengths.
    logged(&mut dpo, "fin@acme.example", "erasure", &days_ago(26)).await;
    logged(&mut dpo, "mgr@acme.example", "erasure", &days_ago(1)).await;
    let home = dpo.get("/").await;
    assert!(home.body.contains("2 requests overdue"), "{}", home.body);
    assert!(home.body.contains("1 request due within 7 days"));
    let list = dpo.get("/privacy/requests").await;
    // Overdue first, then due soon, then the rest.
    let first = list.body.find("overdue by").unwrap();
    let soon = list.body.find("due soon").unwrap();
    let later = list.body.find("days left</td>").unwrap();
    assert!(first < soon && soon < later);
    // Other roles' dashboards have no privacy figures.
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let home = emp.get("/").await;
    assert!(!home.body.contains("requests overdue"));
    assert!(home.body.contains("href=\"/me/privacy\""));
}
