//! An organisation's expense policy: base currency, how old a line may be, the total
//! above which finance approves too, mileage rates, and per-category limits and
//! receipt thresholds. Scalars live in the `settings` table (absent = the default),
//! category amounts in `categories`. Checking what an admin typed and saving it (with
//! its `PolicyChanged` audit entry, in one transaction) happen here; no HTTP.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::claims::{self, ClaimError};
use super::finance::plain_amount;
use super::mileage::MileageRates;
use super::money::{self, Currency, MoneyError};
use crate::audit::{self, Action};
use crate::db::DbError;
use crate::db::schema::org::{categories, claim_lines, claims as claims_t, settings};
use crate::ids::UserId;
use crate::tenancy::Org;

/// Lines dated further back than this are refused, unless the organisation says otherwise.
pub const DEFAULT_MAX_LINE_AGE_DAYS: i64 = 90;
/// Above this total (base currency minor units) finance approves as well, by default.
pub const DEFAULT_SECOND_APPROVAL_ABOVE_MINOR: i64 = 100_000;
const MAX_AGE_LIMIT_DAYS: i64 = 3_650;
const MAX_RATE_MINOR: i64 = 10_000;
const MAX_BAND_MILES: i64 = 1_000_000;

const BASE_CURRENCY: &str = "expense.base_currency";
const MAX_LINE_AGE: &str = "expense.max_line_age_days";
const SECOND_APPROVAL: &str = "expense.second_approval_above_minor";
const MILEAGE_FIRST: &str = "expense.mileage_first_rate";
const MILEAGE_AFTER: &str = "expense.mileage_after_rate";
const MILEAGE_BAND: &str = "expense.mileage_band_miles";
const MAX_LINE: &str = "expense.max_line_minor";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpensePolicy {
    pub base_currency: Currency,
    pub max_line_age_days: i64,
    pub second_approval_above_minor: i64,
    /// Rates in minor units of the base currency per mile (pence for GBP).
    pub mileage: MileageRates,
    /// The most one line may carry, in minor units of the base currency: 1,000,000
    /// units by default, which is little in a currency of small units (IDR, VND).
    pub max_line_minor: i64,
}

impl ExpensePolicy {
    /// The bound of a line of a claim in `currency`: the policy's in its base currency,
    /// the default in another (a claim from before the base changed).
    pub fn line_cap(&self, currency: Currency) -> i64 {
        if currency == self.base_currency {
            self.max_line_minor
        } else {
            currency.max_line_minor()
        }
    }
}

impl Default for ExpensePolicy {
    fn default() -> Self {
        ExpensePolicy {
            base_currency: Currency::GBP,
            max_line_age_days: DEFAULT_MAX_LINE_AGE_DAYS,
            second_approval_above_minor: DEFAULT_SECOND_APPROVAL_ABOVE_MINOR,
            mileage: MileageRates::default(),
            max_line_minor: Currency::GBP.max_line_minor(),
        }
    }
}

/// The policy in force. A stored value that no longer parses, or lies outside what the
/// policy form accepts (a hand-edited row), counts as unset.
pub fn load(org: &Org) -> Result<ExpensePolicy, DbError> {
    let mut conn = org.conn()?;
    Ok(load_with(&mut conn)?)
}

