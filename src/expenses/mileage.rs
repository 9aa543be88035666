//! Business mileage at approved rates. Default: HMRC's 45p a mile for the first 10,000
//! business miles in a UK tax year (6 April to 5 April) and 25p after; organisations
//! may set their own. Miles are tenths (one decimal place) to keep integers.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use time::{Date, Month};

use super::claims::ClaimError;
use super::money::Currency;
use super::status::Status;
use crate::db::schema::org::{claim_lines, claims};
use crate::ids::UserId;
use crate::tenancy::Org;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MileageRates {
    /// Pence per mile up to the threshold.
    pub first_rate_pence: i64,
    /// Pence per mile after it.
    pub after_rate_pence: i64,
    /// Business miles in a tax year at the first rate.
    pub threshold_miles: i64,
}

impl Default for MileageRates {
    fn default() -> Self {
        MileageRates {
            first_rate_pence: 45,
            after_rate_pence: 25,
            threshold_miles: 10_000,
        }
    }
}

/// The first day of the UK tax year `date` falls in.
pub fn tax_year_start(date: Date) -> Date {
    let year = date.year();
    let april6 = |y| Date::from_calendar_date(y, Month::April, 6).unwrap_or(date);
    if date >= april6(year) {
        april6(year)
    } else {
        april6(year - 1)
    }
}

/// The amount in pence for `tenths` (tenths of a mile) when `already_tenths` were
/// claimed earlier in the same tax year: the part below the threshold at the first
/// rate, the rest at the second, rounded to the nearest penny.
pub fn amount_pence(rates: MileageRates, already_tenths: i64, tenths: i64) -> i64 {
    let (first, after) = split(rates, already_tenths, tenths);
    let tenth_pence = first * rates.first_rate_pence + after * rates.after_rate_pence;
    (tenth_pence + 5) / 10
}

/// Of `tenths` driven after `already_tenths`: (tenths at the first rate, tenths after).
pub fn split(rates: MileageRates, already_tenths: i64, tenths: i64) -> (i64, i64) {
    let first = (rates.threshold_miles * 10 - already_tenths).clamp(0, tenths);
    (first, tenths - first)
}

/// Tenths of a mile of `owner`'s first-rate band already taken when a line dated
/// `date` is priced, in claims that were not rejected, within `date`'s tax year: the
/// miles of lines dated earlier (on `date` itself, those entered before `except`, the
/// line being edited, or all of them for a new line), and the first-rate miles of
/// lines dated later that were priced already. Counting the latter means a line
/// entered late for an earlier day can never make the year's first-rate miles add up
/// to more than the band. (`SUM` by hand: diesel's `sum` of a BIGINT is NUMERIC.)
pub fn tenths_before(
    org: &Org,
    owner: UserId,
    date: Date,
    except: Option<i64>,
) -> Result<i64, ClaimError> {
    let mut conn = org.conn()?;
    Ok(tenths_before_in(&mut conn, owner, date, except)?)
}

/// As [`tenths_before`], on a connection (inside a writing transaction).
pub fn tenths_before_in(
    conn: &mut SqliteConnection,
    owner: UserId,
    date: Date,
    except: Option<i64>,
) -> QueryResult<i64> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Nullable, Text};
    let start = tax_year_start(date);
    let next_start = start.replace_year(start.year() + 1).unwrap_or(start);
    let day = date.to_string();
    let sum: Option<i64> = claim_lines::table
        .inner_join(claims::table)
        .filter(claims::owner_id.eq(owner.0))
        .filter(claims::status.ne(Status::Rejected.code()))
        .filter(claim_lines::miles_tenths.is_not_null())
        .filter(claim_lines::spent_on.ge(start.to_string()))
        .filter(claim_lines::spent_on.lt(next_start.to_string()))
        .filter(claim_lines::id.ne(except.unwrap_or(0)))
        .select(
            sql::<Nullable<BigInt>>("SUM(CASE WHEN claim_lines.spent_on < ")
                .bind::<Text, _>(day.clone())
                .sql(" OR (claim_lines.spent_on = ")
                .bind::<Text, _>(day)
                .sql(" AND claim_lines.id < ")
                .bind::<BigInt, _>(except.unwrap_or(i64::MAX))
                .sql(
                    ") THEN claim_lines.miles_tenths \
                     ELSE COALESCE(claim_lines.mileage_first_tenths, claim_lines.miles_tenths) END)",
                ),
        )
        .first(conn)?;
    Ok(sum.unwrap_or(0))
}

