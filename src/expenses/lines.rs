//! Lines of a claim: what was typed, checked field by field; adding a line (together
//! with anything that must be written with it, such as its receipt) in one
//! transaction; and the policy flags shown on each line. Merchant and description are
//! sealed under the claim owner's key. Re-exported from [`super::claims`].

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use time::{Date, OffsetDateTime};

use super::claims::{
    self, Category, ClaimError, MAX_LINE_AGE_DAYS, TEXT_MAX, TITLE_MAX, clean_text,
};
use super::money::{self, Currency, MoneyError};
use super::status::Status;
use crate::auth::users;
use crate::crypto::Sealed;
use crate::crypto::columns::{LineDescription, LineMerchant};
use crate::db::now_unix;
use crate::db::schema::org::{claim_lines, claims as claims_t};
use crate::ids::{PersonKeyId, UserId};
use crate::tenancy::Org;

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
    pub rate_micros: i64,
    pub base_minor: i64,
    pub vat_minor: Option<i64>,
    pub miles_tenths: Option<i64>,
    pub form_key: Option<String>,
    pub created_at: i64,
}

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

fn parse_date(raw: &str, today: Date) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(raw.trim(), &format)
        .map_err(|_| "enter a real date as YYYY-MM-DD".to_owned())?;
    if date > today {
        return Err("the date cannot be in the future".into());
    }
    if (today - date).whole_days() > MAX_LINE_AGE_DAYS {
        return Err(format!(
            "lines older than {MAX_LINE_AGE_DAYS} days cannot be claimed"
        ));
    }
    Ok(date)
}

pub enum AddLine {
    Added,
    Invalid(FieldErrors),
}

