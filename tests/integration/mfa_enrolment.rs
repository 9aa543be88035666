//! Setting up two-step sign-in needs the password proved recently: a stolen session
//! alone cannot enrol its thief's device (which would also sign the owner out).

#![allow(clippy::unwrap_used)]

use crate::common::{self, Client, PASSWORD, TestEnv, secret_on};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use expenseplus::audit::Action;
use expenseplus::auth::{mfa, users};
use expenseplus::web::build_app;
use expenseplus::web::session::{ENROL_CONFIRM_SECS, PASSWORD_RECENT_SECS};

const SECRET_MARKER: &str = "<code class=\"mono secret\">";

fn enabled(env: &TestEnv, email: &str) -> bool {
    let acme = env.org("acme");
    users::find_by_email(&acme, email)
        .unwrap()
        .unwrap()
        .mfa_enabled
}

fn code_now(secret: &str) -> String {
    mfa::current_code(secret, expenseplus::db::now_unix() as u64).unwrap()
}

#[actix_web::test]
async fn an_old_session_must_type_the_password_again_to_enrol() {
    let env = common::acme_with_people().env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    // A fresh sign-in enrols straight away; this session takes a secret now...
    let fresh = c.get("/account/mfa").await;
    assert_eq!(fresh.status, StatusCode::OK);
    let pending = secret_on(&fresh.body);

    // ...and is then left open for longer than even confirming may take (a stolen
    // cookie, say).
    env.age_sessions("iat", ENROL_CONFIRM_SECS + 60);
    let page = c.get("/account/mfa").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Confirm it is you"), "{}", page.body);
    assert!(
        !page.body.contains(SECRET_MARKER),
        "no secret before the password"
    );
    assert!(
        !page.body.contains("data:image/svg+xml"),
        "no QR code either"
    );
    // The secret it already holds cannot be confirmed without the password.
    let refused = c
        .post("/account/mfa", &[("code", &code_now(&pending))])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains("enter your password again"),
        "{}",
        refused.body
    );
    assert!(!enabled(&env, "emp@acme.example"));

    // A wrong password is said plainly and audited.
    let wrong = c
        .post(
            "/account/mfa/password",
            &[("password", "not my password at all")],
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains("That password is not right."),
        "{}",
        wrong.body
    );
    assert!(!wrong.body.contains(SECRET_MARKER));
    let acme = env.org("acme");
    let emp = users::find_by_email(&acme, "emp@acme.example")
        .unwrap()
        .unwrap();
    let failed = common::audited(&acme, Action::PasswordConfirmFailed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].subject_id, Some(emp.id));

    // The right one opens enrolment, under a new session id.
    let right = c
        .post("/account/mfa/password", &[("password", PASSWORD)])
        .await;
    assert_eq!(right.location(), Some("/account/mfa"), "{}", right.body);
    assert!(
        right
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("__Host-expenseplus=")),
        "the session id changes: {:?}",
        right.set_cookies()
    );
    let page = c.get("/account/mfa").await;
    let secret = secret_on(&page.body);
    let done = c
        .post("/account/mfa", &[("code", &code_now(&secret))])
        .await;
    assert_eq!(done.location(), Some("/account/mfa"), "{}", done.body);
    assert!(enabled(&env, "emp@acme.example"));
}

#[actix_web::test]
async fn proving_the_password_again_shares_the_throttle_of_password_changes() {
    let env = common::acme_with_people().env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    env.age_sessions("iat", PASSWORD_RECENT_SECS + 60);
    c.get("/account").await;
    let wrong_change = [
        ("current_password", "not my password at all"),
        ("new_password", "violet anchor mosaic drizzle"),
        ("confirm_password", "violet anchor mosaic drizzle"),
    ];
    let free = expenseplus::auth::throttle::FREE_FAILURES;
    for _ in 1..free {
        let p = c.post("/account/password", &wrong_change).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    }
    c.get("/account/mfa").await;
    let last_free = c
        .post("/account/mfa/password", &[("password", "still not it")])
        .await;
    assert_eq!(last_free.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Now even the right password must wait, on either form.
    let p = c
        .post("/account/mfa/password", &[("password", PASSWORD)])
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.body);
    assert!(p.body.contains("Too many wrong passwords"), "{}", p.body);
    assert!(!p.body.contains(SECRET_MARKER));
    let page = c.get("/account/mfa").await;
    assert!(page.body.contains("Confirm it is you"), "{}", page.body);
}

