//! The real binary: HTTPS with a self-signed certificate made on first start and reused
//! after, security headers on the wire, the plain-HTTP warning, and a clean SIGTERM.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};

const BIN: &str = env!("CARGO_BIN_EXE_expenseplus");

/// A running server; killed if a test fails before stopping it.
struct Server {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, extra: &[&str]) -> Server {
    start_logging(data, extra, "warn")
}

fn start_logging(data: &Path, extra: &[&str], log: &str) -> Server {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    // Owned by the guard from here on, so every path below reaps the process.
    let mut server = Server {
        child,
        url: String::new(),
        stderr: rx,
    };
    let stderr = server.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The server prints its URL once it listens: wait for that line, not for a time.
    let mut out = BufReader::new(server.child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if let Some(url) = line.trim().strip_prefix("ExpensePlus is serving at ") {
            server.url = url.to_owned();
            std::thread::spawn(move || for _ in out.lines() {});
            return server;
        }
    }
}

fn addr(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// One HTTP/1.1 GET over TLS; returns (peer certificate DER, raw response).
fn https_get(url: &str, path: &str) -> (Vec<u8>, String) {
    let mut builder = SslConnector::builder(SslMethod::tls()).unwrap();
    // Self-signed: the test pins the certificate instead of trusting a CA.
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    let tcp = TcpStream::connect(addr(url)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = connector.connect("localhost", tcp).unwrap();
    let cert = tls.ssl().peer_certificate().unwrap().to_der().unwrap();
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    tls.read_to_string(&mut resp).unwrap();
    (cert, resp)
}

fn plain_get(url: &str, path: &str) -> String {
    plain_request(url, "GET", path)
}

fn plain_request(url: &str, method: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr(url)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).unwrap();
    resp
}

fn mode(p: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
}

#[test]
fn https_with_a_reused_self_signed_certificate_and_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[]);
    assert!(server.url.starts_with("https://"));
    let (cert1, resp) = https_get(&server.url, "/healthz");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("ok"));
    let lower = resp.to_lowercase();
    for header in [
        "strict-transport-security: max-age=63072000",
        "content-security-policy: default-src 'none'",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "x-frame-options: deny",
    ] {
        assert!(lower.contains(header), "{header} missing in {resp}");
    }
    assert!(!lower.contains("unsafe-inline"));
    // Static files are cacheable and validated.
    let (_, css) = https_get(&server.url, "/static/style.css");
    assert!(
        css.to_lowercase()
            .contains("cache-control: public, max-age=3600")
    );
    assert!(css.to_lowercase().contains("etag:"));
    // Unknown pages get the error page, not internals.
    let (_, missing) = https_get(&server.url, "/no/such/page");
    assert!(missing.starts_with("HTTP/1.1 404"));
    assert!(missing.contains("There is no page at this address."));
    drop(server);

    for f in ["master.key", "tls/cert.pem", "tls/key.pem"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let key_before = std::fs::read(data.join("master.key")).unwrap();
    let server = start(&data, &[]);
    let (cert2, _) = https_get(&server.url, "/healthz");
    assert_eq!(cert1, cert2, "the certificate is reused on restart");
    assert_eq!(key_before, std::fs::read(data.join("master.key")).unwrap());
}

#[test]
fn plain_http_warns_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(&dir.path().join("data"), &["--plain-http"]);
    assert!(server.url.starts_with("http://"));
    let warning = server.stderr.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(warning.contains("plain HTTP"), "{warning}");
    assert!(plain_get(&server.url, "/healthz").starts_with("HTTP/1.1 200"));
    // A load balancer's HEAD health check: the answer without the body.
    let head = plain_request(&server.url, "HEAD", "/healthz");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "no body: {head}");
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}

