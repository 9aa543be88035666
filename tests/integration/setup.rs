//! First run: the one-time setup link creates the first organisation and its
//! administrator; `expenseplus demo` makes a signed-in-ready demo organisation.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::num::NonZeroUsize;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, TestEnv};
use expenseplus::audit::{self, Action, Filter};
use expenseplus::auth::users;
use expenseplus::tenancy::{Registry, Tenants, Usage};
use expenseplus::web::{AppState, WebSettings, build_app};

const TOKEN: &str = "6f1c0d2e9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e";
const ADMIN_PASSWORD: &str = "velvet-harbour-quietly-juggles-seven-lanterns";

fn fresh_env() -> TestEnv {
    let env = TestEnv::new();
    *env.state.setup_token.lock().unwrap() = Some(TOKEN.to_owned());
    env
}

fn form<'a>(slug: &'a str, password: &'a str, confirm: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("slug", slug),
        ("org_name", "Initech GmbH"),
        ("name", "Ida Initech"),
        ("email", "ida@initech.example"),
        ("password", password),
        ("confirm_password", confirm),
    ]
}

#[actix_web::test]
async fn setup_creates_the_organisation_and_its_administrator_once() {
    let env = fresh_env();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    let path = format!("/setup/{TOKEN}");

    // Wrong tokens are a plain 404, for GET and POST alike.
    assert_eq!(c.get("/setup/nope").await.status, StatusCode::NOT_FOUND);
    let wrong = format!("/setup/{}", TOKEN.replace('6', "7"));
    assert_eq!(c.get(&wrong).await.status, StatusCode::NOT_FOUND);

    let page = c.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"confirm_password\""));
    let bad = c
        .post(&wrong, &form("initech", ADMIN_PASSWORD, ADMIN_PASSWORD))
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    assert_eq!(c.post(&wrong, &[]).await.status, StatusCode::NOT_FOUND);

    // Bad input: the form again, with a message and the other fields kept.
    for (fields, message) in [
        (
            form("initech", ADMIN_PASSWORD, "something-else-entirely-here"),
            "do not match",
        ),
        (
            form("Bad_Slug", ADMIN_PASSWORD, ADMIN_PASSWORD),
            "slug must be",
        ),
        (form("initech", "short", "short"), "at least 12"),
        (
            form("initech", "initech-rocks-9000!", "initech-rocks-9000!"),
            "must not contain",
        ),
    ] {
        let page = c.post(&path, &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(page.body.contains(message), "{message}: {}", page.body);
        assert!(page.body.contains("value=\"Initech GmbH\""));
        assert!(page.body.contains("value=\"ida@initech.example\""));
        assert!(
            !page.body.contains(ADMIN_PASSWORD),
            "passwords are not echoed"
        );
    }
    assert!(env.state.tenants.registry().is_empty().unwrap());

    let done = c
        .post(&path, &form("initech", ADMIN_PASSWORD, ADMIN_PASSWORD))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/login"));
    assert!(env.state.setup_token.lock().unwrap().is_none());

    // Used once: the link is gone.
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);
    let again = c
        .post(&path, &form("other", ADMIN_PASSWORD, ADMIN_PASSWORD))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // The organisation works at once: the administrator signs in.
    c.sign_in("initech", "ida@initech.example", ADMIN_PASSWORD)
        .await;
    let home = c.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Ida Initech"));
    assert_eq!(c.get("/audit").await.status, StatusCode::OK);

    let org = env.org("initech");
    assert_eq!(org.name, "Initech GmbH");
    let admin = users::find_by_email(&org, "ida@initech.example")
        .unwrap()
        .unwrap();
    assert_eq!(admin.roles, "employee,admin");
    let setup = audit::page(
        &org,
        &Filter {
            action: Some(Action::OrganisationSetUp),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(setup.len(), 1);
    assert_eq!(setup[0].actor_id, Some(admin.id));
}

#[actix_web::test]
async fn setup_is_closed_once_an_organisation_exists() {
    let env = fresh_env();
    env.create_org("acme", "Acme Ltd");
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    let path = format!("/setup/{TOKEN}");
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);
    c.get("/login").await;
    let page = c
        .post(&path, &form("initech", ADMIN_PASSWORD, ADMIN_PASSWORD))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(env.state.tenants.registry().list().unwrap().len(), 1);
}

