//! The DPO sees that the daily runs work (DESIGN: retention and backups are logged and
//! visible to the DPO): the backups kept and when retention last ran, with a warning,
//! there and on the dashboard, when either is more than a day late.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD};
use expenseplus::backup;
use expenseplus::web::build_app;

/// The page shows `text`; the whole page is printed if not.
fn says(page: &common::Page, text: &str) {
    assert!(
        page.body.contains(text),
        "{text:?} not on the page: {}",
        page.body
    );
}

#[actix_web::test]
async fn the_dpo_sees_the_backups_and_is_warned_when_the_newest_is_old() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let root = env.dir.path().join("backups");
    env.state.backup_dir.set(root.clone()).unwrap();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;

    let page = dpo.get("/privacy/backups").await;
    assert_eq!(page.status, StatusCode::OK);
    says(&page, "There is no backup of this organisation yet");

    // Two days on and still no backup: the daily run fails for this organisation.
    created_days_ago(env, 2);
    let page = dpo.get("/privacy/backups").await;
    says(
        &page,
        "though it is more than a day old: the daily backups are failing",
    );
    let home = dpo.get("/").await;
    says(&home, "The daily backups are failing");

    let dir = env.state.tenants.registry().org_dir("acme");
    let taken = backup::backup_org(&org, &dir, &root).unwrap();
    let page = dpo.get("/privacy/backups").await;
    says(&page, "The newest backup was taken on");
    says(&page, "<td>complete and sealed</td>");
    assert!(!page.body.contains("failing"));
    let home = dpo.get("/").await;
    assert!(!home.body.contains("The daily backups are failing"));

    // The same backup, as if taken two days ago: the daily run is not working.
    let manifest_path = root.join("acme").join(&taken.id).join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let two_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    manifest["created_at"] = two_days_ago
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let page = dpo.get("/privacy/backups").await;
    says(&page, "more than a day ago: the daily backups are failing");
    // Its manifest was edited here, not by ExpensePlus: the seal says so.
    says(
        &page,
        "changed outside ExpensePlus: its seal does not match",
    );
    let home = dpo.get("/").await;
    says(&home, "The daily backups are failing");

    // A backup whose manifest cannot be read is listed as damaged.
    std::fs::write(&manifest_path, "{").unwrap();
    let page = dpo.get("/privacy/backups").await;
    says(&page, "damaged");
    says(&page, "None of the backups kept can be read");
}

/// Sets when the organisation was created, as if it were `days` days old.
fn created_days_ago(env: &common::TestEnv, days: i64) {
    use diesel::prelude::*;
    use expenseplus::db::schema::registry::organisations;
    let at = time::OffsetDateTime::now_utc() - time::Duration::days(days);
    let mut conn = env.state.tenants.registry().pool().get().unwrap();
    diesel::update(organisations::table)
        .set(organisations::created_at.eq(at.unix_timestamp()))
        .execute(&mut conn)
        .unwrap();
}

#[actix_web::test]
async fn the_dpo_sees_when_retention_last_ran_and_is_warned_when_it_stops() {
    use diesel::prelude::*;
    use expenseplus::db::schema::org::settings;
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;

    let page = dpo.get("/privacy/retention").await;
    says(&page, "Retention has not run yet");
    created_days_ago(env, 2);
    let page = dpo.get("/privacy/retention").await;
    says(
        &page,
        "Retention has never run, though the organisation is more than a day old",
    );
    says(
        &dpo.get("/").await,
        "Retention has not run for more than a day",
    );

    // A run with nothing to do is a run all the same.
    let today = expenseplus::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
    expenseplus::privacy::retention::run(&org, today).unwrap();
    let page = dpo.get("/privacy/retention").await;
    says(&page, "Retention last ran on");
    assert!(!page.body.contains("failing"));
    assert!(!dpo.get("/").await.body.contains("Retention has not run"));

    // Two days without a run.
    let two_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let mut conn = org.conn().unwrap();
    diesel::update(settings::table.find("retention_last_run"))
        .set(settings::value.eq(two_days_ago.unix_timestamp().to_string()))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let page = dpo.get("/privacy/retention").await;
    says(&page, "more than a day ago: the daily run is failing");
    says(
        &dpo.get("/").await,
        "Retention has not run for more than a day",
    );
}