pub fn load_with(conn: &mut SqliteConnection) -> QueryResult<ExpensePolicy> {
    let rows: Vec<(String, String)> = settings::table
        .filter(settings::name.like("expense.%"))
        .select((settings::name, settings::value))
        .load(conn)?;
    let get = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let num = |name: &str, lo: i64, hi: i64| {
        get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| (lo..=hi).contains(v))
    };
    let d = ExpensePolicy::default();
    let base_currency = get(BASE_CURRENCY)
        .and_then(|c| Currency::parse(c).ok())
        .unwrap_or(d.base_currency);
    Ok(ExpensePolicy {
        base_currency,
        max_line_minor: num(MAX_LINE, 1, base_currency.max_settable_line_minor())
            .unwrap_or(base_currency.max_line_minor()),
        max_line_age_days: num(MAX_LINE_AGE, 1, MAX_AGE_LIMIT_DAYS).unwrap_or(d.max_line_age_days),
        second_approval_above_minor: num(SECOND_APPROVAL, 0, i64::MAX)
            .unwrap_or(d.second_approval_above_minor),
        mileage: MileageRates {
            first_rate_pence: num(MILEAGE_FIRST, 1, MAX_RATE_MINOR)
                .unwrap_or(d.mileage.first_rate_pence),
            after_rate_pence: num(MILEAGE_AFTER, 1, MAX_RATE_MINOR)
                .unwrap_or(d.mileage.after_rate_pence),
            threshold_miles: num(MILEAGE_BAND, 0, MAX_BAND_MILES)
                .unwrap_or(d.mileage.threshold_miles),
        },
    })
}

/// One category's amounts as typed on the policy page (major units of the base currency).
#[derive(Debug, Clone, Default)]
pub struct CategoryInput {
    pub code: String,
    pub label: String,
    pub limit: String,
    pub receipt_above: String,
}

/// The policy form as typed, kept for showing it again with messages.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub base_currency: String,
    pub max_line_age_days: String,
    pub second_approval_above: String,
    pub max_line: String,
    pub mileage_first_rate: String,
    pub mileage_after_rate: String,
    pub mileage_band_miles: String,
    pub categories: Vec<CategoryInput>,
}

/// Field name -> message; category fields are `limit_<code>` and `receipt_<code>`.
pub type PolicyErrors = Vec<(String, String)>;

/// Category amounts after checking: (code, limit, receipt required above).
pub type CategoryLimits = Vec<(String, Option<i64>, Option<i64>)>;

/// The current policy as the form shows it.
pub fn current_input(org: &Org) -> Result<PolicyInput, ClaimError> {
    let p = load(org)?;
    let cur = p.base_currency;
    let amount = |m: Option<i64>| m.map(|v| plain_amount(v, cur)).unwrap_or_default();
    Ok(PolicyInput {
        base_currency: cur.code().to_owned(),
        max_line_age_days: p.max_line_age_days.to_string(),
        second_approval_above: plain_amount(p.second_approval_above_minor, cur),
        max_line: plain_amount(p.max_line_minor, cur),
        mileage_first_rate: p.mileage.first_rate_pence.to_string(),
        mileage_after_rate: p.mileage.after_rate_pence.to_string(),
        mileage_band_miles: p.mileage.threshold_miles.to_string(),
        categories: claims::categories(org)?
            .into_iter()
            .map(|c| CategoryInput {
                limit: amount(c.limit_minor),
                receipt_above: amount(c.receipt_above_minor),
                code: c.code,
                label: c.label,
            })
            .collect(),
    })
}

/// An amount of zero or more; empty is `None` when `optional`.
fn amount_or_zero(raw: &str, cur: Currency, optional: bool) -> Result<Option<i64>, String> {
    let s = raw.trim();
    if s.is_empty() {
        return if optional {
            Ok(None)
        } else {
            Err(MoneyError::Empty.to_string())
        };
    }
    // Zero is a real setting here ("always needs a receipt"); parse_amount refuses it.
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    if !(w.is_empty() && f.is_empty())
        && w.bytes().chain(f.bytes()).all(|b| b == b'0')
        && f.len() <= cur.exponent() as usize
    {
        return Ok(Some(0));
    }
    // Bounded like a line may be at most: amounts are compared and summed, never more.
    match money::parse_amount(s, cur) {
        Ok(minor) if minor > cur.max_settable_line_minor() => Err(format!(
            "enter at most {} {}",
            money::format_minor(cur.max_settable_line_minor(), cur),
            cur.code()
        )),
        Ok(minor) => Ok(Some(minor)),
        Err(e) => Err(e.to_string()),
    }
}

fn whole(raw: &str, min: i64, max: i64, what: &str) -> Result<i64, String> {
    let s = raw.trim();
    let msg = || format!("enter {what} as a whole number from {min} to {max}");
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(msg());
    }
    s.parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(msg)
}

