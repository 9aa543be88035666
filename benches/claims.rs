//! Claims under load, against the real binary: `cargo bench --bench claims`.
//!
//! Seeds one organisation through the domain API (not HTTP) with 10,000 claims of 50
//! employees (2 to 4 lines each; most paid, some approved, submitted or draft) under
//! three managers, the first with 25 reports. Then starts `expenseplus serve
//! --plain-http` on loopback (the client sends the session cookie itself; TLS is a
//! proxy's job in that mode) and measures, with 32 keep-alive connections in one run:
//! `GET /healthz`, `GET /claims` (an employee's newest 50 claims), the same page with a
//! refused filter (the cost of a signed-in page before it lists anything), `GET /approvals` (the
//! manager with 25 reports: the 50 oldest of 250 waiting claims, a page), and `POST
//! /claims/{id}/lines` (multipart, a line with a small JPEG receipt, into draft claims).
//!
//! Client and server share this machine's cores, so the numbers are a floor.

#[path = "support/http.rs"]
mod http;

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Role, Roles, password};
use expenseplus::expenses::claims::{self, AddLine, LineInput};
use expenseplus::expenses::status::Transition;
use expenseplus::ids::{Slug, UserId};
use expenseplus::tenancy::{Org, Registry, Usage};
use http::{Conn, Server, Stats};

const ORG: &str = "bench";
const EMPLOYEES: usize = 50;
const MANAGERS: usize = 3;
/// The first manager's reports; the rest are shared by the others.
const BIG_TEAM: usize = 25;
const CLAIMS: usize = 10_000;
const CONNECTIONS: usize = 32;
const PHASE: Duration = Duration::from_secs(8);
const COMMAND: &str = "cargo bench --bench claims";

const CATEGORIES: [&str; 7] = [
    "travel",
    "meals",
    "accommodation",
    "subsistence",
    "equipment",
    "training",
    "other",
];
const PLACES: [&str; 8] = [
    "Bristol", "Leeds", "Glasgow", "Cardiff", "Norwich", "York", "Belfast", "Exeter",
];
const MERCHANTS: [&str; 6] = [
    "Great Western Railway",
    "Premier Inn",
    "Pret A Manger",
    "Waterstones",
    "Currys",
    "City Taxis",
];

struct Seeded {
    /// Each employee's email and newest draft claim.
    employees: Vec<(String, i64)>,
    big_manager: String,
}

fn email(kind: &str, i: usize) -> String {
    format!("{kind}{i}@bench.example")
}

fn add_user(
    org: &Org,
    hash: &str,
    email: &str,
    name: &str,
    roles: &[Role],
    manager: Option<UserId>,
) -> UserId {
    users::create(
        org,
        NewUser {
            email,
            name,
            roles: Roles::of(roles),
            manager,
            password_hash: Some(hash.to_owned()),
        },
    )
    .expect("user")
}

fn version(org: &Org, id: i64) -> i64 {
    claims::get(org, id).expect("claim").version
}

/// Claim `k` of an employee: 2 to 4 lines in the last 85 days, then, by age, paid,
/// approved, submitted or left as a draft (the newest).
fn seed_claim(org: &Org, who: (UserId, UserId, UserId), n: usize, k: usize) -> i64 {
    let (owner, manager, finance) = who;
    let employee = Roles::of(&[Role::Employee]);
    let approver = Roles::of(&[Role::Manager, Role::Employee]);
    let fin = Roles::of(&[Role::Finance]);
    let place = PLACES[n % PLACES.len()];
    let title = format!("Visit {k} to the {place} office");
    let id = claims::create(org, owner, &title, &format!("seed-claim-{n}")).expect("claim");
    let today = time::OffsetDateTime::now_utc().date();
    for line in 0..2 + n % 3 {
        let date = today - time::Duration::days(((n * 7 + line * 3) % 85) as i64);
        let amount_pence = 500 + (n * 37 + line * 1_301) % 19_000;
        let input = LineInput {
            date: date.to_string(),
            category: CATEGORIES[(n + line) % CATEGORIES.len()].into(),
            merchant: MERCHANTS[(n + line) % MERCHANTS.len()].into(),
            description: format!("{place} visit, item {}", line + 1),
            amount: format!("{}.{:02}", amount_pence / 100, amount_pence % 100),
            currency: "GBP".into(),
            vat: if line == 0 {
                format!("{}.{:02}", amount_pence / 600, amount_pence / 6 % 100)
            } else {
                String::new()
            },
            form_key: format!("seed-line-{n}-{line}"),
            ..Default::default()
        };
        match claims::add_line(org, owner, id, &input).expect("line") {
            AddLine::Added => {}
            AddLine::Invalid(e) => panic!("seed line refused: {e:?}"),
        }
    }
    // Per employee, claim k of 200: the oldest 150 paid, then 30 approved, 10 submitted
    // (waiting for the manager), 10 drafts.
    let age = k % 200;
    let steps: &[(UserId, Roles, Transition)] = match age {
        0..150 => &[
            (owner, employee, Transition::Submit),
            (manager, approver, Transition::Approve),
            (finance, fin, Transition::MarkPaid),
        ],
        150..180 => &[
            (owner, employee, Transition::Submit),
            (manager, approver, Transition::Approve),
        ],
        180..190 => &[(owner, employee, Transition::Submit)],
        _ => &[],
    };
    for (actor, roles, t) in steps {
        claims::transition(org, *actor, *roles, id, Some(version(org, id)), *t, "")
            .unwrap_or_else(|e| panic!("seed {t:?} of claim {id}: {e}"));
    }
    id
}

