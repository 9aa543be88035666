//! Erasure reaches the backups: the DPO's erasure rewrites every earlier backup's key
//! store without the person's key at once, and the daily backup run finishes any
//! erasure whose immediate rewrite did not happen.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use expenseplus::auth::users;
use expenseplus::backup;
use expenseplus::web::build_app;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The key ids a backed-up key store holds.
fn keys_in(path: &Path) -> Vec<i64> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("SELECT id FROM person_keys")
        .load::<Id>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[actix_web::test]
async fn the_dpo_erasure_rewrites_every_backup_and_the_daily_run_catches_up() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let root = env.dir.path().join("backups");
    env.state.backup_dir.set(root.clone()).unwrap();
    let dir = env.state.tenants.registry().org_dir("acme");
    let first = backup::backup_org(&org, &dir, &root).unwrap();
    let second = backup::backup_org(&org, &dir, &root).unwrap();
    let eve_key = users::get(&org, acme.emp).unwrap().unwrap().person_key().0;
    let otto_key = users::get(&org, acme.other)
        .unwrap()
        .unwrap()
        .person_key()
        .0;
    let stores: Vec<_> = [&first.id, &second.id]
        .iter()
        .map(|id| root.join("acme").join(id).join("keys.sqlite"))
        .collect();
    for s in &stores {
        assert!(keys_in(s).contains(&eve_key));
    }

    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let person = format!("/privacy/people/{}", acme.emp.0);
    dpo.get(&person).await;
    let done = dpo
        .post(
            &format!("{person}/erase"),
            &[("mode", "now"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = dpo.get(&person).await;
    assert!(
        page.body
            .contains("2 backup(s) were rewritten without their key."),
        "{}",
        page.body
    );
    for s in &stores {
        let held = keys_in(s);
        assert!(!held.contains(&eve_key), "Eve's key is still in {s:?}");
        assert!(held.contains(&otto_key), "other people's keys stay");
    }
    // The rewritten backups still verify against their manifests.
    backup::verify(&root, "acme", &first.id).unwrap();
    backup::verify(&root, "acme", &second.id).unwrap();

    // A key destroyed without rewriting the backups (the backup disk was away, say) is
    // found and forgotten by the daily run's reconciliation, once.
    org.keys
        .destroy(users::get(&org, acme.other).unwrap().unwrap().person_key())
        .unwrap();
    assert!(keys_in(&stores[0]).contains(&otto_key));
    assert_eq!(backup::forget_destroyed_keys(&root, &org).unwrap(), 2);
    assert!(!keys_in(&stores[0]).contains(&otto_key));
    assert_eq!(backup::forget_destroyed_keys(&root, &org).unwrap(), 0);
}