/// Checks the policy form: the policy and category amounts, or a message per field.
pub fn check(input: &PolicyInput) -> Result<(ExpensePolicy, CategoryLimits), PolicyErrors> {
    let mut errors: PolicyErrors = Vec::new();
    let mut err = |f: &str, m: String| errors.push((f.to_owned(), m));
    let cur = Currency::parse(&input.base_currency)
        .map_err(|e| err("base_currency", e.to_string()))
        .ok();
    let age = whole(&input.max_line_age_days, 1, MAX_AGE_LIMIT_DAYS, "the days")
        .map_err(|e| err("max_line_age_days", e))
        .ok();
    // With an unknown currency the amounts are still checked (as GBP) so every
    // message shows at once.
    let parse_cur = cur.unwrap_or(Currency::GBP);
    let second = amount_or_zero(&input.second_approval_above, parse_cur, false)
        .map_err(|e| err("second_approval_above", e))
        .ok()
        .flatten();
    let max_line = match amount_or_zero(&input.max_line, parse_cur, false) {
        Ok(Some(0)) => {
            err("max_line", "enter an amount more than zero".into());
            None
        }
        Ok(v) => v,
        Err(e) => {
            err("max_line", e);
            None
        }
    };
    let first = whole(&input.mileage_first_rate, 1, MAX_RATE_MINOR, "the rate")
        .map_err(|e| err("mileage_first_rate", e))
        .ok();
    let after = whole(&input.mileage_after_rate, 1, MAX_RATE_MINOR, "the rate")
        .map_err(|e| err("mileage_after_rate", e))
        .ok();
    let band = whole(&input.mileage_band_miles, 0, MAX_BAND_MILES, "the miles")
        .map_err(|e| err("mileage_band_miles", e))
        .ok();
    let mut cats = Vec::new();
    for c in &input.categories {
        let limit = match amount_or_zero(&c.limit, parse_cur, true) {
            Ok(Some(0)) => {
                err(
                    &format!("limit_{}", c.code),
                    "a limit must be more than zero; leave it empty for no limit".into(),
                );
                None
            }
            Ok(v) => Some(v),
            Err(e) => {
                err(&format!("limit_{}", c.code), e);
                None
            }
        };
        let receipt = amount_or_zero(&c.receipt_above, parse_cur, true)
            .map_err(|e| err(&format!("receipt_{}", c.code), e))
            .ok();
        if let (Some(l), Some(r)) = (limit, receipt) {
            cats.push((c.code.clone(), l, r));
        }
    }
    match (cur, age, second, first, after, band, max_line) {
        (Some(cur), Some(age), Some(second), Some(first), Some(after), Some(band), Some(max))
            if errors.is_empty() =>
        {
            Ok((
                ExpensePolicy {
                    base_currency: cur,
                    max_line_age_days: age,
                    second_approval_above_minor: second,
                    mileage: MileageRates {
                        first_rate_pence: first,
                        after_rate_pence: after,
                        threshold_miles: band,
                    },
                    max_line_minor: max,
                },
                cats,
            ))
        }
        _ => Err(errors),
    }
}

