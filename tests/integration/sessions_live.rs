//! Every signed-in request checks the user afresh: the fast path (session and user
//! read on the request's own thread, prepared statements reused) must not make a
//! change to the account take effect any later than the very next request, even when
//! the change is written by another connection, as the command line would.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use diesel::prelude::*;
use expenseplus::web::build_app;

use common::{Client, PASSWORD, acme_with_people};

/// A separate connection to the organisation's database, outside the server's pool.
fn outside(env: &common::TestEnv) -> SqliteConnection {
    let path = env.data_dir().join("orgs").join("acme").join("org.sqlite");
    assert!(path.exists(), "{} exists", path.display());
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 5000")
        .execute(&mut conn)
        .unwrap();
    conn
}

#[actix_web::test]
async fn account_changes_apply_on_the_next_request_however_warm_the_caches() {
    let acme = acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    let mut boss = Client::new(&app);
    let mut other = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    other.sign_in("acme", "other@acme.example", PASSWORD).await;
    // Warm every cache there is: pooled connections, their prepared statements, keys.
    for _ in 0..20 {
        assert_eq!(emp.get("/claims").await.status, StatusCode::OK);
        assert_eq!(boss.get("/approvals").await.status, StatusCode::OK);
        assert_eq!(other.get("/").await.status, StatusCode::OK);
    }
    let mut conn = outside(&acme.env);

    // Sign out everywhere, as another process would do it: the session version moves on.
    diesel::sql_query("UPDATE users SET session_version = session_version + 1 WHERE id = ?")
        .bind::<diesel::sql_types::BigInt, _>(acme.emp.0)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(emp.get("/claims").await.location(), Some("/login"));
    // The session is gone for good, not just this once.
    assert_eq!(emp.get("/").await.location(), Some("/login"));

    // Deactivated.
    diesel::sql_query("UPDATE users SET active = 0 WHERE id = ?")
        .bind::<diesel::sql_types::BigInt, _>(acme.boss.0)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(boss.get("/approvals").await.location(), Some("/login"));

    // Others are unaffected, and a role the session still holds keeps working.
    assert_eq!(other.get("/approvals").await.status, StatusCode::OK);

    // MFA made compulsory for managers: the very next page asks to enrol first.
    diesel::sql_query(
        "INSERT OR REPLACE INTO settings (name, value) VALUES ('mfa_required_roles', 'manager')",
    )
    .execute(&mut conn)
    .unwrap();
    assert_eq!(
        other.get("/approvals").await.location(),
        Some("/account/mfa")
    );
}

/// Sign-out deletes the stored session; a request that loaded it just before and ends
/// just after (an update) must not write it back, or the sign-out would be undone.
#[actix_web::test]
async fn an_update_in_flight_does_not_bring_back_a_deleted_session() {
    use actix_session::storage::{SessionKey, SessionStore};
    use expenseplus::web::session_store::SqliteSessionStore;
    use std::collections::HashMap;

    let env = common::TestEnv::new();
    let store = SqliteSessionStore::new(env.state.tenants.registry().pool().clone());
    let ttl = actix_web::cookie::time::Duration::minutes(30);
    let signed_in: HashMap<String, String> = [("org", "1"), ("uid", "7"), ("ver", "0")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let same = |k: &SessionKey| SessionKey::try_from(k.as_ref().to_owned()).unwrap();

    // A live session is updated in place, under the same key.
    let key = store.save(signed_in.clone(), &ttl).await.unwrap();
    let mut seen = signed_in.clone();
    seen.insert("seen".into(), "1".into());
    let kept = store.update(same(&key), seen.clone(), &ttl).await.unwrap();
    assert_eq!(kept, key);
    assert_eq!(store.load(&key).await.unwrap(), Some(seen.clone()));

    // Signed out meanwhile: the late update leaves the old key dead and, if it hands
    // out a new one, that session carries nothing of the old.
    store.delete(&key).await.unwrap();
    let after = store.update(same(&key), seen, &ttl).await.unwrap();
    assert_ne!(after, key);
    assert_eq!(store.load(&key).await.unwrap(), None);
    let state = store.load(&after).await.unwrap().unwrap_or_default();
    assert!(state.is_empty(), "{state:?}");
    let mut conn = env.state.tenants.registry().pool().get().unwrap();
    let signed_in_rows: i64 = expenseplus::db::schema::registry::sessions::table
        .filter(expenseplus::db::schema::registry::sessions::user_id.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(signed_in_rows, 0);
}

/// Reading a page does not write the session: a changed session is written to the
/// store and sent back as a cookie, which for a page view would be a database write
/// per request. Only a page that takes its one-time notice changes it.
#[actix_web::test]
async fn viewing_pages_leaves_the_session_unwritten() {
    let acme = acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    // (Not /account/mfa before enrolling: it keeps the secret it offers in the session.)
    for path in ["/", "/claims", "/claims?status=nonsense", "/approvals"] {
        let page = boss.get(path).await;
        assert!(
            page.status.is_success() || page.status == StatusCode::BAD_REQUEST,
            "{path}"
        );
        assert!(
            page.set_cookies().is_empty(),
            "{path}: {:?}",
            page.set_cookies()
        );
    }
    // A notice left by a POST is shown once: that view takes it (a write), the next not.
    boss.get("/claims").await;
    let url = boss
        .post("/claims", &[("title", "Trip"), ("form_key", "t")])
        .await
        .location()
        .unwrap()
        .to_owned();
    boss.post(&format!("{url}/discard"), &[("confirm", "yes")])
        .await;
    let shown = boss.get("/claims").await;
    assert!(shown.body.contains("The draft was discarded."));
    assert!(!shown.set_cookies().is_empty(), "the notice was taken");
    let again = boss.get("/claims").await;
    assert!(!again.body.contains("The draft was discarded."));
    assert!(again.set_cookies().is_empty());
}

/// With every connection of an organisation taken (long reads, exports), a signed-in
/// request waits for one on a blocking thread, not on the async worker: other requests
/// are answered meanwhile, and the waiting one is served once a connection is free.
/// (Waiting on the worker, it held up every request for the pool's 10 s timeout, then
/// failed.)
#[actix_web::test]
async fn a_request_waiting_for_a_connection_does_not_hold_up_the_others() {
    let acme = acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let org = acme.env.org("acme");
    let mut held = Vec::new();
    while let Some(conn) = org.try_conn() {
        held.push(conn);
    }
    assert!(!held.is_empty());
    let waiting = emp.get("/claims");
    let others = async {
        let healthz = actix_web::test::TestRequest::get().uri("/healthz");
        let status = atest::call_service(&app, healthz.to_request())
            .await
            .status();
        drop(held);
        status
    };
    let (page, healthz) = futures_util::future::join(waiting, others).await;
    assert_eq!(healthz, StatusCode::OK);
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}