fn seed(data: &std::path::Path) -> Seeded {
    let registry = Registry::open(data, true, Usage::Command).expect("registry");
    let record = registry
        .create_org(&Slug::parse(ORG).expect("slug"), "Bench Ltd")
        .expect("org");
    let org = registry.open_org(&record).expect("open");
    // Seeding only: a command's pool holds one connection, reused throughout, so this
    // skips the per-commit fsync while seeding. The server opens its own with FULL.
    org.conn()
        .expect("conn")
        .batch_execute("PRAGMA synchronous = OFF;")
        .expect("pragma");
    let hash = password::hash(http::PASSWORD).expect("hash");
    let finance = add_user(
        &org,
        &hash,
        &email("fin", 0),
        "Fiona Finance",
        &[Role::Finance],
        None,
    );
    let managers: Vec<UserId> = (0..MANAGERS)
        .map(|i| {
            let name = format!("Manager Number {i}");
            add_user(
                &org,
                &hash,
                &email("mgr", i),
                &name,
                &[Role::Manager, Role::Employee],
                None,
            )
        })
        .collect();
    let people: Vec<(UserId, UserId)> = (0..EMPLOYEES)
        .map(|i| {
            let manager = if i < BIG_TEAM {
                managers[0]
            } else {
                managers[1 + i % (MANAGERS - 1)]
            };
            let name = format!("Employee Number {i}");
            let id = add_user(
                &org,
                &hash,
                &email("emp", i),
                &name,
                &[Role::Employee],
                Some(manager),
            );
            (id, manager)
        })
        .collect();
    let mut newest = vec![0; EMPLOYEES];
    let started = Instant::now();
    // Round-robin over people, so ids interleave as they would in real use.
    for n in 0..CLAIMS {
        let e = n % EMPLOYEES;
        let (owner, manager) = people[e];
        newest[e] = seed_claim(&org, (owner, manager, finance), n, n / EMPLOYEES);
    }
    println!(
        "seeded {CLAIMS} claims through the domain API in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Seeded {
        employees: (0..EMPLOYEES)
            .map(|i| (email("emp", i), newest[i]))
            .collect(),
        big_manager: email("mgr", 0),
    }
}