/// Saves the policy and category amounts with one audit entry naming what changed
/// (setting names only). Nothing changed: nothing written. Gives whether it changed.
pub fn save(
    org: &Org,
    actor: UserId,
    new: &ExpensePolicy,
    cats: &CategoryLimits,
) -> Result<bool, ClaimError> {
    org.write(|c| -> Result<bool, ClaimError> {
        let old = load_with(c)?;
        if old.base_currency != new.base_currency {
            let open = open_claims(c, new.base_currency)?;
            if open > 0 {
                return Err(ClaimError::Invalid(format!(
                    "the base currency cannot change while {open} {} in another currency \
                     not yet paid or rejected: their totals, limits and mileage are in it \
                     (drafts can be submitted, or discarded by their owners)",
                    if open == 1 { "claim is" } else { "claims are" },
                )));
            }
        }
        let mut changed: Vec<String> = Vec::new();
        let pairs = [
            (
                BASE_CURRENCY,
                old.base_currency.code().to_owned(),
                new.base_currency.code().to_owned(),
            ),
            (
                MAX_LINE_AGE,
                old.max_line_age_days.to_string(),
                new.max_line_age_days.to_string(),
            ),
            (
                SECOND_APPROVAL,
                old.second_approval_above_minor.to_string(),
                new.second_approval_above_minor.to_string(),
            ),
            (
                MAX_LINE,
                old.max_line_minor.to_string(),
                new.max_line_minor.to_string(),
            ),
            (
                MILEAGE_FIRST,
                old.mileage.first_rate_pence.to_string(),
                new.mileage.first_rate_pence.to_string(),
            ),
            (
                MILEAGE_AFTER,
                old.mileage.after_rate_pence.to_string(),
                new.mileage.after_rate_pence.to_string(),
            ),
            (
                MILEAGE_BAND,
                old.mileage.threshold_miles.to_string(),
                new.mileage.threshold_miles.to_string(),
            ),
        ];
        for (name, was, now) in pairs {
            if was != now {
                diesel::replace_into(settings::table)
                    .values((settings::name.eq(name), settings::value.eq(&now)))
                    .execute(c)?;
                changed.push(name.trim_start_matches("expense.").to_owned());
            }
        }
        for (code, limit, receipt) in cats {
            let was: Option<(Option<i64>, Option<i64>)> = categories::table
                .find(code)
                .select((categories::limit_minor, categories::receipt_above_minor))
                .first(c)
                .optional()?;
            if let Some(was) = was
                && was != (*limit, *receipt)
            {
                diesel::update(categories::table.find(code))
                    .set((
                        categories::limit_minor.eq(limit),
                        categories::receipt_above_minor.eq(receipt),
                    ))
                    .execute(c)?;
                changed.push(format!("category.{code}"));
            }
        }
        if changed.is_empty() {
            return Ok(false);
        }
        if old.mileage != new.mileage {
            // Drafts are not yet anyone's decision: their mileage follows the new rates.
            let owners: Vec<i64> = claims_t::table
                .inner_join(claim_lines::table)
                .filter(claims_t::status.eq(super::status::Status::Draft.code()))
                .filter(claim_lines::miles_tenths.is_not_null())
                .select(claims_t::owner_id)
                .distinct()
                .load(c)?;
            // Restricted people's data may not be changed (GDPR Art. 18): their drafts
            // keep the old rates until the restriction is lifted and they change them.
            let restricted = crate::privacy::restriction::restricted_ids(c)?;
            for owner in owners.into_iter().filter(|o| !restricted.contains(o)) {
                super::mileage::reprice_drafts_in(c, UserId(owner))?;
            }
        }
        audit::append(
            c,
            Some(actor),
            None,
            Action::PolicyChanged,
            &format!("expense policy: {}", changed.join(", ")),
        )?;
        Ok(true)
    })
}

/// Claims not yet paid or rejected in a currency other than `base`. Each claim is
/// totalled, limited and paid in the base currency it was started in, so the base may
/// change only when there are none. Drafts without lines hold no amounts yet: they
/// move to the new base here (undone with the rest if the change is refused).
fn open_claims(c: &mut SqliteConnection, base: Currency) -> QueryResult<i64> {
    use super::status::Status;
    use crate::db::schema::org::claim_lines;
    use diesel::dsl::{exists, not};
    let no_lines = not(exists(
        claim_lines::table.filter(claim_lines::claim_id.eq(claims_t::id)),
    ));
    diesel::update(
        claims_t::table
            .filter(claims_t::status.eq(Status::Draft.code()))
            .filter(no_lines),
    )
    .set(claims_t::currency.eq(base.code()))
    .execute(c)?;
    let done = [Status::Paid.code(), Status::Rejected.code()];
    claims_t::table
        .filter(claims_t::status.ne_all(done))
        .filter(claims_t::currency.ne(base.code()))
        .count()
        .get_result(c)
}
