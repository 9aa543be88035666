//! The breach register and its 72-hour clock, processor notices posted through the
//! real `expenseplus breach notify` command, and the records of processing.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Output;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD};
use diesel::prelude::*;
use expenseplus::audit::{self, Action, Filter};
use expenseplus::privacy::deadlines;
use expenseplus::web::build_app;

/// A UK wall-clock time `hours` ago, as a `datetime-local` field sends it.
fn hours_ago(hours: i64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::hours(hours);
    let t = t.to_offset(deadlines::uk_offset(t));
    format!("{}T{:02}:{:02}", t.date(), t.hour(), t.minute())
}

fn breach(detected: &str) -> Vec<(&'static str, String)> {
    vec![
        ("detected", detected.to_owned()),
        (
            "nature",
            "Laptop left on a train; disk encrypted? unknown. Ref Xylophone-77".into(),
        ),
        ("categories", "employees; names, claim descriptions".into()),
        ("people", "12".into()),
        ("records", "1,340".into()),
        (
            "consequences",
            "Possible disclosure of travel patterns.".into(),
        ),
        ("measures", "Remote wipe requested.".into()),
        ("authority_told", String::new()),
        ("no_report_reason", String::new()),
        ("people_told", String::new()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

#[actix_web::test]
async fn breaches_are_recorded_with_a_72_hour_clock() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let page = dpo.get("/privacy/breaches").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No breaches recorded."));

    // Missing fields: messages, and what was typed stays.
    let mut bad = breach("");
    bad[3].1 = "a dozen".into();
    let p = dpo.post("/privacy/breaches", &pairs(&bad)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("Give the date and time."));
    assert!(p.body.contains("Give a whole number"));
    assert!(p.body.contains("Remote wipe requested."));

    let fresh = dpo
        .post("/privacy/breaches", &pairs(&breach(&hours_ago(10))))
        .await;
    assert_eq!(fresh.status, StatusCode::SEE_OTHER, "{}", fresh.body);
    let url = fresh.location().unwrap().to_owned();
    let page = dpo.get(&url).await;
    assert!(
        page.body.contains("left to tell the authority"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("2 days 1"),
        "about 62 hours left: {}",
        page.body
    );
    let old = dpo
        .post("/privacy/breaches", &pairs(&breach(&hours_ago(80))))
        .await;
    assert_eq!(old.status, StatusCode::SEE_OTHER);
    let list = dpo.get("/privacy/breaches").await;
    assert!(
        list.body.contains("72 hours passed 8 hours"),
        "{}",
        list.body
    );
    assert!(list.body.contains("1340"));
    let home = dpo.get("/").await;
    assert!(home.body.contains("left to tell the authority"));
    assert!(home.body.contains("72 hours passed"));

    // Telling the authority stops the clock; so does a recorded reason not to.
    let mut told = breach(&hours_ago(10));
    told[7].1 = hours_ago(1);
    let saved = dpo.post(&url, &pairs(&told)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(dpo.get(&url).await.body.contains("authority told"));
    let old_url = old.location().unwrap().to_owned();
    let mut reason = breach(&hours_ago(80));
    reason[8].1 = "Encrypted disk; key not on the laptop.".into();
    dpo.post(&old_url, &pairs(&reason)).await;
    assert!(
        dpo.get(&old_url)
            .await
            .body
            .contains("not reported (reason recorded)")
    );
    let home = dpo.get("/").await;
    assert!(!home.body.contains("72 hours passed"));
    assert!(!home.body.contains("left to tell the authority"));

    // A told-time before detection is refused.
    let mut before = breach(&hours_ago(10));
    before[7].1 = hours_ago(20);
    let p = dpo.post(&url, &pairs(&before)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("before the breach was detected"));

    // Moving the detection time (which starts the 72-hour clock) leaves both times in
    // the audit log.
    let later = breach(&hours_ago(5));
    let saved = dpo.post(&url, &pairs(&later)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let updates = common::audited(&org, Action::BreachUpdated);
    let detail = &updates[0].detail;
    assert!(detail.contains("; detected 20"), "{detail}");
    assert!(detail.contains(" UTC -> 20"), "{detail}");
    assert!(
        detail.contains("; authority told 20"),
        "the told time was cleared: {detail}"
    );

    // Sealed at rest; audited; other roles are kept out; unknown ids are 404.
    common::assert_absent(&acme.env.data_dir(), "Xylophone-77");
    let count = |a| {
        let f = Filter {
            action: Some(a),
            ..Default::default()
        };
        audit::page(&org, &f, None, 100).unwrap().len()
    };
    assert_eq!(count(Action::BreachRecorded), 2);
    assert_eq!(count(Action::BreachUpdated), 3);
    // Breach texts name people: opening the register or a breach is an audited view,
    // a privacy entry (kept from an administrator's audit viewer).
    let views = common::audited(&org, Action::ViewedPerson);
    assert!(
        views
            .iter()
            .any(|e| e.detail.starts_with("privacy breach register (2 breaches"))
    );
    let shown = url.rsplit('/').next().unwrap();
    assert!(
        views
            .iter()
            .any(|e| e.detail == format!("privacy breach {shown}")),
        "the page of one breach is audited as such"
    );
    assert!(views.iter().all(|e| e.is_privacy()));
    assert_eq!(
        dpo.get("/privacy/breaches/999").await.status,
        StatusCode::NOT_FOUND
    );
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    assert_eq!(
        admin.get("/privacy/breaches").await.status,
        StatusCode::FORBIDDEN
    );
}

fn assert_refused(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(expected), "{expected:?} not in {stderr:?}");
}

#[actix_web::test]
async fn processor_notices_reach_the_dpo_until_acknowledged() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let data = acme.env.data_dir();
    let file = acme.env.dir.path().join("notice.txt");

    // Refusals: one sentence, exit 1, nothing written.
    // (Files are not compared byte for byte: this test process holds the same
    // databases open, so a command's exit may checkpoint their WAL.)
    let written = || {
        let mut conn = org.conn().unwrap();
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let q = "SELECT (SELECT COUNT(*) FROM processor_notices) + (SELECT COUNT(*) FROM settings WHERE name = 'privacy_register_key') AS n";
        diesel::sql_query(q).get_result::<N>(&mut conn).unwrap().n
    };
    std::fs::write(&file, "  \n").unwrap();
    assert_refused(
        &common::run_cli(
            &data,
            &[
                "breach",
                "notify",
                "--org",
                "acme",
                "--text",
                file.to_str().unwrap(),
            ],
        ),
        "The notice text is empty.",
    );
    std::fs::write(
        &file,
        "Backup host compromised 2026-11-24 03:10 UTC.\nPangolin-42",
    )
    .unwrap();
    assert_refused(
        &common::run_cli(
            &data,
            &[
                "breach",
                "notify",
                "--org",
                "nosuch",
                "--text",
                file.to_str().unwrap(),
            ],
        ),
        "There is no organisation nosuch.",
    );
    assert_refused(
        &common::run_cli(
            &data,
            &[
                "breach",
                "notify",
                "--org",
                "Bad Slug",
                "--text",
                file.to_str().unwrap(),
            ],
        ),
        "slug",
    );
    assert_refused(
        &common::run_cli(
            &data,
            &[
                "breach",
                "notify",
                "--org",
                "acme",
                "--text",
                "/nonexistent/notice.txt",
            ],
        ),
        "could not be read",
    );
    assert_eq!(written(), 0, "refusals write nothing");

    let out = common::run_cli(
        &data,
        &[
            "breach",
            "notify",
            "--org",
            "acme",
            "--text",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "posted breach notice 1 to the data protection officer of acme\n"
    );
    common::assert_absent(&data, "Pangolin-42");

    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let home = dpo.get("/").await;
    assert!(
        home.body
            .contains("1 breach notice from the service operator to read")
    );
    let list = dpo.get("/privacy/breaches").await;
    assert!(list.body.contains("Pangolin-42"));
    assert!(
        list.body
            .contains("Breach notice from the service operator")
    );
    let ack = dpo.post("/privacy/notices/1/ack", &[]).await;
    assert_eq!(ack.status, StatusCode::SEE_OTHER);
    assert!(
        !dpo.get("/privacy/breaches")
            .await
            .body
            .contains("Pangolin-42")
    );
    assert!(!dpo.get("/").await.body.contains("breach notice"));
    assert_eq!(
        dpo.post("/privacy/notices/1/ack", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let f = Filter {
        action: Some(Action::ProcessorNoticeAcknowledged),
        ..Default::default()
    };
    assert_eq!(audit::page(&org, &f, None, 10).unwrap().len(), 1);
}

#[actix_web::test]
async fn records_of_processing_from_the_settings() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let page = admin.get("/privacy/records").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Acme Ltd"));
    assert!(
        page.body
            .contains("6 years after the end of the UK tax year")
    );
    assert!(page.body.contains("12 months after deactivation"));
    assert!(page.body.contains("XChaCha20-Poly1305"));
    assert!(page.body.contains("argon2id"));
    assert!(page.body.contains("None: the data is not transferred"));
    let mut conn = org.conn().unwrap();
    diesel::sql_query(
        "INSERT INTO settings (name, value) VALUES ('retention_profile_months', '24'), ('retention_audit_years', '7')",
    )
    .execute(&mut conn)
    .unwrap();
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let page = dpo.get("/privacy/records").await;
    assert!(page.body.contains("24 months after deactivation"));
    assert!(page.body.contains("7 years"));
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert_eq!(
        emp.get("/privacy/records").await.status,
        StatusCode::FORBIDDEN
    );
}
