//! A line as typed, checked field by field before anything is written: dates (UK
//! dates, not in the future, not older than the policy allows), category, text,
//! amounts and currencies, exchange rates, VAT and mileage. Merchant and description
//! come out sealed under the claim owner's key. Re-exported from [`super::lines`].

use time::{Date, OffsetDateTime};

use super::claims::{self, ClaimError, ClaimFields, TEXT_MAX, TITLE_MAX, clean_line, clean_text};
use super::mileage;
use super::money::{self, Currency, MoneyError};
use super::policy::{self, ExpensePolicy};
use crate::auth::users;
use crate::crypto::Sealed;
use crate::crypto::columns::{LineDescription, LineMerchant};
use crate::ids::{PersonKeyId, UserId};
use crate::tenancy::Org;

/// Fields of a new line as typed; errors come back per field so the form can show them.
#[derive(Debug, Clone, Default)]
pub struct LineInput {
    pub date: String,
    pub category: String,
    pub merchant: String,
    pub description: String,
    pub amount: String,
    pub currency: String,
    pub rate: String,
    pub vat: String,
    /// Mileage lines only: miles driven, e.g. 12.5 (the amount is worked out).
    pub miles: String,
    pub form_key: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn add(&mut self, field: &'static str, msg: impl Into<String>) {
        self.0.push((field, msg.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The category whose lines are miles at the organisation's mileage rates.
pub const MILEAGE: &str = "mileage";

/// `kept` is the date of the line being edited: keeping it is never refused for its
/// age, or a claim returned for a better description could not be corrected once its
/// lines grew old waiting. The approver still sees the line's age flagged.
fn parse_date(
    raw: &str,
    today: Date,
    max_age_days: i64,
    kept: Option<Date>,
) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(raw.trim(), &format)
        .map_err(|_| "enter a real date as YYYY-MM-DD".to_owned())?;
    if date > today {
        return Err("the date cannot be in the future".into());
    }
    if kept != Some(date) && (today - date).whole_days() > max_age_days {
        return Err(format!(
            "lines older than {max_age_days} days cannot be claimed"
        ));
    }
    Ok(date)
}

/// A line that passed every check, its personal text already sealed under the key of
/// the claim's owner, ready for [`super::lines::insert`].
pub struct ValidLine {
    pub(super) claim_id: i64,
    pub(super) owner: UserId,
    pub(super) owner_key: PersonKeyId,
    pub(super) date: Date,
    pub(super) category: String,
    pub(super) merchant: Sealed<LineMerchant>,
    pub(super) description: Sealed<LineDescription>,
    pub(super) amount: i64,
    pub(super) currency: Currency,
    pub(super) rate: i64,
    /// The claim's currency the line was priced in.
    pub(super) base: Currency,
    pub(super) base_minor: i64,
    pub(super) vat: Option<i64>,
    pub(super) mileage: Option<MileageLine>,
    /// The form's one-time key; `None` when the form had none (then nothing guards
    /// against the same post twice).
    pub(super) form_key: Option<String>,
}

/// How a mileage line's amount was worked out.
#[derive(Debug, Clone, Copy)]
pub(super) struct MileageLine {
    pub(super) tenths: i64,
    pub(super) first_tenths: i64,
    pub(super) first_rate: i64,
    pub(super) after_rate: i64,
    owner: i64,
}

impl MileageLine {
    pub(super) fn owner(&self) -> UserId {
        UserId(self.owner)
    }
}

impl ValidLine {
    /// The key of the claim's owner, under which everything of the line is sealed.
    pub fn owner_key(&self) -> PersonKeyId {
        self.owner_key
    }

    pub fn claim_id(&self) -> i64 {
        self.claim_id
    }
}

/// Enough for a month of receipts; a bound keeps totals and pages of sane size.
pub const MAX_LINES_PER_CLAIM: i64 = 300;

pub(super) fn only_drafts() -> ClaimError {
    ClaimError::Invalid("only a draft claim can be changed".into())
}

/// Checks a new line for the owner's draft claim: the line ready to insert, or what is
/// wrong with each field. Nothing is written.
pub fn validate(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    input: &LineInput,
) -> Result<Result<ValidLine, FieldErrors>, ClaimError> {
    validate_for(org, owner, claim_id, input, None)
}

/// As [`validate`]; `editing` is the line being replaced, which does not count
/// towards the person's mileage so far, and whose date may be kept however old.
pub fn validate_for(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    input: &LineInput,
    editing: Option<&super::lines::LineRow>,
) -> Result<Result<ValidLine, FieldErrors>, ClaimError> {
    let claim = claims::get(org, claim_id)?;
    if claim.owner_id != owner.0 {
        return Err(ClaimError::NotFound);
    }
    if !claim.status().editable() {
        return Err(only_drafts());
    }
    claims::if_restricted(org, owner)?;
    let policy = policy::load(org)?;
    // Expense dates are UK dates, like every other day this product counts.
    let today = crate::privacy::deadlines::uk_today(OffsetDateTime::now_utc());
    let mut errors = FieldErrors::default();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let kept = editing.and_then(|l| Date::parse(&l.spent_on, &format).ok());
    let editing = editing.map(|l| l.id);
    let date = parse_date(&input.date, today, policy.max_line_age_days, kept)
        .map_err(|e| errors.add("date", e))
        .ok();
    let cats = claims::categories(org)?;
    let category = cats.iter().find(|c| c.code == input.category.trim());
    if category.is_none() {
        errors.add("category", "choose a category from the list");
    }
    let is_mileage = category.is_some_and(|c| c.code == MILEAGE);
    // Miles in one's own car have no merchant to name.
    let merchant = clean_line(&input.merchant, TITLE_MAX, "merchant", !is_mileage)
        .map_err(|e| errors.add("merchant", e))
        .ok();
    let description = clean_text(&input.description, TEXT_MAX, "description", false)
        .map_err(|e| errors.add("description", e))
        .ok();
    let base = claim.currency();
    let priced = if is_mileage {
        mileage_amount(org, owner, input, date, editing, &policy, base, &mut errors)?
    } else {
        if !input.miles.trim().is_empty() {
            errors.add("miles", "miles are only for the Mileage category");
        }
        priced_amount(input, base, &mut errors)
    };
    let (
        Some(date),
        Some(category),
        Some(merchant),
        Some(description),
        Some((amount, currency, rate, vat, mileage)),
    ) = (date, category, merchant, description, priced)
    else {
        return Ok(Err(errors));
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    // The line in the claim's currency is bounded like a typed amount: a huge rate
    // (or mileage) cannot make a line of trillions, nor a tiny one a line of nothing.
    let base_minor = money::convert(amount, currency, base, rate);
    let field = if mileage.is_some() {
        "miles"
    } else if currency != base {
        "rate"
    } else {
        "amount"
    };
    let cap = policy.line_cap(base);
    if base_minor > cap {
        errors.add(
            field,
            format!(
                "the line comes to more than {} {}; check the figures",
                money::format_minor(cap, base),
                base.code()
            ),
        );
        return Ok(Err(errors));
    }
    if base_minor < 1 {
        errors.add(
            field,
            format!(
                "the line comes to less than the smallest amount in {}",
                base.code()
            ),
        );
        return Ok(Err(errors));
    }
    let owner_row = users::get(org, owner)?.ok_or(ClaimError::Forbidden)?;
    let key = owner_row.person_key();
    Ok(Ok(ValidLine {
        claim_id,
        owner,
        owner_key: key,
        date,
        category: category.code.clone(),
        merchant: org.keys.seal::<LineMerchant>(key, &merchant)?,
        description: org.keys.seal::<LineDescription>(key, &description)?,
        amount,
        currency,
        rate,
        base,
        base_minor,
        vat,
        mileage,
        form_key: Some(input.form_key.trim())
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
    }))
}

/// Amount, currency, rate, VAT and mileage of a line.
type Priced = (i64, Currency, i64, Option<i64>, Option<MileageLine>);

/// A line with a typed amount: currency, amount, exchange rate (other currencies) and VAT.
fn priced_amount(input: &LineInput, base: Currency, errors: &mut FieldErrors) -> Option<Priced> {
    let currency = Currency::parse(&input.currency)
        .map_err(|e| errors.add("currency", e.to_string()))
        .ok();
    let amount = currency.and_then(|c| {
        money::parse_amount(&input.amount, c)
            .map_err(|e| errors.add("amount", e.to_string()))
            .ok()
    });
    let rate = match currency {
        Some(c) if c == base => Some(money::RATE_ONE),
        Some(_) => money::parse_rate(&input.rate)
            .map_err(|e: MoneyError| errors.add("rate", e.to_string()))
            .ok(),
        None => None,
    };
    let vat = match input.vat.trim() {
        "" => Some(None),
        v => currency
            .and_then(|c| {
                money::parse_vat(v, c)
                    .map_err(|e| errors.add("vat", e.to_string()))
                    .ok()
            })
            .map(Some),
    };
    if let (Some(Some(v)), Some(a)) = (vat, amount)
        && v > a
    {
        errors.add("vat", "VAT cannot be more than the amount");
    }
    Some((amount?, currency?, rate?, vat?, None))
}

/// A mileage line: miles at the organisation's rates, counting the person's other
/// mileage lines dated earlier in the same tax year (not in rejected claims), so the
/// line that crosses the band is split between the two rates.
#[allow(clippy::too_many_arguments)]
fn mileage_amount(
    org: &Org,
    owner: UserId,
    input: &LineInput,
    date: Option<Date>,
    editing: Option<i64>,
    policy: &ExpensePolicy,
    base: Currency,
    errors: &mut FieldErrors,
) -> Result<Option<Priced>, ClaimError> {
    if !input.amount.trim().is_empty() {
        errors.add(
            "amount",
            "leave the amount empty for mileage: it is worked out from the miles",
        );
    }
    if !input.vat.trim().is_empty() {
        errors.add("vat", "mileage lines have no VAT");
    }
    // Mileage is paid in the claim's currency at the organisation's rates: a currency
    // or rate typed would be ignored, so it is refused rather than silently dropped.
    // The form fills in the claim's currency, and a form without one is taken as it.
    let currency = input.currency.trim();
    if !currency.is_empty() && Currency::parse(currency).ok() != Some(base) {
        errors.add(
            "currency",
            format!(
                "mileage is paid in {b} at the organisation's rates: leave the currency as {b}",
                b = base.code()
            ),
        );
    }
    if !input.rate.trim().is_empty() {
        errors.add(
            "rate",
            format!(
                "mileage is paid in {} at the organisation's rates: leave the exchange rate empty",
                base.code()
            ),
        );
    }
    let Some(tenths) = mileage::parse_miles(&input.miles) else {
        errors.add(
            "miles",
            "enter the miles driven, more than zero, with at most one decimal place, e.g. 12.5",
        );
        return Ok(None);
    };
    if tenths > mileage::MAX_MILES_PER_LINE * 10 {
        errors.add(
            "miles",
            "one line can claim at most 10,000 miles; check the figure, or split a longer trip over its days",
        );
        return Ok(None);
    }
    let Some(date) = date else {
        return Ok(None);
    };
    let already = mileage::tenths_before(org, owner, date, editing)?;
    let rates = policy.mileage;
    let (first, _) = mileage::split(rates, already, tenths);
    let amount = mileage::amount_pence(rates, already, tenths);
    if amount <= 0 {
        errors.add("miles", "that is too few miles to pay anything");
        return Ok(None);
    }
    Ok(Some((
        amount,
        base,
        money::RATE_ONE,
        None,
        Some(MileageLine {
            tenths,
            first_tenths: first,
            first_rate: rates.first_rate_pence,
            after_rate: rates.after_rate_pence,
            owner: owner.0,
        }),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn expense_dates_are_uk_dates() {
        use crate::privacy::deadlines::uk_today;
        // 23:30 UTC on 9 July is already 10 July in London (BST)...
        let today = uk_today(datetime!(2026-07-09 23:30 UTC));
        assert!(parse_date("2026-07-10", today, 90, None).is_ok());
        assert_eq!(
            parse_date("2026-07-11", today, 90, None),
            Err("the date cannot be in the future".to_owned())
        );
        assert!(
            parse_date("2026-04-11", today, 90, None).is_ok(),
            "90 days back"
        );
        assert!(
            parse_date("2026-04-10", today, 90, None).is_err(),
            "91 days back"
        );
        // A line being edited keeps its old date; moving it to another old one is not.
        let kept = Some(time::macros::date!(2026 - 04 - 10));
        assert!(parse_date("2026-04-10", today, 90, kept).is_ok(), "kept");
        assert!(parse_date("2026-04-09", today, 90, kept).is_err(), "moved");
        assert!(
            parse_date(
                "2026-07-11",
                today,
                90,
                Some(time::macros::date!(2026 - 07 - 11))
            )
            .is_err()
        );
        // ...and at 10:00 UTC it is still 10 July there, not the 11th.
        let today = uk_today(datetime!(2026-07-10 10:00 UTC));
        assert!(parse_date("2026-07-11", today, 90, None).is_err());
        // In winter the UK is on UTC.
        let today = uk_today(datetime!(2026-01-09 23:30 UTC));
        assert!(parse_date("2026-01-10", today, 90, None).is_err());
    }
}
