//! The expense journey in a real browser: an employee files a claim with a receipt
//! photo, their manager looks at the receipt and approves, finance marks the claim paid
//! and downloads the accounting CSV. Then every file under the data dir is read: the
//! merchant, the description, the title and the receipt's bytes appear nowhere in
//! plaintext. Screenshots: `target/screenshots/journey-*.png`.

use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};
use fantoccini::{Client, Locator};
use serde_json::json;

use super::harness::{
    Rig, click_button, click_link, fill, path, sign_in_with_password, wait_for_css, wait_for_text,
};
use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::ids::Slug;
use expenseplus::tenancy::{Registry, Usage};

const ORG: &str = "acme";
const PASSWORD: &str = "correct horse battery staple";
const MANAGER: (&str, &str) = ("mia@acme.example", "Mia Manager");
const EMPLOYEE: (&str, &str) = ("eli@acme.example", "Eli Employee");
const FINANCE: (&str, &str) = ("fay@acme.example", "Fay Finance");

// Distinctive text, so a find on disk is this journey's and nothing else.
const TITLE: &str = "Quarterly visit to the Zephyrton depot";
const MERCHANT: &str = "Quillwright Stationers of Zephyrton";
const DESCRIPTION: &str = "Printer toner for the Zephyrton depot visit";
const COMMENT: &str = "Fine, thank you for the receipt";

/// The employee's id, for their reference in the CSV (`E` and six digits).
static EMPLOYEE_ID: OnceLock<i64> = OnceLock::new();

/// Organisation `acme` with a manager, an employee reporting to them and a finance
/// person, made through the domain API before the server first opens the data dir.
pub fn seed(data: &Path) -> Result<()> {
    let registry = Registry::open(data, true, Usage::Command)?;
    let record = registry.create_org(&Slug::parse(ORG)?, "Acme Ltd")?;
    let org = registry.open_org(&record)?;
    let hash = password::hash(PASSWORD)?;
    let add = |(email, name): (&str, &str), roles: &str, manager| -> Result<_> {
        Ok(users::create(
            &org,
            NewUser {
                email,
                name,
                roles: Roles::parse_list(roles)?,
                manager,
                password_hash: Some(hash.clone()),
            },
        )?)
    };
    let manager = add(MANAGER, "manager,employee", None)?;
    let employee = add(EMPLOYEE, "employee", Some(manager))?;
    add(FINANCE, "finance", None)?;
    let _ = EMPLOYEE_ID.set(employee.0);
    Ok(())
}

