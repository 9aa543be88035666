//! Finance's side of claims: the queue of approved claims to pay, marking a batch of
//! them paid, and the CSV export for accounting. Paying goes through
//! `claims::transition`, so every claim gets its history event and audit entry. The
//! export carries no personal data (a pseudonymous employee reference, no names,
//! emails, merchants or descriptions), neutralises anything a spreadsheet would run as
//! a formula, and is itself audited. Nothing here knows about HTTP.

use diesel::prelude::*;
use time::Date;

use super::claims::{self, ClaimError, ClaimFields, ClaimRow};
use super::money::{Currency, format_minor, format_rate};
use super::status::{Status, Transition, TransitionError};
use crate::audit::{self, Action};
use crate::auth::Roles;
use crate::db::schema::org::{claim_lines, claims as claims_t};
use crate::ids::UserId;
use crate::tenancy::Org;

/// The CSV header, in column order.
/// The first eight are the line as on its receipt; the last three say what it came to
/// in the claim's (base) currency, the amount actually paid.
pub const CSV_HEADER: [&str; 11] = [
    "date",
    "employee_reference",
    "category",
    "net",
    "vat",
    "gross",
    "currency",
    "claim_id",
    "exchange_rate",
    "gross_in_base",
    "base_currency",
];

/// Where a page of the payment queue starts: after this (decision time, claim id).
pub type QueueCursor = (i64, i64);

/// Approved claims waiting to be paid, oldest decision first (a queue), at most
/// `limit` of them after `after`. Walks the `(status, decided_at)` index.
pub fn to_pay(
    org: &Org,
    after: Option<QueueCursor>,
    limit: i64,
) -> Result<Vec<ClaimRow>, ClaimError> {
    let mut conn = org.conn()?;
    let mut q = claims_t::table
        .filter(claims_t::status.eq(Status::Approved.code()))
        .into_boxed();
    if let Some((at, id)) = after {
        // The `>=` alone bounds the index range; the rest picks up within equal times.
        q = q.filter(
            claims_t::decided_at
                .ge(at)
                .and(claims_t::decided_at.gt(at).or(claims_t::id.gt(id))),
        );
    }
    Ok(q.order((claims_t::decided_at.asc(), claims_t::id.asc()))
        .limit(limit)
        .select(ClaimRow::as_select())
        .load(&mut conn)?)
}

/// Why one claim of a batch was not marked paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The claim changed after the page was shown (its version moved on).
    ChangedMeanwhile,
    /// Someone else marked it paid first.
    AlreadyPaid,
    /// It is not (or no longer) an approved claim.
    NotApproved,
    /// The claim is the actor's own: nobody pays themselves.
    OwnClaim,
    /// No such claim, or not one the actor may see.
    NotFound,
    /// The claimant's data is restricted (GDPR Art. 18).
    Restricted,
    /// The server could not write (disk full, database busy): this claim and the rest
    /// of the batch were left as they were.
    NotSaved,
}

impl SkipReason {
    pub fn text(&self) -> &'static str {
        match self {
            SkipReason::ChangedMeanwhile => "it changed meanwhile; look at it again",
            SkipReason::AlreadyPaid => "it was already marked paid",
            SkipReason::NotApproved => "it is not approved",
            SkipReason::OwnClaim => "it is your own claim",
            SkipReason::NotFound => "there is no such claim",
            SkipReason::Restricted => "the claimant's data is restricted",
            SkipReason::NotSaved => "the server could not save it; try again later",
        }
    }
}

/// What a batch did: each claim is either paid (whole) or skipped (untouched).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub paid: Vec<i64>,
    pub skipped: Vec<(i64, SkipReason)>,
}