#[test]
fn sigterm_finishes_a_request_in_flight_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    // actix-server says when it starts its graceful shutdown: that line is the signal.
    let mut server = start_logging(
        &dir.path().join("data"),
        &["--plain-http"],
        "warn,actix_server=info",
    );
    // The sign-in page gives a form cookie and its CSRF token, so the POST below
    // passes the CSRF check, which reads the whole body: the request stays in flight
    // until its last byte arrives.
    let form = plain_get(&server.url, "/login");
    assert!(form.starts_with("HTTP/1.1 200"), "{form}");
    let cookie = form
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let marker = "name=\"csrf_token\" value=\"";
    let token = &form[form.find(marker).unwrap() + marker.len()..];
    let token = &token[..token.find('"').unwrap()];
    let body = format!(
        "csrf_token={token}&organisation=acme&email=nobody%40acme.example&password=wrong-password-1"
    );
    let mut conn = TcpStream::connect(addr(&server.url)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(
        format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Cookie: {cookie}\r\nSec-Fetch-Site: same-origin\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len(),
        )
        .as_bytes(),
    )
    .unwrap();
    // "100 Continue" means the server has the request and its handler wants the body.
    let mut head = [0u8; 25];
    conn.read_exact(&mut head).unwrap();
    assert!(
        head.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{head:?}"
    );
    conn.write_all(&body.as_bytes()[..10]).unwrap();
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    loop {
        let line = server
            .stderr
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs that it finishes the open connection");
        if line.contains("graceful worker shutdown; finishing") {
            break;
        }
    }
    // The rest of the body arrives after the signal and the request is still answered:
    // the sign-in page again with its message (no such organisation or person).
    conn.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(!answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("Sign in"), "{answer}");
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}

#[test]
fn serves_an_operator_supplied_certificate() {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509, X509NameBuilder};

    let dir = tempfile::tempdir().unwrap();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "expenses.example").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();

    let data = dir.path().join("data");
    let server = start(
        &data,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    let (served, resp) = https_get(&server.url, "/healthz");
    assert!(resp.starts_with("HTTP/1.1 200"));
    assert_eq!(served, cert.to_der().unwrap());
    assert!(
        !data.join("tls").exists(),
        "no self-signed certificate when one is given"
    );
    drop(server);

    // A key that does not match the certificate is one plain sentence, exit 1.
    let other = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    std::fs::write(&key_path, other.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args([
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("TLS certificate or key could not be used"),
        "{stderr}"
    );
}

#[test]
fn one_server_per_data_dir_and_no_key_shredding_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    assert!(
        run(&["org", "create", "acme", "--name", "Acme"])
            .status
            .success()
    );
    let mut server = start(&data, &["--plain-http"]);
    assert!(plain_get(&server.url, "/healthz").starts_with("HTTP/1.1 200"));
    // A second server on the same data dir is refused in one sentence.
    let second = Command::new(BIN)
        .args([
            "serve",
            "--plain-http",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("is running on this data dir"), "{err}");
    // Retention (which destroys keys) waits for the server to stop.
    let backup_dir = backups.to_str().unwrap();
    let refused = run(&["retention", "run", "--backup-dir", backup_dir]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("server is running on this data dir"), "{err}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let ran = run(&["retention", "run", "--backup-dir", backup_dir]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
}

/// At start the server removes what a restore killed before it left (a copy of an
/// organisation's data outside the files erasure scrubs), and warns about a trusted
/// proxy network wide enough to hold clients.
#[test]
fn start_removes_a_killed_restores_copy_and_warns_of_a_wide_proxy_network() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let demo = Command::new(BIN)
        .args(["demo", "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(demo.status.success());
    let org_dir = data.join("orgs").join("demo");
    let (stale, fresh) = (
        org_dir.join(".restore-20260101T000000Z.sqlite"),
        org_dir.join(".restore-20260102T000000Z.sqlite"),
    );
    for f in [&stale, &fresh] {
        std::fs::write(f, b"a copy of the organisation's data").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let server = start(
        &data,
        &["--plain-http", "--trusted-proxy", "10.0.0.0/8,10.0.3.7"],
    );
    assert!(!stale.exists(), "the killed restore's copy is gone");
    assert!(
        fresh.exists(),
        "a fresh one may belong to a restore running now"
    );
    let mut warned = Vec::new();
    while let Ok(line) = server.stderr.recv_timeout(Duration::from_secs(30)) {
        warned.push(line);
        let all = warned.join("\n");
        if all.contains("10.0.0.0/8 is a wide network") && all.contains("interrupted restore") {
            break;
        }
    }
    let all = warned.join("\n");
    assert!(
        all.contains("--trusted-proxy 10.0.0.0/8 is a wide network"),
        "{all}"
    );
    assert!(!all.contains("10.0.3.7"), "one address is not wide: {all}");
    assert!(
        all.contains("removed 1 file(s) left by an interrupted restore of demo"),
        "{all}"
    );
}
