//! A real browser against the real binary: the DPO of the `demo` organisation opens
//! the request register, logs a request for an employee, verifies identity and sees
//! the deadline; the employee sees it on their own privacy page. Screenshots land in
//! `target/screenshots/privacy-*.png`.
//!
//! The harness is a trimmed copy of the one in `tests/browser.rs` (each test binary
//! is its own crate). Without Chromium or chromedriver the test says so on stderr and
//! passes, unless `EXPENSEPLUS_REQUIRE_BROWSER=1`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_expenseplus");
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Killed and reaped when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// `expenseplus demo`: the logins it prints, as (role, email, password).
fn demo(data: &Path) -> Result<Vec<(String, String, String)>> {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("demo")
        .env("RUST_LOG", "off")
        .env_remove("EXPENSEPLUS_MASTER_KEY")
        .output()?;
    ensure!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('\t');
            Some((
                parts.next()?.into(),
                parts.next()?.into(),
                parts.next()?.into(),
            ))
        })
        .collect())
}

fn start_server(dir: &Path) -> Result<(Process, String)> {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--backup-dir")
        .arg(dir.join("backups"))
        .env("RUST_LOG", "warn")
        .env_remove("EXPENSEPLUS_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(dir.join("server.log"))?)
        .spawn()?;
    let stdout = child.stdout.take().context("server stdout")?;
    let process = Process(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))?;
        if let Some(rest) = line.trim().strip_prefix("ExpensePlus is serving at ") {
            return Ok((process, rest.trim_end_matches('/').to_owned()));
        }
    }
}

fn start_chromedriver(driver: &Path) -> Result<(Process, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let process = Process(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        ensure!(Instant::now() < deadline, "chromedriver did not listen");
        // Polling interval while waiting for the port.
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((process, port))
}

async fn open_browser(chromium: &Path, port: u16, profile: &Path) -> Result<Client> {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--no-first-run".to_owned(),
        "--ignore-certificate-errors".to_owned(),
        "--window-size=1280,1000".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    let serde_json::Value::Object(caps) = caps else {
        bail!("capabilities are an object");
    };
    Ok(ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?)
}

async fn shot(client: &Client, name: &str) -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir)?;
    let height = client
        .execute("return document.documentElement.scrollHeight;", Vec::new())
        .await?
        .as_u64()
        .unwrap_or(1000)
        .clamp(600, 4000);
    client.set_window_size(1280, u32::try_from(height)?).await?;
    std::fs::write(
        dir.join(format!("privacy-{name}.png")),
        client.screenshot().await?,
    )?;
    Ok(())
}

async fn wait_text(client: &Client, css: &str, text: &str) -> Result<String> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let el = client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for {css}"))?;
        let shown = el.text().await.unwrap_or_default();
        if shown.contains(text) {
            return Ok(shown);
        }
        ensure!(
            Instant::now() < deadline,
            "{css} shows {shown:?}, not {text:?}"
        );
        // The page may still be loading; look again shortly.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(client: &Client, name: &str, value: &str) -> Result<()> {
    let input = client
        .find(Locator::Css(&format!("[name='{name}']")))
        .await?;
    input.clear().await?;
    input.send_keys(value).await?;
    Ok(())
}

async fn click(client: &Client, label: &str) -> Result<()> {
    let xpath = format!("//button[normalize-space()=\"{label}\"]");
    client.find(Locator::XPath(&xpath)).await?.click().await?;
    Ok(())
}

async fn sign_in(client: &Client, url: &str, email: &str, password: &str) -> Result<()> {
    client.goto(&format!("{url}/login")).await?;
    fill(client, "organisation", "demo").await?;
    fill(client, "email", email).await?;
    fill(client, "password", password).await?;
    click(client, "Sign in").await?;
    wait_text(client, "h1", "Welcome").await?;
    Ok(())
}

