//! Lines of a claim: adding a checked line (together with anything that must be
//! written with it, such as its receipt) in one transaction, reading them, and the
//! policy flags shown on each. Checking what was typed is [`super::line_check`].
//! Re-exported from [`super::claims`].

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use time::Date;

use super::claims::{Category, ClaimError};
use super::money::{self, Currency};
use super::policy::ExpensePolicy;
use super::row_ids;
use super::status::Status;
use crate::audit::{self, Action};
use crate::crypto::Sealed;
use crate::crypto::columns::{LineDescription, LineMerchant};
use crate::db::now_unix;
use crate::db::schema::org::{claim_lines, claims as claims_t};
use crate::ids::UserId;
use crate::tenancy::Org;

use super::line_check::only_drafts;
pub use super::line_check::{
    FieldErrors, LineInput, MAX_LINES_PER_CLAIM, MILEAGE, ValidLine, validate, validate_for,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = claim_lines)]
pub struct LineRow {
    pub id: i64,
    pub claim_id: i64,
    pub spent_on: String,
    pub category: String,
    pub merchant: Sealed<LineMerchant>,
    pub description: Sealed<LineDescription>,
    pub amount_minor: i64,
    pub currency: String,
    pub rate_e12: i64,
    pub base_minor: i64,
    pub vat_minor: Option<i64>,
    pub miles_tenths: Option<i64>,
    pub form_key: Option<String>,
    pub created_at: i64,
    pub mileage_first_tenths: Option<i64>,
    pub mileage_first_rate: Option<i64>,
    pub mileage_after_rate: Option<i64>,
}

#[derive(Debug)]
pub enum AddLine {
    Added,
    Invalid(FieldErrors),
}

/// Writes a checked line and, in the same IMMEDIATE transaction, whatever `with` writes
/// for the new line's id: both are written or neither. A form posted twice (same
/// `form_key`) writes nothing the second time, `with` included.
pub fn insert(
    org: &Org,
    line: &ValidLine,
    with: impl FnOnce(&mut SqliteConnection, i64) -> QueryResult<()>,
) -> Result<(), ClaimError> {
    org.write(|c| -> Result<_, ClaimError> {
        if let Some(key) = &line.form_key {
            // Keys are unique in the organisation: the same form again is a repeat
            // (also when its line was edited or removed since); a key used on another
            // claim is a form sent to the wrong claim.
            match row_ids::line_key_used_on(c, key)? {
                Some(claim) if claim == line.claim_id => return Ok(()),
                Some(_) => {
                    return Err(ClaimError::Invalid(
                        "this form was already used for another claim; open the claim and add the line again".into(),
                    ));
                }
                None => {}
            }
        }
        let count: i64 = claim_lines::table
            .filter(claim_lines::claim_id.eq(line.claim_id))
            .count()
            .get_result(c)?;
        if count >= MAX_LINES_PER_CLAIM {
            return Err(ClaimError::Invalid(format!(
                "a claim holds at most {MAX_LINES_PER_CLAIM} lines; start another claim for the rest"
            )));
        }
        // Ids of removed lines are never given again, so a removal posted twice can
        // never hit a newer line.
        let next_id = row_ids::next(c, row_ids::Table::Lines)?;
        // A mileage line's price as checked is provisional: once it is written, the
        // owner's draft mileage is priced again below, inside this transaction.
        let (amount, base_minor, mileage) = (line.amount, line.base_minor, line.mileage);
        let line_id = diesel::insert_into(claim_lines::table)
            .values((
                claim_lines::claim_id.eq(line.claim_id),
                claim_lines::spent_on.eq(line.date.to_string()),
                claim_lines::category.eq(&line.category),
                claim_lines::merchant.eq(&line.merchant),
                claim_lines::description.eq(&line.description),
                claim_lines::amount_minor.eq(amount),
                claim_lines::currency.eq(line.currency.code()),
                claim_lines::rate_e12.eq(line.rate),
                claim_lines::base_minor.eq(base_minor),
                claim_lines::vat_minor.eq(line.vat),
                claim_lines::form_key.eq(&line.form_key),
                claim_lines::created_at.eq(now_unix()),
                (
                    claim_lines::id.eq(next_id),
                    claim_lines::miles_tenths.eq(mileage.map(|m| m.tenths)),
                    claim_lines::mileage_first_tenths.eq(mileage.map(|m| m.first_tenths)),
                    claim_lines::mileage_first_rate.eq(mileage.map(|m| m.first_rate)),
                    claim_lines::mileage_after_rate.eq(mileage.map(|m| m.after_rate)),
                ),
            ))
            .returning(claim_lines::id)
            .get_result::<i64>(c)?;
        // The status check inside the transaction: a claim submitted meanwhile is not
        // changed. Nor is one whose currency moved since the line was priced in it (an
        // empty draft follows a change of the organisation's base).
        let n = diesel::update(
            claims_t::table
                .find(line.claim_id)
                .filter(claims_t::status.eq(Status::Draft.code()))
                .filter(claims_t::currency.eq(line.base.code())),
        )
        .set((
            claims_t::total_minor.eq(claims_t::total_minor + base_minor),
            claims_t::version.eq(claims_t::version + 1),
            claims_t::updated_at.eq(now_unix()),
        ))
        .execute(c)?;
        if n != 1 {
            // An error rolls the transaction back: the line is not kept either.
            let still_draft: i64 = claims_t::table
                .find(line.claim_id)
                .filter(claims_t::status.eq(Status::Draft.code()))
                .count()
                .get_result(c)?;
            return Err(if still_draft == 1 {
                ClaimError::Stale
            } else {
                only_drafts()
            });
        }
        if let Some(m) = mileage {
            // Drafts dated after this line may now be past the band.
            super::mileage::reprice_drafts_in(c, m.owner())?;
        }
        with(c, line_id)?;
        audit::append(
            c,
            Some(line.owner),
            Some(line.owner),
            Action::ClaimLineAdded,
            &format!("claim {} line {line_id}", line.claim_id),
        )?;
        Ok(())
    })
}

