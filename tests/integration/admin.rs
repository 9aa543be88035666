//! The organisation admin pages and the one-time password reset link.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, TestEnv};
use expenseplus::audit::{self, Action, AuditRow, Filter};
use expenseplus::auth::{Roles, policy, users};
use expenseplus::ids::UserId;
use expenseplus::web::build_app;
use expenseplus::web::routes::ROUTES;

const NEW_PASSWORD: &str = "violet anchor mosaic drizzle";

fn env_with_people() -> TestEnv {
    common::acme_with_people().env
}

fn id_of(env: &TestEnv, email: &str) -> UserId {
    users::find_by_email(&env.org("acme"), email)
        .unwrap()
        .unwrap()
        .user_id()
}

fn entries(env: &TestEnv, action: Action) -> Vec<AuditRow> {
    let filter = Filter {
        action: Some(action),
        ..Default::default()
    };
    audit::page(&env.org("acme"), &filter, None, 100).unwrap()
}

/// The reset link a page shows, if any.
fn link_in(body: &str) -> Option<String> {
    let at = body.find("/reset/acme/")?;
    let link = &body[at..at + "/reset/acme/".len() + 64];
    assert!(
        link.rsplit('/')
            .next()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
    );
    Some(link.to_owned())
}

/// The reset form's fields.
fn pw<'a>(new: &'a str, confirm: &'a str) -> [(&'a str, &'a str); 2] {
    [("new_password", new), ("confirm_password", confirm)]
}

/// Signs in with a password and reports whether it worked.
async fn can_sign_in<S, B>(c: &mut Client<'_, S>, email: &str, password: &str) -> bool
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    c.get("/login").await;
    let fields = [
        ("organisation", "acme"),
        ("email", email),
        ("password", password),
    ];
    c.post("/login", &fields).await.location() == Some("/")
}

#[actix_web::test]
async fn admin_lists_users() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let page = c.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Bea Boss",
        "Eve Employee",
        "Finn Finance",
        "Dee Protection",
        "Ann Admin",
        "emp@acme.example",
        "employee, manager",
        "href=\"/admin/policy\"",
    ] {
        assert!(page.body.contains(text), "{text} missing");
    }
    // Eve's row names her manager.
    let eve = page.body.split("Eve Employee").nth(1).unwrap();
    let row = &eve[..eve.find("</tr>").unwrap()];
    assert!(row.contains("Bea Boss") && row.contains("active") && row.contains("off"));
}

#[actix_web::test]
async fn non_admins_are_refused_every_admin_route() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let admin_routes: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/admin"))
        .collect();
    assert!(admin_routes.len() >= 9);
    for email in [
        "emp@acme.example",
        "boss@acme.example",
        "fin@acme.example",
        "dpo@acme.example",
    ] {
        let mut c = Client::new(&app);
        c.sign_in("acme", email, PASSWORD).await;
        for route in &admin_routes {
            let path = route.path.replace("{id}", "2");
            let page = if route.method == "GET" {
                c.get(&path).await
            } else {
                c.post(&path, &[("role", "admin"), ("active", "false")])
                    .await
            };
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{email} {path}");
        }
    }
    // Nothing changed.
    let eve = users::get(&env.org("acme"), id_of(&env, "emp@acme.example"))
        .unwrap()
        .unwrap();
    assert!(eve.active && eve.roles == "employee");
}