async fn walk(client: &Client, url: &str, logins: &[(String, String, String)]) -> Result<()> {
    let login = |role: &str| logins.iter().find(|l| l.0 == role).context("login");
    let (_, dpo_email, dpo_pw) = login("dpo")?;
    let (_, emp_email, emp_pw) = login("employee")?;
    sign_in(client, url, dpo_email, dpo_pw).await?;
    wait_text(client, "#dpo + ul", "0 requests overdue").await?;
    shot(client, "01-dpo-dashboard").await?;
    client
        .find(Locator::LinkText("Privacy"))
        .await?
        .click()
        .await?;
    wait_text(client, "h1", "Data-subject requests").await?;
    // An unknown person gets a field message; the email typed stays.
    fill(client, "subject_email", "nobody@demo.example").await?;
    click(client, "Log request").await?;
    wait_text(client, ".field-error", "no one in this organisation").await?;
    shot(client, "02-unknown-subject").await?;
    fill(client, "subject_email", emp_email).await?;
    let kind = client.find(Locator::Css("select[name='kind']")).await?;
    kind.select_by_value("erasure").await?;
    click(client, "Log request").await?;
    wait_text(client, "h1", "erasure").await?;
    wait_text(client, "[role=status]", "is in the register").await?;
    fill(client, "method", "Asked from their signed-in account").await?;
    click(client, "Identity verified").await?;
    wait_text(client, "[role=status]", "Identity verified").await?;
    let facts = wait_text(client, "dl.details", "Asked from their signed-in account").await?;
    ensure!(facts.contains("Due"), "{facts}");
    client.find(Locator::Css("form[action$='/erase']")).await?;
    shot(client, "03-request").await?;
    client
        .find(Locator::LinkText("All requests"))
        .await?
        .click()
        .await?;
    wait_text(client, "table.requests", "Erin Employee").await?;
    shot(client, "04-register").await?;
    client.goto(&format!("{url}/privacy/breaches")).await?;
    wait_text(client, "h1", "Breach register").await?;
    // A datetime-local field takes typing in the browser's locale format: set it directly.
    let detected = time::OffsetDateTime::now_utc() - time::Duration::hours(30);
    let detected = format!(
        "{}T{:02}:{:02}",
        detected.date(),
        detected.hour(),
        detected.minute()
    );
    client
        .execute(
            "document.querySelector('[name=detected]').value = arguments[0];",
            vec![json!(detected)],
        )
        .await?;
    fill(
        client,
        "nature",
        "Payroll spreadsheet emailed to the wrong supplier.",
    )
    .await?;
    fill(client, "categories", "employees; names, bank details").await?;
    fill(client, "people", "40").await?;
    fill(client, "records", "40").await?;
    fill(client, "consequences", "Possible fraud attempts.").await?;
    fill(
        client,
        "measures",
        "Supplier confirmed deletion in writing.",
    )
    .await?;
    click(client, "Record breach").await?;
    wait_text(client, "[role=status]", "is in the register").await?;
    wait_text(client, "p.lead", "left to tell the authority").await?;
    shot(client, "05-breach").await?;
    client
        .find(Locator::LinkText("Breach register"))
        .await?
        .click()
        .await?;
    wait_text(client, "main table", "Payroll spreadsheet").await?;
    shot(client, "05-breaches").await?;
    client.goto(&format!("{url}/")).await?;
    wait_text(client, "#dpo + ul", "left to tell the authority").await?;
    shot(client, "05-dashboard-breach").await?;
    client.goto(&format!("{url}/privacy/records")).await?;
    wait_text(client, "h1", "Records of processing").await?;
    shot(client, "06-records").await?;
    client.delete_all_cookies().await?;
    sign_in(client, url, emp_email, emp_pw).await?;
    client.goto(&format!("{url}/me/privacy")).await?;
    wait_text(client, "main table", "erasure").await?;
    shot(client, "07-me-privacy").await?;
    Ok(())
}

#[tokio::test]
async fn dpo_logs_a_request_in_a_real_browser() -> Result<()> {
    let required = std::env::var("EXPENSEPLUS_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(chromium), Some(driver)) = (
        find_program(&["chromium", "chromium-browser"]),
        find_program(&["chromedriver"]),
    ) else {
        ensure!(
            !required,
            "EXPENSEPLUS_REQUIRE_BROWSER=1, but chromium/chromedriver are missing"
        );
        eprintln!("SKIPPED: chromium/chromedriver not found; the privacy browser test did not run");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let logins = demo(&dir.path().join("data"))?;
    let (_server, url) = start_server(dir.path())?;
    let (_driver, port) = start_chromedriver(&driver)?;
    let client = open_browser(&chromium, port, &dir.path().join("profile")).await?;
    let result = walk(&client, &url, &logins).await;
    let _ = client.close().await;
    if result.is_err()
        && let Ok(log) = std::fs::read_to_string(dir.path().join("server.log"))
    {
        eprintln!("---- server log ----\n{log}");
    }
    result
}
