//! Faults stay contained: one organisation's damaged database affects only it (and
//! the log names it); a full disk refuses writes with a clear page while reads go on.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Mutex, OnceLock};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, TestEnv};
use diesel::connection::SimpleConnection;
use expenseplus::expenses::claims;
use expenseplus::web::build_app;

/// Captures log lines so the test can read what an operator would see.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.level() <= log::Level::Warn {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn logs() -> &'static Capture {
    static LOGS: OnceLock<&'static Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        c
    })
}

fn two_orgs() -> TestEnv {
    orgs(&[("acme", "Acme Ltd"), ("beta", "Beta Ltd")])
}

fn orgs(list: &[(&str, &str)]) -> TestEnv {
    let env = TestEnv::new();
    for &(slug, name) in list {
        let email = format!("emp@{slug}.example");
        let email = email.as_str();
        let org = env.create_org(slug, name);
        let id = env.create_user(&org, email, "Eve Employee", "employee", None);
        claims::create(&org, id, &format!("{name} claim"), slug).unwrap();
    }
    env
}

#[actix_web::test]
async fn a_damaged_organisation_database_affects_only_that_organisation() {
    let logs = logs();
    let env = two_orgs();
    let acme = env.org("acme");
    let path = env
        .state
        .tenants
        .registry()
        .org_dir("acme")
        .join("org.sqlite");
    // Write everything into the main file, then overwrite its header with junk, and
    // let the server reopen it (as after a restart).
    acme.conn()
        .unwrap()
        .batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    env.state.tenants.evict(acme.id);
    drop(acme);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..100].copy_from_slice(&[0x42; 100]);
    std::fs::write(&path, bytes).unwrap();

    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut beta = Client::new(&app);
    beta.sign_in("beta", "emp@beta.example", PASSWORD).await;
    let page = beta.get("/claims").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Beta Ltd claim"));

    let mut acme = Client::new(&app);
    let page = acme.try_sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.body.contains("Something went wrong"), "{}", page.body);
    assert!(!page.body.contains("sqlite") && !page.body.contains("panicked"));
    // The log says which organisation.
    let lines = logs.0.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("organisation acme could not be opened")),
        "{lines:?}"
    );
    // Beta still answers afterwards.
    assert_eq!(beta.get("/claims").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_full_disk_refuses_writes_plainly_and_reads_go_on() {
    let env = two_orgs();
    let acme = env.org("acme");
    // SQLite's own "database or disk is full", exactly as a full disk gives it: every
    // pooled connection may not grow the file any further.
    {
        let held: Vec<_> = (0..8).map(|_| acme.conn().unwrap()).collect();
        for mut c in held {
            c.batch_execute("PRAGMA max_page_count = 1;").unwrap();
        }
    }
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let page = c.get("/claims").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Acme Ltd claim"));
    // Enough text that the new row cannot fit in the free space of existing pages.
    let title = "A long claim title ".repeat(10);
    let key = "full-disk-1";
    let mut saved = false;
    for i in 0..50 {
        let page = c
            .post(
                "/claims",
                &[
                    ("title", &format!("{title}{i}")),
                    ("form_key", &format!("{key}-{i}")),
                ],
            )
            .await;
        if page.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                page.body.contains("Your change was not saved"),
                "{}",
                page.body
            );
            assert!(page.body.contains("disk is full or read-only"));
            saved = true;
            break;
        }
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
    assert!(saved, "the full disk was never hit");
    // Reading still works, for this organisation and the other.
    assert_eq!(c.get("/claims").await.status, StatusCode::OK);
    let mut beta = Client::new(&app);
    beta.sign_in("beta", "emp@beta.example", PASSWORD).await;
    assert_eq!(beta.get("/claims").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_damaged_page_inside_one_database_is_named_in_the_log() {
    let logs = logs();
    let env = orgs(&[("cobalt", "Cobalt Ltd"), ("beta", "Beta Ltd")]);
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut cobalt = Client::new(&app);
    cobalt
        .sign_in("cobalt", "emp@cobalt.example", PASSWORD)
        .await;
    let mut beta = Client::new(&app);
    beta.sign_in("beta", "emp@beta.example", PASSWORD).await;
    let org = env.org("cobalt");
    org.conn()
        .unwrap()
        .batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    env.state.tenants.evict(org.id);
    drop(org);
    // Every page after the first (the header and schema stay readable).
    let path = env
        .state
        .tenants
        .registry()
        .org_dir("cobalt")
        .join("org.sqlite");
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[4096..] {
        *b = 0x42;
    }
    std::fs::write(&path, bytes).unwrap();

    let page = cobalt.get("/claims").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.body.contains("Something went wrong"));
    let page = beta.get("/claims").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Beta Ltd claim"));
    let lines = logs.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("organisation cobalt")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("organisation beta")));
}
