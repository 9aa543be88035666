//! A real browser against the real binary: headless Chromium, driven over WebDriver
//! (chromedriver), walks first-run setup, sign-in, MFA enrolment, sign-out and a sign-in
//! with an authenticator code, asserting what a person sees at each step. Screenshots
//! land in `target/screenshots/` for a person to look at.
//!
//! Without Chromium or chromedriver the test says so loudly on stderr and passes, unless
//! `EXPENSEPLUS_REQUIRE_BROWSER=1`, where it fails (CI installs both).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_expenseplus");

/// How long the server and chromedriver get to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long any one page gets to show what the test waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole walk through the browser.
const WALK_TIMEOUT: Duration = Duration::from_secs(300);

const ORG_SLUG: &str = "acme";
const ORG_NAME: &str = "Acme Ltd";
const ADMIN_NAME: &str = "Ada Lovelace";
const ADMIN_EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// A child process killed and reaped when dropped, so a failing test leaves nothing
/// running. Its output goes to a log file, shown when the test fails.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn print_log(&self) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        eprintln!(
            "---- {} output ----\n{text}---- end of {} output ----",
            self.name, self.name
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first of `names` found on `$PATH` (Debian puts both programs in /usr/bin).
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The running server: its base URL and the first-run setup link it printed.
struct Server {
    process: Process,
    url: String,
    setup_url: String,
}

/// Starts `expenseplus serve` on an OS-chosen port over HTTPS (self-signed) and waits
/// until it prints where it serves and its one-time setup link.
fn start_server(dir: &Path) -> Result<Server> {
    let log = dir.join("server.log");
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--backup-dir")
        .arg(dir.join("backups"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log)?)
        .spawn()
        .context("starting expenseplus serve")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let process = Process {
        name: "expenseplus serve",
        child,
        log,
    };
    // A thread reads stdout to its end (so the pipe never fills) and hands lines over.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let (mut url, mut setup_url) = (None, None);
    while url.is_none() || setup_url.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                process.print_log();
                bail!("the server did not print its URL and setup link ({e})");
            }
        };
        if let Some(rest) = line.trim().strip_prefix("ExpensePlus is serving at ") {
            url = Some(rest.trim_end_matches('/').to_owned());
        } else if let Some(rest) = line.trim().strip_prefix("First-run setup: ") {
            setup_url = Some(rest.to_owned());
        }
    }
    let (url, setup_url) = (url.unwrap_or_default(), setup_url.unwrap_or_default());
    ensure!(
        url.starts_with("https://127.0.0.1:"),
        "unexpected URL {url}"
    );
    ensure!(
        setup_url.starts_with(&format!("{url}/setup/")),
        "unexpected setup link {setup_url}"
    );
    Ok(Server {
        process,
        url,
        setup_url,
    })
}

/// A port nothing listens on now: the OS picks one for a listener that is then closed.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts chromedriver and waits until its port takes connections.
fn start_chromedriver(driver: &Path, dir: &Path) -> Result<(Process, u16)> {
    let port = free_port()?;
    let log = dir.join("chromedriver.log");
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(Stdio::from(File::options().append(true).open(&log)?))
        .spawn()
        .with_context(|| format!("starting {}", driver.display()))?;
    let mut process = Process {
        name: "chromedriver",
        child,
        log,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return Ok((process, port));
        }
        if let Some(status) = process.child.try_wait()? {
            process.print_log();
            bail!("chromedriver exited before listening: {status}");
        }
        if Instant::now() >= deadline {
            process.print_log();
            bail!("chromedriver did not listen on port {port} within {START_TIMEOUT:?}");
        }
        // Polling interval while waiting for the port, not a wait for a guessed time.
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn open_browser(chromium: &Path, driver_port: u16, profile: &Path) -> Result<Client> {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
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
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .context("opening a WebDriver session")
}

/// Saves a screenshot of the browser's viewport as `target/screenshots/NAME.png`.
struct Shots {
    dir: PathBuf,
}

impl Shots {
    fn new() -> Result<Shots> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let dir = target.join("screenshots");
        std::fs::create_dir_all(&dir)?;
        Ok(Shots { dir })
    }

    /// The whole page, not just what fits the window: the window grows to the page's
    /// height for the shot and shrinks back after.
    async fn take(&self, client: &Client, name: &str) -> Result<()> {
        let (width, height) = client.get_window_size().await?;
        let sizes = client
            .execute(
                "return [document.documentElement.scrollHeight, window.innerHeight];",
                Vec::new(),
            )
            .await
            .context("measuring the page")?;
        let measure = |i: usize| sizes.get(i).and_then(serde_json::Value::as_u64);
        let (Some(page), Some(inner)) = (measure(0), measure(1)) else {
            bail!("unexpected page measurements {sizes}");
        };
        let grow = page.saturating_sub(inner);
        let size = |h: u64| u32::try_from(h).context("window size");
        if grow > 0 {
            client
                .set_window_size(size(width)?, size(height + grow)?)
                .await?;
        }
        let png = client.screenshot().await.context("taking a screenshot");
        if grow > 0 {
            client.set_window_size(size(width)?, size(height)?).await?;
        }
        let png = png?;
        ensure!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(self.dir.join(format!("{name}.png")), png)?;
        Ok(())
    }
}