#[actix_web::test]
async fn invited_user_sets_a_password_through_the_link_once() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    admin.get("/admin/users").await;
    let boss = id_of(&env, "boss@acme.example").0.to_string();
    let created = admin
        .post(
            "/admin/users",
            &[
                ("name", "Nia New"),
                ("email", "Nia@Acme.example"),
                ("role", "employee"),
                ("role", "finance"),
                ("manager", &boss),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let nia = id_of(&env, "nia@acme.example");
    let to = format!("/admin/users/{nia}");
    assert_eq!(created.location(), Some(to.as_str()));
    let row = users::get(&env.org("acme"), nia).unwrap().unwrap();
    assert!(row.password_hash.is_none());
    assert_eq!(row.roles, "employee,finance");
    assert_eq!(row.manager_id, Some(id_of(&env, "boss@acme.example").0));
    let created_entries = entries(&env, Action::UserCreated);
    assert_eq!(created_entries.len(), 1);
    assert_eq!(created_entries[0].subject_id, Some(nia.0));

    // The link is shown once, as the whole address (this site as the admin reached it,
    // always over https, though this test request came in plain), in a box to copy from
    // rather than a link to click.
    let page = admin.get(&to).await;
    assert_eq!(page.status, StatusCode::OK);
    let link = link_in(&page.body).expect("link shown");
    assert!(link.starts_with("/reset/acme/"));
    assert!(
        page.body
            .contains(&format!("readonly value=\"https://localhost:8080{link}\"")),
        "{}",
        page.body
    );
    assert!(!page.body.contains("href=\"/reset/"));
    assert!(link_in(&admin.get(&to).await.body).is_none(), "shown twice");
    // While it waited to be shown, the session store held it sealed: no file under the
    // data dir (registry.sqlite, its write-ahead log) has the token in the clear.
    let token = link.rsplit('/').next().unwrap();
    common::assert_absent(&env.data_dir(), token);

    // No password yet: no sign-in.
    let mut nia_c = Client::new(&app);
    assert!(!can_sign_in(&mut nia_c, "nia@acme.example", NEW_PASSWORD).await);

    let form = nia_c.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("nia@acme.example"));
    let mismatch = nia_c
        .post(&link, &pw(NEW_PASSWORD, "something else entirely"))
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.body.contains("do not match"));
    let short = nia_c.post(&link, &pw("short", "short")).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("at least 12 characters"));
    let done = nia_c.post(&link, &pw(NEW_PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(done.location(), Some("/login"), "{}", done.body);
    assert!(can_sign_in(&mut nia_c, "nia@acme.example", NEW_PASSWORD).await);
    assert_eq!(entries(&env, Action::PasswordReset).len(), 1);

    // Used up: the link is now a plain "not valid" page.
    let mut other = Client::new(&app);
    let again = other.get(&link).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("not valid"));
    other.get("/login").await;
    let again = other
        .post(
            &link,
            &pw("another fine passphrase", "another fine passphrase"),
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE);
    // Nonsense links and unknown organisations get the same page, never a 500.
    for bad in ["/reset/acme/x", "/reset/nope/00", "/reset/ACME!/zz"] {
        assert_eq!(other.get(bad).await.status, StatusCode::GONE, "{bad}");
    }
}

#[actix_web::test]
async fn admin_can_issue_a_reset_link_for_an_existing_user() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let eve = id_of(&env, "emp@acme.example");
    let to = format!("/admin/users/{eve}");
    admin.get(&to).await;
    let issued = admin.post(&format!("{to}/reset"), &[]).await;
    assert_eq!(issued.location(), Some(to.as_str()));
    let link = link_in(&admin.get(&to).await.body).expect("link shown");
    let mut c = Client::new(&app);
    c.get(&link).await;
    let done = c.post(&link, &pw(NEW_PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(done.location(), Some("/login"));
    assert!(!can_sign_in(&mut c, "emp@acme.example", PASSWORD).await);
    assert!(can_sign_in(&mut c, "emp@acme.example", NEW_PASSWORD).await);
}

#[actix_web::test]
async fn bad_input_re_renders_the_form() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    c.get("/admin/users").await;
    let kim = "kim@acme.example";
    let cases = [
        (
            "Kim",
            "not-an-email",
            "employee",
            "",
            "not a valid email address",
        ),
        ("  ", kim, "employee", "", "A name must be"),
        ("Kim", kim, "", "", "at least one role"),
        ("Kim", "EMP@acme.example", "employee", "", "already exists"),
        ("Kim", kim, "boss", "", "Choose roles from the list"),
        ("Kim", kim, "employee", "999", "not in this organisation"),
        ("Kim", kim, "employee", "x", "Choose a manager"),
    ];
    for (name, email, role, manager, message) in cases {
        let mut fields = vec![("name", name), ("email", email), ("manager", manager)];
        if !role.is_empty() {
            fields.push(("role", role));
        }
        let page = c.post("/admin/users", &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(page.body.contains(message), "{message}: {}", page.body);
        assert!(
            page.body.contains(&format!("value=\"{email}\"")),
            "{message}"
        );
    }
    // Ticked roles stay ticked.
    let kept = c
        .post("/admin/users", &[("name", "X"), ("role", "dpo")])
        .await;
    assert!(kept.body.contains("value=\"dpo\" checked"));
    assert!(
        users::find_by_email(&env.org("acme"), kim)
            .unwrap()
            .is_none()
    );
    assert!(entries(&env, Action::UserCreated).is_empty());
}

#[actix_web::test]
async fn role_change_ends_the_targets_session() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let id = id_of(&env, "emp@acme.example");
    let to = format!("/admin/users/{id}");
    admin.get(&to).await;
    let done = admin
        .post(
            &format!("{to}/roles"),
            &[("role", "employee"), ("role", "finance")],
        )
        .await;
    assert_eq!(done.location(), Some(to.as_str()), "{}", done.body);
    let page = admin.get(&to).await;
    assert!(page.body.contains("The roles were changed"));
    assert!(page.body.contains("employee, finance"));
    assert_eq!(eve.get("/").await.location(), Some("/login"));
    let changed = entries(&env, Action::RolesChanged);
    assert_eq!(changed[0].detail, "employee -> employee,finance");
    // Unknown people are a 404, not a 500.
    let missing = admin
        .post("/admin/users/999/roles", &[("role", "employee")])
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        admin.get("/admin/users/999").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn deactivated_users_cannot_sign_in_until_reactivated() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut fin = Client::new(&app);
    fin.sign_in("acme", "fin@acme.example", PASSWORD).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let to = format!("/admin/users/{}", id_of(&env, "fin@acme.example"));
    admin.get(&to).await;
    let off = admin
        .post(&format!("{to}/active"), &[("active", "false")])
        .await;
    assert_eq!(off.location(), Some(to.as_str()));
    assert!(admin.get(&to).await.body.contains("deactivated"));
    assert_eq!(fin.get("/").await.location(), Some("/login"));
    let mut again = Client::new(&app);
    assert!(!can_sign_in(&mut again, "fin@acme.example", PASSWORD).await);
    let on = admin
        .post(&format!("{to}/active"), &[("active", "true")])
        .await;
    assert_eq!(on.location(), Some(to.as_str()));
    assert!(can_sign_in(&mut again, "fin@acme.example", PASSWORD).await);
    assert_eq!(entries(&env, Action::UserDeactivated).len(), 1);
    assert_eq!(entries(&env, Action::UserReactivated).len(), 1);
}

