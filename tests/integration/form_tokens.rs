//! Forms shown before signing in (sign-in, setup and reset links) carry a CSRF token
//! that fits a form cookie, with no session behind it: viewing them writes nothing,
//! and a token works only with its own cookie.

#![allow(clippy::unwrap_used)]

use crate::common::{self, Client, PASSWORD, TestEnv};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use expenseplus::web::build_app;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn sessions(env: &TestEnv) -> i64 {
    let mut conn = env.state.tenants.registry().pool().get().unwrap();
    diesel::sql_query("SELECT COUNT(*) AS n FROM sessions")
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

fn login_post(cookie: Option<&str>, token: &str) -> atest::TestRequest {
    let body = format!(
        "csrf_token={token}&organisation=acme&email=emp%40acme.example&password={}",
        PASSWORD.replace(' ', "+")
    );
    let req = atest::TestRequest::post()
        .uri("/login")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body);
    match cookie {
        Some(c) => req.insert_header(("cookie", c.to_owned())),
        None => req,
    }
}

#[actix_web::test]
async fn the_sign_in_page_writes_no_session_and_its_token_fits_only_its_cookie() {
    let env = common::acme_with_people().env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let before = sessions(&env);
    // Many visitors, each a fresh browser: no row for any of them.
    let mut visitors = Vec::new();
    for _ in 0..20 {
        let mut c = Client::new(&app);
        let page = c.get("/login").await;
        assert_eq!(page.status, StatusCode::OK);
        visitors.push((c.cookie.clone().unwrap(), c.csrf.clone().unwrap()));
    }
    assert_eq!(sessions(&env), before, "viewing /login wrote sessions");
    // The same browser keeps its cookie and token across views.
    let mut again = Client::new(&app);
    again.get("/login").await;
    let (cookie, token) = (again.cookie.clone().unwrap(), again.csrf.clone().unwrap());
    let page = again.get("/login").await;
    assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
    assert_eq!(again.csrf.as_deref(), Some(token.as_str()));

    // Another visitor's token, no cookie, a made-up token: refused before anything.
    let (other_cookie, other_token) = &visitors[0];
    for (cookie, token) in [
        (Some(cookie.as_str()), other_token.as_str()),
        (Some(other_cookie.as_str()), token.as_str()),
        (None, token.as_str()),
        (Some(cookie.as_str()), &"0".repeat(64)),
        (Some("__Host-expenseplus-form=short"), token.as_str()),
    ] {
        let resp = atest::call_service(&app, login_post(cookie, token).to_request()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{cookie:?} {token}");
    }
    assert_eq!(sessions(&env), before);
    // Its own pair signs in.
    let resp = atest::call_service(&app, login_post(Some(&cookie), &token).to_request()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(sessions(&env), before + 1);
}

/// What a signed-in session posts stays bound to that session's own token: a form
/// cookie's token, though it fits, is refused.
#[actix_web::test]
async fn a_signed_in_session_does_not_take_a_form_cookie_token() {
    let env = common::acme_with_people().env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.get("/login").await;
    let form_token = c.csrf.clone().unwrap();
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert!(
        c.cookie
            .as_deref()
            .unwrap()
            .contains("__Host-expenseplus-form=")
    );
    let mut with_form_token = vec![("title", "Train to Leeds")];
    with_form_token.push(("csrf_token", &form_token));
    let refused = c.post_raw("/claims", &with_form_token).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let made = c.post("/claims", &[("title", "Train to Leeds")]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
}
