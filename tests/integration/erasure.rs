//! Erasure by crypto-shredding and restriction: after `mode=now` neither the live files
//! nor an earlier copy of org.sqlite opened with today's keys.sqlite reveal the person;
//! totals do not change; the person cannot sign in; every page still answers and says
//! "erased". Restriction blocks changes to the person's claims and the accounting export.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::Cursor;
use std::path::Path;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Acme, Client, PASSWORD, acme_with_people};
use diesel::connection::SimpleConnection;
use expenseplus::auth::Roles;
use expenseplus::auth::users;
use expenseplus::crypto::Revealed;
use expenseplus::expenses::claims::{self, AddLine, ClaimError, LineInput};
use expenseplus::expenses::finance;
use expenseplus::expenses::money::Currency;
use expenseplus::expenses::receipts::{self, Upload};
use expenseplus::expenses::reports;
use expenseplus::expenses::status::Transition;
use expenseplus::ids::UserId;
use expenseplus::privacy::{PrivacyError, erasure, restriction};
use expenseplus::tenancy::{Org, Registry, Usage};
use expenseplus::web::build_app;
use time::{Duration, OffsetDateTime};

const NAME: &str = "Eve Employee";
const EMAIL: &str = "emp@acme.example";
const TITLE: &str = "Zanzibar summit trip";
const MERCHANT: &str = "Quetzal Rail Ltd";
const DESCRIPTION: &str = "Xylophone workshop tickets";

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 13, 77]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A claim by `owner` with one line (and a receipt), submitted; approved by `boss`
/// when `approve`. Returns the claim id.
fn claim(org: &Org, owner: UserId, boss: UserId, title: &str, approve: bool) -> i64 {
    // Form keys are plain columns: nothing personal goes into them.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = claims::create(org, owner, title, &format!("form-{n}")).unwrap();
    let input = LineInput {
        date: (OffsetDateTime::now_utc().date() - Duration::days(2)).to_string(),
        category: "travel".into(),
        merchant: MERCHANT.into(),
        description: DESCRIPTION.into(),
        amount: "42.50".into(),
        currency: "GBP".into(),
        form_key: format!("line-{n}"),
        ..Default::default()
    };
    let added = receipts::add_line_with_receipt(org, owner, id, &input, Upload::File(png()));
    assert!(matches!(added.unwrap(), AddLine::Added));
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
        claims::transition(
            org,
            boss,
            roles("manager,employee"),
            id,
            Some(v),
            Transition::Approve,
            "Fine by me",
        )
        .unwrap();
    }
    id
}

/// Copies a live data dir. SQLite's side files come and go with connections that the
/// pools open and close on their own threads (a `-journal` during a key-store write,
/// `-wal`/`-shm` when a database's last connection closes): one listed but gone when
/// copied held nothing the main file lacks, so it is skipped.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            match std::fs::copy(&path, &target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!("{} went away while copying; skipped", path.display());
                }
                other => {
                    other.unwrap();
                }
            }
        }
    }
}

/// The organisation in a data directory, opened through the application's own code.
fn open_copy(data_dir: &Path) -> Org {
    let registry = Registry::open(data_dir, false, Usage::Command).unwrap();
    let record = registry.find_by_slug("acme").unwrap().unwrap();
    registry.open_org(&record).unwrap()
}

/// What the app reads of the person and their claim in `org`.
fn revealed(org: &Org, emp: UserId, claim_id: i64) -> Vec<Revealed> {
    let user = users::get(org, emp).unwrap().unwrap();
    let c = claims::get(org, claim_id).unwrap();
    let line = &claims::lines(org, claim_id).unwrap()[0];
    vec![
        org.keys.open(&user.name).unwrap(),
        org.keys.open(&user.email).unwrap(),
        claims::title(org, &c).unwrap(),
        org.keys.open(&line.merchant).unwrap(),
        org.keys.open(&line.description).unwrap(),
    ]
}

fn receipt_bytes(org: &Org, claim_id: i64) -> Option<Vec<u8>> {
    let meta = &receipts::for_claim(org, claim_id).unwrap()[0];
    receipts::get(org, meta.id).unwrap().1
}

fn totals(org: &Org, boss: UserId) -> (reports::ToPay, reports::SpendReport) {
    let to_pay = reports::to_pay_total(org).unwrap();
    let spend = reports::team_spend(org, boss, 6).unwrap();
    (to_pay, spend)
}