/// A small photo-like JPEG (a gradient with stripes, 160 x 120) as a phone would send.
fn receipt_photo() -> Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(160, 120, |x, y| {
        let stripe = if (y / 8) % 2 == 0 { 40 } else { 0 };
        image::Rgb([
            (200 + x / 4) as u8,
            (180 + y / 2 - stripe / 2) as u8,
            (150 + stripe) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)?;
    Ok(out.into_inner())
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

async fn sign_in_as(rig: &Rig, who: (&str, &str), shot: Option<&str>) -> Result<()> {
    rig.goto("/login").await?;
    let shots = shot.map(|name| (&rig.shots, name));
    sign_in_with_password(&rig.client, ORG, who.0, PASSWORD, shots).await?;
    wait_for_text(&rig.client, "h1", &format!("Welcome, {}", who.1)).await?;
    Ok(())
}

async fn sign_out(client: &Client) -> Result<()> {
    click_button(client, "Sign out").await?;
    wait_for_text(client, "h1", "Sign in").await?;
    Ok(())
}

/// The text of the page's one-time notice (`p.notice.ok`).
async fn notice(client: &Client) -> Result<String> {
    Ok(wait_for_css(client, "p.notice.ok").await?.text().await?)
}

/// The employee: a new claim, a line with a receipt photo, submitted. Returns its id.
async fn employee_files_a_claim(rig: &Rig, photo: &Path) -> Result<i64> {
    let (client, shots) = (&rig.client, &rig.shots);
    sign_in_as(rig, EMPLOYEE, Some("journey-01-employee-sign-in")).await?;
    click_link(client, "My claims").await?;
    wait_for_text(client, "h1", "My claims").await?;
    wait_for_text(client, "p", "No claims yet.").await?;
    fill(client, "title", TITLE).await?;
    shots.take(client, "journey-02-new-claim").await?;
    click_button(client, "Create claim").await?;

    wait_for_text(client, "h1", TITLE).await?;
    let here = path(client).await?;
    let id: i64 = here
        .strip_prefix("/claims/")
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("a new claim opens at /claims/ID, not {here}"))?;
    wait_for_text(client, "p", "No lines yet.").await?;
    wait_for_text(client, "h2", "Add a line").await?;
    // A date input takes typed keys in the browser's locale order; set the value as a
    // date picker would.
    client
        .execute(
            "document.getElementById('date').value = arguments[0];",
            vec![json!(today())],
        )
        .await?;
    client
        .find(Locator::Css("#category option[value='equipment']"))
        .await
        .context("the category list offers equipment")?
        .click()
        .await?;
    fill(client, "merchant", MERCHANT).await?;
    fill(client, "description", DESCRIPTION).await?;
    fill(client, "amount", "42.50").await?;
    fill(client, "currency", "GBP").await?;
    fill(client, "vat", "7.08").await?;
    // A file input takes the file's path as its keys.
    client
        .find(Locator::Css("input[type='file'][name='receipt']"))
        .await?
        .send_keys(&photo.display().to_string())
        .await
        .context("choosing the receipt photo")?;
    shots.take(client, "journey-03-line-form").await?;
    click_button(client, "Add line").await?;

    // The line is listed with its receipt, and the claim can be submitted.
    wait_for_text(client, "td", MERCHANT).await?;
    wait_for_text(client, "td", DESCRIPTION).await?;
    wait_for_text(client, "td", "Equipment").await?;
    wait_for_text(client, "td", "42.50 GBP").await?;
    wait_for_text(client, "td", "7.08").await?;
    wait_for_text(client, "a", "receipt").await?;
    let lead = client.find(Locator::Css("p.lead")).await?.text().await?;
    ensure!(
        lead.contains("draft") && lead.contains("42.50 GBP"),
        "the claim's summary shows draft and the total: {lead}"
    );
    shots.take(client, "journey-04-claim-with-line").await?;
    click_button(client, "Submit for approval").await?;
    let n = notice(client).await?;
    ensure!(n == "The claim is now submitted.", "after submitting: {n}");
    wait_for_text(client, "span", "submitted").await?;
    ensure!(
        client
            .find_all(Locator::Css("form[action$='/lines']"))
            .await?
            .is_empty(),
        "a submitted claim can no longer be edited"
    );
    shots.take(client, "journey-05-submitted").await?;
    sign_out(client).await?;
    Ok(id)
}

/// The manager: finds the claim in Approvals, downloads the receipt, approves.
/// Returns the receipt's bytes as the server serves them.
async fn manager_approves(rig: &Rig, id: i64, photo: &[u8]) -> Result<Vec<u8>> {
    let (client, shots) = (&rig.client, &rig.shots);
    sign_in_as(rig, MANAGER, None).await?;
    click_link(client, "Approvals").await?;
    wait_for_text(client, "h1", "Claims waiting for you").await?;
    let row = wait_for_css(client, &format!("tr:has(a[href='/claims/{id}'])")).await?;
    let text = row.text().await?;
    for expected in [TITLE, EMPLOYEE.1, "submitted", "42.50 GBP"] {
        ensure!(
            text.contains(expected),
            "approvals row shows {expected:?}: {text}"
        );
    }
    shots.take(client, "journey-06-approvals").await?;
    click_link(client, TITLE).await?;
    wait_for_text(client, "h1", TITLE).await?;
    wait_for_text(client, "h2", "Your decision").await?;
    // The way back leads to the approvals, not to a list the manager did not come from.
    wait_for_css(client, "main > p:first-child > a[href='/approvals']").await?;
    wait_for_text(client, "td", MERCHANT).await?;

    // The receipt downloads as a JPEG: re-encoded (so not the uploaded bytes), same size.
    click_link(client, "receipt").await?;
    let (file, receipt) = rig.download(".jpg").await?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    ensure!(
        name.starts_with(&format!("receipt-{id}-")),
        "the receipt's download name: {name}"
    );
    ensure!(
        receipt.starts_with(&[0xFF, 0xD8, 0xFF]),
        "the receipt is a JPEG"
    );
    ensure!(receipt != photo, "the receipt was re-encoded");
    let decoded = image::load_from_memory(&receipt).context("the receipt decodes")?;
    ensure!(
        (decoded.width(), decoded.height()) == (160, 120),
        "the receipt keeps its size"
    );

    let comment = client.find(Locator::Css("#approve-comment")).await?;
    comment.send_keys(COMMENT).await?;
    shots.take(client, "journey-07-manager-decides").await?;
    click_button(client, "Approve").await?;
    let n = notice(client).await?;
    ensure!(n == "The claim is now approved.", "after approving: {n}");
    wait_for_css(client, "ol.history").await?;
    let history = client
        .find(Locator::Css("ol.history"))
        .await?
        .text()
        .await?;
    ensure!(
        history.contains(MANAGER.1) && history.contains(COMMENT),
        "the history names the approver and their comment: {history}"
    );
    shots.take(client, "journey-08-approved").await?;
    sign_out(client).await?;
    Ok(receipt)
}

/// Finance: pays the claim in a batch and downloads the CSV.
async fn finance_pays_and_exports(rig: &Rig, id: i64) -> Result<()> {
    let (client, shots) = (&rig.client, &rig.shots);
    sign_in_as(rig, FINANCE, None).await?;
    click_link(client, "Finance").await?;
    wait_for_text(client, "h1", "Finance").await?;
    let row = wait_for_css(client, &format!("tr:has(a[href='/claims/{id}'])")).await?;
    let text = row.text().await?;
    for expected in [TITLE, EMPLOYEE.1, "42.50 GBP", &today()] {
        ensure!(
            text.contains(expected),
            "finance row shows {expected:?}: {text}"
        );
    }
    client
        .find(Locator::Css(&format!("#pay-{id}")))
        .await?
        .click()
        .await?;
    shots.take(client, "journey-09-finance").await?;
    click_button(client, "Mark selected as paid").await?;
    let n = notice(client).await?;
    ensure!(n == "1 claim marked paid.", "after paying: {n}");
    wait_for_text(client, "p", "No approved claims are waiting to be paid.").await?;
    shots.take(client, "journey-10-paid").await?;

    click_button(client, "Download CSV").await?;
    let (file, csv) = rig.download(".csv").await?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    ensure!(name == "expenses-all-all.csv", "the CSV's name: {name}");
    let csv = String::from_utf8(csv).context("the CSV is UTF-8")?;
    let rows: Vec<&str> = csv.lines().collect();
    let employee = EMPLOYEE_ID.get().context("seeded")?;
    let expected = [
        "date,employee_reference,category,net,vat,gross,currency,claim_id,\
         exchange_rate,gross_in_base,base_currency"
            .to_owned(),
        format!(
            "{},E{employee:06},equipment,35.42,7.08,42.50,GBP,{id},1,42.50,GBP",
            today()
        ),
    ];
    ensure!(rows == expected, "the CSV's rows: {rows:?}");
    for secret in [TITLE, MERCHANT, DESCRIPTION, EMPLOYEE.1, EMPLOYEE.0] {
        ensure!(!csv.contains(secret), "the CSV holds no {secret:?}");
    }

    // The claim itself now reads paid, with its whole history.
    rig.goto(&format!("/claims/{id}")).await?;
    wait_for_text(client, "h1", TITLE).await?;
    let lead = client.find(Locator::Css("p.lead")).await?.text().await?;
    ensure!(lead.contains("paid"), "the claim reads paid: {lead}");
    // Finance has no "My claims": the way back is the finance page.
    wait_for_css(client, "main > p:first-child > a[href='/finance']").await?;
    let history = client
        .find(Locator::Css("ol.history"))
        .await?
        .text()
        .await?;
    for step in ["submitted", "approved", "paid"] {
        ensure!(history.contains(step), "history has {step}: {history}");
    }
    shots.take(client, "journey-11-claim-paid").await?;
    Ok(())
}

/// Every file under `dir` (databases, their WAL and journal files, keys).
fn files_under(dir: &Path) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path)?;
                out.push((path, bytes));
            }
        }
    }
    Ok(out)
}