/// Someone whose role requires two-step sign-in reaches the password form too: it is
/// open to a session that must enrol before anything else.
#[actix_web::test]
async fn a_person_who_must_enrol_can_prove_the_password() {
    let env = common::acme_with_people().env;
    common::require_mfa_for(&env.org("acme"), "dpo");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    env.age_sessions("iat", PASSWORD_RECENT_SECS + 60);
    assert_eq!(c.get("/audit").await.location(), Some("/account/mfa"));
    let page = c.get("/account/mfa").await;
    assert!(page.body.contains("Confirm it is you"), "{}", page.body);
    assert!(
        page.body.contains("requires two-step sign-in"),
        "{}",
        page.body
    );
    let right = c
        .post("/account/mfa/password", &[("password", PASSWORD)])
        .await;
    assert_eq!(right.location(), Some("/account/mfa"), "{}", right.body);
    let secret = secret_on(&c.get("/account/mfa").await.body);
    let done = c
        .post("/account/mfa", &[("code", &code_now(&secret))])
        .await;
    assert_eq!(done.location(), Some("/account/mfa"), "{}", done.body);
    assert!(enabled(&env, "dpo@acme.example"));
    assert_eq!(c.get("/audit").await.status, StatusCode::OK);
}

/// The recovery codes wait in the session, between enrolment and the page that shows
/// them, sealed: no file under the data dir holds them in the clear.
#[actix_web::test]
async fn recovery_codes_wait_in_the_session_sealed() {
    let env = common::acme_with_people().env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let secret = secret_on(&c.get("/account/mfa").await.body);
    let done = c
        .post("/account/mfa", &[("code", &code_now(&secret))])
        .await;
    assert_eq!(done.location(), Some("/account/mfa"), "{}", done.body);
    let page = c.get("/account/mfa").await;
    let codes = common::recovery_codes_on(&page.body);
    assert_eq!(codes.len(), 10, "{}", page.body);
    for code in codes {
        common::assert_absent(&env.data_dir(), &code);
    }
}

/// Installing an authenticator app can take longer than ten minutes: a secret shown in
/// time may still be confirmed for a while, though no new one is shown.
#[actix_web::test]
async fn a_secret_shown_in_time_can_be_confirmed_a_little_later() {
    let env = common::acme_with_people().env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let secret = secret_on(&c.get("/account/mfa").await.body);
    env.age_sessions("iat", PASSWORD_RECENT_SECS + 5 * 60);
    let page = c.get("/account/mfa").await;
    assert!(
        page.body.contains("Confirm it is you"),
        "no secret shown again"
    );
    let done = c
        .post("/account/mfa", &[("code", &code_now(&secret))])
        .await;
    assert_eq!(done.location(), Some("/account/mfa"), "{}", done.body);
    assert!(enabled(&env, "emp@acme.example"));
}

/// A value sealed for one person does not open for another, even with its "whose"
/// prefix rewritten to theirs.
#[test]
fn a_sealed_session_value_opens_only_for_its_person() {
    use expenseplus::auth::session_sealed;
    use expenseplus::crypto::columns::PendingResetLink;
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let emp = users::get(&org, acme.emp).unwrap().unwrap();
    let sealed = session_sealed::seal::<PendingResetLink>(&org, &emp, "token-123").unwrap();
    let opened = session_sealed::open::<PendingResetLink>(&org, acme.emp, &sealed).unwrap();
    assert_eq!(opened.as_deref(), Some("token-123"));
    let (_, ciphertext) = sealed.split_once('.').unwrap();
    let relabelled = format!("{}.{ciphertext}", acme.fin.0);
    let opened = session_sealed::open::<PendingResetLink>(&org, acme.fin, &relabelled).unwrap();
    assert_eq!(opened, None);
}
