//! The processor's record of processing for this controller (GDPR Art. 30(2)), built
//! from the organisation's settings and from what this program actually does. The
//! security measures listed are the ones implemented in this code base; keep the list
//! in step with it.

use super::requests::RequestError;
use crate::tenancy::Org;

pub struct Records {
    pub controller: String,
    pub processor: &'static str,
    pub categories: Vec<(&'static str, &'static str)>,
    pub transfers: &'static str,
    pub security: Vec<&'static str>,
    pub retention: Vec<(&'static str, String)>,
}

fn plural(n: i32, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

pub fn build(org: &Org) -> Result<Records, RequestError> {
    // The periods retention applies, with its defaults.
    let periods = super::retention::periods(org).map_err(|e| match e {
        super::PrivacyError::Db(e) => RequestError::Db(e),
        e => RequestError::Refused(e.to_string()),
    })?;
    let (claims, profile, audit) = (
        periods.claims_years,
        periods.profile_months,
        periods.audit_years,
    );
    Ok(Records {
        controller: org.name.clone(),
        processor: "The operator of this ExpensePlus service, acting on the controller's documented instructions.",
        categories: vec![
            (
                "Staff accounts",
                "Names, work email addresses, roles, reporting lines, password hashes and two-step sign-in secrets of the controller's staff, to let them sign in and to route claims.",
            ),
            (
                "Expense claims",
                "Claims, claim lines (dates, merchants, descriptions, amounts, categories), receipts and approval comments, to reimburse staff and keep the financial record.",
            ),
            (
                "Payments and accounting exports",
                "Approved claims marked paid and exported to the controller's accounting.",
            ),
            (
                "Data-subject requests and breaches",
                "The register of requests (kind, dates, status, notes) and of personal data breaches, to help the controller meet Articles 12 to 22 and 33 to 34.",
            ),
            (
                "Audit log",
                "Sign-ins, changes and views of personal data (ids and codes only), to secure the service and prove compliance.",
            ),
            (
                "Backups",
                "Encrypted copies of all the above, to restore the service after a failure.",
            ),
        ],
        transfers: "None: the data is not transferred to a third country or an international organisation.",
        security: vec![
            "TLS for every connection, with HSTS and a strict content security policy.",
            "Encryption at rest with XChaCha20-Poly1305; every person's data under their own key, wrapped by the organisation key, wrapped by a master key.",
            "Erasure by destroying a person's key (crypto-shredding), which also makes their data in backups unreadable.",
            "Email look-up through a keyed blind index: no email address is stored in plain text.",
            "Passwords hashed with argon2id; sign-in attempts throttled.",
            "Two-step sign-in (TOTP) available to everyone and required by organisation policy for chosen roles.",
            "Least-privilege roles checked on every page and for every record.",
            "A hash-chained, append-only audit log of sign-ins, changes and views of personal data.",
            "Daily backups, verified on restore; each organisation in its own database files.",
        ],
        retention: vec![
            (
                "Expense claims and receipts",
                format!(
                    "{} after the end of the UK tax year (5 April) they fall in",
                    plural(claims, "year")
                ),
            ),
            (
                "Profiles of deactivated users",
                format!("{} after deactivation", plural(profile, "month")),
            ),
            ("Audit log", plural(audit, "year")),
        ],
    })
}
