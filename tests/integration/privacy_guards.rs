//! Guards between the privacy rights: retention leaves restricted people's data alone
//! (unless the DPO scheduled their erasure), restricting keeps a scheduled erasure, and
//! proof of identity cannot be asked for once a request's first month is over.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, acme_with_people};
use expenseplus::auth::account;
use expenseplus::crypto::Revealed;
use expenseplus::expenses::claims;
use expenseplus::ids::UserId;
use expenseplus::privacy::erasure::{self, Mode, Outcome};
use expenseplus::privacy::requests::{self, NewRequest};
use expenseplus::privacy::retention::{self, add_months};
use expenseplus::privacy::{Dpo, RequestError, deadlines, restriction};
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;
use time::macros::date;
use time::{Date, Duration, OffsetDateTime};

fn today() -> Date {
    deadlines::uk_today(OffsetDateTime::now_utc())
}

fn key_alive(org: &Org, user: UserId) -> bool {
    let row = expenseplus::auth::users::get(org, user).unwrap().unwrap();
    matches!(org.keys.open(&row.name).unwrap(), Revealed::Value(_))
}

#[actix_web::test]
async fn retention_keeps_a_restricted_leavers_claims_and_key() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let held = common::claim_with_line(&org, p.emp, "held");
    let gone = common::claim_with_line(&org, p.other, "gone");
    common::age_claim(&org, held, date!(2019 - 04 - 05));
    common::age_claim(&org, gone, date!(2019 - 04 - 05));
    restriction::restrict(&org, p.dpo, p.emp, "needed for a legal claim").unwrap();
    account::set_active(&org, p.admin, p.emp, false).unwrap();
    account::set_active(&org, p.admin, p.other, false).unwrap();

    // Past the claims period and the twelve-month profile period of both.
    let r = retention::run(&org, add_months(today(), 13)).unwrap();
    assert_eq!(r.claims_deleted, vec![gone]);
    assert_eq!(r.erased_profiles, vec![p.other]);
    assert!(claims::get(&org, held).is_ok() && claims::get(&org, gone).is_err());
    assert!(key_alive(&org, p.emp));
    assert!(!key_alive(&org, p.other));
    assert!(restriction::flags(&org, p.emp).unwrap().restricted());
}

#[actix_web::test]
async fn restricting_keeps_a_scheduled_erasure_which_still_runs_on_the_day() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    common::claim_with_line(&org, p.emp, "kept");
    let Outcome::Scheduled(due) =
        erasure::erase(&org, p.dpo, p.emp, Mode::AfterRetention, today()).unwrap()
    else {
        panic!("a person with a claim to keep is scheduled, not erased now");
    };
    restriction::restrict(&org, p.dpo, p.emp, "needed for a legal claim").unwrap();
    let flags = restriction::flags(&org, p.emp).unwrap();
    assert!(flags.restricted());
    assert_eq!(flags.erase_due, Some(due.to_string()));

    let r = retention::run(&org, due).unwrap();
    assert_eq!(r.erased_scheduled, vec![p.emp]);
    assert!(!key_alive(&org, p.emp));
}

fn open(org: &Org, dpo: Dpo, email: &str, received: Date) -> i64 {
    let new = NewRequest {
        subject_email: email.into(),
        kind: "access".into(),
        received: received.to_string(),
    };
    requests::open(org, dpo, &new, today()).unwrap()
}

#[actix_web::test]
async fn proof_of_identity_cannot_be_asked_for_once_the_first_month_is_over() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let roles = expenseplus::auth::Roles::parse_list("dpo").unwrap();
    let dpo = Dpo::check(p.dpo, roles).unwrap();
    let received = today() - Duration::days(40);
    let old = open(&org, dpo, "emp@acme.example", received);
    let fresh = open(&org, dpo, "boss@acme.example", today());

    let refused = requests::ask_identity(&org, dpo, old, today());
    assert!(
        matches!(refused, Err(RequestError::Refused(_))),
        "{refused:?}"
    );
    let r = requests::get(&org, old).unwrap();
    assert_eq!(r.identity_requested_on, None);
    assert_eq!(r.due(), Some(deadlines::add_months(received, 1)));
    // The last day of the first month still counts.
    let due_day = open(&org, dpo, "fin@acme.example", received);
    let first_due = deadlines::add_months(received, 1);
    requests::ask_identity(&org, dpo, due_day, first_due).unwrap();
    requests::ask_identity(&org, dpo, fresh, today()).unwrap();
    assert!(requests::get(&org, fresh).unwrap().due().is_none());

    // The page says why, in words.
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut client = Client::new(&app);
    client.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = format!("/privacy/requests/{old}");
    client.get(&url).await;
    let page = client.post(&format!("{url}/ask-identity"), &[]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains(&format!("This request was due on {first_due}")),
        "{}",
        page.body
    );
}

