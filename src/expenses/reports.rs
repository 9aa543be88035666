//! Dashboard figures: an employee's claims by status, a manager's team spend by month
//! and category, and what finance has to pay. Everything here is plain columns summed
//! in SQL (amounts, dates, categories, status): nothing is decrypted.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use time::{Date, Month};

use super::claims::ClaimError;
use super::status::Status;
use crate::db::schema::org::claims;
use crate::ids::UserId;
use crate::tenancy::Org;

/// Claims that count as team spend: sent for approval or beyond, not drafts or rejected.
pub const SPEND_STATUSES: [Status; 4] = [
    Status::Submitted,
    Status::AwaitingFinance,
    Status::Approved,
    Status::Paid,
];

/// `SUM(claims.total_minor)` as an integer (diesel's `sum` of a BIGINT is NUMERIC).
fn sum_total() -> diesel::expression::SqlLiteral<Nullable<BigInt>> {
    diesel::dsl::sql::<Nullable<BigInt>>("SUM(claims.total_minor)")
}

/// One person's claims grouped by status, in the order of `Status::ALL`; statuses
/// they have no claims in are left out. Uses the `(owner_id, status, total_minor)` index.
pub fn totals_by_status(org: &Org, owner: UserId) -> Result<Vec<(Status, i64, i64)>, ClaimError> {
    use diesel::dsl::count_star;
    let mut conn = org.conn()?;
    let rows: Vec<(String, i64, Option<i64>)> = claims::table
        .filter(claims::owner_id.eq(owner.0))
        .group_by(claims::status)
        .select((claims::status, count_star(), sum_total()))
        .load(&mut conn)?;
    let mut out: Vec<(Status, i64, i64)> = rows
        .into_iter()
        .filter_map(|(s, n, total)| Status::parse(&s).map(|s| (s, n, total.unwrap_or(0))))
        .collect();
    out.sort_by_key(|(s, _, _)| Status::ALL.iter().position(|a| a == s));
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SpendRow {
    /// `YYYY-MM`
    #[diesel(sql_type = Text)]
    pub month: String,
    /// A category code.
    #[diesel(sql_type = Text)]
    pub category: String,
    /// Sum of the lines' amounts in the claims' base currency.
    #[diesel(sql_type = BigInt)]
    pub total_minor: i64,
}

/// Lines of claims of the manager's reports, from the `?2` month on, by month and category.
/// People whose data is restricted (GDPR Art. 18) are left out: their data is not used.
/// The status list is inlined from `SPEND_STATUSES` (checked by a unit test).
pub const TEAM_SPEND_SQL: &str = "SELECT substr(l.spent_on, 1, 7) AS month, l.category AS category, \
     CAST(SUM(l.base_minor) AS BIGINT) AS total_minor \
     FROM users u \
     JOIN claims c ON c.owner_id = u.id \
     JOIN claim_lines l ON l.claim_id = c.id \
     WHERE u.manager_id = ?1 AND c.owner_id <> ?1 \
     AND c.status IN ('submitted', 'awaiting_finance', 'approved', 'paid') \
     AND l.spent_on >= ?2 \
     AND c.owner_id NOT IN (SELECT user_id FROM privacy_flags WHERE restricted_at IS NOT NULL) \
     GROUP BY 1, 2 ORDER BY 1, 2";

/// The `months` calendar months ending with the one `today` is in, oldest first, as
/// `YYYY-MM`.
pub fn last_months(today: Date, months: u32) -> Vec<String> {
    let (mut year, mut month) = (today.year(), today.month());
    let mut out = Vec::with_capacity(months as usize);
    for _ in 0..months {
        out.push(format!("{year:04}-{:02}", month as u8));
        if month == Month::January {
            year -= 1;
        }
        month = month.previous();
    }
    out.reverse();
    out
}

/// Team spend of `manager`'s reports over the last `months` calendar months (this one
/// included), by month and category, oldest month first. Amounts are the lines' amounts
/// in the base currency, for claims submitted, awaiting finance, approved or paid.
pub fn team_spend(org: &Org, manager: UserId, months: u32) -> Result<Vec<SpendRow>, ClaimError> {
    let today = time::OffsetDateTime::now_utc().date();
    team_spend_since(org, manager, today, months)
}

/// [`team_spend`] as seen on `today` (for tests and benchmarks).
pub fn team_spend_since(
    org: &Org,
    manager: UserId,
    today: Date,
    months: u32,
) -> Result<Vec<SpendRow>, ClaimError> {
    let Some(first) = last_months(today, months.max(1)).into_iter().next() else {
        return Ok(Vec::new());
    };
    let mut conn = org.conn()?;
    Ok(diesel::sql_query(TEAM_SPEND_SQL)
        .bind::<BigInt, _>(manager.0)
        .bind::<Text, _>(format!("{first}-01"))
        .load(&mut conn)?)
}

/// Approved claims not yet paid: how many, and their total in minor units. Claims of
/// people whose data is restricted cannot be paid, so they are not counted.
pub fn to_pay_total(org: &Org) -> Result<(i64, i64), ClaimError> {
    use diesel::dsl::count_star;
    let mut conn = org.conn()?;
    let restricted = crate::privacy::restriction::restricted_ids(&mut conn)?;
    let (n, total): (i64, Option<i64>) = claims::table
        .filter(claims::status.eq(Status::Approved.code()))
        .filter(claims::owner_id.ne_all(restricted))
        .select((count_star(), sum_total()))
        .first(&mut conn)?;
    Ok((n, total.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn months_cross_the_year() {
        assert_eq!(
            last_months(date!(2026 - 02 - 14), 6),
            [
                "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"
            ]
        );
        assert_eq!(last_months(date!(2026 - 12 - 31), 1), ["2026-12"]);
    }

    #[test]
    fn the_sql_lists_exactly_the_spend_statuses() {
        let listed = SPEND_STATUSES
            .iter()
            .map(|s| format!("'{}'", s.code()))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(TEAM_SPEND_SQL.contains(&format!("c.status IN ({listed})")));
    }
}