/// Whether this form already added its line to the owner's claim: the same post again
/// (its first answer lost). Asked before the line is checked, so a repeat is never
/// refused for a limit the first post itself reached (a day's receipts, a claim's
/// lines) nor decodes its file again. [`insert`] still decides inside its transaction.
pub fn already_added(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    form_key: &str,
) -> Result<bool, ClaimError> {
    let key = form_key.trim();
    if key.is_empty() {
        return Ok(false);
    }
    let mut conn = org.conn()?;
    let used_on = row_ids::line_key_used_on(&mut conn, key)?;
    drop(conn);
    if used_on != Some(claim_id) {
        return Ok(false);
    }
    Ok(super::claims::get(org, claim_id)?.owner_id == owner.0)
}

/// Adds a line to the owner's draft claim, or says what is wrong with each field.
pub fn add_line(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    input: &LineInput,
) -> Result<AddLine, ClaimError> {
    if already_added(org, owner, claim_id, &input.form_key)? {
        return Ok(AddLine::Added);
    }
    match validate(org, owner, claim_id, input)? {
        Ok(line) => {
            insert(org, &line, |_, _| Ok(()))?;
            Ok(AddLine::Added)
        }
        Err(errors) => Ok(AddLine::Invalid(errors)),
    }
}

pub fn lines(org: &Org, claim_id: i64) -> Result<Vec<LineRow>, ClaimError> {
    let mut conn = org.conn()?;
    Ok(claim_lines::table
        .filter(claim_lines::claim_id.eq(claim_id))
        // As a receipt wallet is read: by the day spent, then as entered.
        .order((claim_lines::spent_on, claim_lines::id))
        .select(LineRow::as_select())
        .load(&mut conn)?)
}

/// How far (in days) either side of a line's day others' rates are taken as reference.
const REFERENCE_DAYS: i64 = 30;
/// How far a typed rate may be from the reference before it is flagged: 10%.
const RATE_FLAG_PERCENT: i128 = 10;
/// At most this many others' rates are read for one reference.
const REFERENCE_SAMPLE: i64 = 201;

/// The rate (x 10^12) others in the organisation used for `currency` to `base` within
/// [`REFERENCE_DAYS`] of `day`, on claims sent for approval (not drafts, not rejected)
/// other than `claim_id`: the median, so one odd rate moves nothing. `None` when nobody
/// has used one. The claimant types the rate; this is what it is held against.
pub fn reference_rate(
    conn: &mut SqliteConnection,
    currency: &str,
    base: Currency,
    day: Date,
    claim_id: i64,
) -> QueryResult<Option<i64>> {
    use super::status::Status;
    use crate::db::schema::org::claims as claims_t;
    let span = time::Duration::days(REFERENCE_DAYS);
    let (from, to) = ((day - span).to_string(), (day + span).to_string());
    let mut rates: Vec<i64> = claim_lines::table
        .inner_join(claims_t::table)
        .filter(claim_lines::currency.eq(currency))
        .filter(claim_lines::spent_on.between(from, to))
        .filter(claim_lines::claim_id.ne(claim_id))
        .filter(claims_t::currency.eq(base.code()))
        .filter(claims_t::status.ne_all([Status::Draft.code(), Status::Rejected.code()]))
        .select(claim_lines::rate_e12)
        .limit(REFERENCE_SAMPLE)
        .load(conn)?;
    rates.sort_unstable();
    Ok(rates.get(rates.len() / 2).copied())
}

