//! Backup benchmark against the real binary: `cargo bench --bench backup`.
//!
//! Builds an organisation with 100,000 claims (titles sealed per owner) and
//! `BACKUP_BENCH_MB` (default 1000) MB of receipts, starts `expenseplus serve
//! --plain-http`, measures a signed-in page (`GET /claims`, one connection) alone,
//! then runs `expenseplus backup run` and measures the same page while it runs.
//! Reports backup time, backup size, and p50/p99 of the page in both phases.
//! Receipt bytes are random (as sealed bytes are): SQLite cannot compress them.

#[path = "support/http.rs"]
mod http;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::crypto::columns::ClaimTitle;
use expenseplus::db::schema::org::claims;
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};

use http::{Conn, PASSWORD, Server, sign_in};
const CLAIMS: usize = 100_000;
const OWNERS: usize = 50;
const RECEIPT_BYTES: usize = 200_000;
const BASELINE: Duration = Duration::from_secs(8);

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
    let server = Server::start_with(&data, &["--backup-dir".as_ref(), backups.as_os_str()]);
    let mut conn = Conn::open(&server.addr);
    let cookie = sign_in(&mut conn, "bench", "person0@bench.example").expect("sign-in");
    let mut page = || {
        let t = Instant::now();
        let page = conn.request("GET", "/claims", Some(&cookie), None);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Claim number"));
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