/// An XPath string literal for text without double quotes.
fn xpath_text(text: &str) -> String {
    format!("\"{text}\"")
}

/// Waits until an element with exactly this (whitespace-normalised) text is on the page,
/// failing at once if the server answers with its error page instead.
async fn wait_for_text(client: &Client, tag: &str, text: &str) -> Result<Element> {
    let xpath = format!(
        "//{tag}[normalize-space()={}] | //section[contains(concat(' ', @class, ' '), ' error ')]",
        xpath_text(text)
    );
    let found = client
        .wait()
        .at_most(STEP_TIMEOUT)
        .for_element(Locator::XPath(&xpath))
        .await
        .with_context(|| format!("waiting for <{tag}> \"{text}\""))?;
    if found.tag_name().await? != tag {
        let shown = found.text().await?.replace('\n', " / ");
        bail!("waiting for <{tag}> \"{text}\", the server showed an error page: {shown}");
    }
    Ok(found)
}

async fn wait_for_css(client: &Client, css: &str) -> Result<Element> {
    client
        .wait()
        .at_most(STEP_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("waiting for {css}"))
}

async fn fill(client: &Client, field: &str, value: &str) -> Result<()> {
    let input = client
        .find(Locator::Css(&format!("input[name='{field}']")))
        .await
        .with_context(|| format!("finding field {field}"))?;
    input.clear().await?;
    input.send_keys(value).await?;
    Ok(())
}

async fn click_button(client: &Client, label: &str) -> Result<()> {
    let xpath = format!("//button[normalize-space()={}]", xpath_text(label));
    client
        .find(Locator::XPath(&xpath))
        .await
        .with_context(|| format!("finding button \"{label}\""))?
        .click()
        .await
        .with_context(|| format!("clicking \"{label}\""))?;
    Ok(())
}

async fn path(client: &Client) -> Result<String> {
    Ok(client.current_url().await?.path().to_owned())
}

fn unix_now() -> Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// Signs in with the password, as on `templates/login.html`.
async fn sign_in_with_password(client: &Client, shots: Option<(&Shots, &str)>) -> Result<()> {
    wait_for_text(client, "h1", "Sign in").await?;
    fill(client, "organisation", ORG_SLUG).await?;
    fill(client, "email", ADMIN_EMAIL).await?;
    fill(client, "password", PASSWORD).await?;
    if let Some((shots, name)) = shots {
        shots.take(client, name).await?;
    }
    click_button(client, "Sign in").await
}