/// Marks each `(claim_id, seen_version)` paid as `actor`. Every claim is its own
/// transition (with history and audit), so one claim is never half-applied; claims
/// that cannot be paid are skipped with a reason and the others still go through.
/// A claim listed twice is handled once. A server failure stops the batch: the
/// claims paid so far are reported as paid, the rest as not saved.
pub fn mark_paid(
    org: &Org,
    actor: UserId,
    roles: Roles,
    batch: &[(i64, i64)],
) -> Result<BatchOutcome, ClaimError> {
    let mut out = BatchOutcome::default();
    let mut seen = std::collections::HashSet::new();
    let mut failed = false;
    for &(id, version) in batch {
        if !seen.insert(id) {
            continue;
        }
        if failed {
            out.skipped.push((id, SkipReason::NotSaved));
            continue;
        }
        let result = claims::transition(
            org,
            actor,
            roles,
            id,
            Some(version),
            Transition::MarkPaid,
            "",
        );
        let reason = match result {
            Ok(_) => {
                out.paid.push(id);
                continue;
            }
            Err(ClaimError::Conflict) => match claims::get(org, id) {
                Ok(c) if c.status() == Status::Paid => SkipReason::AlreadyPaid,
                Ok(c) if c.status() != Status::Approved => SkipReason::NotApproved,
                Ok(_) => SkipReason::ChangedMeanwhile,
                Err(ClaimError::NotFound) => SkipReason::NotFound,
                Err(e) => stop(&mut failed, e),
            },
            // This person's own earlier post (the batch sent twice) paid it.
            Err(ClaimError::AlreadyDone(_)) => SkipReason::AlreadyPaid,
            Err(ClaimError::Transition(TransitionError::OwnClaim)) => SkipReason::OwnClaim,
            Err(ClaimError::Restricted) => SkipReason::Restricted,
            Err(ClaimError::Transition(_) | ClaimError::Invalid(_)) => SkipReason::NotApproved,
            Err(ClaimError::NotFound | ClaimError::Forbidden) => SkipReason::NotFound,
            Err(e) => stop(&mut failed, e),
        };
        out.skipped.push((id, reason));
    }
    Ok(out)
}

/// Stops a batch at a failure (a write refused, a read or a seal that failed), which is
/// logged (it names no person).
fn stop(failed: &mut bool, e: ClaimError) -> SkipReason {
    log::error!("paying a batch stopped: {e}");
    *failed = true;
    SkipReason::NotSaved
}

/// `E000123`: a stable reference for a person that says nothing about who they are
/// outside this organisation's records.
pub fn employee_reference(user_id: i64) -> String {
    format!("E{user_id:06}")
}

/// An amount in major units with the currency's decimals and no thousands separators,
/// as accounting imports expect: `123450` GBP -> `1234.50`.
pub fn plain_amount(minor: i64, currency: Currency) -> String {
    format_minor(minor, currency).replace(',', "")
}

/// A cell a spreadsheet will show as text, never run: anything starting with
/// `= + - @`, a tab or a carriage return, also after leading spaces (some
/// spreadsheets trim them), gets a leading apostrophe.
pub fn cell(text: &str) -> String {
    let first = text
        .chars()
        .find(|c| *c != '\t' && *c != '\r' && !c.is_whitespace());
    let starts_risky = matches!(text.chars().next(), Some('\t' | '\r'));
    if starts_risky || matches!(first, Some('=' | '+' | '-' | '@')) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// Which claims an export covers. Only approved and paid claims can be exported;
/// an empty list means both.
fn export_statuses(statuses: &[Status]) -> Result<Vec<&'static str>, ClaimError> {
    if statuses.is_empty() {
        return Ok(vec![Status::Approved.code(), Status::Paid.code()]);
    }
    if statuses
        .iter()
        .any(|s| !matches!(s, Status::Approved | Status::Paid))
    {
        return Err(ClaimError::Invalid(
            "only approved or paid claims can be exported".into(),
        ));
    }
    let mut codes: Vec<&'static str> = statuses.iter().map(|s| s.code()).collect();
    codes.sort_unstable();
    codes.dedup();
    Ok(codes)
}

type ExportLine = (
    String,
    String,
    i64,
    Option<i64>,
    String,
    i64,
    i64,
    (i64, i64, String),
);

