//! The browser tests' harness: the real binary serving HTTPS on loopback, chromedriver,
//! one headless Chromium session with its own download folder, screenshots under
//! `target/screenshots/`, and the page helpers the walks share.
//!
//! Without Chromium or chromedriver a test says so loudly on stderr and passes, unless
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
/// How long any one page (or download) gets to show what the test waits for.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole walk through the browser.
const WALK_TIMEOUT: Duration = Duration::from_secs(300);

/// A child process killed and reaped when dropped, so a failing test leaves nothing
/// running. Its output goes to a log file, shown when the test fails.
pub struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn print_log(&self) {
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

/// The running server: its base URL and, on a first run, the setup link it printed.
pub struct Server {
    pub process: Process,
    pub url: String,
    pub setup_url: Option<String>,
}

/// Starts `expenseplus serve` on an OS-chosen port over HTTPS (self-signed) on
/// `dir/data` and waits until it prints where it serves (and, if `first_run`, its
/// one-time setup link).
fn start_server(dir: &Path, first_run: bool) -> Result<Server> {
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
    while url.is_none() || (first_run && setup_url.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                process.print_log();
                bail!("the server did not print its URL (and setup link) ({e})");
            }
        };
        if let Some(rest) = line.trim().strip_prefix("ExpensePlus is serving at ") {
            url = Some(rest.trim_end_matches('/').to_owned());
        } else if let Some(rest) = line.trim().strip_prefix("First-run setup: ") {
            setup_url = Some(rest.to_owned());
        }
    }
    let url = url.unwrap_or_default();
    ensure!(
        url.starts_with("https://127.0.0.1:"),
        "unexpected URL {url}"
    );
    if let Some(setup) = &setup_url {
        ensure!(
            setup.starts_with(&format!("{url}/setup/")),
            "unexpected setup link {setup}"
        );
    }
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

