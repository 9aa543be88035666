//! Sign-in, sessions, CSRF, roles and MFA through the production app builder.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, Page, TestEnv, secret_on};
use expenseplus::auth::{mfa, users};
use expenseplus::crypto::columns::UserTotpSecret;
use expenseplus::web::access::Access;
use expenseplus::web::build_app;
use expenseplus::web::routes::ROUTES;

fn env_with_people() -> TestEnv {
    common::acme_with_people().env
}

#[actix_web::test]
async fn sign_in_shows_the_dashboard_and_sign_out_ends_it() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    assert_eq!(c.get("/").await.location(), Some("/login"));
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let home = c.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Welcome, Eve Employee"));
    assert!(
        home.headers
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let out = c.post("/logout", &[]).await;
    assert_eq!(out.location(), Some("/login"));
    assert_eq!(c.get("/").await.location(), Some("/login"));
    // The organisation as a keyboard that capitalises types it.
    c.sign_in(" Acme", "Emp@Acme.example", PASSWORD).await;
    assert!(c.get("/").await.body.contains("Welcome, Eve Employee"));
}

#[actix_web::test]
async fn wrong_password_and_unknown_people_get_the_same_answer() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    let wrong = c
        .try_sign_in("acme", "emp@acme.example", "not the password!")
        .await;
    let unknown = c
        .post(
            "/login",
            &[
                ("organisation", "acme"),
                ("email", "nobody@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let no_org = c
        .post(
            "/login",
            &[
                ("organisation", "nope"),
                ("email", "emp@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    for page in [&wrong, &unknown, &no_org] {
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(
            page.body
                .contains("The organisation, email address or password is not right.")
        );
    }
    // The form keeps what was typed, escaped.
    assert!(wrong.body.contains("value=\"emp@acme.example\""));
}

#[actix_web::test]
async fn session_cookie_flags_and_no_fixation() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    // Before signing in there is no session, only the form cookie its CSRF token fits.
    let login = c.get("/login").await;
    let before = c.cookie.clone().expect("the form cookie");
    let cookie = login.set_cookies().join("\n");
    assert!(cookie.starts_with("__Host-expenseplus-form="), "{cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain=") && !cookie.contains("Max-Age"));
    let mut signing_in = Client::new(&app);
    let signed_in = signing_in
        .try_sign_in("acme", "emp@acme.example", PASSWORD)
        .await;
    let cookies = signed_in.set_cookies();
    let named = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {cookies:?}"))
    };
    let cookie = named("__Host-expenseplus");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain="));
    // The browser's sign-in lane: no personal data (a name and value of hex digits),
    // sent to this site only.
    let lane = cookies
        .iter()
        .find(|c| c.starts_with("__Host-expenseplus-device-"))
        .unwrap_or_else(|| panic!("no lane: {cookies:?}"));
    for flag in [
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(lane.contains(flag), "{flag} missing: {lane}");
    }
    let (name, value) = lane.split(';').next().unwrap().split_once('=').unwrap();
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let suffix = &name["__Host-expenseplus-device-".len()..];
    assert!(suffix.len() == 16 && hex(suffix), "{name}");
    let (nonce, mac) = value.split_once('.').unwrap();
    assert!(
        nonce.len() == 32 && hex(nonce) && mac.len() == 64 && hex(mac),
        "{value}"
    );
    assert!(!lane.contains("Domain="));
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let after = c.cookie.clone().unwrap();
    assert_ne!(before, after, "the session id must change at sign-in");
    // The pre-sign-in cookie does not carry the signed-in session.
    let mut attacker = Client::new(&app);
    attacker.cookie = Some(before);
    assert_eq!(attacker.get("/").await.location(), Some("/login"));
}

#[actix_web::test]
async fn csrf_missing_or_wrong_is_refused() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let none = c.post_raw("/logout", &[]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    // Most often a page left open too long: the page says what to do.
    assert!(none.body.contains("This form has expired"), "{}", none.body);
    assert!(
        none.body.contains("reload the page and try again"),
        "{}",
        none.body
    );
    let wrong = c
        .post_raw("/logout", &[("csrf_token", "0123456789abcdef")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Still signed in: the refused POSTs did nothing.
    assert_eq!(c.get("/").await.status, StatusCode::OK);
    // A login POST without a token is refused too.
    let mut anon = Client::new(&app);
    let page = anon
        .post_raw(
            "/login",
            &[
                ("organisation", "acme"),
                ("email", "emp@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn revoked_and_expired_sessions_end() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut a = Client::new(&app);
    let mut b = Client::new(&app);
    a.sign_in("acme", "emp@acme.example", PASSWORD).await;
    b.sign_in("acme", "emp@acme.example", PASSWORD).await;
    // Sign out everywhere from a: b's session ends too.
    assert_eq!(
        a.post("/account/sessions/end", &[]).await.location(),
        Some("/login")
    );
    assert_eq!(b.get("/").await.location(), Some("/login"));

    // Deactivation ends sessions.
    let mut c = Client::new(&app);
    c.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let acme = env.org("acme");
    let fin = users::find_by_email(&acme, "fin@acme.example")
        .unwrap()
        .unwrap();
    let admin = users::find_by_email(&acme, "admin@acme.example")
        .unwrap()
        .unwrap();
    expenseplus::auth::account::set_active(&acme, admin.user_id(), fin.user_id(), false).unwrap();
    assert_eq!(c.get("/").await.location(), Some("/login"));
    // ...and a deactivated person cannot sign in.
    let mut d = Client::new(&app);
    let page = d.try_sign_in("acme", "fin@acme.example", PASSWORD).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    // Idle and absolute timeouts: age the stored session instead of waiting.
    for (field, age) in [("seen", 31 * 60), ("iat", 13 * 60 * 60)] {
        let mut e = Client::new(&app);
        e.sign_in("acme", "emp@acme.example", PASSWORD).await;
        assert_eq!(e.get("/").await.status, StatusCode::OK);
        env.age_sessions(field, age);
        assert_eq!(e.get("/").await.location(), Some("/login"), "{field}");
    }
}

#[actix_web::test]
async fn throttling_kicks_in_after_repeated_failures() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.get("/login").await;
    for _ in 0..expenseplus::auth::throttle::FREE_FAILURES {
        let p = c
            .post(
                "/login",
                &[
                    ("organisation", "acme"),
                    ("email", "emp@acme.example"),
                    ("password", "wrong password here"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password must wait.
    let p = c
        .post(
            "/login",
            &[
                ("organisation", "acme"),
                ("email", "emp@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.body.contains("Too many failed attempts"));
    // The failures are in the audit log.
    let acme = env.org("acme");
    let failed = expenseplus::audit::page(
        &acme,
        &expenseplus::audit::Filter {
            action: Some(expenseplus::audit::Action::SignInFailed),
            ..Default::default()
        },
        None,
        100,
    )
    .unwrap();
    assert_eq!(
        failed.len(),
        expenseplus::auth::throttle::FREE_FAILURES as usize
    );
    assert!(failed.iter().all(|r| r.subject_id.is_some()));
}

/// Someone who knows a person's email cannot keep them out: the browser the person
/// signed in from keeps a lane of its own, while guesses from anywhere else still wait.
#[actix_web::test]
async fn failures_sent_by_others_do_not_lock_out_a_known_browser() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert!(
        eve.cookie
            .as_deref()
            .is_some_and(|c| c.contains("__Host-expenseplus-device-")),
        "a lane for the browser that signed in"
    );
    eve.post("/logout", &[]).await;

    let mut attacker = Client::new(&app);
    let locked = |c: &Page| c.status == StatusCode::TOO_MANY_REQUESTS;
    let mut tries = 0;
    while !locked(
        &attacker
            .try_sign_in("acme", "emp@acme.example", "guess guess guess")
            .await,
    ) {
        tries += 1;
        assert!(
            tries <= expenseplus::auth::throttle::FREE_FAILURES,
            "never held"
        );
    }
    // Held for anyone else, with the right password too...
    let mut elsewhere = Client::new(&app);
    assert!(locked(
        &elsewhere
            .try_sign_in("acme", "emp@acme.example", PASSWORD)
            .await
    ));
    // ...but Eve's own browser signs in.
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert!(eve.get("/").await.body.contains("Welcome, Eve Employee"));
    // Her lane is for her account only.
    let mut bea = Client::new(&app);
    let mut tries = 0;
    while !locked(
        &bea.try_sign_in("acme", "boss@acme.example", "guess guess guess")
            .await,
    ) {
        tries += 1;
        assert!(
            tries <= expenseplus::auth::throttle::FREE_FAILURES,
            "never held"
        );
    }
    eve.post("/logout", &[]).await;
    assert!(locked(
        &eve.try_sign_in("acme", "boss@acme.example", PASSWORD).await
    ));
}

/// Enrols the user in MFA through the pages and returns their TOTP secret.
async fn enrol<S, B>(env: &TestEnv, c: &mut Client<'_, S>, email: &str) -> (String, Vec<String>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let page = c.get("/account/mfa").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data:image/svg+xml;base64,"),
        "QR code shown"
    );
    let secret = secret_on(&page.body);
    let grouped: Vec<String> = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert!(
        page.body.contains(&grouped.join(" ")),
        "secret shown as text, in groups of four"
    );
    let now = expenseplus::db::now_unix() as u64;
    let code = mfa::current_code(&secret, now).unwrap();
    let done = c.post("/account/mfa", &[("code", &code)]).await;
    assert_eq!(done.location(), Some("/account/mfa"));
    // The confirmed secret, and only it, is now the user's.
    let acme = env.org("acme");
    let row = users::find_by_email(&acme, email).unwrap().unwrap();
    let stored = acme
        .keys
        .open::<UserTotpSecret>(row.totp_secret.as_ref().unwrap())
        .unwrap();
    assert_eq!(stored.as_str(), Some(secret.as_str()));
    let codes_page = c.get("/account/mfa").await;
    let codes = common::recovery_codes_on(&codes_page.body);
    assert_eq!(codes.len(), 10, "{}", codes_page.body);
    // Shown once only.
    assert!(!c.get("/account/mfa").await.body.contains(&codes[0]));
    (secret, codes)
}

async fn password_step<S, B>(c: &mut Client<'_, S>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    password_step_with(c, PASSWORD).await;
}

/// The password step for emp, who has enrolled: on to the code step.
async fn password_step_with<S, B>(c: &mut Client<'_, S>, password: &str)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let p = c.try_sign_in("acme", "emp@acme.example", password).await;
    assert_eq!(p.location(), Some("/login/mfa"), "{} {}", p.status, p.body);
    c.get("/login/mfa").await;
}

#[actix_web::test]
async fn totp_sign_in_refuses_replay_and_recovery_codes_work_once() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let (secret, codes) = enrol(&env, &mut c, "emp@acme.example").await;
    let out = c.post("/logout", &[]).await;
    assert_eq!(out.location(), Some("/login"), "{}", out.status);

    // The code used at enrolment is a replay now; wait for the next 30 s step rather
    // than guessing: use the code of the *next* step, which the window accepts.
    let now = expenseplus::db::now_unix() as u64;
    let next = mfa::current_code(&secret, now + 30).unwrap();
    password_step(&mut c).await;
    let ok = c.post("/login/mfa", &[("code", &next)]).await;
    assert_eq!(ok.location(), Some("/"), "{}", ok.body);
    c.get("/").await; // as a browser would, picking up the new session's token
    assert_eq!(c.post("/logout", &[]).await.location(), Some("/login"));
    // The same code again is refused.
    password_step(&mut c).await;
    let replay = c.post("/login/mfa", &[("code", &next)]).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    // A recovery code works once...
    let rc = c
        .post("/login/mfa", &[("code", &codes[0].to_uppercase())])
        .await;
    assert_eq!(rc.location(), Some("/"));
    c.get("/").await;
    assert_eq!(c.post("/logout", &[]).await.location(), Some("/login"));
    // ...and not twice.
    password_step(&mut c).await;
    let again = c.post("/login/mfa", &[("code", &codes[0])]).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // Without the second step nothing signed-in is reachable.
    assert_eq!(c.get("/account").await.location(), Some("/login"));
}

#[actix_web::test]
async fn mfa_policy_forces_enrolment_first() {
    let env = env_with_people();
    common::require_mfa_for(&env.org("acme"), "dpo");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    assert_eq!(c.get("/").await.location(), Some("/account/mfa"));
    assert_eq!(c.get("/audit").await.location(), Some("/account/mfa"));
    enrol(&env, &mut c, "dpo@acme.example").await;
    assert_eq!(c.get("/").await.status, StatusCode::OK);
    // Employees are not affected by a dpo-only policy.
    let mut e = Client::new(&app);
    e.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert_eq!(e.get("/").await.status, StatusCode::OK);
}

/// The attack: someone who knows the DPO's password signs in while MFA is required
/// (enrolment pending), keeps that session, and waits for the DPO to enrol.
#[actix_web::test]
async fn enrolling_ends_other_sessions_and_each_session_has_its_own_secret() {
    let env = env_with_people();
    common::require_mfa_for(&env.org("acme"), "dpo");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut attacker = Client::new(&app);
    attacker.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let theirs = secret_on(&attacker.get("/account/mfa").await.body);
    // Stable across reloads of the same session.
    assert_eq!(secret_on(&attacker.get("/account/mfa").await.body), theirs);
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let (mine, _) = enrol(&env, &mut dpo, "dpo@acme.example").await;
    assert_eq!(dpo.get("/audit").await.status, StatusCode::OK);
    // The other session ended with the enrolment: it does not inherit MFA's trust.
    assert_eq!(attacker.get("/audit").await.location(), Some("/login"));
    assert_eq!(attacker.get("/").await.location(), Some("/login"));
    // And it was never shown the secret that was enrolled.
    assert_ne!(theirs, mine);
}

/// The code step ends (back to /login, nothing signed in) if the account changed after
/// the password step: deactivated, or its password reset.
#[actix_web::test]
async fn the_code_step_refuses_an_account_changed_since_the_password_step() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let acme = env.org("acme");
    let emp = users::find_by_email(&acme, "emp@acme.example")
        .unwrap()
        .unwrap()
        .user_id();
    let admin = users::find_by_email(&acme, "admin@acme.example")
        .unwrap()
        .unwrap()
        .user_id();
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let (secret, codes) = enrol(&env, &mut c, "emp@acme.example").await;
    assert_eq!(c.post("/logout", &[]).await.location(), Some("/login"));

    // Deactivated (and at once reactivated) between the two steps.
    password_step(&mut c).await;
    expenseplus::auth::account::set_active(&acme, admin, emp, false).unwrap();
    expenseplus::auth::account::set_active(&acme, admin, emp, true).unwrap();
    let p = c.post("/login/mfa", &[("code", &codes[0])]).await;
    assert_eq!(p.location(), Some("/login"), "{} {}", p.status, p.body);
    assert_eq!(c.get("/account").await.location(), Some("/login"));

    // The password was reset between the two steps: the old password's step is void.
    password_step(&mut c).await;
    let token = expenseplus::auth::account::issue_reset_token(&acme, admin, emp).unwrap();
    let new_password = "violet anchor mosaic drizzle";
    expenseplus::auth::account::redeem_reset_token(&acme, &token, new_password).unwrap();
    let now = expenseplus::db::now_unix() as u64;
    let next = mfa::current_code(&secret, now + 30).unwrap();
    let p = c.post("/login/mfa", &[("code", &next)]).await;
    assert_eq!(p.location(), Some("/login"), "{} {}", p.status, p.body);
    assert_eq!(c.get("/account").await.location(), Some("/login"));

    // Starting again with the new password works, and the refused steps used nothing up.
    password_step_with(&mut c, new_password).await;
    let p = c.post("/login/mfa", &[("code", &codes[0])]).await;
    assert_eq!(p.location(), Some("/"), "{} {}", p.status, p.body);
    assert_eq!(c.get("/account").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn wrong_current_passwords_are_throttled_and_audited() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    c.get("/account").await;
    let new_password = "violet anchor mosaic drizzle";
    let change = |current: &'static str| {
        [
            ("current_password", current),
            ("new_password", new_password),
            ("confirm_password", new_password),
        ]
    };
    for _ in 0..expenseplus::auth::throttle::FREE_FAILURES {
        let p = c
            .post("/account/password", &change("not my password at all"))
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    }
    // Now even the right password must wait.
    let p = c.post("/account/password", &change(PASSWORD)).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.body);
    assert!(p.body.contains("Too many wrong passwords"), "{}", p.body);
    // Still the old password: nothing was changed.
    let acme = env.org("acme");
    let emp = users::find_by_email(&acme, "emp@acme.example")
        .unwrap()
        .unwrap();
    assert!(expenseplus::auth::password::verify(
        emp.password_hash.as_deref(),
        PASSWORD
    ));
    let failed = expenseplus::audit::page(
        &acme,
        &expenseplus::audit::Filter {
            action: Some(expenseplus::audit::Action::PasswordChangeFailed),
            ..Default::default()
        },
        None,
        100,
    )
    .unwrap();
    assert_eq!(
        failed.len(),
        expenseplus::auth::throttle::FREE_FAILURES as usize
    );
    assert!(failed.iter().all(|r| r.subject_id == Some(emp.id)));
}

#[actix_web::test]
async fn route_role_matrix() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let people = [
        ("employee", "emp@acme.example"),
        ("manager", "mgr@acme.example"),
        ("finance", "fin@acme.example"),
        ("dpo", "dpo@acme.example"),
        ("admin", "admin@acme.example"),
    ];
    let mut checked = 0;
    for route in ROUTES {
        if route.path == "/logout" || route.path == "/account/sessions/end" {
            continue; // they end the session the matrix runs in; tested above
        }
        let path = route
            .path
            .replace("{name}", "style.css")
            .replace("{id}", "1")
            .replace("{token}", "x")
            .replace("{org}", "acme");
        // Anonymous.
        let mut anon = Client::new(&app);
        anon.get("/login").await;
        let page = if route.method == "GET" {
            anon.get(&path).await
        } else {
            anon.post(&path, &[]).await
        };
        match route.access {
            Access::Public => assert_ne!(page.status, StatusCode::FORBIDDEN, "{path}"),
            _ => assert_eq!(
                page.location(),
                Some("/login"),
                "anonymous {} {path}",
                route.method
            ),
        }
        for (role, email) in people {
            let mut c = Client::new(&app);
            c.sign_in("acme", email, PASSWORD).await;
            let page = if route.method == "GET" {
                c.get(&path).await
            } else {
                c.post(&path, &[]).await
            };
            let allowed = match route.access {
                Access::Public | Access::SignedIn | Access::Enrolling => true,
                Access::Roles(r) => r.contains(expenseplus::auth::Role::parse(role).unwrap()),
            };
            if allowed {
                assert_ne!(
                    page.status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {path}",
                    route.method
                );
                if route.access != Access::Public {
                    assert_ne!(
                        page.location(),
                        Some("/login"),
                        "{role} {} {path}",
                        route.method
                    );
                }
            } else {
                assert_eq!(
                    page.status,
                    StatusCode::FORBIDDEN,
                    "{role} {} {path}",
                    route.method
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= ROUTES.len() * 4, "the matrix ran ({checked})");
}

#[actix_web::test]
async fn a_session_in_one_organisation_reaches_nothing_of_another() {
    let env = env_with_people();
    let globex = env.create_org("globex", "Globex plc");
    env.create_user(
        &globex,
        "emp@globex.example",
        "Gus Globex",
        "employee,admin,dpo",
        None,
    );
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    for path in ["/", "/account", "/audit", "/admin/users"] {
        let page = c.get(path).await;
        assert!(!page.body.contains("Gus Globex"), "{path}");
        assert!(!page.body.contains("Globex"), "{path}");
    }
    // The other organisation's people cannot sign in against this one.
    let mut g = Client::new(&app);
    let p = g.try_sign_in("acme", "emp@globex.example", PASSWORD).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn origin_checks_accept_own_forms_and_refuse_other_sites() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    let login = c.get("/login").await;
    let token = common::csrf_in(&login.body).unwrap();
    let cookie = c.cookie.clone().unwrap();
    let post = |origin: Option<&'static str>, site: Option<&'static str>| {
        let mut req = atest::TestRequest::post()
            .uri("/login")
            .insert_header(("cookie", cookie.clone()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(format!(
                "organisation=acme&email=nobody%40acme.example&password=x&csrf_token={token}"
            ));
        if let Some(o) = origin {
            req = req.insert_header(("origin", o));
        }
        if let Some(s) = site {
            req = req.insert_header(("sec-fetch-site", s));
        }
        req.to_request()
    };
    // Our own form under no-referrer: Origin null, Fetch Metadata same-origin.
    let own = atest::call_service(&app, post(Some("null"), Some("same-origin"))).await;
    assert_eq!(
        own.status(),
        StatusCode::UNAUTHORIZED,
        "reaches the password check"
    );
    let host = atest::call_service(&app, post(Some("http://localhost:8080"), None)).await;
    assert_eq!(host.status(), StatusCode::UNAUTHORIZED);
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("null"), Some("cross-site")),
    ] {
        let resp = atest::call_service(&app, post(origin, site)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{origin:?} {site:?}");
    }
}

/// A code the authenticator does not show now (nor one step either side).
fn wrong_code(secret: &str) -> String {
    let now = expenseplus::db::now_unix() as u64;
    let shown: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| mfa::current_code(secret, *t).unwrap())
        .collect();
    (0..10)
        .map(|d| d.to_string().repeat(6))
        .find(|c| !shown.contains(c))
        .unwrap()
}

/// How many of `statuses` are 401 and how many 429.
fn refused_and_throttled(statuses: &[StatusCode]) -> (usize, usize) {
    let count = |s| statuses.iter().filter(|x| **x == s).count();
    (
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::TOO_MANY_REQUESTS),
    )
}

/// `n` POSTs of one form sent at once with the client's session, none awaited alone.
async fn all_at_once<S, B>(
    c: &Client<'_, S>,
    path: &str,
    fields: &[(&str, &str)],
    n: usize,
) -> Vec<StatusCode>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let mut all = fields.to_vec();
    let token = c.csrf.clone().unwrap();
    all.push(("csrf_token", &token));
    let body = serde_urlencoded::to_string(&all).unwrap();
    let requests = (0..n).map(|_| {
        let req = atest::TestRequest::post()
            .uri(path)
            .insert_header(("cookie", c.cookie.clone().unwrap()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(body.clone())
            .to_request();
        atest::call_service(c.app, req)
    });
    futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status())
        .collect()
}

#[actix_web::test]
async fn parallel_codes_beyond_the_free_failures_are_refused() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let (secret, _) = enrol(&env, &mut c, "emp@acme.example").await;
    assert_eq!(c.post("/logout", &[]).await.location(), Some("/login"));
    password_step(&mut c).await;
    let free = expenseplus::auth::throttle::FREE_FAILURES as usize;
    let code = wrong_code(&secret);
    let statuses = all_at_once(&c, "/login/mfa", &[("code", &code)], free + 15).await;
    assert_eq!(
        refused_and_throttled(&statuses),
        (free, 15),
        "only the free attempts reach the code check: {statuses:?}"
    );
}

#[actix_web::test]
async fn parallel_passwords_beyond_the_free_failures_are_refused() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.get("/login").await;
    let free = expenseplus::auth::throttle::FREE_FAILURES as usize;
    let form = [
        ("organisation", "acme"),
        ("email", "emp@acme.example"),
        ("password", "wrong password here"),
    ];
    let statuses = all_at_once(&c, "/login", &form, free + 5).await;
    assert_eq!(refused_and_throttled(&statuses), (free, 5), "{statuses:?}");
}

/// A sign-in POST in the session `c` (cookie, CSRF token), from no address yet.
fn login_post(c: &(String, String), org: &str, email: &str, password: &str) -> atest::TestRequest {
    let body = serde_urlencoded::to_string([
        ("organisation", org),
        ("email", email),
        ("password", password),
        ("csrf_token", &c.1),
    ])
    .unwrap();
    atest::TestRequest::post()
        .uri("/login")
        .insert_header(("cookie", c.0.clone()))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body)
}

/// A sign-in POST as the TLS proxy on this host passes it on, with the proxy's
/// `X-Forwarded-For` value.
fn via_proxy(
    c: &(String, String),
    forwarded: &str,
    org: &str,
    email: &str,
    password: &str,
) -> actix_http::Request {
    via_peer(c, "127.0.0.1:50000", forwarded, (org, email, password))
}

/// A sign-in arriving from `peer` with `X-Forwarded-For: forwarded`.
fn via_peer(
    c: &(String, String),
    peer: &str,
    forwarded: &str,
    (org, email, password): (&str, &str, &str),
) -> actix_http::Request {
    login_post(c, org, email, password)
        .peer_addr(peer.parse().unwrap())
        .insert_header(("x-forwarded-for", forwarded))
        .to_request()
}

/// A fresh anonymous session: its cookie and CSRF token.
async fn session_of<S, B>(app: &S) -> (String, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let mut c = Client::new(app);
    c.get("/login").await;
    (c.cookie.unwrap(), c.csrf.unwrap())
}

#[actix_web::test]
async fn behind_the_proxy_one_client_cannot_lock_out_the_others() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let attacker = session_of(&app).await;
    let wrong = "wrong password here";
    // An address has its own, higher limit than an account (see `auth::throttle`).
    let free = expenseplus::auth::throttle::ADDRESS_FREE_FAILURES;
    for i in 0..free {
        let email = format!("nobody{i}@acme.example");
        let req = via_proxy(&attacker, "203.0.113.9", "acme", &email, wrong);
        let resp = atest::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // The attacker's address is throttled, whatever they put in front of it.
    for forwarded in ["203.0.113.9", "198.51.100.4, 203.0.113.9"] {
        let req = via_proxy(&attacker, forwarded, "acme", "new@acme.example", wrong);
        let resp = atest::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{forwarded}");
    }
    // Someone else behind the same proxy signs in.
    let honest = session_of(&app).await;
    let req = via_proxy(
        &honest,
        "198.51.100.4",
        "acme",
        "emp@acme.example",
        PASSWORD,
    );
    let resp = atest::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

/// Behind a load balancer on another host, named with `serve --trusted-proxy`, clients
/// are told apart as behind a local proxy; a peer not named is its own client.
#[actix_web::test]
async fn behind_a_named_remote_proxy_clients_are_told_apart() {
    let settings = expenseplus::web::WebSettings {
        trusted_proxies: expenseplus::web::client_address::TrustedProxies::new(
            vec!["10.0.0.0/8".parse().unwrap()],
            true,
        ),
        ..Default::default()
    };
    let env = common::acme_with_people_in(TestEnv::with_settings(settings)).env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let attacker = session_of(&app).await;
    let wrong = "wrong password here";
    let balancer = "10.1.2.3:40000";
    for i in 0..expenseplus::auth::throttle::ADDRESS_FREE_FAILURES {
        let email = format!("nobody{i}@acme.example");
        let req = via_peer(&attacker, balancer, "203.0.113.9", ("acme", &email, wrong));
        let resp = atest::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let req = via_peer(
        &attacker,
        balancer,
        "203.0.113.9",
        ("acme", "x@acme.example", wrong),
    );
    let resp = atest::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Someone else behind the same balancer signs in.
    let honest = session_of(&app).await;
    let sign_in = ("acme", "emp@acme.example", PASSWORD);
    let req = via_peer(&honest, balancer, "198.51.100.4", sign_in);
    assert_eq!(
        atest::call_service(&app, req).await.status(),
        StatusCode::SEE_OTHER
    );
    // A peer outside the named network cannot pass itself off as that person.
    let other = session_of(&app).await;
    let req = via_peer(&other, "192.0.2.50:40000", "203.0.113.9", sign_in);
    assert_eq!(
        atest::call_service(&app, req).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn padding_the_organisation_does_not_make_a_fresh_account_key() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let s = session_of(&app).await;
    let padded = ["acme", " acme", "acme ", "\tacme", " acme\t"];
    // From a different address each time: only the account key can add up.
    let from = |i: usize| format!("203.0.113.{i}:40000").parse().unwrap();
    for (i, org) in padded.iter().enumerate() {
        let req = login_post(&s, org, "emp@acme.example", "wrong password here");
        let resp = atest::call_service(&app, req.peer_addr(from(i)).to_request()).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{org:?}");
    }
    let req = login_post(&s, "acme ", "emp@acme.example", PASSWORD);
    let resp = atest::call_service(&app, req.peer_addr(from(99)).to_request()).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A sign-in in a fresh session from the client address `ip`: its status and page.
async fn sign_in_from<S, B>(
    app: &S,
    ip: &str,
    org: &str,
    email: &str,
    password: &str,
) -> (StatusCode, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let s = session_of(app).await;
    let req = login_post(&s, org, email, password)
        .peer_addr(format!("{ip}:40000").parse().unwrap())
        .to_request();
    let resp = atest::call_service(app, req).await;
    let status = resp.status();
    let body = atest::read_body(resp).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[actix_web::test]
async fn signing_in_to_ones_own_account_does_not_reset_the_address_throttle() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let attacker = "203.0.113.7";
    let wrong = "Summer2024!Summer2024!";
    let free = expenseplus::auth::throttle::FREE_FAILURES;
    let address_free = expenseplus::auth::throttle::ADDRESS_FREE_FAILURES;
    // Password spraying: a few guesses at other people's accounts, here and in other
    // organisations (never enough on one account to trip its limit), then a sign-in to
    // one's own account, again and again.
    let mut guesses = 0;
    while guesses < address_free {
        for _ in 0..(free - 1).min(address_free - guesses) {
            let org = if guesses % 2 == 0 { "acme" } else { "globex" };
            let email = format!("person{guesses}@{org}.example");
            let (status, _) = sign_in_from(&app, attacker, org, &email, wrong).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {guesses}");
            guesses += 1;
        }
        if guesses < address_free {
            let (status, body) =
                sign_in_from(&app, attacker, "acme", "emp@acme.example", PASSWORD).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "own sign-in: {body}");
        }
    }
    // The address has used its free failures: the next guess must wait.
    let (status, body) = sign_in_from(&app, attacker, "acme", "fin@acme.example", wrong).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("Too many failed attempts"), "{body}");
    // A colleague elsewhere is not held up by it.
    let (status, _) =
        sign_in_from(&app, "198.51.100.20", "acme", "mgr@acme.example", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// Every entry in acme's audit log.
fn audit_entries(env: &TestEnv) -> usize {
    let filter = expenseplus::audit::Filter::default();
    expenseplus::audit::page(&env.org("acme"), &filter, None, 10_000)
        .unwrap()
        .len()
}

#[actix_web::test]
async fn exports_started_from_another_site_are_refused() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    // An access request with the subject's identity verified, ready to export.
    dpo.get("/privacy/requests").await;
    let made = dpo
        .post(
            "/privacy/requests",
            &[("subject_email", "emp@acme.example"), ("kind", "access")],
        )
        .await;
    let request = made.location().unwrap().to_owned();
    dpo.get(&request).await;
    let verified = dpo
        .post(&format!("{request}/verify"), &[("method", "badge seen")])
        .await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER, "{}", verified.body);
    let eve = users::find_by_email(&env.org("acme"), "emp@acme.example")
        .unwrap()
        .unwrap()
        .id;
    let mut exports = [
        ("/me/data".to_owned(), &mut emp),
        ("/finance/export.csv".to_owned(), &mut fin),
        (format!("{request}/export"), &mut dpo),
    ];
    let person = format!("/privacy/people/{eve}/export");
    let get = |path: &str, site: Option<&'static str>| {
        let req = atest::TestRequest::get().uri(path);
        match site {
            Some(s) => req.insert_header(("sec-fetch-site", s)),
            None => req,
        }
    };
    // A link on another site, followed in the signed-in person's browser.
    let before = audit_entries(&env);
    for (path, c) in exports.iter_mut() {
        let page = c.send(get(path, Some("cross-site"))).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.headers
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            page.body
                .contains("This download must be started from ExpensePlus itself."),
            "{path}: {}",
            page.body
        );
    }
    let page = exports[2].1.send(get(&person, Some("cross-site"))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        page.body
            .contains("must be started from ExpensePlus itself")
    );
    assert_eq!(
        audit_entries(&env),
        before,
        "nothing exported, nothing audited"
    );
    // From ExpensePlus itself, or from a client that sends no Fetch Metadata, the
    // export works: the refused ones used up nobody's export turn.
    for site in [Some("same-origin"), Some("none"), None] {
        for (path, c) in exports.iter_mut() {
            let page = c.send(get(path, site)).await;
            assert_eq!(
                page.status,
                StatusCode::OK,
                "{path} {site:?}: {}",
                page.body
            );
        }
        let page = exports[2].1.send(get(&person, site)).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{person} {site:?}: {}",
            page.body
        );
    }
}

/// Someone who lost their authenticator and their recovery codes could never sign in
/// again. An administrator turns off their two-step sign-in (confirmed, audited, never
/// their own): their sessions end and they sign in with the password alone.
#[actix_web::test]
async fn an_admin_turns_off_two_step_sign_in_for_someone_who_lost_their_device() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    enrol(env, &mut emp, "emp@acme.example").await;
    assert_eq!(emp.get("/").await.status, StatusCode::OK);

    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let person = format!("/admin/users/{}", acme.emp.0);
    let page = admin.get(&person).await;
    assert!(
        page.body.contains("Turn off two-step sign-in"),
        "{}",
        page.body
    );
    let url = format!("{person}/mfa-reset");
    let unticked = admin.post(&url, &[]).await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.body.contains("Tick the box to confirm"));
    let done = admin.post(&url, &[("confirm", "yes")]).await;
    assert_eq!(done.location(), Some(person.as_str()), "{}", done.body);
    let page = admin.get(&person).await;
    assert!(page.body.contains("Two-step sign-in was turned off"));
    assert!(page.body.contains("<dt>Two-step sign-in</dt><dd>off</dd>"));
    assert!(!page.body.contains("Turn off two-step sign-in"));

    // Her sessions ended; she signs in with her password alone, no code asked.
    assert_eq!(emp.get("/").await.status, StatusCode::SEE_OTHER);
    let mut again = Client::new(&app);
    again.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert_eq!(again.get("/").await.status, StatusCode::OK);
    let org = env.org("acme");
    let row = users::get(&org, acme.emp).unwrap().unwrap();
    assert!(!row.mfa_enabled && row.totp_secret.is_none());

    // Audited, by whom and for whom; and never one's own.
    let resets = common::audited(&org, expenseplus::audit::Action::MfaReset);
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].actor_id, Some(acme.admin.0));
    assert_eq!(resets[0].subject_id, Some(acme.emp.0));
    let own = admin
        .post(
            &format!("/admin/users/{}/mfa-reset", acme.admin.0),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
}
