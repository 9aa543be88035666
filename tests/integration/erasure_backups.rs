//! Erasure reaches the backups: the DPO's erasure rewrites every earlier backup's key
//! store without the person's key at once, and the daily backup run finishes any
//! erasure whose immediate rewrite did not happen.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use expenseplus::auth::users;
use expenseplus::backup::{self, Unsealed};
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
    // A backup folder whose name SQLite's URI syntax would read as a query or fragment.
    let root = env.dir.path().join("back#ups?%");
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

/// Comments on the person's claims (sealed under their authors' live keys) in a file.
fn comments_on_claims_of(path: &Path, owner: i64) -> i64 {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "SELECT COUNT(*) AS id FROM claim_events e JOIN claims c ON c.id = e.claim_id \
         WHERE c.owner_id = ? AND e.comment IS NOT NULL",
    )
    .bind::<BigInt, _>(owner)
    .get_result::<Id>(&mut conn)
    .unwrap()
    .id
}

/// What erasure clears beyond the key (comments others wrote on the person's claims,
/// their email index, their erased mark) is cleared in every backup too, and a
/// restore of a backup that still held it (its rewrite never ran) clears it again.
#[test]
fn erasure_beyond_the_key_reaches_backups_and_survives_a_restore() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::claims::{self, LineInput};
    use expenseplus::expenses::status::Transition;
    use expenseplus::privacy::erasure::{self, Mode};
    use expenseplus::privacy::restriction;

    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let root = env.dir.path().join("backups");
    let dir = env.state.tenants.registry().org_dir("acme");
    let id = claims::create(&org, acme.emp, "Trip", "t").unwrap();
    let line = LineInput {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        category: "travel".into(),
        merchant: "Rail".into(),
        amount: "20.00".into(),
        currency: "GBP".into(),
        form_key: "l".into(),
        ..Default::default()
    };
    claims::add_line(&org, acme.emp, id, &line).unwrap();
    let emp_roles = Roles::parse_list("employee").unwrap();
    claims::transition(&org, acme.emp, emp_roles, id, None, Transition::Submit, "").unwrap();
    let boss_roles = Roles::parse_list("manager,employee").unwrap();
    claims::transition(
        &org,
        acme.boss,
        boss_roles,
        id,
        None,
        Transition::ReturnForChanges,
        "Eve, this looks like a family holiday",
    )
    .unwrap();
    let earlier = backup::backup_org(&org, &dir, &root).unwrap();
    let earlier_org = root.join("acme").join(&earlier.id).join("org.sqlite");
    assert_eq!(comments_on_claims_of(&earlier_org, acme.emp.0), 1);

    // Erased without the backups being rewritten (their disk was away, say).
    let today = time::OffsetDateTime::now_utc().date();
    erasure::erase(&org, acme.dpo, acme.emp, Mode::Now, today).unwrap();
    assert_eq!(
        comments_on_claims_of(&dir.join("org.sqlite"), acme.emp.0),
        0
    );

    // Restoring that backup does not bring back what the erasure cleared.
    backup::restore(
        env.state.tenants.registry(),
        &org,
        &root,
        &earlier.id,
        Unsealed::Refuse,
    )
    .unwrap();
    let org = env.org("acme");
    assert_eq!(
        comments_on_claims_of(&dir.join("org.sqlite"), acme.emp.0),
        0
    );
    assert!(restriction::flags(&org, acme.emp).unwrap().erased());
    assert!(
        users::find_by_email(&org, "emp@acme.example")
            .unwrap()
            .is_none(),
        "the email no longer finds the person"
    );

    // The daily reconciliation clears it in the backup itself, which still verifies.
    assert_eq!(backup::forget_destroyed_keys(&root, &org).unwrap(), 1);
    assert_eq!(comments_on_claims_of(&earlier_org, acme.emp.0), 0);
    backup::verify(&root, "acme", &earlier.id).unwrap();
}

/// A rewrite that died after changing a backup's key store but before its manifest
/// (a full disk, a kill) is finished by the next call, so the backup verifies again;
/// and one unreadable backup does not keep the others holding the key.
#[test]
fn a_half_done_rewrite_is_finished_and_a_bad_backup_does_not_stop_the_rest() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let root = env.dir.path().join("backups");
    let dir = env.state.tenants.registry().org_dir("acme");
    let first = backup::backup_org(&org, &dir, &root).unwrap();
    let second = backup::backup_org(&org, &dir, &root).unwrap();
    let third = backup::backup_org(&org, &dir, &root).unwrap();
    let store = |id: &str| root.join("acme").join(id).join("keys.sqlite");
    let key = users::get(&org, acme.emp).unwrap().unwrap().person_key();
    org.keys.destroy(key).unwrap();

    // The first backup's key store lost the key, its manifest was never updated.
    {
        let mut conn = SqliteConnection::establish(store(&first.id).to_str().unwrap()).unwrap();
        diesel::sql_query("DELETE FROM person_keys WHERE id = ?")
            .bind::<BigInt, _>(key.0)
            .execute(&mut conn)
            .unwrap();
    }
    assert!(backup::verify(&root, "acme", &first.id).is_err());
    // The second backup's key store is unreadable.
    std::fs::write(store(&second.id), b"not a database at all").unwrap();

    let result = backup::forget_person_key(&root, &org, key);
    assert!(result.is_err(), "the unreadable backup is reported");
    backup::verify(&root, "acme", &first.id).unwrap();
    assert!(!keys_in(&store(&first.id)).contains(&key.0));
    assert!(
        !keys_in(&store(&third.id)).contains(&key.0),
        "the backup after the bad one lost the key too"
    );
    // The backup rewritten as it should be keeps its seal. The one whose files had
    // changed before this call gets no seal over what it found, and keeps the old one,
    // which no longer matches: it does not pass for a backup made before sealing.
    backup::verify_sealed(&root, &org, &third.id, false).unwrap();
    for accept_unsealed in [false, true] {
        assert!(matches!(
            backup::verify_sealed(&root, &org, &first.id, accept_unsealed),
            Err(backup::BackupError::BadSeal { .. })
        ));
    }
}