/// Line, claim, day, miles, first-rate miles, amount, claim status, rates, currency.
type DrivenRow = (
    i64,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    String,
    (Option<i64>, Option<i64>),
    String,
);

/// One of a person's mileage lines, as repricing sees it.
struct Driven {
    line: i64,
    claim: i64,
    day: String,
    tenths: i64,
    first: i64,
    amount: i64,
    /// The claim is a draft: its amounts are still the owner's to see change.
    open: bool,
    rates: (Option<i64>, Option<i64>),
    /// The most one line may claim in its currency.
    cap: i64,
}

/// Prices `owner`'s mileage lines in draft claims again, at the policy's rates, after something
/// changed the miles that count before them (a line added, edited or removed, a claim
/// rejected, returned or discarded). Within each tax year, in date order, a draft line
/// counts the miles of every line before it and the first-rate miles of the decided
/// (submitted or later) lines after it, whose prices stay as their approvers saw them.
/// So removing miles gives their first-rate band back to the drafts after them, and
/// the year's first-rate miles never add up to more than the band. Changed lines move
/// their claims' totals and versions. Run inside the writing transaction.
pub fn reprice_drafts_in(c: &mut SqliteConnection, owner: UserId) -> QueryResult<()> {
    let policy = super::policy::load_with(c)?;
    let rates = policy.mileage;
    let rows: Vec<DrivenRow> = claim_lines::table
        .inner_join(claims::table)
        .filter(claims::owner_id.eq(owner.0))
        .filter(claims::status.ne(Status::Rejected.code()))
        .filter(claim_lines::miles_tenths.is_not_null())
        .order((claim_lines::spent_on.asc(), claim_lines::id.asc()))
        .select((
            claim_lines::id,
            claim_lines::claim_id,
            claim_lines::spent_on,
            claim_lines::miles_tenths,
            claim_lines::mileage_first_tenths,
            claim_lines::amount_minor,
            claims::status,
            (
                claim_lines::mileage_first_rate,
                claim_lines::mileage_after_rate,
            ),
            claim_lines::currency,
        ))
        .load(c)?;
    let lines: Vec<Driven> = rows
        .into_iter()
        .map(
            |(line, claim, day, tenths, first, amount, status, rates, currency)| Driven {
                line,
                claim,
                open: status == Status::Draft.code(),
                tenths: tenths.unwrap_or(0),
                // A line priced before the split was kept: counted whole, so the band is
                // never stretched.
                first: first.or(tenths).unwrap_or(0),
                day,
                amount,
                rates,
                cap: policy.line_cap(Currency::parse(&currency).unwrap_or(Currency::GBP)),
            },
        )
        .collect();
    if !lines.iter().any(|l| l.open) {
        return Ok(());
    }
    let year_of = |day: &str| {
        Date::parse(day, &time::format_description::well_known::Iso8601::DATE)
            .map(tax_year_start)
            .ok()
    };
    let mut changed_claims: Vec<(i64, i64)> = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let year = year_of(&lines[start].day);
        let end = lines[start..]
            .iter()
            .position(|l| year_of(&l.day) != year)
            .map_or(lines.len(), |n| start + n);
        let year_lines = &lines[start..end];
        // First-rate miles of the decided lines after each position.
        let mut decided_after = vec![0; year_lines.len() + 1];
        for i in (0..year_lines.len()).rev() {
            let l = &year_lines[i];
            decided_after[i] = decided_after[i + 1] + if l.open { 0 } else { l.first };
        }
        let mut before = 0;
        for (i, l) in year_lines.iter().enumerate() {
            if l.open {
                let already = before + decided_after[i + 1];
                let (first, _) = split(rates, already, l.tenths);
                // Held to what a line may claim when entered: at least one minor unit
                // (a tenth of a mile past the band at a tiny rate rounds to nothing),
                // at most the per-line cap (rates are per mile of the base currency).
                let amount = amount_pence(rates, already, l.tenths).clamp(1, l.cap);
                let new_rates = (Some(rates.first_rate_pence), Some(rates.after_rate_pence));
                if (first, amount, new_rates) != (l.first, l.amount, l.rates) {
                    diesel::update(claim_lines::table.find(l.line))
                        .set((
                            claim_lines::amount_minor.eq(amount),
                            claim_lines::base_minor.eq(amount),
                            claim_lines::mileage_first_tenths.eq(first),
                            claim_lines::mileage_first_rate.eq(new_rates.0),
                            claim_lines::mileage_after_rate.eq(new_rates.1),
                        ))
                        .execute(c)?;
                    changed_claims.push((l.claim, amount - l.amount));
                }
            }
            before += l.tenths;
        }
        start = end;
    }
    let mut deltas = std::collections::BTreeMap::new();
    for (claim, delta) in changed_claims {
        *deltas.entry(claim).or_insert(0) += delta;
    }
    for (claim, delta) in deltas {
        diesel::update(claims::table.find(claim))
            .set((
                claims::total_minor.eq(claims::total_minor + delta),
                claims::version.eq(claims::version + 1),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// The most miles one line may claim: more than anyone drives for work in a few days,
/// so a larger figure is a slip (a reading of the odometer, a zero too many).
pub const MAX_MILES_PER_LINE: i64 = 10_000;

/// Parses miles as typed ("12" or "12.5") into tenths of a mile.
pub fn parse_miles(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let ok = !whole.is_empty()
        && whole.len() <= 6
        && frac.len() <= 1
        && whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    let tenths = whole.parse::<i64>().ok()? * 10 + frac.parse::<i64>().unwrap_or(0);
    (tenths > 0).then_some(tenths)
}

/// "120.0 miles at 45p" or, across the band, "50.0 miles at 45p + 70.0 miles at 25p";
/// empty for lines that are not mileage. Rates in the base currency's minor units.
pub fn mileage_text(line: &super::lines::LineRow, base: super::money::Currency) -> String {
    let (Some(tenths), Some(first), Some(r1), Some(r2)) = (
        line.miles_tenths,
        line.mileage_first_tenths,
        line.mileage_first_rate,
        line.mileage_after_rate,
    ) else {
        return String::new();
    };
    let miles = |t: i64| format!("{}.{}", t / 10, t % 10);
    let rate = |r: i64| {
        if base == super::money::Currency::GBP {
            format!("{r}p")
        } else {
            format!("{} {}", super::money::format_minor(r, base), base)
        }
    };
    let after = tenths - first;
    match (first, after) {
        (0, _) => format!("{} miles at {}", miles(after), rate(r2)),
        (_, 0) => format!("{} miles at {}", miles(first), rate(r1)),
        _ => format!(
            "{} miles at {} + {} miles at {}",
            miles(first),
            rate(r1),
            miles(after),
            rate(r2)
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn tax_years() {
        assert_eq!(tax_year_start(date!(2026 - 04 - 05)), date!(2025 - 04 - 06));
        assert_eq!(tax_year_start(date!(2026 - 04 - 06)), date!(2026 - 04 - 06));
        assert_eq!(tax_year_start(date!(2026 - 12 - 31)), date!(2026 - 04 - 06));
        assert_eq!(tax_year_start(date!(2027 - 01 - 01)), date!(2026 - 04 - 06));
    }

    #[test]
    fn hmrc_rates_across_the_threshold() {
        let r = MileageRates::default();
        assert_eq!(amount_pence(r, 0, 100 * 10), 4500);
        assert_eq!(amount_pence(r, 10_000 * 10, 100 * 10), 2500);
        // 9,950 miles already: 50 at 45p + 50 at 25p = 22.50 + 12.50
        assert_eq!(amount_pence(r, 9_950 * 10, 100 * 10), 3500);
        // 12.5 miles at 45p = 5.625 -> 5.63
        assert_eq!(amount_pence(r, 0, 125), 563);
        assert_eq!(parse_miles("12.5"), Some(125));
        assert_eq!(parse_miles("12"), Some(120));
        for bad in ["", "0", "-3", "1.25", "abc", "9999999"] {
            assert_eq!(parse_miles(bad), None, "{bad}");
        }
    }
}
