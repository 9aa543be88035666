//! The DPO's journey in a real browser against the real binary (shared harness in
//! `tests/browser/harness.rs`): an erasure request comes in, identity is verified, the
//! person's data is downloaded as a ZIP, the erasure is done, and the person can no
//! longer sign in; on the way the breach register, the records of processing and the
//! employee's own privacy page. Screenshots: `target/screenshots/privacy-*.png`.
//!
//! Without Chromium or chromedriver the test says so loudly and passes, unless
//! `EXPENSEPLUS_REQUIRE_BROWSER=1`.

// Shared with tests/browser.rs; this walk uses only part of it.
#[allow(dead_code)]
#[path = "browser/harness.rs"]
mod harness;

use std::io::{Cursor, Read};
use std::path::Path;

use anyhow::{Context, Result, ensure};
use fantoccini::{Client, Locator};
use serde_json::json;

use harness::{Rig, click_button, click_link, fill, sign_in_with_password, wait_for_css};

/// Fills a textarea (the harness's `fill` is for inputs).
async fn fill_text(client: &Client, field: &str, value: &str) -> Result<()> {
    let area = client
        .find(Locator::Css(&format!("textarea[name='{field}']")))
        .await
        .with_context(|| format!("finding text field {field}"))?;
    area.clear().await?;
    area.send_keys(value).await?;
    Ok(())
}
use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};

const ORG: &str = "acme";
const PASSWORD: &str = "correct horse battery staple";
const DPO: (&str, &str) = ("dora@acme.example", "Dora Protection");
const EMPLOYEE: (&str, &str) = ("ezra@acme.example", "Ezra Employee");

/// Organisation `acme` with a DPO and an employee, made before the server starts.
fn seed(data: &Path) -> Result<()> {
    let registry = Registry::open(data, true, Usage::Command)?;
    let record = registry.create_org(&Slug::parse(ORG)?, "Acme Ltd")?;
    let org = registry.open_org(&record)?;
    let hash = password::hash(PASSWORD)?;
    for ((email, name), roles) in [(DPO, "dpo"), (EMPLOYEE, "employee")] {
        users::create(
            &org,
            NewUser {
                email,
                name,
                roles: Roles::parse_list(roles)?,
                manager: None,
                password_hash: Some(hash.clone()),
            },
        )?;
    }
    Ok(())
}

/// Waits until the first element matching `css` contains `text`; gives its text.
async fn wait_text(client: &Client, css: &str, text: &str) -> Result<String> {
    let mut shown = String::new();
    let found = client
        .wait()
        .at_most(harness::STEP_TIMEOUT)
        .for_element(Locator::XPath(&format!(
            "//*[contains(normalize-space(), \"{text}\")]"
        )))
        .await;
    if found.is_ok()
        && let Ok(el) = client.find(Locator::Css(css)).await
    {
        shown = el.text().await.unwrap_or_default();
    }
    ensure!(shown.contains(text), "{css} shows {shown:?}, not {text:?}");
    Ok(shown)
}

async fn sign_in_as(rig: &Rig, who: (&str, &str)) -> Result<()> {
    rig.goto("/login").await?;
    sign_in_with_password(&rig.client, ORG, who.0, PASSWORD, None).await?;
    wait_text(&rig.client, "h1", &format!("Welcome, {}", who.1)).await?;
    Ok(())
}

async fn sign_out(client: &Client) -> Result<()> {
    click_button(client, "Sign out").await?;
    wait_text(client, "h1", "Sign in").await?;
    Ok(())
}

/// The DPO logs an erasure request for the employee and verifies their identity.
/// Returns the request page's path.
async fn request_comes_in(rig: &Rig) -> Result<String> {
    let (client, shots) = (&rig.client, &rig.shots);
    sign_in_as(rig, DPO).await?;
    wait_text(client, "#dpo + ul", "0 requests overdue").await?;
    shots.take(client, "privacy-01-dpo-dashboard").await?;
    click_link(client, "Privacy").await?;
    wait_text(client, "h1", "Privacy requests").await?;
    // An unknown person gets a field message.
    fill(client, "subject_email", "nobody@acme.example").await?;
    click_button(client, "Log request").await?;
    wait_text(client, ".field-error", "no one in this organisation").await?;
    shots.take(client, "privacy-02-unknown-subject").await?;
    fill(client, "subject_email", EMPLOYEE.0).await?;
    client
        .find(Locator::Css("select[name='kind']"))
        .await?
        .select_by_value("erasure")
        .await?;
    click_button(client, "Log request").await?;
    wait_text(client, "[role=status]", "is in the register").await?;
    fill(client, "method", "Asked from their signed-in account").await?;
    click_button(client, "Identity verified").await?;
    wait_text(client, "[role=status]", "Identity verified").await?;
    let facts = wait_text(client, "dl.details", "Asked from their signed-in account").await?;
    ensure!(facts.contains("Due"), "{facts}");
    wait_for_css(client, "form[action$='/erase']").await?;
    shots.take(client, "privacy-03-request").await?;
    Ok(client.current_url().await?.path().to_owned())
}

