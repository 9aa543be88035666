//! The access and portability export: `/me/data` gives the signed-in person a ZIP with
//! every personal field of theirs (profile, claims, lines, receipts, their comments)
//! and nothing of anyone else's; the DPO's export of a person is audited; the report
//! carries the Art. 15 information and loads nothing from outside.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::{Cursor, Read};

use actix_web::http::{StatusCode, header};
use actix_web::test as atest;
use common::{Client, PASSWORD, acme_with_people};
use expenseplus::audit::{self, Action, Filter};
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, LineInput};
use expenseplus::expenses::receipts::{self, Upload};
use expenseplus::expenses::status::Transition;
use expenseplus::ids::UserId;
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;
use time::{Duration, OffsetDateTime};

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

fn png(seed: u8) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(20, 12, |x, y| image::Rgb([x as u8 * 7, y as u8 * seed, 40]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

struct Written {
    title: &'static str,
    merchant: &'static str,
    description: &'static str,
    comment: &'static str,
}

/// A submitted claim with one line and a receipt; gives (claim id, stored receipt bytes).
fn claim(org: &Org, owner: UserId, w: &Written, key: &str, seed: u8) -> (i64, Vec<u8>) {
    let id = claims::create(org, owner, w.title, &format!("form-{key}")).unwrap();
    let input = LineInput {
        date: (OffsetDateTime::now_utc().date() - Duration::days(3)).to_string(),
        category: "meals".into(),
        merchant: w.merchant.into(),
        description: w.description.into(),
        amount: "18.20".into(),
        currency: "GBP".into(),
        vat: "3.03".into(),
        form_key: format!("line-{key}"),
        ..Default::default()
    };
    let added = receipts::add_line_with_receipt(org, owner, id, &input, Upload::File(png(seed)));
    assert!(matches!(added.unwrap(), AddLine::Added));
    let v = claims::get(org, id).unwrap().version;
    claims::transition(
        org,
        owner,
        roles("employee"),
        id,
        Some(v),
        Transition::Submit,
        w.comment,
    )
    .unwrap();
    let meta = &receipts::for_claim(org, id).unwrap()[0];
    (id, receipts::get(org, meta.id).unwrap().1.unwrap())
}

/// Every entry of a ZIP: (name, bytes).
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.push((f.name().unwrap().into_owned(), data));
    }
    out
}

