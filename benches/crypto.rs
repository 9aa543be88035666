//! Throughput of the sealed type for 100-byte values: `cargo bench --bench crypto`.
//! Seals and opens through a real organisation key ring (keys cached, as in serving).

use std::time::Instant;

use expenseplus::crypto::columns::UserName;
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};

const VALUES: usize = 200_000;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path(), true, Usage::Server).expect("registry");
    let slug = Slug::parse("bench").expect("slug");
    let record = registry.create_org(&slug, "Bench Ltd").expect("org");
    let org = registry.open_org(&record).expect("open");
    let person = org.keys.create_person_key().expect("key");
    let value = "x".repeat(100);

    // Warm up, then measure.
    for _ in 0..1000 {
        let s = org.keys.seal::<UserName>(person, &value).expect("seal");
        org.keys.open(&s).expect("open");
    }
    let start = Instant::now();
    let sealed: Vec<_> = (0..VALUES)
        .map(|_| org.keys.seal::<UserName>(person, &value).expect("seal"))
        .collect();
    let seal_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut bytes = 0usize;
    for s in &sealed {
        bytes += org.keys.open(s).expect("open").as_str().map_or(0, str::len);
    }
    let open_secs = start.elapsed().as_secs_f64();
    assert_eq!(bytes, VALUES * 100);
    let mb = (VALUES * 100) as f64 / 1e6;
    println!("sealed type, 100-byte values, {VALUES} each way, one core:");
    println!(
        "  encrypt: {:>10.0} values/s  {:>6.1} MB/s of plaintext",
        VALUES as f64 / seal_secs,
        mb / seal_secs
    );
    println!(
        "  decrypt: {:>10.0} values/s  {:>6.1} MB/s of plaintext",
        VALUES as f64 / open_secs,
        mb / open_secs
    );
}