/// What a claim's lines of one category come to on one day, in the claim's currency:
/// `(day, category) -> total`. A dinner entered as four lines is still one dinner.
pub fn day_totals(lines: &[LineRow]) -> HashMap<(&str, &str), i64> {
    let mut totals = HashMap::new();
    for l in lines {
        *totals
            .entry((l.spent_on.as_str(), l.category.as_str()))
            .or_insert(0i64) += l.base_minor;
    }
    totals
}

/// Policy flags on a line, shown to the claimant before submitting and to approvers,
/// from the organisation's policy now. A line above its category's limit is flagged,
/// and so is one that is not but whose day's lines of that category together are
/// (`day_total`, from [`day_totals`]): splitting a receipt does not hide it. A line
/// above the receipt threshold (alone or with its day's lines) is flagged only while it
/// has none; a line older than the policy's age limit on `as_of` (the day the claim was
/// submitted, or today for a draft) is flagged too.
pub fn flags(
    line: &LineRow,
    category: Option<&Category>,
    has_receipt: bool,
    day_total: i64,
    policy: &ExpensePolicy,
    base: Currency,
    as_of: Date,
) -> Vec<String> {
    let mut out = Vec::new();
    let amount = |minor| format!("{} {}", money::format_minor(minor, base), base);
    if let Some(cat) = category {
        if let Some(limit) = cat.limit_minor {
            if line.base_minor > limit {
                out.push(format!("over the {} limit of {}", cat.label, amount(limit)));
            } else if day_total > limit {
                out.push(format!(
                    "the day's {} come to {}, over the limit of {}",
                    cat.label,
                    amount(day_total),
                    amount(limit)
                ));
            }
        }
        if let Some(above) = cat.receipt_above_minor
            && !has_receipt
        {
            if line.base_minor > above {
                out.push("needs a receipt".to_owned());
            } else if day_total > above {
                out.push(format!(
                    "needs a receipt: the day's {} come to {}",
                    cat.label,
                    amount(day_total)
                ));
            }
        }
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = Date::parse(&line.spent_on, &format)
        && (as_of - date).whole_days() > policy.max_line_age_days
    {
        out.push(format!("older than {} days", policy.max_line_age_days));
    }
    out
}

/// For each of a claim's `lines` in `base`, the flag on its typed exchange rate, if any
/// (see [`rate_flag`]); each currency and day's reference is read once.
pub fn rate_flags(
    org: &Org,
    lines: &[LineRow],
    base: Currency,
    claim_id: i64,
) -> Result<Vec<Option<String>>, ClaimError> {
    let mut conn = org.conn()?;
    let mut references: HashMap<(&str, &str), Option<i64>> = HashMap::new();
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let day = Date::parse(
            &l.spent_on,
            &time::format_description::well_known::Iso8601::DATE,
        );
        let flag = match day {
            Ok(day) if l.currency != base.code() => {
                let key = (l.currency.as_str(), l.spent_on.as_str());
                let reference = match references.get(&key) {
                    Some(r) => *r,
                    None => {
                        let r = reference_rate(&mut conn, &l.currency, base, day, claim_id)?;
                        references.insert(key, r);
                        r
                    }
                };
                rate_flag(l, reference)
            }
            _ => None,
        };
        out.push(flag);
    }
    Ok(out)
}

/// A flag for a line whose typed exchange rate is more than 10% from `reference` (see
/// [`reference_rate`]): an inverted rate (1.17 for 0.85) or an inflated one.
fn rate_flag(line: &LineRow, reference: Option<i64>) -> Option<String> {
    let reference = reference.filter(|r| *r > 0)?;
    let (rate, r) = (i128::from(line.rate_e12), i128::from(reference));
    let off_by = (rate - r).abs() * 100;
    (off_by > r * RATE_FLAG_PERCENT).then(|| {
        format!(
            "rate {} is far from the {} others used around that day",
            money::format_rate(line.rate_e12),
            money::format_rate(reference)
        )
    })
}