fn text_of(entries: &[(String, Vec<u8>)]) -> String {
    entries
        .iter()
        .filter(|(n, _)| !n.starts_with("receipts/"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

const EVE: Written = Written {
    title: "Conference in Lisbon Pangolin",
    merchant: "Cafe Aardvark",
    description: "Dinner with the Narwhal team",
    comment: "Receipt attached, Eve Quokka note",
};
const SAM: Written = Written {
    title: "Sam's Ocelot offsite",
    merchant: "Sam's Merchant Iguana",
    description: "Sam's Tapir description",
    comment: "Sam's own Lemur comment",
};
const BOSS_COMMENT: &str = "Bea's rejection reason Wombat";

#[actix_web::test]
async fn my_data_holds_everything_of_mine_and_nothing_of_anyone_else() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let sam = p.env.create_user(
        &org,
        "sam@acme.example",
        "Sam Second",
        "employee",
        Some(p.boss),
    );
    let (eve_claim, eve_receipt) = claim(&org, p.emp, &EVE, "eve", 11);
    let (sam_claim, sam_receipt) = claim(&org, sam, &SAM, "sam", 5);
    // The manager writes on Eve's claim and approves Sam's.
    let v = claims::get(&org, eve_claim).unwrap().version;
    let boss_roles = roles("manager,employee");
    claims::transition(
        &org,
        p.boss,
        boss_roles,
        eve_claim,
        Some(v),
        Transition::Reject,
        BOSS_COMMENT,
    )
    .unwrap();
    let v = claims::get(&org, sam_claim).unwrap().version;
    claims::transition(
        &org,
        p.boss,
        boss_roles,
        sam_claim,
        Some(v),
        Transition::Approve,
        "ok Sam",
    )
    .unwrap();

    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let got = eve.get("/me/data").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.headers.get(header::CONTENT_DISPOSITION).unwrap(),
        "attachment; filename=\"my-data.zip\""
    );
    assert_eq!(got.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let entries = unzip(&got.bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in ["README.txt", "data.json", "report.html"] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    let text = text_of(&entries);
    // Every personal field Eve wrote or that is about her.
    for mine in [
        "Eve Employee",
        "emp@acme.example",
        EVE.title,
        EVE.merchant,
        EVE.description,
        EVE.comment,
    ] {
        assert!(text.contains(mine), "{mine} missing from the export");
    }
    let receipts: Vec<&Vec<u8>> = entries
        .iter()
        .filter(|(n, _)| n.starts_with("receipts/"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(receipts, vec![&eve_receipt]);
    // Nobody else's: not the other employee's, not the manager's name, email or comment.
    for theirs in [
        "Sam Second",
        "sam@acme.example",
        SAM.title,
        SAM.merchant,
        SAM.description,
        SAM.comment,
        "Bea Boss",
        "boss@acme.example",
        "ok Sam",
    ] {
        assert!(!text.contains(theirs), "{theirs} leaked into Eve's export");
    }
    assert!(!entries.iter().any(|(_, b)| *b == sam_receipt));
    // The manager appears by role, with the reason they gave on Eve's own claim.
    let json: serde_json::Value =
        serde_json::from_slice(&entries.iter().find(|(n, _)| n == "data.json").unwrap().1).unwrap();
    assert_eq!(json["schema"], "expenseplus-subject-export/1");
    assert_eq!(json["person"]["mfa_enrolled"], false);
    let history = json["claims"][0]["history"].as_array().unwrap();
    let reject = history.iter().find(|e| e["to"] == "rejected").unwrap();
    assert_eq!(reject["by"], "your manager");
    assert_eq!(reject["comment"], BOSS_COMMENT);
    assert_eq!(reject["comment_withheld"], false);
    // The report: Art. 15 information, readable offline.
    let report = String::from_utf8(
        entries
            .iter()
            .find(|(n, _)| n == "report.html")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    for needed in [
        "Purposes",
        "Categories of data",
        "Recipients",
        "How long it is kept",
        "Source",
        "rectify",
        "erase",
        "restrict",
        "object",
        "Information Commissioner",
        "6 years",
    ] {
        assert!(report.contains(needed), "{needed} missing from the report");
    }
    for external in ["src=\"http", "href=\"http", "<script", "@import", "url("] {
        assert!(!report.contains(external), "{external}");
    }
    // Audited as the person's own download.
    let entries = audit::page(
        &org,
        &Filter {
            action: Some(Action::ExportedOwnData),
            person: Some(p.emp),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor_id, Some(p.emp.0));

    // The manager's own export has what they wrote on Eve's claim, not Eve's data.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let theirs = text_of(&unzip(&boss.get("/me/data").await.bytes));
    assert!(theirs.contains(BOSS_COMMENT) && theirs.contains("Bea Boss"));
    for other in [
        "Eve Employee",
        EVE.title,
        EVE.merchant,
        EVE.comment,
        SAM.title,
    ] {
        assert!(
            !theirs.contains(other),
            "{other} leaked into the manager's export"
        );
    }
}

/// What the owner reads on their claim's page is in their export too: the comments
/// others wrote on it (a return reason, an approval note, finance's payment note), by
/// the part the author played in that step and never by name. The DPO's working notes
/// on the person's request stay out, only counted.
#[actix_web::test]
async fn my_data_has_the_comments_others_wrote_on_my_claims_by_their_part() {
    use expenseplus::privacy::requests::{self, Dpo};

    const RETURNED: &str = "Return reason Dugong";
    const APPROVED: &str = "Approval note Kinkajou";
    const PAID: &str = "Payment note Axolotl";
    const DPO_NOTE: &str = "DPO working note Capybara";
    let p = acme_with_people();
    let org = p.env.org("acme");
    let (id, _) = claim(&org, p.emp, &EVE, "eve", 3);
    let step = |who: UserId, r: &str, t: Transition, comment: &str| {
        let v = claims::get(&org, id).unwrap().version;
        claims::transition(&org, who, roles(r), id, Some(v), t, comment).unwrap();
    };
    step(
        p.boss,
        "manager,employee",
        Transition::ReturnForChanges,
        RETURNED,
    );
    step(p.emp, "employee", Transition::Submit, "");
    step(p.boss, "manager,employee", Transition::Approve, APPROVED);
    step(p.fin, "finance", Transition::MarkPaid, PAID);
    let today = OffsetDateTime::now_utc().date();
    let request = requests::open_own(&org, p.emp, "access", "", today).unwrap();
    let dpo = Dpo::check(p.dpo, roles("dpo")).unwrap();
    requests::add_note(&org, dpo, request, DPO_NOTE, true).unwrap();
    requests::add_note(&org, dpo, request, "Sent the export by post Wombat", false).unwrap();

    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let got = eve.get("/me/data").await;
    assert_eq!(got.status, StatusCode::OK);
    let entries = unzip(&got.bytes);
    let json: serde_json::Value =
        serde_json::from_slice(&entries.iter().find(|(n, _)| n == "data.json").unwrap().1).unwrap();
    let history = json["claims"][0]["history"].as_array().unwrap();
    let said: Vec<(&str, &str, &str)> = history
        .iter()
        .filter(|e| !e["comment"].is_null())
        .map(|e| {
            (
                e["by"].as_str().unwrap(),
                e["to"].as_str().unwrap(),
                e["comment"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        said,
        vec![
            ("you", "submitted", EVE.comment),
            ("your manager", "draft", RETURNED),
            ("your manager", "approved", APPROVED),
            ("finance", "paid", PAID),
        ],
        "{history:#?}"
    );
    assert!(history.iter().all(|e| e["comment_withheld"] == false));
    let report = String::from_utf8(
        entries
            .iter()
            .find(|(n, _)| n == "report.html")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    for comment in [RETURNED, APPROVED, PAID] {
        assert!(
            report.contains(comment),
            "{comment} missing from the report"
        );
    }
    assert!(!report.contains("withheld: it is their personal data"));
    // The README says what is in and what is not.
    let readme =
        String::from_utf8_lossy(&entries.iter().find(|(n, _)| n == "README.txt").unwrap().1)
            .into_owned();
    assert!(readme.contains("comments on your claims") && readme.contains("are included"));
    // Nobody is named, and the DPO's working note is only counted.
    let text = text_of(&entries);
    for theirs in [
        "Bea Boss",
        "boss@acme.example",
        "Finn Finance",
        "fin@acme.example",
        "Dee Protection",
        DPO_NOTE,
    ] {
        assert!(!text.contains(theirs), "{theirs} leaked into Eve's export");
    }
    assert_eq!(json["privacy_requests"][0]["notes_withheld"], 1);
    // A note the DPO did not withhold is hers to read (Art. 15).
    assert_eq!(
        json["privacy_requests"][0]["dpo_notes"][0]["text"],
        "Sent the export by post Wombat"
    );
    assert!(text.contains("Note by the data protection officer"));
}

#[actix_web::test]
async fn the_dpo_exports_a_person_audited_and_nobody_else_can() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    claim(&org, p.emp, &EVE, "eve", 3);
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let url = format!("/privacy/people/{}/export", p.emp.0);

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    assert_eq!(boss.get(&url).await.status, StatusCode::FORBIDDEN);

    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let page = dpo.get(&format!("/privacy/people/{}", p.emp.0)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Eve Employee") && page.body.contains(&url));
    let got = dpo.get(&url).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(text_of(&unzip(&got.bytes)).contains(EVE.description));
    let views = audit::page(
        &org,
        &Filter {
            action: Some(Action::ViewedPerson),
            person: Some(p.emp),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert!(
        views
            .iter()
            .any(|e| e.actor_id == Some(p.dpo.0) && e.detail == "data export")
    );
    // An unknown person is a 404.
    assert_eq!(
        dpo.get("/privacy/people/9999/export").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn the_dpo_rectifies_name_and_email_with_checks_and_no_values_in_the_audit() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = format!("/privacy/people/{}", p.emp.0);
    dpo.get(&url).await;
    let bad = dpo
        .post(
            &format!("{url}/rectify"),
            &[("name", "Eve Fixed"), ("email", "not-an-email")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("That is not a valid email address."));
    assert!(bad.body.contains("value=\"Eve Fixed\""));
    let taken = dpo
        .post(
            &format!("{url}/rectify"),
            &[("name", "Eve Fixed"), ("email", "boss@acme.example")],
        )
        .await;
    assert!(taken.body.contains("already exists"));
    let ok = dpo
        .post(
            &format!("{url}/rectify"),
            &[("name", "Eve Fixed"), ("email", "Eve.New@Acme.example")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let page = dpo.get(&url).await;
    assert!(page.body.contains("Corrected: name and email."));
    assert!(page.body.contains("eve.new@acme.example"));
    // The new email signs in; the old one no longer does.
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "eve.new@acme.example", PASSWORD).await;
    let e = expenseplus::auth::users::find_by_email(&org, "emp@acme.example").unwrap();
    assert!(e.is_none());
    let entries = audit::page(
        &org,
        &Filter {
            action: Some(Action::RectifiedPerson),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].detail, "name,email");
    common::assert_absent(&p.env.data_dir(), "Eve Fixed");
}

/// A download the client gives up on part-way.
struct GoneAfter(usize);

impl std::io::Write for GoneAfter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.0 < data.len() {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.0 -= data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_export_is_written_as_it_goes_and_stops_when_the_client_does() {
    let acme = acme_with_people();
    let org = acme.env.org("acme");
    let (_, first) = claim(&org, acme.emp, &EVE, "e1", 1);
    let (_, second) = claim(&org, acme.emp, &EVE, "e2", 2);
    let ready = expenseplus::privacy::export::prepare(&org, acme.emp).unwrap();
    // Written whole, it holds both receipts as they were sent.
    let whole = ready.write_zip(&org, Vec::new()).unwrap();
    let receipts: Vec<Vec<u8>> = unzip(&whole)
        .into_iter()
        .filter(|(n, _)| n.starts_with("receipts/"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(receipts, vec![first, second]);
    // A client gone part-way ends the writing with an error, not a panic or a hang.
    assert!(ready.write_zip(&org, GoneAfter(whole.len() / 2)).is_err());
}

#[test]
fn a_receipt_removed_while_an_export_is_written_is_left_out_and_its_id_not_given_again() {
    let acme = acme_with_people();
    let org = acme.env.org("acme");
    let (_, kept) = claim(&org, acme.emp, &EVE, "e1", 1);
    // Eve's newest receipt, on a draft she can still change.
    let draft = claims::create(&org, acme.emp, "Draft", "draft").unwrap();
    let input = |key: &str| LineInput {
        date: (OffsetDateTime::now_utc().date() - Duration::days(2)).to_string(),
        category: "meals".into(),
        merchant: "Cafe".into(),
        amount: "4.00".into(),
        currency: "GBP".into(),
        form_key: key.into(),
        ..Default::default()
    };
    let added = receipts::add_line_with_receipt(
        &org,
        acme.emp,
        draft,
        &input("eve-late"),
        Upload::File(png(5)),
    );
    assert!(matches!(added.unwrap(), AddLine::Added));
    let removed = receipts::for_claim(&org, draft).unwrap()[0].id;
    let ready = expenseplus::privacy::export::prepare(&org, acme.emp).unwrap();

    // While the export waits to be written, she removes that line, and a colleague adds
    // a receipt. SQLite would give it the removed one's id (the highest); ids are never
    // given twice now, and the export checks ownership as well.
    let line = claims::lines(&org, draft).unwrap()[0].id;
    let v = claims::get(&org, draft).unwrap().version;
    expenseplus::expenses::line_edit::remove(&org, acme.emp, draft, line, v).unwrap();
    let theirs = claims::create(&org, acme.boss, "Bea's", "bea").unwrap();
    let added = receipts::add_line_with_receipt(
        &org,
        acme.boss,
        theirs,
        &input("bea"),
        Upload::File(png(9)),
    );
    assert!(matches!(added.unwrap(), AddLine::Added));
    assert!(receipts::for_claim(&org, theirs).unwrap()[0].id > removed);

    let zip = ready.write_zip(&org, Vec::new()).unwrap();
    let files: Vec<Vec<u8>> = unzip(&zip)
        .into_iter()
        .filter(|(n, _)| n.starts_with("receipts/"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(files, vec![kept], "only Eve's receipt, never Bea's");
}

#[actix_web::test]
async fn one_person_downloads_one_export_at_a_time() {
    let acme = acme_with_people();
    let org = acme.env.org("acme");
    // About 1 MB of receipts: more than the pieces that may wait unread, so the first
    // export is still being written while its download is not read.
    let id = claims::create(&org, acme.emp, "Big", "big").unwrap();
    let tail = b"\nstartxref\n9\n%%EOF\n";
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(1024 * 1024 - tail.len(), b' ');
    pdf.extend_from_slice(tail);
    let input = LineInput {
        date: (OffsetDateTime::now_utc().date() - Duration::days(2)).to_string(),
        category: "meals".into(),
        merchant: "Cafe".into(),
        amount: "4.00".into(),
        currency: "GBP".into(),
        form_key: "big-line".into(),
        ..Default::default()
    };
    let added = receipts::add_line_with_receipt(&org, acme.emp, id, &input, Upload::File(pdf));
    assert!(matches!(added.unwrap(), AddLine::Added));

    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let cookie = eve.cookie.clone().unwrap();
    let first = atest::call_service(
        &app,
        atest::TestRequest::get()
            .uri("/me/data")
            .insert_header((header::COOKIE, cookie))
            .to_request(),
    )
    .await;
    assert_eq!(first.status(), StatusCode::OK);
    // Not read yet: a second export is refused with a plain message.
    let second = eve.get("/me/data").await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        second
            .body
            .contains("Your last export is still downloading."),
        "{}",
        second.body
    );
    // The first arrives whole.
    let bytes = atest::read_body(first).await;
    assert_eq!(
        unzip(&bytes)
            .iter()
            .filter(|(n, _)| n.starts_with("receipts/"))
            .count(),
        1
    );
}
