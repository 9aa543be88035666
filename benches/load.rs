//! Load benchmark against the real binary: `cargo bench --bench load`.
//!
//! Starts `expenseplus serve --plain-http` on loopback (TLS termination is a proxy's job
//! in that mode; the client sends the session cookie itself) and measures:
//! 1. req/s and latency of `/healthz` and of `/admin/users` (25 people: 50 encrypted
//!    values decrypted per request) with 32 keep-alive connections;
//! 2. sign-ins per second with 50 people signing in at once, and the latency of a
//!    signed-in page (`/`) measured during that storm and without it.
//!
//! Client and server share this machine's cores, so the numbers are a floor.

#[path = "support/http.rs"]
mod http;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};
use http::{Conn, PASSWORD, Server};

const PAGE_PEOPLE: usize = 25;
const STORM_PEOPLE: usize = 50;
const CONNECTIONS: usize = 32;
const PHASE: Duration = Duration::from_secs(8);

fn sign_in(conn: &mut Conn, email: &str) -> Option<String> {
    http::sign_in(conn, "bench", email)
}

fn hammer(
    threads: usize,
    f: impl Fn(&mut Conn) -> bool + Send + Sync + Clone + 'static,
    addr: &str,
) -> http::Stats {
    http::hammer(threads, PHASE, move |_, c| f(c), addr)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    {
        let registry = Registry::open(&data, true, Usage::Command).expect("registry");
        let record = registry
            .create_org(&Slug::parse("bench").expect("slug"), "Bench Ltd")
            .expect("org");
        let org = registry.open_org(&record).expect("open");
        let hash = password::hash(PASSWORD).expect("hash");
        let add = |email: String, name: String, roles: &str| {
            users::create(
                &org,
                NewUser {
                    email: &email,
                    name: &name,
                    roles: Roles::parse_list(roles).expect("roles"),
                    manager: None,
                    password_hash: Some(hash.clone()),
                },
            )
            .expect("user");
        };
        add("admin@bench.example".into(), "Ada Admin".into(), "admin");
        for i in 1..PAGE_PEOPLE {
            add(
                format!("person{i}@bench.example"),
                format!("Person Number {i}"),
                "employee",
            );
        }
        for i in 0..STORM_PEOPLE {
            add(
                format!("storm{i}@bench.example"),
                format!("Storm Person {i}"),
                "employee",
            );
        }
    }
    let server = Server::start(&data);
    let addr = server.addr.clone();

    let mut setup = Conn::open(&addr);
    let admin = Arc::new(sign_in(&mut setup, "admin@bench.example").expect("admin signs in"));
    let page = setup.request("GET", "/admin/users", Some(&admin), None);
    assert_eq!(page.status, 200, "the admin users page must exist");
    assert!(page.body.contains("Person Number 24"));

    println!(
        "ExpensePlus load benchmark ({CONNECTIONS} connections, {}s per phase, server --workers 2, loopback, plain HTTP)",
        PHASE.as_secs()
    );
    let healthz = hammer(
        CONNECTIONS,
        |c| c.request("GET", "/healthz", None, None).status == 200,
        &addr,
    );
    println!("{}", healthz.line("GET /healthz"));
    let a = admin.clone();
    let users_page = hammer(
        CONNECTIONS,
        move |c| c.request("GET", "/admin/users", Some(&a), None).status == 200,
        &addr,
    );
    println!("{}", users_page.line("GET /admin/users (50 decryptions)"));
    println!(
        "  /admin/users throughput is {:.0}% of /healthz",
        100.0 * users_page.requests as f64
            / users_page.secs
            / (healthz.requests as f64 / healthz.secs)
    );

    let a = admin.clone();
    let quiet = hammer(
        1,
        move |c| c.request("GET", "/", Some(&a), None).status == 200,
        &addr,
    );
    println!("{}", quiet.line("GET / alone (1 connection)"));
    let stop = Arc::new(AtomicBool::new(false));
    let storm_start = Instant::now();
    let storm: Vec<_> = (0..STORM_PEOPLE)
        .map(|i| {
            let (stop, addr) = (stop.clone(), addr.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr);
                let mut ok = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    assert!(
                        sign_in(&mut conn, &format!("storm{i}@bench.example")).is_some(),
                        "sign-in failed"
                    );
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    let a = admin.clone();
    let during = hammer(
        1,
        move |c| c.request("GET", "/", Some(&a), None).status == 200,
        &addr,
    );
    stop.store(true, Ordering::Relaxed);
    let sign_ins: usize = storm
        .into_iter()
        .map(|h| h.join().expect("storm thread"))
        .sum();
    let storm_secs = storm_start.elapsed().as_secs_f64();
    println!("{}", during.line("GET / during 50 parallel sign-ins"));
    println!(
        "sign-ins (argon2id m=19MiB t=2 p=1): {:.1}/s over {storm_secs:.1}s ({sign_ins} in all, {STORM_PEOPLE} at once)",
        sign_ins as f64 / storm_secs
    );
    drop(server);
}