/// A small photo-like JPEG (240 x 180), as a phone's receipt photo scaled down.
fn receipt_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(240, 180, |x, y| {
        let ink = if (y / 12) % 2 == 0 && x % 40 < 30 {
            90
        } else {
            0
        };
        image::Rgb([
            (235 - ink) as u8,
            (230 - ink) as u8,
            (220 - ink + x % 7) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

const BOUNDARY: &str = "----expenseplus-bench-7d1f";

fn multipart(fields: &[(&str, &str)], jpeg: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"receipt\"; filename=\"receipt.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(jpeg);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// How many claim rows (links to a claim in a table cell) a page lists.
fn rows(body: &str) -> usize {
    body.matches("<tr><td><a href=\"/claims/").count()
}

/// True if the response is as expected; otherwise says what came instead, so a failed
/// run shows why.
fn expect(r: &http::Response, status: u16, row_count: Option<usize>) -> bool {
    let ok = r.status == status && row_count.is_none_or(|n| rows(&r.body) == n);
    if !ok {
        let start: String = r.body.chars().take(300).collect();
        eprintln!(
            "expected {status} ({row_count:?} rows), got {} with {} rows: {start}",
            r.status,
            rows(&r.body)
        );
    }
    ok
}

/// [`http::hammer`], with the server's and this client's CPU time over the phase.
fn hammer(
    server: &Server,
    threads: usize,
    phase: Duration,
    f: impl Fn(usize, &mut Conn) -> bool + Send + Sync + Clone + 'static,
) -> Stats {
    let (server_before, client_before) = (server.cpu_secs(), http::process_cpu_secs("self"));
    let mut stats = http::hammer(threads, phase, f, &server.addr);
    stats.server_cpu = server.cpu_secs() - server_before;
    stats.client_cpu = http::process_cpu_secs("self") - client_before;
    stats
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let seeded = seed(&data);
    let server = Server::start(&data);
    let addr = server.addr.clone();

    let mut setup = Conn::open(&addr);
    let mut sign_in = |email: &str| http::sign_in(&mut setup, ORG, email).expect("sign in");
    let employee = Arc::new(sign_in(&seeded.employees[0].0));
    let manager = Arc::new(sign_in(&seeded.big_manager));
    // One poster per connection, each its own employee and draft claim, with the CSRF
    // token of that session.
    let posters: Vec<(String, i64)> = seeded
        .employees
        .iter()
        .take(CONNECTIONS)
        .map(|(email, claim)| (sign_in(email), *claim))
        .collect();
    let posters: Arc<Vec<(String, i64, String)>> = Arc::new(
        posters
            .into_iter()
            .map(|(cookie, claim)| {
                let page = setup.request("GET", &format!("/claims/{claim}"), Some(&cookie), None);
                assert_eq!(page.status, 200, "the draft claim page opens");
                assert!(page.body.contains("Add a line"), "the claim is a draft");
                let token = http::csrf(&page.body);
                (cookie, claim, token)
            })
            .collect(),
    );
    let claims_page = setup.request("GET", "/claims", Some(&employee), None);
    assert_eq!(claims_page.status, 200);
    assert_eq!(rows(&claims_page.body), 50, "/claims shows 50 rows");
    let approvals_page = setup.request("GET", "/approvals", Some(&manager), None);
    assert_eq!(approvals_page.status, 200);
    let waiting = rows(&approvals_page.body);
    assert_eq!(
        waiting, 50,
        "/approvals lists a page of the team's waiting claims"
    );

    println!(
        "ExpensePlus claims benchmark: {CLAIMS} claims, {EMPLOYEES} employees, {MANAGERS} managers; \
         {CONNECTIONS} connections, {}s per phase, server --workers 2, plain HTTP on loopback",
        PHASE.as_secs()
    );
    // For profiling: `BENCH_ONLY=claims` (or healthz, frame, approvals, lines) runs only that
    // phase, for 30 s.
    let only = std::env::var("BENCH_ONLY").ok();

    let phase = |name: &str| match only.as_deref() {
        None => PHASE,
        Some(o) if o == name => Duration::from_secs(30),
        Some(_) => Duration::ZERO,
    };
    let healthz = hammer(&server, CONNECTIONS, phase("healthz"), |_, c| {
        expect(&c.request("GET", "/healthz", None, None), 200, None)
    });
    let e = employee.clone();
    let list = hammer(&server, CONNECTIONS, phase("claims"), move |_, c| {
        let r = c.request("GET", "/claims", Some(&e), None);
        expect(&r, 200, Some(50))
    });
    // The same page with a filter it refuses: session, user, categories and the page
    // frame, but no rows. What a signed-in page costs before it lists anything.
    let e = employee.clone();
    let frame = hammer(&server, CONNECTIONS, phase("frame"), move |_, c| {
        let r = c.request("GET", "/claims?status=unknown", Some(&e), None);
        expect(&r, 400, Some(0))
    });
    let m = manager.clone();
    let approvals = hammer(&server, CONNECTIONS, phase("approvals"), move |_, c| {
        let r = c.request("GET", "/approvals", Some(&m), None);
        expect(&r, 200, Some(waiting))
    });
    let jpeg = Arc::new(receipt_jpeg());
    let jpeg_kb = jpeg.len() as f64 / 1024.0;
    let counter = Arc::new(AtomicU64::new(0));
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let p = posters.clone();
    let posts = hammer(&server, CONNECTIONS, phase("lines"), move |i, c| {
        let (cookie, claim, token) = &p[i % p.len()];
        let key = format!("bench-{}", counter.fetch_add(1, Ordering::Relaxed));
        let body = multipart(
            &[
                ("csrf_token", token),
                ("form_key", &key),
                ("date", &today),
                ("category", "meals"),
                ("merchant", "Pret A Manger"),
                ("description", "Lunch with the Leeds team"),
                ("amount", "12.50"),
                ("currency", "GBP"),
            ],
            &jpeg,
        );
        let kind = format!("multipart/form-data; boundary={BOUNDARY}");
        let path = format!("/claims/{claim}/lines");
        let r = c.send("POST", &path, Some(cookie), Some((&kind, &body)));
        expect(&r, 303, None)
    });

    let of = |s: &Stats| 100.0 * s.rate() / healthz.rate();
    println!();
    println!(
        "| request | req/s | p50 ms | p99 ms | vs /healthz | server CPU ms/req | client CPU ms/req |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let row = |what: &str, s: &Stats| {
        println!(
            "| {what} | {:.0} | {:.2} | {:.2} | {:.1}% | {:.3} | {:.3} |",
            s.rate(),
            s.pct(0.5),
            s.pct(0.99),
            of(s),
            s.cpu_ms(),
            s.client_cpu * 1000.0 / s.requests.max(1) as f64
        );
    };
    row("GET /healthz", &healthz);
    row("GET /claims (50 rows)", &list);
    row("GET /claims?status=unknown (400, no rows)", &frame);
    row(
        &format!("GET /approvals ({waiting} rows, {BIG_TEAM} reports)"),
        &approvals,
    );
    row(
        &format!("POST line with {jpeg_kb:.1} KB JPEG receipt"),
        &posts,
    );
    println!();
    println!("command: {COMMAND}");
    drop(server);
}
