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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};

const PASSWORD: &str = "correct horse battery staple";
const PAGE_PEOPLE: usize = 25;
const STORM_PEOPLE: usize = 50;
const CONNECTIONS: usize = 32;
const PHASE: Duration = Duration::from_secs(8);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Response {
    status: u16,
    cookie: Option<String>,
    body: String,
}

/// A minimal keep-alive HTTP/1.1 client: enough for this benchmark, no more.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        }
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: Option<&str>,
    ) -> Response {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(c) = cookie {
            req.push_str(&format!("Cookie: {c}\r\n"));
        }
        if let Some(f) = form {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{f}",
                f.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        self.writer.write_all(req.as_bytes()).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut length, mut chunked, mut cookie) = (0usize, false, None);
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "set-cookie" => cookie = value.trim().split(';').next().map(str::to_owned),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).expect("chunk size");
                let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).expect("chunk");
                body.extend_from_slice(&chunk[..size]);
                if size == 0 {
                    break;
                }
            }
        } else {
            body.resize(length, 0);
            self.reader.read_exact(&mut body).expect("body");
        }
        Response {
            status,
            cookie,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

fn csrf(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = body.find(marker).map(|i| i + marker.len()).unwrap_or(0);
    body[at..].split('"').next().unwrap_or_default().to_owned()
}

/// GET /login then POST it; returns the signed-in session cookie.
fn sign_in(conn: &mut Conn, email: &str) -> Option<String> {
    let form = conn.request("GET", "/login", None, None);
    let anon = form.cookie?;
    let body = format!(
        "organisation=bench&email={}&password={}&csrf_token={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+"),
        csrf(&form.body)
    );
    let done = conn.request("POST", "/login", Some(&anon), Some(&body));
    (done.status == 303).then_some(done.cookie).flatten()
}

struct Stats {
    requests: usize,
    secs: f64,
    latencies: Vec<Duration>,
}

impl Stats {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what:<34} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests)",
            self.requests as f64 / self.secs,
            self.pct(0.5),
            self.pct(0.99),
            self.requests
        )
    }
}

/// `threads` loops of `f` for `PHASE`; every call's latency is kept.
fn hammer(
    threads: usize,
    f: impl Fn(&mut Conn) -> bool + Send + Sync + Clone + 'static,
    addr: &str,
) -> Stats {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (f, addr) = (f.clone(), addr.to_owned());
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr);
                let mut lat = Vec::new();
                while start.elapsed() < PHASE {
                    let t = Instant::now();
                    assert!(f(&mut conn), "unexpected response");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    latencies.sort();
    Stats {
        requests: latencies.len(),
        secs: start.elapsed().as_secs_f64(),
        latencies,
    }
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_expenseplus"))
        .args([
            "serve",
            "--plain-http",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let server = Server(child);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(out.read_line(&mut line).expect("read") > 0, "server exited");
        if let Some(url) = line
            .trim()
            .strip_prefix("ExpensePlus is serving at http://")
        {
            break url.trim_end_matches('/').to_owned();
        }
    };

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