/// A line that passed every check, its personal text already sealed under the key of
/// the claim's owner, ready for [`insert`].
pub struct ValidLine {
    claim_id: i64,
    owner_key: PersonKeyId,
    date: Date,
    category: String,
    merchant: Sealed<LineMerchant>,
    description: Sealed<LineDescription>,
    amount: i64,
    currency: Currency,
    rate: i64,
    base_minor: i64,
    vat: Option<i64>,
    form_key: String,
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

fn only_drafts() -> ClaimError {
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
    let claim = claims::get(org, claim_id)?;
    if claim.owner_id != owner.0 {
        return Err(ClaimError::NotFound);
    }
    if !claim.status().editable() {
        return Err(only_drafts());
    }
    claims::if_restricted(org, owner)?;
    let today = OffsetDateTime::now_utc().date();
    let mut errors = FieldErrors::default();
    let date = parse_date(&input.date, today)
        .map_err(|e| errors.add("date", e))
        .ok();
    let cats = claims::categories(org)?;
    let category = cats.iter().find(|c| c.code == input.category.trim());
    if category.is_none() {
        errors.add("category", "choose a category from the list");
    }
    let merchant = clean_text(&input.merchant, TITLE_MAX, "merchant", true)
        .map_err(|e| errors.add("merchant", e))
        .ok();
    let description = clean_text(&input.description, TEXT_MAX, "description", false)
        .map_err(|e| errors.add("description", e))
        .ok();
    let currency = Currency::parse(&input.currency)
        .map_err(|e| errors.add("currency", e.to_string()))
        .ok();
    let amount = currency.and_then(|c| {
        money::parse_amount(&input.amount, c)
            .map_err(|e| errors.add("amount", e.to_string()))
            .ok()
    });
    let base = claim.currency();
    let rate = match currency {
        Some(c) if c == base => Some(1_000_000),
        Some(_) => money::parse_rate(&input.rate)
            .map_err(|e: MoneyError| errors.add("rate", e.to_string()))
            .ok(),
        None => None,
    };
    let vat = match input.vat.trim() {
        "" => Some(None),
        v => currency
            .and_then(|c| {
                money::parse_amount(v, c)
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
    let (
        Some(date),
        Some(category),
        Some(merchant),
        Some(description),
        Some(currency),
        Some(amount),
        Some(rate),
        Some(vat),
    ) = (
        date,
        category,
        merchant,
        description,
        currency,
        amount,
        rate,
        vat,
    )
    else {
        return Ok(Err(errors));
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let owner_row = users::get(org, owner)?.ok_or(ClaimError::Forbidden)?;
    let key = owner_row.person_key();
    Ok(Ok(ValidLine {
        claim_id,
        owner_key: key,
        date,
        category: category.code.clone(),
        merchant: org.keys.seal::<LineMerchant>(key, &merchant)?,
        description: org.keys.seal::<LineDescription>(key, &description)?,
        amount,
        currency,
        rate,
        base_minor: money::convert(amount, currency, base, rate),
        vat,
        form_key: input.form_key.clone(),
    }))
}

/// Writes a checked line and, in the same IMMEDIATE transaction, whatever `with` writes
/// for the new line's id: both are written or neither. A form posted twice (same
/// `form_key`) writes nothing the second time, `with` included.
pub fn insert(
    org: &Org,
    line: &ValidLine,
    with: impl FnOnce(&mut SqliteConnection, i64) -> QueryResult<()>,
) -> Result<(), ClaimError> {
    let mut conn = org.conn()?;
    let added = conn.immediate_transaction(|c| {
        let dup: i64 = claim_lines::table
            .filter(claim_lines::form_key.eq(&line.form_key))
            .count()
            .get_result(c)?;
        if dup > 0 {
            return QueryResult::Ok(());
        }
        let line_id = diesel::insert_into(claim_lines::table)
            .values((
                claim_lines::claim_id.eq(line.claim_id),
                claim_lines::spent_on.eq(line.date.to_string()),
                claim_lines::category.eq(&line.category),
                claim_lines::merchant.eq(&line.merchant),
                claim_lines::description.eq(&line.description),
                claim_lines::amount_minor.eq(line.amount),
                claim_lines::currency.eq(line.currency.code()),
                claim_lines::rate_micros.eq(line.rate),
                claim_lines::base_minor.eq(line.base_minor),
                claim_lines::vat_minor.eq(line.vat),
                claim_lines::form_key.eq(Some(&line.form_key)),
                claim_lines::created_at.eq(now_unix()),
            ))
            .returning(claim_lines::id)
            .get_result::<i64>(c)?;
        // The status check inside the transaction: a claim submitted meanwhile is not changed.
        let n = diesel::update(
            claims_t::table
                .find(line.claim_id)
                .filter(claims_t::status.eq(Status::Draft.code())),
        )
        .set((
            claims_t::total_minor.eq(claims_t::total_minor + line.base_minor),
            claims_t::version.eq(claims_t::version + 1),
            claims_t::updated_at.eq(now_unix()),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        with(c, line_id)
    });
    match added {
        Ok(()) => Ok(()),
        Err(diesel::result::Error::RollbackTransaction) => Err(only_drafts()),
        Err(e) => Err(e.into()),
    }
}

/// Adds a line to the owner's draft claim, or says what is wrong with each field.
pub fn add_line(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    input: &LineInput,
) -> Result<AddLine, ClaimError> {
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
        .order(claim_lines::id)
        .select(LineRow::as_select())
        .load(&mut conn)?)
}

/// Policy flags on a line, shown to the claimant before submitting and to approvers.
/// A line above its category's receipt threshold is flagged only while it has none.
pub fn flags(line: &LineRow, category: Option<&Category>, has_receipt: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(cat) = category {
        if let Some(limit) = cat.limit_minor
            && line.base_minor > limit
        {
            out.push(format!(
                "over the {} limit of {}",
                cat.label,
                money::format_minor(limit, Currency::GBP)
            ));
        }
        if let Some(above) = cat.receipt_above_minor
            && line.base_minor > above
            && !has_receipt
        {
            out.push("needs a receipt".to_owned());
        }
    }
    out
}