/// The only active administrator cannot be erased (nobody would be left to manage
/// people); once someone else holds the role, they can.
#[test]
fn the_only_administrator_is_not_erased() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let today = time::OffsetDateTime::now_utc().date();
    let refused = erasure::erase(&org, acme.dpo, acme.admin, Mode::Now, today);
    assert!(
        matches!(&refused, Err(expenseplus::privacy::PrivacyError::Invalid(m)) if m.contains("only administrator")),
        "{refused:?}"
    );
    acme.env
        .create_user(&org, "admin2@acme.example", "Second Admin", "admin", None);
    let done = erasure::erase(&org, acme.dpo, acme.admin, Mode::Now, today).unwrap();
    assert!(matches!(done, Outcome::Erased(_)));
}

/// The access export holds what the privacy register keeps about the person: the
/// restriction's reason, their own notes on their requests (the DPO's working notes
/// counted, not shown), the identity dates, and the delegations they gave or received.
#[test]
fn the_export_holds_the_register_and_delegations() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::delegation::{self, DelegationInput};
    use expenseplus::privacy::export;
    let acme = acme_with_people();
    let org = acme.env.org("acme");
    let day = today();
    let id =
        requests::open_own(&org, acme.boss, "access", "Please include my mileage", day).unwrap();
    let dpo = Dpo::check(acme.dpo, Roles::parse_list("dpo").unwrap()).unwrap();
    requests::add_note(&org, dpo, id, "Called HR about the mileage records", true).unwrap();
    requests::ask_identity(&org, dpo, id, day).unwrap();
    restriction::restrict(&org, acme.dpo, acme.boss, "Accuracy contested").unwrap();
    let made = delegation::add(
        &org,
        acme.boss,
        Roles::parse_list("manager,employee").unwrap(),
        &DelegationInput {
            delegate: acme.other.0.to_string(),
            from: day.to_string(),
            to: day.to_string(),
        },
    )
    .unwrap();
    assert!(made.is_ok());

    let (data, _) = export::collect(&org, acme.boss).unwrap();
    assert_eq!(
        data.person.restriction_reason.as_deref(),
        Some("Accuracy contested")
    );
    let r = &data.privacy_requests[0];
    assert_eq!(r.your_notes, vec!["Please include my mileage".to_owned()]);
    assert_eq!(r.notes_withheld, 1);
    assert_eq!(
        r.identity_requested_on.as_deref(),
        Some(day.to_string().as_str())
    );
    assert_eq!(data.delegations.len(), 1);
    assert_eq!(data.delegations[0].direction, "given");
    // The delegate sees it as received, and nobody is named.
    let (theirs, _) = export::collect(&org, acme.other).unwrap();
    assert_eq!(theirs.delegations[0].direction, "received");
    let json = serde_json::to_string(&theirs).unwrap();
    assert!(!json.contains("Bea Boss"));

    // A decision the delegate took in Bea's name is in her export, without the
    // delegate's words.
    use expenseplus::expenses::status::Transition;
    let claim = common::claim_with_line(&org, acme.emp, "delegated");
    let act = |who, r: &str, t| {
        let r = Roles::parse_list(r).unwrap();
        claims::transition(&org, who, r, claim, None, t, "Otto says fine").unwrap()
    };
    act(acme.emp, "employee", Transition::Submit);
    act(acme.other, "manager,employee", Transition::Approve);
    let (data, _) = export::collect(&org, acme.boss).unwrap();
    let decided = data
        .actions_on_other_claims
        .iter()
        .find(|a| a.claim_id == claim)
        .expect("the delegate's decision in her name");
    assert!(decided.by_delegate && decided.comment.is_none());
}
