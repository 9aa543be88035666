//! What a page left open or a form posted again can reach. Ids of discarded claims,
//! removed lines and receipts, and removed delegations are never given again, so an
//! old page cannot act on a newer row that took the same id. A form that made a claim
//! or a line stays a repeat after that claim is discarded or the line is edited or
//! removed. Starting a claim and adding a line are audited like every other change.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, field_value};
use expenseplus::audit::{self, Action};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, ClaimError, LineInput};
use expenseplus::expenses::delegation::{self, DelegationInput};
use expenseplus::expenses::receipts::{self, Upload};
use expenseplus::expenses::{drafts, line_edit, lists};
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

fn line(merchant: &str, key: &str) -> LineInput {
    LineInput {
        date: today(),
        category: "meals".into(),
        merchant: merchant.into(),
        amount: "12.00".into(),
        currency: "GBP".into(),
        form_key: key.into(),
        ..Default::default()
    }
}

fn audited(org: &Org, action: Action) -> Vec<String> {
    common::audited(org, action)
        .into_iter()
        .map(|e| e.detail)
        .collect()
}

/// The helper's scenario: a draft discarded as the newest claim, and the next claim
/// anyone starts. Before, SQLite gave that claim the same id (and the same starting
/// version), so a manager's page still open on the old one could act on the new one.
#[test]
fn ids_of_discarded_and_removed_rows_are_never_given_again() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");

    let old = claims::create(&org, acme.emp, "Old trip", "c-old").unwrap();
    let receipt = Upload::File(common::png());
    let added =
        receipts::add_line_with_receipt(&org, acme.emp, old, &line("Cafe", "l-old"), receipt)
            .unwrap();
    assert!(matches!(added, AddLine::Added));
    let old_line = claims::lines(&org, old).unwrap()[0].id;
    let old_receipt = receipts::for_claim(&org, old).unwrap()[0].id;
    drafts::discard(&org, acme.emp, old, None).unwrap();

    // Someone else's new claim, line and receipt each take a new id.
    let new = claims::create(&org, acme.boss, "New trip", "c-new").unwrap();
    assert!(new > old, "claim {new} after discarded {old}");
    let receipt = Upload::File(common::png());
    receipts::add_line_with_receipt(&org, acme.boss, new, &line("Deli", "l-new"), receipt).unwrap();
    assert!(claims::lines(&org, new).unwrap()[0].id > old_line);
    assert!(receipts::for_claim(&org, new).unwrap()[0].id > old_receipt);
    // The old id names nothing now, for anyone.
    assert!(matches!(claims::get(&org, old), Err(ClaimError::NotFound)));

    // A delegation removed, then another named: a remove posted again cannot hit it.
    let roles = Roles::parse_list("manager,employee").unwrap();
    let input = |to: &str| DelegationInput {
        delegate: acme.other.0.to_string(),
        from: today(),
        to: to.to_owned(),
    };
    let first = delegation::add(&org, acme.boss, roles, &input(&today()))
        .unwrap()
        .unwrap();
    assert!(delegation::remove(&org, acme.boss, first).unwrap());
    let tomorrow = (time::OffsetDateTime::now_utc().date() + time::Duration::days(1)).to_string();
    let second = delegation::add(&org, acme.boss, roles, &input(&tomorrow))
        .unwrap()
        .unwrap();
    assert!(second > first);
    assert!(
        !delegation::remove(&org, acme.boss, first).unwrap(),
        "the old remove again finds nothing"
    );
    assert!(delegation::remove(&org, acme.boss, second).unwrap());
}