#[actix_web::test]
async fn without_a_token_there_is_no_setup() {
    let env = TestEnv::new();
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut c = Client::new(&app);
    assert_eq!(
        c.get(&format!("/setup/{TOKEN}")).await.status,
        StatusCode::NOT_FOUND
    );
}

fn run_demo(data: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_expenseplus"))
        .arg("--data-dir")
        .arg(data)
        .arg("demo")
        .env_remove("EXPENSEPLUS_MASTER_KEY")
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

#[actix_web::test]
async fn demo_makes_one_user_of_each_role_who_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run_demo(&data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.lines().next().unwrap().contains("demo"));
    let people: Vec<(String, String, String)> = stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3).then(|| (f[0].to_owned(), f[1].to_owned(), f[2].to_owned()))
        })
        .collect();
    let roles: Vec<&str> = people.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(roles, ["employee", "manager", "finance", "dpo", "admin"]);

    // A second run refuses, in one sentence, and changes nothing.
    let before = common::snapshot(&data);
    let again = run_demo(&data);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(before, common::snapshot(&data));

    // The same data dir, served in-process: every demo user signs in.
    let registry = Registry::open(&data, false, Usage::Server).unwrap();
    let tenants = Tenants::new(registry, NonZeroUsize::new(4).unwrap());
    let state = actix_web::web::Data::new(AppState::new(tenants, WebSettings::default()));
    let app = atest::init_service(build_app(state.clone())).await;
    for (role, email, password) in &people {
        let mut c = Client::new(&app);
        c.sign_in("demo", email, password).await;
        let home = c.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{role}");
        assert!(home.body.contains(role.as_str()), "{role}: {}", home.body);
    }
    let org = state
        .tenants
        .by_slug(&expenseplus::ids::Slug::parse("demo").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(org.name, "Demo Ltd");
    let emp = users::find_by_email(&org, &people[0].1).unwrap().unwrap();
    let boss = users::find_by_email(&org, &people[1].1).unwrap().unwrap();
    assert_eq!(emp.manager_id, Some(boss.id));
    assert_eq!(boss.roles, "employee,manager");
}

#[test]
fn serve_prints_a_one_time_setup_link_on_first_run() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_expenseplus"))
        .args([
            "serve",
            "--plain-http",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "1",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("EXPENSEPLUS_MASTER_KEY")
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut serving = String::new();
    let mut setup = String::new();
    out.read_line(&mut serving).unwrap();
    out.read_line(&mut setup).unwrap();
    let fetch = |path: &str| {
        let host = serving
            .trim()
            .rsplit("://")
            .next()
            .unwrap()
            .trim_end_matches('/');
        let mut tcp = std::net::TcpStream::connect(host).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        tcp.read_to_string(&mut resp).unwrap();
        resp
    };
    let url = setup.trim().strip_prefix("First-run setup: http://");
    let result = url.map(|u| {
        let path = &u[u.find('/').unwrap()..];
        let token = path.strip_prefix("/setup/").unwrap();
        (token.len(), fetch(path), fetch("/setup/0000"))
    });
    let _ = child.kill();
    let _ = child.wait();
    let (len, right, wrong) = result.unwrap_or_else(|| panic!("no setup line: {setup:?}"));
    assert!(serving.starts_with("ExpensePlus is serving at http://"));
    assert_eq!(len, 64, "hex of 32 random bytes");
    assert!(right.starts_with("HTTP/1.1 200"), "{right}");
    assert!(right.contains("Set up ExpensePlus"));
    assert!(wrong.starts_with("HTTP/1.1 404"), "{wrong}");
}