/// The CSV for accounting: one row per line of the claims in `statuses` (approved
/// and/or paid), lines dated within `from..=to` (either end open). Amounts are in the
/// line's own currency, as on the receipt: net = gross - VAT. Writes an
/// `ExportedAccounts` audit entry; if that fails, no export is returned.
pub fn export_csv(
    org: &Org,
    actor: UserId,
    from: Option<Date>,
    to: Option<Date>,
    statuses: &[Status],
) -> Result<Vec<u8>, ClaimError> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ClaimError::Invalid(
            "the start date is after the end date".into(),
        ));
    }
    let codes = export_statuses(statuses)?;
    let mut conn = org.conn()?;
    // Restricted people's data may not be used: their lines are held back (the
    // finance page says how many, see `held_back`).
    let restricted = crate::privacy::restriction::restricted_ids(&mut conn)?;
    let mut q = claim_lines::table
        .inner_join(claims_t::table)
        .filter(claims_t::status.eq_any(codes.clone()))
        .filter(claims_t::owner_id.ne_all(restricted))
        .into_boxed();
    // Line dates are stored as YYYY-MM-DD, so text order is date order.
    if let Some(f) = from {
        q = q.filter(claim_lines::spent_on.ge(f.to_string()));
    }
    if let Some(t) = to {
        q = q.filter(claim_lines::spent_on.le(t.to_string()));
    }
    // Only the columns the export needs: sealed text is never even loaded.
    let rows: Vec<ExportLine> = q
        .order((
            claim_lines::spent_on.asc(),
            claims_t::id.asc(),
            claim_lines::id.asc(),
        ))
        .select((
            claim_lines::spent_on,
            claim_lines::category,
            claim_lines::amount_minor,
            claim_lines::vat_minor,
            claim_lines::currency,
            claims_t::id,
            claims_t::owner_id,
            (
                claim_lines::rate_e12,
                claim_lines::base_minor,
                claims_t::currency,
            ),
        ))
        .load(&mut conn)?;
    drop(conn);

    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err =
        |e: csv::Error| ClaimError::Invalid(format!("the export could not be written: {e}"));
    w.write_record(CSV_HEADER).map_err(csv_err)?;
    for (date, category, gross, vat, currency, claim_id, owner_id, base) in &rows {
        let cur = Currency::parse(currency).unwrap_or(Currency::GBP);
        let (rate, base_gross, base_code) = base;
        let base_cur = Currency::parse(base_code).unwrap_or(Currency::GBP);
        let vat = vat.unwrap_or(0);
        // Every cell goes through `cell`, numbers included: a future negative amount
        // or a free-text category must not turn into a formula either.
        let record = [
            cell(date),
            cell(&employee_reference(*owner_id)),
            cell(category),
            cell(&plain_amount(gross - vat, cur)),
            cell(&plain_amount(vat, cur)),
            cell(&plain_amount(*gross, cur)),
            cell(cur.code()),
            cell(&claim_id.to_string()),
            cell(&format_rate(*rate)),
            cell(&plain_amount(*base_gross, base_cur)),
            cell(base_cur.code()),
        ];
        w.write_record(&record).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ClaimError::Invalid(format!("the export could not be written: {e}")))?;
    let day = |d: Option<Date>| d.map_or_else(|| "any".to_owned(), |d| d.to_string());
    let detail = format!(
        "csv lines {} from {} to {} statuses {}",
        rows.len(),
        day(from),
        day(to),
        codes.join(",")
    );
    // The export, and in each person's own trail that their lines went out with it.
    org.write(|c| -> Result<(), ClaimError> {
        audit::append(c, Some(actor), None, Action::ExportedAccounts, &detail)?;
        let each = format!("accounting export ({detail})");
        audit::append_views(c, actor, rows.iter().map(|r| UserId(r.6)), &each)?;
        Ok(())
    })?;
    Ok(bytes)
}

/// Lines of approved or paid claims the export leaves out because their owner's data
/// is restricted.
pub fn held_back(org: &Org) -> Result<i64, ClaimError> {
    let mut conn = org.conn()?;
    let restricted = crate::privacy::restriction::restricted_ids(&mut conn)?;
    if restricted.is_empty() {
        return Ok(0);
    }
    Ok(claim_lines::table
        .inner_join(claims_t::table)
        .filter(claims_t::status.eq_any([Status::Approved.code(), Status::Paid.code()]))
        .filter(claims_t::owner_id.eq_any(restricted))
        .count()
        .get_result(&mut conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tX", "\rX"] {
            assert_eq!(cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for fine in ["travel", "100.00", "E000001", "2026-01-31", "", "a=b"] {
            assert_eq!(cell(fine), fine);
        }
    }

    #[test]
    fn plain_amounts_have_no_separators() {
        assert_eq!(plain_amount(123_456_789, Currency::GBP), "1234567.89");
        assert_eq!(plain_amount(5, Currency::GBP), "0.05");
        let jpy = Currency::parse("JPY").ok();
        assert_eq!(
            jpy.map(|c| plain_amount(1_500_000, c)).as_deref(),
            Some("1500000")
        );
        assert_eq!(employee_reference(123), "E000123");
        assert_eq!(employee_reference(1_234_567), "E1234567");
    }

    #[test]
    fn a_formula_behind_leading_spaces_is_neutralised_too() {
        for bad in [" =1+1", "\u{a0}=HYPERLINK(\"x\")", "  @SUM(A1)", " \t-1"] {
            assert_eq!(cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for fine in [" travel", "a=b", " 100.00"] {
            assert_eq!(cell(fine), fine, "{fine:?}");
        }
    }
}