/// Sixteen-byte pieces from across `bytes` (past the JPEG headers, which any JPEG
/// shares): if the file were stored as it is, they would be found.
fn pieces(bytes: &[u8]) -> Vec<&[u8]> {
    let start = bytes.len() / 4;
    (0..8)
        .map(|i| start + i * (bytes.len() - start - 16) / 8)
        .map(|at| &bytes[at..at + 16])
        .collect()
}

fn nothing_in_plaintext(data: &Path, photo: &[u8], receipt: &[u8]) -> Result<()> {
    let files = files_under(data)?;
    ensure!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().ends_with(".sqlite")),
        "the data dir holds the databases"
    );
    // The search itself works: the line's category code is stored as plain text.
    ensure!(
        files
            .iter()
            .any(|(_, b)| b.windows(9).any(|w| w == b"equipment")),
        "the plain category code is found on disk, so a plaintext would be too"
    );
    let mut needles: Vec<(String, &[u8])> = [TITLE, MERCHANT, DESCRIPTION, COMMENT]
        .iter()
        .map(|t| (format!("{t:?}"), t.as_bytes()))
        .collect();
    for (i, piece) in pieces(photo).into_iter().enumerate() {
        needles.push((format!("uploaded photo piece {i}"), piece));
    }
    for (i, piece) in pieces(receipt).into_iter().enumerate() {
        needles.push((format!("stored receipt piece {i}"), piece));
    }
    for (file, bytes) in &files {
        for (what, needle) in &needles {
            ensure!(
                !bytes.windows(needle.len()).any(|w| w == *needle),
                "{what} is in plaintext in {}",
                file.display()
            );
        }
    }
    Ok(())
}

/// The journey end to end; see the module docs.
pub async fn walk(rig: &Rig) -> Result<()> {
    let photo = receipt_photo()?;
    let photo_path = rig.downloads.with_file_name("receipt-photo.jpg");
    std::fs::write(&photo_path, &photo)?;
    let id = employee_files_a_claim(rig, &photo_path).await?;
    let receipt = manager_approves(rig, id, &photo).await?;
    finance_pays_and_exports(rig, id).await?;
    nothing_in_plaintext(&rig.data, &photo, &receipt)
}