async fn open_browser(
    chromium: &Path,
    driver_port: u16,
    profile: &Path,
    downloads: &Path,
) -> Result<Client> {
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
    // Downloads (CSV exports, receipts) land in a folder the test reads, unasked.
    let prefs = json!({
        "download.default_directory": downloads,
        "download.prompt_for_download": false,
        "download.directory_upgrade": true,
        "safebrowsing.enabled": false,
    });
    let caps = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": { "binary": chromium, "args": args, "prefs": prefs },
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
pub struct Shots {
    pub dir: PathBuf,
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
    pub async fn take(&self, client: &Client, name: &str) -> Result<()> {
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

/// Everything one browser test runs against. Fields drop in order: the processes
/// before the temporary directory they write into.
pub struct Rig {
    pub client: Client,
    pub server: Server,
    pub shots: Shots,
    /// The server's data dir.
    pub data: PathBuf,
    /// Where the browser saves downloads.
    pub downloads: PathBuf,
    chromedriver: Process,
    _dir: tempfile::TempDir,
}

/// Finds the browser, lets `seed` prepare the data dir (before the server first opens
/// it), and starts server, chromedriver and browser. `None`: no browser here, and the
/// test was skipped loudly (or failed, under `EXPENSEPLUS_REQUIRE_BROWSER=1`).
pub async fn start(seed: impl FnOnce(&Path) -> Result<()>) -> Result<Option<Rig>> {
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
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    seed(&data)?;
    let first_run = !data.join("registry.sqlite").exists();
    let profile = dir.path().join("chromium-profile");
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&profile)?;
    std::fs::create_dir_all(&downloads)?;
    let shots = Shots::new()?;
    let server = start_server(dir.path(), first_run)?;
    let (chromedriver, port) = start_chromedriver(&driver, dir.path())?;
    let client = match open_browser(&chromium, port, &profile, &downloads).await {
        Ok(client) => client,
        Err(e) => {
            chromedriver.print_log();
            return Err(e);
        }
    };
    Ok(Some(Rig {
        client,
        server,
        shots,
        data,
        downloads,
        chromedriver,
        _dir: dir,
    }))
}

impl Rig {
    /// Runs `walk` under the overall time limit; on failure leaves the evidence (where
    /// the browser was, a screenshot, the page source and both logs). Closes the browser.
    pub async fn run(self, name: &str, walk: impl AsyncFnOnce(&Rig) -> Result<()>) -> Result<()> {
        let started = Instant::now();
        let result = match tokio::time::timeout(WALK_TIMEOUT, walk(&self)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow!("the walk took longer than {WALK_TIMEOUT:?}")),
        };
        let client = &self.client;
        if let Err(e) = &result {
            let url = client.current_url().await.map(|u| u.to_string());
            eprintln!("browser test {name} failed at {url:?}: {e:#}");
            let shot = format!("{name}-failure");
            if self.shots.take(client, &shot).await.is_ok() {
                eprintln!(
                    "screenshot: {}",
                    self.shots.dir.join(format!("{shot}.png")).display()
                );
            }
            if let Ok(source) = client.source().await {
                eprintln!("---- page source ----\n{source}\n---- end of page source ----");
            }
            self.server.process.print_log();
            self.chromedriver.print_log();
        }
        // Ends the browser; chromedriver and the server are killed when dropped.
        let closed = self.client.clone().close().await;
        result?;
        closed.context("closing the browser")?;
        eprintln!(
            "browser walk {name} passed in {:.1}s; screenshots in {}",
            started.elapsed().as_secs_f64(),
            self.shots.dir.display()
        );
        Ok(())
    }

    /// Opens a path on the server.
    pub async fn goto(&self, path: &str) -> Result<()> {
        self.client
            .goto(&format!("{}{path}", self.server.url))
            .await
            .with_context(|| format!("opening {path}"))
    }

    /// Waits for a finished download whose name ends with `suffix` (Chromium writes
    /// `*.crdownload` until it is complete), and returns its path and bytes.
    pub async fn download(&self, suffix: &str) -> Result<(PathBuf, Vec<u8>)> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            // Chromium writes into a `.crdownload` file and may first put an empty
            // placeholder under the final name: done when that file is gone.
            let mut found = None;
            let mut in_progress = false;
            for entry in std::fs::read_dir(&self.downloads)? {
                let path = entry?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                in_progress |= name.ends_with(".crdownload");
                if name.ends_with(suffix) {
                    found = Some(path);
                }
            }
            if let (Some(path), false) = (found, in_progress) {
                let bytes = std::fs::read(&path)?;
                return Ok((path, bytes));
            }
            if Instant::now() >= deadline {
                bail!("no download ending in {suffix} within {STEP_TIMEOUT:?}");
            }
            // Polling interval while waiting for the file, not a wait for a guessed time.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An XPath string literal for text without double quotes.
fn xpath_text(text: &str) -> String {
    format!("\"{text}\"")
}

/// Waits until an element with exactly this (whitespace-normalised) text is on the page,
/// failing at once if the server answers with its error page instead.
pub async fn wait_for_text(client: &Client, tag: &str, text: &str) -> Result<Element> {
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

pub async fn wait_for_css(client: &Client, css: &str) -> Result<Element> {
    client
        .wait()
        .at_most(STEP_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("waiting for {css}"))
}

pub async fn fill(client: &Client, field: &str, value: &str) -> Result<()> {
    let input = client
        .find(Locator::Css(&format!("input[name='{field}']")))
        .await
        .with_context(|| format!("finding field {field}"))?;
    input.clear().await?;
    input.send_keys(value).await?;
    Ok(())
}

pub async fn click_button(client: &Client, label: &str) -> Result<()> {
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

pub async fn click_link(client: &Client, text: &str) -> Result<()> {
    client
        .find(Locator::LinkText(text))
        .await
        .with_context(|| format!("finding link \"{text}\""))?
        .click()
        .await
        .with_context(|| format!("clicking \"{text}\""))?;
    Ok(())
}

pub async fn path(client: &Client) -> Result<String> {
    Ok(client.current_url().await?.path().to_owned())
}

pub fn unix_now() -> Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// Signs in with a password, as on `templates/login.html`.
pub async fn sign_in_with_password(
    client: &Client,
    org: &str,
    email: &str,
    password: &str,
    shots: Option<(&Shots, &str)>,
) -> Result<()> {
    wait_for_text(client, "h1", "Sign in").await?;
    fill(client, "organisation", org).await?;
    fill(client, "email", email).await?;
    fill(client, "password", password).await?;
    if let Some((shots, name)) = shots {
        shots.take(client, name).await?;
    }
    click_button(client, "Sign in").await
}
