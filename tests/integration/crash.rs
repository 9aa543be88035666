//! Durability: many claims created at once over HTTPS against the real binary, the
//! server killed with SIGKILL in the middle, restarted: every claim that was answered
//! 303 is there, and SQLite's integrity check passes.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use diesel::prelude::*;
use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};

const BIN: &str = env!("CARGO_BIN_EXE_expenseplus");
const PASSWORD: &str = "correct horse battery staple";
const WRITERS: usize = 8;
/// Acknowledged claims before the kill.
const KILL_AFTER: usize = 120;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, backups: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
        .arg("--data-dir")
        .arg(data)
        .arg("--backup-dir")
        .arg(backups)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut server = Server {
        child,
        addr: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "server exited");
        if let Some(url) = line
            .trim()
            .strip_prefix("ExpensePlus is serving at https://")
        {
            server.addr = url.trim_end_matches('/').to_owned();
            std::thread::spawn(move || for _ in out.lines() {});
            return server;
        }
    }
}

struct Resp {
    status: u16,
    cookie: Option<String>,
    location: Option<String>,
    body: String,
}

/// One request on its own TLS connection (`Connection: close`).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> std::io::Result<Resp> {
    let mut builder = SslConnector::builder(SslMethod::tls()).unwrap();
    // The server's certificate is self-signed; this test is about durability.
    builder.set_verify(SslVerifyMode::NONE);
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut tls = builder
        .build()
        .connect("localhost", tcp)
        .map_err(std::io::Error::other)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    match form {
        Some(f) => req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{f}",
            f.len()
        )),
        None => req.push_str("\r\n"),
    }
    tls.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let (mut cookie, mut location) = (None, None);
    for l in lines {
        let (name, value) = l.split_once(':').unwrap_or((l, ""));
        match name.to_ascii_lowercase().as_str() {
            "set-cookie" => cookie = value.trim().split(';').next().map(str::to_owned),
            "location" => location = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    Ok(Resp {
        status,
        cookie,
        location,
        body: body.to_owned(),
    })
}

fn csrf(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = body.find(marker).unwrap() + marker.len();
    body[at..].split('"').next().unwrap().to_owned()
}

/// Signs in; returns (session cookie, CSRF token).
fn sign_in(addr: &str) -> (String, String) {
    let form = request(addr, "GET", "/login", None, None).unwrap();
    let body = format!(
        "organisation=crash&email=emp%40crash.example&password={}&csrf_token={}",
        PASSWORD.replace(' ', "+"),
        csrf(&form.body)
    );
    let done = request(addr, "POST", "/login", form.cookie.as_deref(), Some(&body)).unwrap();
    assert_eq!(done.status, 303, "sign-in: {}", done.body);
    let cookie = done.cookie.unwrap();
    let page = request(addr, "GET", "/claims", Some(&cookie), None).unwrap();
    assert_eq!(page.status, 200);
    (cookie, csrf(&page.body))
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

#[test]
fn every_claim_answered_as_saved_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (data, backups) = (dir.path().join("data"), dir.path().join("backups"));
    {
        let registry = Registry::open(&data, true, Usage::Command).unwrap();
        let record = registry
            .create_org(&Slug::parse("crash").unwrap(), "Crash Ltd")
            .unwrap();
        let org = registry.open_org(&record).unwrap();
        users::create(
            &org,
            NewUser {
                email: "emp@crash.example",
                name: "Eve Employee",
                roles: Roles::parse_list("employee").unwrap(),
                manager: None,
                password_hash: Some(password::hash(PASSWORD).unwrap()),
            },
        )
        .unwrap();
    }
    let mut server = start(&data, &backups);
    let (cookie, token) = sign_in(&server.addr);

    // Writers post claims until the server dies; every 303 is reported.
    let (tx, rx) = mpsc::channel::<(String, String)>();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (tx, addr, cookie, token) = (
                tx.clone(),
                server.addr.clone(),
                cookie.clone(),
                token.clone(),
            );
            std::thread::spawn(move || {
                for i in 0.. {
                    let title = format!("Crash claim {w}-{i}");
                    let form = format!(
                        "title={}&form_key=crash-{w}-{i}&csrf_token={token}",
                        title.replace(' ', "+")
                    );
                    match request(&addr, "POST", "/claims", Some(&cookie), Some(&form)) {
                        Ok(r) if r.status == 303 => {
                            let _ = tx.send((title, r.location.unwrap()));
                        }
                        Ok(r) if r.status == 0 => return,
                        Ok(r) => panic!("unexpected answer {}: {}", r.status, r.body),
                        // The server was killed: this request was never answered.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < KILL_AFTER {
        acked.push(rx.recv().unwrap());
    }
    // SIGKILL: no shutdown, no flush, no checkpoint.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    // Answers that arrived just before the kill count too.
    acked.extend(rx.try_iter());
    assert!(acked.len() >= KILL_AFTER);

    let server = start(&data, &backups);
    let (cookie, _) = sign_in(&server.addr);
    for (title, location) in &acked {
        assert!(location.starts_with("/claims/"), "{location}");
        let page = request(&server.addr, "GET", location, Some(&cookie), None).unwrap();
        assert_eq!(
            page.status, 200,
            "{title} at {location} is missing after kill -9"
        );
        assert!(page.body.contains(title.as_str()), "{title} missing");
    }
    drop(server);
    let db = data.join("orgs/crash/org.sqlite");
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].integrity_check, "ok");
}
