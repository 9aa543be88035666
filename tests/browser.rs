//! A real browser against the real binary: headless Chromium, driven over WebDriver
//! (chromedriver). Two walks, each asserting what a person sees at each step, with
//! screenshots in `target/screenshots/` for a person to look at:
//! - first-run setup, sign-in, MFA enrolment, sign-out and a sign-in with an
//!   authenticator code (this file);
//! - the expense journey: an employee files a claim with a receipt photo, the manager
//!   approves it, finance pays it and downloads the CSV, and nothing personal is left
//!   in plaintext on disk (`browser/journey.rs`).
//!
//! Without Chromium or chromedriver each test says so loudly on stderr and passes,
//! unless `EXPENSEPLUS_REQUIRE_BROWSER=1`, where it fails (CI installs both).

#[path = "browser/harness.rs"]
mod harness;
#[path = "browser/journey.rs"]
mod journey;

use anyhow::{Context, Result, ensure};
use fantoccini::{Client, Locator};

use harness::{
    Rig, Server, Shots, click_button, fill, path, unix_now, wait_for_css, wait_for_text,
};

const ORG_SLUG: &str = "acme";
const ORG_NAME: &str = "Acme Ltd";
const ADMIN_NAME: &str = "Ada Lovelace";
const ADMIN_EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

async fn sign_in_with_password(client: &Client, shots: Option<(&Shots, &str)>) -> Result<()> {
    harness::sign_in_with_password(client, ORG_SLUG, ADMIN_EMAIL, PASSWORD, shots).await
}

/// The walk itself, step by step as a person would go.
async fn walk(client: &Client, server: &Server, shots: &Shots) -> Result<()> {
    let setup_url = server
        .setup_url
        .as_deref()
        .context("a first run prints a setup link")?;
    // 1. First-run setup through the one-time link the server printed.
    client.goto(setup_url).await?;
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
    client.goto(setup_url).await?;
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
    // A fresh data dir: the server prints its one-time setup link.
    let Some(rig) = harness::start(|_| Ok(())).await? else {
        return Ok(());
    };
    rig.run("setup", async |rig: &Rig| {
        walk(&rig.client, &rig.server, &rig.shots).await
    })
    .await
}

#[tokio::test]
async fn employee_claims_with_receipt_manager_approves_finance_pays_and_exports() -> Result<()> {
    let Some(rig) = harness::start(journey::seed).await? else {
        return Ok(());
    };
    rig.run("journey", journey::walk).await
}