/// The walk itself, step by step as a person would go.
async fn walk(client: &Client, server: &Server, shots: &Shots) -> Result<()> {
    // 1. First-run setup through the one-time link the server printed.
    client.goto(&server.setup_url).await?;
    wait_for_text(client, "h1", "Set up ExpensePlus").await?;
    let lead = client.find(Locator::Css("p.lead")).await?.text().await?;
    ensure!(lead.contains("This link works once."), "setup lead: {lead}");
    wait_for_text(client, "h2", "Organisation").await?;
    wait_for_text(client, "h2", "Administrator").await?;
    fill(client, "org_name", ORG_NAME).await?;
    fill(client, "slug", ORG_SLUG).await?;
    fill(client, "name", ADMIN_NAME).await?;
    fill(client, "email", ADMIN_EMAIL).await?;
    fill(client, "password", PASSWORD).await?;
    fill(client, "confirm_password", PASSWORD).await?;
    shots.take(client, "01-setup").await?;
    click_button(client, "Create organisation").await?;

    // 2. Setup sends the new administrator to the sign-in page.
    wait_for_text(client, "h1", "Sign in").await?;
    ensure!(path(client).await? == "/login", "setup ends on /login");
    sign_in_with_password(client, Some((shots, "02-login"))).await?;

    // 3. The dashboard greets them, with their organisation and a sign-out button in the
    // header, and suggests two-step sign-in.
    wait_for_text(client, "h1", &format!("Welcome, {ADMIN_NAME}")).await?;
    ensure!(path(client).await? == "/", "signed in to the dashboard");
    let header = client
        .find(Locator::Css("header.top .who"))
        .await?
        .text()
        .await?;
    ensure!(
        header.contains(ORG_NAME),
        "header shows the organisation: {header}"
    );
    ensure!(
        header.contains(ADMIN_NAME),
        "header shows the person: {header}"
    );
    ensure!(header.contains("Sign out"), "header has Sign out: {header}");
    let notice = wait_for_css(client, "main .notice").await?.text().await?;
    ensure!(
        notice.contains("Protect your account with two-step sign-in"),
        "dashboard suggests MFA: {notice}"
    );
    shots.take(client, "03-dashboard").await?;

    // 4. Enrolment: follow the dashboard's link, read the key, type the current code.
    client
        .find(Locator::LinkText("Set it up now"))
        .await?
        .click()
        .await?;
    wait_for_text(client, "h1", "Two-step sign-in").await?;
    wait_for_text(client, "h2", "Set up an authenticator app").await?;
    ensure!(path(client).await? == "/account/mfa");
    // Shown in groups of four for people; apps take it without the spaces.
    let secret: String = wait_for_css(client, "code.mono.secret")
        .await?
        .text()
        .await?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    ensure!(
        secret.len() >= 16
            && secret
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "the key is base32: {secret:?}"
    );
    let qr = client.find(Locator::Css("img.qr")).await?;
    ensure!(qr.is_displayed().await?, "the QR code is shown");
    let enrolled_at = unix_now()?;
    let code =
        expenseplus::auth::mfa::current_code(&secret, enrolled_at).context("the key decodes")?;
    fill(client, "code", &code).await?;
    shots.take(client, "04-mfa-enrol").await?;
    click_button(client, "Turn on two-step sign-in").await?;

    // 5. Ten recovery codes, shown once.
    wait_for_text(client, "h2", "Your recovery codes").await?;
    let items = client.find_all(Locator::Css("ul.codes > li")).await?;
    ensure!(items.len() == 10, "10 recovery codes, got {}", items.len());
    let mut codes = Vec::new();
    for item in &items {
        let text = item.text().await?;
        ensure!(
            text.len() == 11 && text.as_bytes()[5] == b'-',
            "recovery code like k3x9q-7mw2p: {text:?}"
        );
        codes.push(text);
    }
    codes.sort();
    codes.dedup();
    ensure!(codes.len() == 10, "the recovery codes are all different");
    shots.take(client, "05-recovery-codes").await?;

    // 6. Back to the dashboard, which no longer nags, then sign out from the header.
    client
        .find(Locator::LinkText("Continue"))
        .await?
        .click()
        .await?;
    wait_for_text(client, "h1", &format!("Welcome, {ADMIN_NAME}")).await?;
    let notices = client.find_all(Locator::Css("main .notice")).await?;
    for n in notices {
        let text = n.text().await?;
        ensure!(
            !text.contains("Protect your account"),
            "MFA is on, yet the dashboard still suggests it"
        );
    }
    click_button(client, "Sign out").await?;
    wait_for_text(client, "h1", "Sign in").await?;
    // Signed out means signed out: the dashboard sends them back to sign in.
    client.goto(&format!("{}/", server.url)).await?;
    wait_for_text(client, "h1", "Sign in").await?;
    ensure!(
        path(client).await? == "/login",
        "signed out, / leads to /login"
    );

    // 7. The password alone no longer signs in: the second step asks for a code.
    sign_in_with_password(client, None).await?;
    wait_for_text(client, "h1", "Enter your code").await?;
    ensure!(path(client).await? == "/login/mfa");
    // The enrolment spent its 30-second step, and a code is good once. An authenticator
    // one step ahead is accepted (clock drift), so use the next step's code rather than
    // wait for the clock to move on.
    let now = unix_now()?;
    let step = if now / 30 > enrolled_at / 30 {
        now
    } else {
        now + 30
    };
    let code = expenseplus::auth::mfa::current_code(&secret, step).context("the key decodes")?;
    fill(client, "code", &code).await?;
    shots.take(client, "06-mfa-login").await?;
    click_button(client, "Continue").await?;

    // 8. Signed in with two factors.
    wait_for_text(client, "h1", &format!("Welcome, {ADMIN_NAME}")).await?;
    ensure!(path(client).await? == "/");
    let header = client
        .find(Locator::Css("header.top .who"))
        .await?
        .text()
        .await?;
    ensure!(
        header.contains(ADMIN_NAME),
        "header shows the person: {header}"
    );
    shots.take(client, "07-signed-in").await?;

    // 9. The setup link worked once: now it is a plain "not found" page.
    client.goto(&server.setup_url).await?;
    // Rendered text, so the status line reads as styled: upper case.
    let error = wait_for_css(client, "section.error").await?.text().await?;
    for expected in [
        "ERROR 404",
        "Page not found",
        "There is no page at this address.",
    ] {
        ensure!(
            error.contains(expected),
            "the spent link shows {expected:?}: {error}"
        );
    }
    shots.take(client, "08-not-found").await?;
    Ok(())
}