/// The breach register with its 72-hour clock, and the records of processing.
async fn breach_and_records(rig: &Rig) -> Result<()> {
    let (client, shots) = (&rig.client, &rig.shots);
    rig.goto("/privacy/breaches").await?;
    wait_text(client, "h1", "Breach register").await?;
    // A datetime-local field takes typing in the browser's locale order: set it directly.
    let t = time::OffsetDateTime::now_utc() - time::Duration::hours(30);
    let detected = format!("{}T{:02}:{:02}", t.date(), t.hour(), t.minute());
    client
        .execute(
            "document.querySelector('[name=detected]').value = arguments[0];",
            vec![json!(detected)],
        )
        .await?;
    fill_text(
        client,
        "nature",
        "Payroll spreadsheet emailed to the wrong supplier.",
    )
    .await?;
    fill_text(client, "categories", "employees; names, bank details").await?;
    fill(client, "people", "40").await?;
    fill(client, "records", "40").await?;
    fill_text(client, "consequences", "Possible fraud attempts.").await?;
    fill_text(
        client,
        "measures",
        "Supplier confirmed deletion in writing.",
    )
    .await?;
    click_button(client, "Record breach").await?;
    wait_text(client, "[role=status]", "is in the register").await?;
    wait_text(client, "p.lead", "left to tell the authority").await?;
    shots.take(client, "privacy-04-breach").await?;
    rig.goto("/").await?;
    wait_text(client, "#dpo + ul", "left to tell the authority").await?;
    rig.goto("/privacy/records").await?;
    wait_text(client, "h1", "Records of processing").await?;
    shots.take(client, "privacy-05-records").await?;
    Ok(())
}

/// The DPO downloads the person's data and erases them.
async fn export_and_erase(rig: &Rig, request: &str) -> Result<()> {
    let (client, shots) = (&rig.client, &rig.shots);
    rig.goto(request).await?;
    click_link(client, "Download the person's data (ZIP)").await?;
    let (_, zip) = rig.download(".zip").await?;
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).context("the download is a ZIP")?;
    let mut data = String::new();
    archive.by_name("data.json")?.read_to_string(&mut data)?;
    ensure!(data.contains(EMPLOYEE.1), "the export names the person");
    ensure!(
        archive.by_name("report.html").is_ok(),
        "the export has its report"
    );
    // Mode "now" is preselected; the confirmation is a tick.
    client
        .find(Locator::Css("input[name='confirm']"))
        .await?
        .click()
        .await?;
    shots.take(client, "privacy-07-erase").await?;
    click_button(client, "Erase").await?;
    wait_text(
        client,
        "[role=status]",
        "Erased: the person's key is destroyed",
    )
    .await?;
    let page = wait_text(client, "main", "completed").await?;
    ensure!(!page.contains(EMPLOYEE.1), "the erased name is not shown");
    shots.take(client, "privacy-08-erased").await?;
    Ok(())
}

async fn walk(rig: &Rig) -> Result<()> {
    let client = &rig.client;
    let request = request_comes_in(rig).await?;
    breach_and_records(rig).await?;
    sign_out(client).await?;
    // The employee follows their request on their own privacy page.
    sign_in_as(rig, EMPLOYEE).await?;
    rig.goto("/me/privacy").await?;
    wait_text(client, "main table", "erasure").await?;
    rig.shots.take(client, "privacy-06-me-privacy").await?;
    sign_out(client).await?;
    sign_in_as(rig, DPO).await?;
    export_and_erase(rig, &request).await?;
    sign_out(client).await?;
    // The erased person cannot sign in: the same message as a wrong password.
    rig.goto("/login").await?;
    sign_in_with_password(client, ORG, EMPLOYEE.0, PASSWORD, None).await?;
    wait_text(
        client,
        "[role=alert]",
        "email address or password is not right",
    )
    .await?;
    rig.shots
        .take(client, "privacy-09-erased-cannot-sign-in")
        .await?;
    Ok(())
}

#[tokio::test]
async fn dpo_answers_an_erasure_request_in_a_real_browser() -> Result<()> {
    let Some(rig) = harness::start(seed).await? else {
        return Ok(());
    };
    rig.run("privacy", walk).await
}
