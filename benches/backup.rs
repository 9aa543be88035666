//! Backup benchmark against the real binary: `cargo bench --bench backup`.
//!
//! Builds an organisation with 100,000 claims (titles sealed per owner) and
//! `BACKUP_BENCH_MB` (default 1000) MB of receipts, starts `expenseplus serve
//! --plain-http`, measures a signed-in page (`GET /claims`, one connection) alone,
//! then runs `expenseplus backup run` and measures the same page while it runs.
//! Reports backup time, backup size, and p50/p99 of the page in both phases.
//! Receipt bytes are random (as sealed bytes are): SQLite cannot compress them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::crypto::columns::ClaimTitle;
use expenseplus::db::schema::org::claims;
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};

const PASSWORD: &str = "correct horse battery staple";
const CLAIMS: usize = 100_000;
const OWNERS: usize = 50;
const RECEIPT_BYTES: usize = 200_000;
const BASELINE: Duration = Duration::from_secs(8);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal keep-alive HTTP/1.1 client (Content-Length or chunked bodies).
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

    /// (status, last Set-Cookie pair, body)
    fn request(
        &mut self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: Option<&str>,
    ) -> (u16, Option<String>, String) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
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
        self.writer.write_all(req.as_bytes()).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status");
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
        (status, cookie, String::from_utf8_lossy(&body).into_owned())
    }
}

fn csrf(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = body.find(marker).map(|i| i + marker.len()).unwrap_or(0);
    body[at..].split('"').next().unwrap_or_default().to_owned()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// The organisation: OWNERS people, CLAIMS claims spread over them, receipts.
fn seed(data: &Path, receipt_mb: usize) {
    let registry = Registry::open(data, true, Usage::Command).expect("registry");
    let record = registry
        .create_org(&Slug::parse("bench").expect("slug"), "Bench Ltd")
        .expect("org");
    let org = registry.open_org(&record).expect("open");
    let hash = password::hash(PASSWORD).expect("hash");
    let mut owners = Vec::new();
    for i in 0..OWNERS {
        let id = users::create(
            &org,
            NewUser {
                email: &format!("person{i}@bench.example"),
                name: &format!("Person Number {i}"),
                roles: Roles::parse_list("employee").expect("roles"),
                manager: None,
                password_hash: Some(hash.clone()),
            },
        )
        .expect("user");
        let key = users::get(&org, id)
            .expect("get")
            .expect("row")
            .person_key();
        owners.push((id, key));
    }
    let mut conn = org.conn().expect("conn");
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        for n in 0..CLAIMS {
            let (owner, key) = owners[n % OWNERS];
            let title = org
                .keys
                .seal::<ClaimTitle>(key, &format!("Claim number {n} for travel"))
                .expect("seal");
            diesel::insert_into(claims::table)
                .values((
                    claims::owner_id.eq(owner.0),
                    claims::title.eq(&title),
                    claims::status.eq("draft"),
                    claims::currency.eq("GBP"),
                    claims::total_minor.eq((n % 10_000) as i64),
                    claims::created_at.eq(1_700_000_000 + n as i64),
                    claims::updated_at.eq(1_700_000_000 + n as i64),
                ))
                .execute(c)?;
        }
        Ok(())
    })
    .expect("claims");
    // Receipts in batches of ~100 MB so the WAL stays bounded.
    let receipts = receipt_mb * 1_000_000 / RECEIPT_BYTES;
    let batch = 500;
    let mut done = 0;
    while done < receipts {
        let n = batch.min(receipts - done);
        conn.batch_execute(&format!(
            "INSERT INTO receipts (claim_id, line_id, content_type, size, data, created_at) \
             SELECT id, NULL, 'image/jpeg', {RECEIPT_BYTES}, randomblob({RECEIPT_BYTES}), 0 \
             FROM claims WHERE id > {done} ORDER BY id LIMIT {n}"
        ))
        .expect("receipts");
        done += n;
    }
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
}

fn main() {
    let receipt_mb: usize = std::env::var("BACKUP_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, backups) = (dir.path().join("data"), dir.path().join("backups"));
    let t = Instant::now();
    seed(&data, receipt_mb);
    let live = std::fs::metadata(data.join("orgs/bench/org.sqlite"))
        .expect("org db")
        .len();
    println!(
        "ExpensePlus backup benchmark: {CLAIMS} claims, {} receipts of {} kB ({receipt_mb} MB); org.sqlite {:.0} MB; seeded in {:.0}s",
        receipt_mb * 1_000_000 / RECEIPT_BYTES,
        RECEIPT_BYTES / 1000,
        mb(live),
        t.elapsed().as_secs_f64()
    );

    let bin = env!("CARGO_BIN_EXE_expenseplus");
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--plain-http",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--backup-dir")
        .arg(&backups)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let _server = Server(child);
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
    let mut conn = Conn::open(&addr);
    let (_, anon, form) = conn.request("GET", "/login", None, None);
    let body = format!(
        "organisation=bench&email=person0%40bench.example&password={}&csrf_token={}",
        PASSWORD.replace(' ', "+"),
        csrf(&form)
    );
    let (status, cookie, _) = conn.request("POST", "/login", anon.as_deref(), Some(&body));
    assert_eq!(status, 303, "sign-in");
    let cookie = cookie.expect("session cookie");
    let mut page = || {
        let t = Instant::now();
        let (status, _, body) = conn.request("GET", "/claims", Some(&cookie), None);
        assert_eq!(status, 200);
        assert!(body.contains("Claim number"));
        t.elapsed()
    };

    let start = Instant::now();
    let mut alone = Vec::new();
    while start.elapsed() < BASELINE {
        alone.push(page());
    }
    alone.sort();

    let started = Instant::now();
    let mut backup = Command::new(bin)
        .args(["backup", "run", "--org", "bench"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--backup-dir")
        .arg(&backups)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("backup");
    let mut during = Vec::new();
    let status = loop {
        if let Some(status) = backup.try_wait().expect("wait") {
            break status;
        }
        during.push(page());
    };
    let took = started.elapsed();
    assert!(status.success(), "backup run failed");
    let mut printed = String::new();
    backup
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut printed)
        .expect("read");
    during.sort();
    let size: u64 = std::fs::read_dir(backups.join("bench"))
        .expect("backups")
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|e| std::fs::read_dir(e.path()).expect("backup dir").flatten())
        .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    println!("{}", printed.lines().next().unwrap_or_default());
    println!(
        "backup run (snapshot + checksums + verify, separate process): {:.1}s wall, {:.0} MB on disk ({:.0} MB/s of live data)",
        took.as_secs_f64(),
        mb(size),
        mb(live) / took.as_secs_f64()
    );
    println!(
        "GET /claims alone:        p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests)",
        pct(&alone, 0.5),
        pct(&alone, 0.99),
        alone.len()
    );
    println!(
        "GET /claims during backup: p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests)",
        pct(&during, 0.5),
        pct(&during, 0.99),
        during.len()
    );
}