/// A form posted again after what it made changed: the line form after the line was
/// edited or removed, the claim form after the claim was discarded.
#[test]
fn a_used_form_stays_used_after_its_line_or_claim_is_gone() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = claims::create(&org, acme.emp, "Lunches", "c1").unwrap();
    let add = |key: &str| claims::add_line(&org, acme.emp, id, &line("Cafe One", key)).unwrap();
    assert!(matches!(add("a1"), AddLine::Added));
    assert!(matches!(add("a2"), AddLine::Added));
    let lines = claims::lines(&org, id).unwrap();
    let (edited, removed) = (lines[0].id, lines[1].id);

    // The first line edited (its edit form's key now on it), the second removed.
    let v = claims::get(&org, id).unwrap().version;
    let changed = line_edit::update(
        &org,
        acme.emp,
        id,
        edited,
        v,
        &line("Cafe Uno", "e1"),
        Upload::None,
    )
    .unwrap();
    assert!(matches!(changed, AddLine::Added));
    let v = claims::get(&org, id).unwrap().version;
    line_edit::remove(&org, acme.emp, id, removed, v).unwrap();

    // Both add forms again (a response lost, the button pressed in the first tab):
    // repeats, so no line comes back and none is doubled.
    assert!(matches!(add("a1"), AddLine::Added));
    assert!(matches!(add("a2"), AddLine::Added));
    let now = claims::lines(&org, id).unwrap();
    assert_eq!(now.len(), 1, "the edited line alone");
    assert_eq!(now[0].id, edited);
    assert_eq!(claims::get(&org, id).unwrap().total_minor, 1200);
    // A used key sent with another claim is still refused as a form for another claim.
    let other = claims::create(&org, acme.emp, "Other", "c2").unwrap();
    let wrong = claims::add_line(&org, acme.emp, other, &line("Cafe", "a2"));
    assert!(
        matches!(&wrong, Err(ClaimError::Invalid(m)) if m.contains("another claim")),
        "{wrong:?}"
    );

    // The claim discarded, and its form posted again: no new claim, and a reason.
    let v = claims::get(&org, id).unwrap().version;
    drafts::discard(&org, acme.emp, id, Some(v)).unwrap();
    let again = claims::create(&org, acme.emp, "Lunches", "c1");
    assert!(
        matches!(&again, Err(ClaimError::Invalid(m)) if m.contains("has been discarded")),
        "{again:?}"
    );
    let mine = lists::list_own(&org, acme.emp, &Default::default(), None, 50).unwrap();
    assert_eq!(mine.iter().map(|c| c.id).collect::<Vec<_>>(), vec![other]);

    // Every change is in the audit log, by ids only; the repeats are not.
    assert_eq!(
        audited(&org, Action::ClaimCreated),
        vec![format!("claim {other}"), format!("claim {id}")]
    );
    assert_eq!(
        audited(&org, Action::ClaimLineAdded),
        vec![
            format!("claim {id} line {removed}"),
            format!("claim {id} line {edited}")
        ]
    );
    audit::verify(&org).unwrap();
}

/// Eve opens the edit form of her claim's one line; `meanwhile` happens (in another
/// tab, or at the DPO's desk) with the organisation, the cast, the claim and the line;
/// then she saves "Cafe Typed", 31.50. Gives her page and the claim's lines after.
async fn save_an_edit_after(
    meanwhile: fn(&Org, &common::Acme, i64, i64),
) -> (common::Page, Vec<claims::LineRow>) {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = emp.start_claim("Lunches").await;
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    claims::add_line(&org, acme.emp, id, &line("Cafe One", "a1")).unwrap();
    let line_id = claims::lines(&org, id).unwrap()[0].id;
    let form = emp.get(&format!("{url}/lines/{line_id}/edit")).await;
    let version = field_value(&form.body, "version").unwrap();
    let key = field_value(&form.body, "form_key").unwrap();

    meanwhile(&org, &acme, id, line_id);

    let date = today();
    let typed = [
        ("date", date.as_str()),
        ("category", "meals"),
        ("merchant", "Cafe Typed"),
        ("amount", "31.50"),
        ("currency", "GBP"),
        ("form_key", key.as_str()),
        ("version", version.as_str()),
    ];
    let page = emp
        .post_multipart(&format!("{url}/lines/{line_id}/edit"), &typed, None)
        .await;
    (page, claims::lines(&org, id).unwrap())
}

/// Saving an edit of a line removed meanwhile (another tab): the claim page says so,
/// and what was typed waits in its new-line form, not lost behind a 404.
#[actix_web::test]
async fn an_edit_of_a_line_removed_meanwhile_keeps_what_was_typed() {
    let (page, lines) = save_an_edit_after(|org, acme, id, line_id| {
        let v = claims::get(org, id).unwrap().version;
        line_edit::remove(org, acme.emp, id, line_id, v).unwrap();
    })
    .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(
        page.body
            .contains("This line was removed, perhaps in another tab")
    );
    assert!(page.body.contains("value=\"Cafe Typed\""), "kept");
    assert!(page.body.contains("value=\"31.50\""));
    assert!(lines.is_empty(), "nothing written");
}

/// An edit saved after the DPO restricted the person's data: refused with the reason,
/// on the line's form as typed (it fell through to a bare error page).
#[actix_web::test]
async fn an_edit_refused_for_a_restriction_keeps_what_was_typed() {
    let (page, lines) = save_an_edit_after(|org, acme, _, _| {
        expenseplus::privacy::restriction::restrict(org, acme.dpo, acme.emp, "contested").unwrap();
    })
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(page.body.contains("restricted"), "{}", page.body);
    assert!(page.body.contains("value=\"Cafe Typed\""), "kept");
    assert_eq!(lines[0].amount_minor, 1200, "nothing written");
}