#[tokio::test]
async fn setup_sign_in_mfa_enrolment_and_totp_sign_in_in_a_real_browser() -> Result<()> {
    let required = std::env::var("EXPENSEPLUS_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let chromium = find_program(&["chromium", "chromium-browser"]);
    let driver = find_program(&["chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        let missing = "chromium/chromedriver not found on PATH (Debian packages `chromium` \
                       and `chromium-driver`)";
        if required {
            bail!("EXPENSEPLUS_REQUIRE_BROWSER=1, but {missing}");
        }
        // Straight to the process's stderr: the test harness hides eprintln! output of
        // passing tests, and this must not go unnoticed.
        let bar = "!".repeat(78);
        let _ = writeln!(
            std::io::stderr(),
            "\n{bar}\nBROWSER TESTS SKIPPED: {missing}.\nInstall them to run the browser \
             test; set EXPENSEPLUS_REQUIRE_BROWSER=1 to make this a failure.\n{bar}\n"
        );
        return Ok(());
    };

    let started = Instant::now();
    // Dropped last, after the processes writing into it.
    let dir = tempfile::tempdir()?;
    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir_all(&profile)?;
    let shots = Shots::new()?;
    let server = start_server(dir.path())?;
    let (chromedriver, port) = start_chromedriver(&driver, dir.path())?;
    let client = match open_browser(&chromium, port, &profile).await {
        Ok(client) => client,
        Err(e) => {
            chromedriver.print_log();
            return Err(e);
        }
    };

    let result = match tokio::time::timeout(WALK_TIMEOUT, walk(&client, &server, &shots)).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!("the walk took longer than {WALK_TIMEOUT:?}")),
    };
    if let Err(e) = &result {
        // Leave the evidence: where the browser was, what it showed, and the logs.
        let url = client.current_url().await.map(|u| u.to_string());
        eprintln!("browser test failed at {url:?}: {e:#}");
        if shots.take(&client, "failure").await.is_ok() {
            eprintln!("screenshot: {}", shots.dir.join("failure.png").display());
        }
        if let Ok(source) = client.source().await {
            eprintln!("---- page source ----\n{source}\n---- end of page source ----");
        }
        server.process.print_log();
        chromedriver.print_log();
    }
    // Ends the browser; chromedriver and the server are killed when dropped.
    let closed = client.close().await;
    result?;
    closed.context("closing the browser")?;
    eprintln!(
        "browser walk passed in {:.1}s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.dir.display()
    );
    Ok(())
}