#[actix_web::test]
async fn erase_now_shreds_live_and_earlier_copies_keeps_totals_and_ends_sign_in() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let claim_id = claim(&org, p.emp, p.boss, TITLE, true);
    let before = totals(&org, p.boss);
    let stored_receipt = receipt_bytes(&org, claim_id).unwrap();
    // The "backup": both files as they are before the erasure.
    org.conn()
        .unwrap()
        .batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let earlier = p.env.dir.path().join("earlier");
    copy_dir(&p.env.data_dir(), &earlier);

    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut signed_in = Client::new(&app);
    signed_in.sign_in("acme", EMAIL, PASSWORD).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = format!("/privacy/people/{}", p.emp.0);
    let page = dpo.get(&url).await;
    // The name is on the page, not in its title (browser history, shared screens).
    assert!(page.body.contains(NAME), "{}", page.body);
    let title = format!("<title>Person {} · ExpensePlus</title>", p.emp.0);
    assert!(page.body.contains(&title), "{}", page.body);
    // Without the confirmation nothing happens.
    let refused = dpo.post(&format!("{url}/erase"), &[("mode", "now")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Tick the box to confirm"));
    assert_eq!(
        revealed(&org, p.emp, claim_id)[0],
        Revealed::Value(NAME.into())
    );
    let done = dpo
        .post(
            &format!("{url}/erase"),
            &[("mode", "now"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = dpo.get(&url).await;
    assert!(page.body.contains("erased on"), "{}", page.body);
    // Their open session has ended.
    assert_eq!(signed_in.get("/").await.location(), Some("/login"));

    // Live files, read through the app: everything personal reads as erased.
    for value in revealed(&org, p.emp, claim_id) {
        assert_eq!(value, Revealed::Erased);
    }
    assert_eq!(receipt_bytes(&org, claim_id), None);
    // The manager's comment on the claim went too; the decision stays.
    let history = claims::history(&org, claim_id).unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.actor_id == p.boss.0 && e.to_status == "approved")
    );
    assert!(history.iter().all(|e| e.comment.is_none()));
    for text in [NAME, EMAIL, TITLE, MERCHANT, DESCRIPTION] {
        common::assert_absent(&p.env.data_dir(), text);
    }
    assert!(users::find_by_email(&org, EMAIL).unwrap().is_none());
    let row = users::get(&org, p.emp).unwrap().unwrap();
    assert!(row.password_hash.is_none() && row.totp_secret.is_none() && !row.active);
    assert!(restriction::flags(&org, p.emp).unwrap().erased());

    // The earlier copy with its own keys still reveals the person (the test can fail)...
    let old = open_copy(&earlier);
    assert_eq!(
        revealed(&old, p.emp, claim_id)[0],
        Revealed::Value(NAME.into())
    );
    drop(old);
    // ...but the earlier org.sqlite with TODAY's keys.sqlite reveals nothing.
    let restored = p.env.dir.path().join("restored");
    copy_dir(&earlier, &restored);
    let keys = Path::new("orgs/acme/keys.sqlite");
    std::fs::copy(p.env.data_dir().join(keys), restored.join(keys)).unwrap();
    let restored_org = open_copy(&restored);
    for value in revealed(&restored_org, p.emp, claim_id) {
        assert_eq!(value, Revealed::Erased);
    }
    assert_eq!(receipt_bytes(&restored_org, claim_id), None);
    assert!(users::find_by_email(&restored_org, EMAIL).is_ok());
    let old_row = users::find_by_email(&restored_org, EMAIL).unwrap();
    // The old copy still has the email index, but the sign-in check needs a live key.
    assert!(old_row.is_some());
    let signed =
        expenseplus::auth::login::check_password(Some(&restored_org), EMAIL, PASSWORD).unwrap();
    assert!(signed.is_none());
    assert_ne!(stored_receipt, Vec::<u8>::new());

    // Totals are unchanged.
    assert_eq!(totals(&org, p.boss), before);

    // Signing in says exactly what a wrong password says.
    let mut eve = Client::new(&app);
    let tried = eve.try_sign_in("acme", EMAIL, PASSWORD).await;
    let mut wrong = Client::new(&app);
    let wrong = wrong
        .try_sign_in("acme", "boss@acme.example", "not the password at all")
        .await;
    assert_eq!(tried.status, wrong.status);
    assert!(
        tried
            .body
            .contains("The organisation, email address or password is not right.")
    );
    assert_ne!(tried.status, StatusCode::SEE_OTHER);

    // A second erasure is refused plainly.
    let again = erasure::erase(
        &org,
        p.dpo,
        p.emp,
        erasure::Mode::Now,
        OffsetDateTime::now_utc().date(),
    );
    assert!(matches!(again, Err(PrivacyError::Erased)));
}

/// Signs in and checks each page answers 200 and (where it shows people) says erased.
async fn walk<S, B>(c: &mut Client<'_, S>, email: &str, pages: &[(&str, bool)])
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    c.sign_in("acme", email, PASSWORD).await;
    for (path, names) in pages {
        let page = c.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{email} {path}: {}", page.body);
        if *names {
            assert!(
                page.body.contains("erased"),
                "{email} {path}: {}",
                page.body
            );
        }
        for text in [NAME, EMAIL, TITLE, MERCHANT, DESCRIPTION] {
            assert!(!page.body.contains(text), "{email} {path} shows {text}");
        }
    }
}

#[actix_web::test]
async fn every_page_after_erasure_answers_and_shows_the_person_as_erased() {
    let p: Acme = acme_with_people();
    let org = p.env.org("acme");
    let waiting = claim(&org, p.emp, p.boss, TITLE, false);
    let approved = claim(&org, p.emp, p.boss, "Second trip", true);
    let out = erasure::erase(
        &org,
        p.dpo,
        p.emp,
        erasure::Mode::Now,
        OffsetDateTime::now_utc().date(),
    )
    .unwrap();
    assert!(matches!(out, erasure::Outcome::Erased(_)));
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let emp = p.emp.0;

    let mut boss = Client::new(&app);
    let (w, a) = (format!("/claims/{waiting}"), format!("/claims/{approved}"));
    walk(
        &mut boss,
        "boss@acme.example",
        &[("/", false), ("/approvals", true), (&w, true), (&a, true)],
    )
    .await;
    // The manager can still decide on the pseudonymous claim.
    let mut fin = Client::new(&app);
    walk(
        &mut fin,
        "fin@acme.example",
        &[
            ("/", false),
            ("/finance", true),
            (&a, true),
            ("/finance/export.csv", false),
        ],
    )
    .await;
    let mut admin = Client::new(&app);
    let (user_page, audit_person) = (
        format!("/admin/users/{emp}"),
        format!("/audit?person={emp}"),
    );
    walk(
        &mut admin,
        "admin@acme.example",
        &[
            ("/", false),
            ("/admin/users", true),
            (&user_page, true),
            ("/audit", true),
            (&audit_person, true),
        ],
    )
    .await;
    let mut dpo = Client::new(&app);
    let person = format!("/privacy/people/{emp}");
    walk(
        &mut dpo,
        "dpo@acme.example",
        &[
            ("/", false),
            ("/audit", true),
            ("/privacy/people", true),
            (&person, true),
            ("/privacy/retention", false),
        ],
    )
    .await;
    let zip = dpo.get(&format!("{person}/export")).await;
    assert_eq!(zip.status, StatusCode::OK);
    // The receipt is not linked any more (its download would say it is gone).
    let claim_page = boss.get(&w).await;
    assert!(claim_page.body.contains("receipt erased"));
}

#[actix_web::test]
async fn restriction_blocks_changes_payment_and_the_accounting_export_until_lifted() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let waiting = claim(&org, p.emp, p.boss, TITLE, false);
    let approved = claim(&org, p.emp, p.boss, "Second trip", true);
    let draft = claims::create(&org, p.emp, "Draft one", "form-draft").unwrap();
    let app = atest::init_service(build_app(p.env.state.clone())).await;

    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let url = format!("/privacy/people/{}", p.emp.0);
    dpo.get(&url).await;
    let empty = dpo
        .post(&format!("{url}/restrict"), &[("reason", " ")])
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("Enter the reason"));
    let done = dpo
        .post(
            &format!("{url}/restrict"),
            &[("reason", "Accuracy contested by Eve")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = dpo.get(&url).await;
    assert!(page.body.contains("Accuracy contested by Eve"));
    assert!(
        page.body.contains("This person&#39;s data is restricted")
            || page.body.contains("data is restricted")
    );
    // The reason is sealed: not in any file.
    common::assert_absent(&p.env.data_dir(), "Accuracy contested by Eve");

    // The domain refuses every change.
    let v = claims::get(&org, waiting).unwrap().version;
    let approve = claims::transition(
        &org,
        p.boss,
        roles("manager,employee"),
        waiting,
        Some(v),
        Transition::Approve,
        "",
    );
    assert!(matches!(approve, Err(ClaimError::Restricted)));
    let line = LineInput {
        date: OffsetDateTime::now_utc().date().to_string(),
        category: "travel".into(),
        merchant: "x".into(),
        amount: "1.00".into(),
        currency: "GBP".into(),
        form_key: "restricted-line".into(),
        ..Default::default()
    };
    assert!(matches!(
        claims::add_line(&org, p.emp, draft, &line),
        Err(ClaimError::Restricted)
    ));
    assert!(matches!(
        claims::create(&org, p.emp, "New", "form-new"),
        Err(ClaimError::Restricted)
    ));
    let paid = finance::mark_paid(
        &org,
        p.fin,
        roles("finance"),
        &[(approved, claims::get(&org, approved).unwrap().version)],
    )
    .unwrap();
    assert_eq!(
        paid.skipped,
        vec![(approved, finance::SkipReason::Restricted)]
    );
    let managed = expenseplus::auth::account::set_manager(&org, p.admin, p.emp, Some(p.other));
    assert!(managed.is_err());
    assert!(matches!(
        expenseplus::privacy::rectify::rectify(&org, p.dpo, p.emp, "Eve Renamed", EMAIL),
        Err(PrivacyError::Restricted)
    ));

    // The pages say so plainly.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let shown = boss.get(&format!("/claims/{waiting}")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("data is restricted"));
    assert!(!shown.body.contains("/approve\""));
    let posted = boss
        .post(
            &format!("/claims/{waiting}/approve"),
            &[("version", &v.to_string()), ("comment", "")],
        )
        .await;
    assert_eq!(posted.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(posted.body.contains("data is restricted"));

    // Nor do the dashboards use their data.
    assert!(
        reports::team_spend(&org, p.boss, 6)
            .unwrap()
            .rows
            .is_empty()
    );
    let to_pay = reports::to_pay_total(&org).unwrap();
    assert_eq!(to_pay.count, 0);
    assert_eq!(to_pay.amounts.as_slice(), [(Currency::GBP, 0)].as_slice());

    // The accounting export leaves their lines out and the finance page counts them.
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let csv = fin.get("/finance/export.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let reference = finance::employee_reference(p.emp.0);
    assert!(!csv.body.contains(&reference), "{}", csv.body);
    let fpage = fin.get("/finance").await;
    assert!(fpage.body.contains("1 line is held back"), "{}", fpage.body);

    // Lifting brings everything back.
    dpo.get(&url).await;
    let lifted = dpo.post(&format!("{url}/lift"), &[]).await;
    assert_eq!(lifted.status, StatusCode::SEE_OTHER);
    let csv = fin.get("/finance/export.csv").await;
    assert!(csv.body.contains(&reference));
    assert!(
        !reports::team_spend(&org, p.boss, 6)
            .unwrap()
            .rows
            .is_empty()
    );
    assert_eq!(reports::to_pay_total(&org).unwrap().count, 1);
    let v = claims::get(&org, waiting).unwrap().version;
    claims::transition(
        &org,
        p.boss,
        roles("manager,employee"),
        waiting,
        Some(v),
        Transition::Approve,
        "",
    )
    .unwrap();
}

/// The write-ahead log keeps old page images until it is emptied: after an erasure the
/// cleared comments and the old email index, after a rectification the wrong name and
/// email (sealed under the person's live key). Both empty it, and say when they could
/// not (SQLite answers "busy" in a row, not as an error, which went unseen).
#[test]
fn erasure_and_rectification_leave_no_old_pages_in_the_write_ahead_log() {
    let p = acme_with_people();
    let org = p.env.org("acme");
    let wal = p.env.data_dir().join("orgs/acme/org.sqlite-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    claim(&org, p.emp, p.boss, TITLE, true);
    assert!(wal_len() > 0, "writes go through the log");

    let fixed = expenseplus::privacy::rectify::rectify(&org, p.dpo, p.emp, "Eve Renamed", EMAIL);
    assert!(fixed.is_ok());
    assert_eq!(wal_len(), 0, "emptied after the rectification");

    claim(&org, p.emp, p.boss, "Another trip", true);
    assert!(wal_len() > 0);
    let out = erasure::erase(
        &org,
        p.dpo,
        p.emp,
        erasure::Mode::Now,
        OffsetDateTime::now_utc().date(),
    )
    .unwrap();
    assert!(matches!(out, erasure::Outcome::Erased(_)));
    assert_eq!(wal_len(), 0, "emptied after the erasure");
    // Emptying it succeeds, as SQLite's answer says, when nobody reads meanwhile.
    assert!(org.checkpoint_truncate().unwrap());
}
