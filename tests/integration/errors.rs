//! Error pages show plain words and no internals, whatever went wrong underneath.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::{Method, StatusCode};
use actix_web::test as atest;
use common::{Client, PASSWORD, TestEnv};
use diesel::RunQueryDsl;
use expenseplus::web::build_app;

#[actix_web::test]
async fn a_broken_database_gives_a_plain_500_page() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    env.create_user(&acme, "emp@acme.example", "Eve Employee", "employee", None);
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    // Break the organisation's schema underneath the running app.
    let mut conn = acme.conn().unwrap();
    diesel::sql_query("ALTER TABLE users RENAME TO users_gone")
        .execute(&mut conn)
        .unwrap();
    let page = c.get("/").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.body.contains("Something went wrong"));
    for leak in [
        "users", "SQL", "sqlite", "diesel", "table", "panicked", "Eve",
    ] {
        assert!(
            !page.body.contains(leak),
            "{leak} leaked into the error page"
        );
    }
    assert!(page.headers.get("content-security-policy").is_some());
}

#[actix_web::test]
async fn not_found_and_method_not_allowed_pages() {
    let env = TestEnv::new();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    let page = c.get("/does/not/exist?x=%3Cscript%3E").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("There is no page at this address."));
    assert!(!page.body.contains("<script>"));
    // A GET-only path asked with PUT: the same kind of page, not a bare body.
    let req = atest::TestRequest::put().uri("/healthz").to_request();
    let resp = atest::call_service(&app, req).await;
    assert!(resp.status().is_client_error());
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    // HEAD is answered as GET on public pages only: on others a HEAD would write the
    // audit entries (or make the export) a GET does.
    let head = |uri: &str| {
        atest::TestRequest::default()
            .method(Method::HEAD)
            .uri(uri)
            .to_request()
    };
    let resp = atest::call_service(&app, head("/healthz")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = atest::call_service(&app, head("/login")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = atest::call_service(&app, head("/me/data")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// An error inside a signed-in page keeps the person's header (navigation, sign-out);
/// one answered before the person is known still links to the home page.
#[actix_web::test]
async fn signed_in_error_pages_keep_the_header() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    env.create_user(&acme, "emp@acme.example", "Eve Employee", "employee", None);
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let page = c.get("/claims/999999").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("There is no page at this address."));
    assert!(
        page.body.contains("<nav aria-label=\"Main\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/claims\">My claims</a>"));
    assert!(page.body.contains(">Sign out</button>"));
    assert!(page.headers.get("content-security-policy").is_some());
    let unknown = c.get("/does/not/exist").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown
            .body
            .contains("<a href=\"/\">Go to the home page</a>")
    );
}