#[actix_web::test]
async fn admin_cannot_change_own_roles_or_status() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let me = id_of(&env, "admin@acme.example").0.to_string();
    let to = format!("/admin/users/{me}");
    c.get(&to).await;
    for (path, fields) in [
        (format!("{to}/roles"), [("role", "employee")]),
        (format!("{to}/active"), [("active", "false")]),
    ] {
        let page = c.post(&path, &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(
            page.body
                .contains("You cannot change your own roles or status."),
            "{}",
            page.body
        );
    }
    let own = c.post(&format!("{to}/manager"), &[("manager", &me)]).await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(own.body.contains("cannot be their own manager"));
    // Still an admin, still signed in.
    assert_eq!(c.get("/admin/users").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn manager_can_be_set_and_cleared() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let fin = id_of(&env, "fin@acme.example");
    let boss = id_of(&env, "boss@acme.example").0.to_string();
    let to = format!("/admin/users/{fin}");
    c.get(&to).await;
    let set = c
        .post(&format!("{to}/manager"), &[("manager", &boss)])
        .await;
    assert_eq!(set.location(), Some(to.as_str()));
    let row = users::get(&env.org("acme"), fin).unwrap().unwrap();
    assert_eq!(row.manager_id.map(|m| m.to_string()), Some(boss));
    let cleared = c.post(&format!("{to}/manager"), &[("manager", "")]).await;
    assert_eq!(cleared.location(), Some(to.as_str()));
    let row = users::get(&env.org("acme"), fin).unwrap().unwrap();
    assert_eq!(row.manager_id, None);
    let bad = c
        .post(&format!("{to}/manager"), &[("manager", "abc")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn script_in_a_name_is_shown_escaped() {
    let env = env_with_people();
    env.create_user(
        &env.org("acme"),
        "mal@acme.example",
        "<script>alert(1)</script>",
        "employee",
        None,
    );
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    for path in [
        "/admin/users".to_owned(),
        format!("/admin/users/{}", id_of(&env, "mal@acme.example")),
    ] {
        let page = c.get(&path).await;
        assert!(!page.body.contains("<script>"), "{path}");
        assert!(page.body.contains("&#60;script&#62;"), "{path}");
    }
}

#[actix_web::test]
async fn viewing_a_user_page_is_audited() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let eve = id_of(&env, "emp@acme.example");
    let admin = id_of(&env, "admin@acme.example");
    let page = c.get(&format!("/admin/users/{eve}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Eve Employee") && page.body.contains("Bea Boss"));
    // The name is on the page, not in its title (browser history, shared screens).
    let title = page
        .body
        .split("<title>")
        .nth(1)
        .unwrap()
        .split("</title>")
        .next();
    assert_eq!(title, Some(format!("User {eve} · ExpensePlus").as_str()));
    // The page lists everyone as choices of manager (one "user list" entry, no
    // subject) and shows Eve (one entry about her).
    let about = |env| {
        entries(env, Action::ViewedPerson)
            .into_iter()
            .filter(|e| e.subject_id.is_some())
            .collect::<Vec<_>>()
    };
    let viewed = about(&env);
    assert_eq!(viewed.len(), 1);
    assert_eq!(viewed[0].actor_id, Some(admin.0));
    assert_eq!(viewed[0].subject_id, Some(eve.0));
    // One's own page is not someone else's personal data.
    c.get(&format!("/admin/users/{admin}")).await;
    assert_eq!(about(&env).len(), 1);
    assert!(audit::verify(&env.org("acme")).is_ok());
}

#[actix_web::test]
async fn mfa_policy_change_is_saved_and_audited() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let page = c.get("/admin/policy").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(" checked"));
    let saved = c
        .post("/admin/policy", &[("role", "dpo"), ("role", "finance")])
        .await;
    assert_eq!(saved.location(), Some("/admin/policy"));
    let acme = env.org("acme");
    assert_eq!(
        policy::mfa_required_roles(&acme).unwrap(),
        Roles::parse_list("finance,dpo").unwrap()
    );
    let page = c.get("/admin/policy").await;
    assert!(page.body.contains("value=\"dpo\" checked"));
    assert!(page.body.contains("was saved"));
    let changed = entries(&env, Action::PolicyChanged);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].detail, "none -> finance,dpo");
    assert_eq!(
        changed[0].actor_id,
        Some(id_of(&env, "admin@acme.example").0)
    );
    // Saving the same policy again changes nothing and logs nothing.
    c.post("/admin/policy", &[("role", "dpo"), ("role", "finance")])
        .await;
    assert_eq!(entries(&env, Action::PolicyChanged).len(), 1);
    let bad = c.post("/admin/policy", &[("role", "root")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The policy applies: the dpo must enrol first.
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    assert_eq!(dpo.get("/").await.location(), Some("/account/mfa"));
}

#[actix_web::test]
async fn a_new_link_a_used_link_or_a_password_change_cancels_older_links() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let to = format!("/admin/users/{}", id_of(&env, "emp@acme.example"));
    admin.get(&to).await;
    let mut issue = async || {
        let issued = admin.post(&format!("{to}/reset"), &[]).await;
        assert_eq!(issued.location(), Some(to.as_str()));
        link_in(&admin.get(&to).await.body).expect("link shown")
    };
    let mut c = Client::new(&app);

    // A second link cancels the first.
    let first = issue().await;
    let second = issue().await;
    assert_eq!(c.get(&first).await.status, StatusCode::GONE);
    assert_eq!(c.get(&second).await.status, StatusCode::OK);

    // Using one cancels the others, however they were made.
    let third = issue().await;
    let acme = env.org("acme");
    let other = expenseplus::auth::account::issue_reset_token(
        &acme,
        id_of(&env, "admin@acme.example"),
        id_of(&env, "emp@acme.example"),
    )
    .unwrap();
    let other = format!("/reset/acme/{other}");
    c.get(&other).await;
    let done = c.post(&other, &pw(NEW_PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(done.location(), Some("/login"), "{}", done.body);
    assert_eq!(c.get(&third).await.status, StatusCode::GONE);

    // A link made before the person changed their own password no longer works.
    let fourth = issue().await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", NEW_PASSWORD).await;
    emp.get("/account").await;
    let changed = emp
        .post(
            "/account/password",
            &[
                ("current_password", NEW_PASSWORD),
                ("new_password", "quartz lantern meadow falcon"),
                ("confirm_password", "quartz lantern meadow falcon"),
            ],
        )
        .await;
    assert_eq!(changed.location(), Some("/account"), "{}", changed.body);
    assert_eq!(c.get(&fourth).await.status, StatusCode::GONE);
}

#[actix_web::test]
async fn two_admins_removing_each_other_leave_one() {
    let env = env_with_people();
    let acme = env.org("acme");
    let b = env.create_user(&acme, "admin2@acme.example", "Bo Admin", "admin", None);
    let a = id_of(&env, "admin@acme.example");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut ca = Client::new(&app);
    ca.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let mut cb = Client::new(&app);
    cb.sign_in("acme", "admin2@acme.example", PASSWORD).await;
    ca.get(&format!("/admin/users/{b}")).await;
    cb.get(&format!("/admin/users/{a}")).await;
    let done = ca
        .post(&format!("/admin/users/{b}/roles"), &[("role", "employee")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    // B is no longer an admin: their session ended with the change, so the route refuses.
    let refused = cb
        .post(&format!("/admin/users/{a}/roles"), &[("role", "employee")])
        .await;
    assert_eq!(refused.location(), Some("/login"));
    let row = users::get(&acme, a).unwrap().unwrap();
    assert_eq!(row.roles, "admin");
    assert!(row.active);
}

/// Where B's request got past the route's check before A's change to B committed, the
/// change inside the transaction still refuses to leave no active admin.
#[actix_web::test]
async fn the_last_active_admin_cannot_be_removed() {
    use expenseplus::auth::account;
    let env = env_with_people();
    let acme = env.org("acme");
    let b = env.create_user(&acme, "admin2@acme.example", "Bo Admin", "admin", None);
    let a = id_of(&env, "admin@acme.example");
    account::set_roles(&acme, a, b, Roles::parse_list("employee").unwrap()).unwrap();
    let removed = account::set_roles(&acme, b, a, Roles::parse_list("employee").unwrap());
    let message = removed.expect_err("last admin's role removed").to_string();
    assert!(message.contains("active administrator"), "{message}");
    let deactivated = account::set_active(&acme, b, a, false);
    assert!(deactivated.is_err());
    let row = users::get(&acme, a).unwrap().unwrap();
    assert_eq!((row.roles.as_str(), row.active), ("admin", true));
    assert_eq!(entries(&env, Action::RolesChanged).len(), 1);

    // With another active admin, the same changes are allowed.
    account::set_roles(&acme, a, b, Roles::parse_list("admin").unwrap()).unwrap();
    account::set_active(&acme, b, a, false).unwrap();
    account::set_active(&acme, b, a, true).unwrap();
    // Deactivated admins do not count: B, the only active one, stays.
    account::set_active(&acme, b, a, false).unwrap();
    let fin = id_of(&env, "fin@acme.example");
    assert!(account::set_roles(&acme, fin, b, Roles::parse_list("employee").unwrap()).is_err());
    assert!(account::set_active(&acme, fin, b, false).is_err());
}

#[actix_web::test]
async fn invite_and_reset_links_are_https_behind_a_plain_http_proxy() {
    let env = env_with_people();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    // As a TLS-terminating proxy passes a page on to `--plain-http`: from this host,
    // with the public host name and no X-Forwarded-Proto.
    let via_proxy = |path: &str| {
        atest::TestRequest::get()
            .uri(path)
            .peer_addr("127.0.0.1:50000".parse().unwrap())
            .insert_header(("host", "expenses.acme.example"))
    };
    let shown = |body: &str| {
        let link = link_in(body).expect("link shown");
        assert!(
            body.contains(&format!(
                "readonly value=\"https://expenses.acme.example{link}\""
            )),
            "{body}"
        );
        assert!(!body.contains("http://"), "{body}");
    };
    // An invitation.
    admin.get("/admin/users").await;
    let created = admin
        .post(
            "/admin/users",
            &[
                ("name", "Nia Newcomer"),
                ("email", "nia@acme.example"),
                ("role", "employee"),
            ],
        )
        .await;
    let to = created.location().unwrap().to_owned();
    let page = admin.send(via_proxy(&to)).await;
    assert_eq!(page.status, StatusCode::OK);
    shown(&page.body);
    // A reset of an existing person's password.
    let eve = format!("/admin/users/{}", id_of(&env, "emp@acme.example"));
    admin.get(&eve).await;
    let issued = admin.post(&format!("{eve}/reset"), &[]).await;
    assert_eq!(issued.location(), Some(eve.as_str()));
    let page = admin.send(via_proxy(&eve)).await;
    assert_eq!(page.status, StatusCode::OK);
    shown(&page.body);
}
