//! Dashboard figures: an employee's claims by status, a manager's team spend by month
//! and category, and what finance has to pay. Everything here is plain columns summed
//! in SQL (amounts, dates, categories, status): nothing is decrypted.
//!
//! A claim keeps the base currency it was started in, and the base can change once
//! every claim is paid or rejected, so amounts are summed per currency and never added
//! across currencies.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use time::{Date, Month};

use super::claims::ClaimError;
use super::money::Currency;
use super::policy;
use super::status::Status;
use crate::ids::UserId;
use crate::tenancy::Org;

/// Claims that count as team spend: sent for approval or beyond, not drafts or rejected.
pub const SPEND_STATUSES: [Status; 4] = [
    Status::Submitted,
    Status::AwaitingFinance,
    Status::Approved,
    Status::Paid,
];

/// Sums in one or more currencies, one per currency. The base currency comes first,
/// then the others by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amounts(Vec<(Currency, i64)>);

impl Amounts {
    /// Sums (currency code, minor units) per currency, ordered for showing.
    fn sum(base: Currency, rows: impl IntoIterator<Item = (String, i64)>) -> Amounts {
        let mut out: Vec<(Currency, i64)> = Vec::new();
        for (code, minor) in rows {
            // As `ClaimFields::currency` reads a code that no longer parses.
            let c = Currency::parse(&code).unwrap_or(Currency::GBP);
            match out.iter_mut().find(|(have, _)| *have == c) {
                Some((_, sum)) => *sum += minor,
                None => out.push((c, minor)),
            }
        }
        out.sort_by_key(|(c, _)| (*c != base, c.code()));
        Amounts(out)
    }

    pub fn as_slice(&self) -> &[(Currency, i64)] {
        &self.0
    }

    /// The sum in `currency` (0 when there is none in it).
    pub fn get(&self, currency: Currency) -> i64 {
        self.0
            .iter()
            .find(|(c, _)| *c == currency)
            .map_or(0, |(_, m)| *m)
    }
}

/// One status of a person's claims: how many, and their totals per currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTotals {
    pub status: Status,
    pub count: i64,
    pub amounts: Amounts,
}

/// (currency, count, sum) rows of the totals queries.
#[derive(QueryableByName)]
struct CurrencySum {
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total_minor: i64,
}

#[derive(QueryableByName)]
struct StatusSum {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(embed)]
    sum: CurrencySum,
}

/// One person's claims (`?1`) by status and currency, read from the
/// `(owner_id, status, currency, total_minor)` index alone, already in group order.
pub const TOTALS_BY_STATUS_SQL: &str = "SELECT status, currency, COUNT(*) AS n, \
     SUM(total_minor) AS total_minor FROM claims WHERE owner_id = ?1 \
     GROUP BY status, currency";

/// One person's claims grouped by status, in the order of `Status::ALL`, with a total
/// per currency; statuses they have no claims in are left out.
pub fn totals_by_status(org: &Org, owner: UserId) -> Result<Vec<StatusTotals>, ClaimError> {
    let mut conn = org.conn()?;
    let base = policy::load_with(&mut conn)?.base_currency;
    let rows: Vec<StatusSum> = diesel::sql_query(TOTALS_BY_STATUS_SQL)
        .bind::<BigInt, _>(owner.0)
        .load(&mut conn)?;
    let mut out: Vec<StatusTotals> = Vec::new();
    for status in Status::ALL {
        let mine: Vec<&CurrencySum> = rows
            .iter()
            .filter(|r| r.status == status.code())
            .map(|r| &r.sum)
            .collect();
        if mine.is_empty() {
            continue;
        }
        out.push(StatusTotals {
            status,
            count: mine.iter().map(|r| r.n).sum(),
            amounts: Amounts::sum(
                base,
                mine.iter().map(|r| (r.currency.clone(), r.total_minor)),
            ),
        });
    }
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
    /// Sum of the lines' amounts in the report's currency.
    #[diesel(sql_type = BigInt)]
    pub total_minor: i64,
}

/// A row of [`TEAM_SPEND_SQL`]: a [`SpendRow`] with its claims' currency.
#[derive(QueryableByName)]
struct SpendIn {
    #[diesel(embed)]
    spend: SpendRow,
    #[diesel(sql_type = Text)]
    currency: String,
}

/// Team spend in the organisation's base currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendReport {
    /// The base currency: every amount of `rows` is in it.
    pub currency: Currency,
    /// By month and category, oldest month first.
    pub rows: Vec<SpendRow>,
    /// Claims in these months in an earlier base currency were left out of `rows`.
    pub others_left_out: bool,
}

/// Lines of claims of the manager's reports, from the `?2` month on, by month, category
/// and the claims' currency. People whose data is restricted (GDPR Art. 18) are left
/// out: their data is not used. The status list is inlined from `SPEND_STATUSES`
/// (checked by a unit test). The CROSS JOIN keeps SQLite to the manager's reports
/// first, then their claims by owner from the index alone; left to choose, it reads
/// every claim of these statuses in the organisation.
pub const TEAM_SPEND_SQL: &str = "SELECT substr(l.spent_on, 1, 7) AS month, l.category AS category, \
     c.currency AS currency, CAST(SUM(l.base_minor) AS BIGINT) AS total_minor \
     FROM users u \
     CROSS JOIN claims c ON c.owner_id = u.id \
     JOIN claim_lines l ON l.claim_id = c.id \
     WHERE u.manager_id = ?1 AND c.owner_id <> ?1 \
     AND c.status IN ('submitted', 'awaiting_finance', 'approved', 'paid') \
     AND l.spent_on >= ?2 \
     AND c.owner_id NOT IN (SELECT user_id FROM privacy_flags WHERE restricted_at IS NOT NULL) \
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

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
pub fn team_spend(org: &Org, manager: UserId, months: u32) -> Result<SpendReport, ClaimError> {
    // Months are UK months: just after midnight on the 1st in summer is next month.
    let today = crate::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
    team_spend_since(org, manager, today, months)
}

/// [`team_spend`] as seen on `today` (for tests and benchmarks).
pub fn team_spend_since(
    org: &Org,
    manager: UserId,
    today: Date,
    months: u32,
) -> Result<SpendReport, ClaimError> {
    let mut conn = org.conn()?;
    let currency = policy::load_with(&mut conn)?.base_currency;
    let Some(first) = last_months(today, months.max(1)).into_iter().next() else {
        return Ok(SpendReport {
            currency,
            rows: Vec::new(),
            others_left_out: false,
        });
    };
    let all: Vec<SpendIn> = diesel::sql_query(TEAM_SPEND_SQL)
        .bind::<BigInt, _>(manager.0)
        .bind::<Text, _>(format!("{first}-01"))
        .load(&mut conn)?;
    // Claims from before the base changed are in another currency: a sum with them
    // would mean nothing, and there is no rate to convert them at.
    let (mine, others): (Vec<SpendIn>, Vec<SpendIn>) =
        all.into_iter().partition(|r| r.currency == currency.code());
    Ok(SpendReport {
        currency,
        rows: mine.into_iter().map(|r| r.spend).collect(),
        others_left_out: !others.is_empty(),
    })
}

/// Approved claims not yet paid: how many, and their totals per currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToPay {
    pub count: i64,
    /// Always has the base currency, at zero when there is nothing to pay.
    pub amounts: Amounts,
}

/// Claims of one status (`?1`) by currency, read from the
/// `(status, currency, total_minor)` index alone.
pub const TO_PAY_SQL: &str = "SELECT currency, COUNT(*) AS n, \
     SUM(total_minor) AS total_minor FROM claims WHERE status = ?1 GROUP BY currency";

/// Claims of one status (`?1`) of people whose data is restricted, by currency. The
/// CROSS JOIN keeps SQLite to this order: the few restricted people first, then their
/// claims by the `(owner_id, status, ...)` index; left to choose, it reads every claim
/// of the status instead.
pub const RESTRICTED_TO_PAY_SQL: &str = "SELECT c.currency AS currency, COUNT(*) AS n, \
     SUM(c.total_minor) AS total_minor \
     FROM privacy_flags f CROSS JOIN claims c ON c.owner_id = f.user_id \
     WHERE f.restricted_at IS NOT NULL AND c.status = ?1 GROUP BY c.currency";

/// Approved claims not yet paid. Claims of people whose data is restricted cannot be
/// paid, so they are not counted: they are taken off the total of all approved claims,
/// since filtering them out row by row could not be read from the index alone.
pub fn to_pay_total(org: &Org) -> Result<ToPay, ClaimError> {
    let mut conn = org.conn()?;
    // One snapshot: a claim paid or a person restricted between the two queries would
    // otherwise be taken off a total it was not in.
    conn.transaction::<_, ClaimError, _>(|c| {
        let base = policy::load_with(c)?.base_currency;
        let approved = Status::Approved.code();
        let all: Vec<CurrencySum> = diesel::sql_query(TO_PAY_SQL)
            .bind::<Text, _>(approved)
            .load(c)?;
        let held: Vec<CurrencySum> = diesel::sql_query(RESTRICTED_TO_PAY_SQL)
            .bind::<Text, _>(approved)
            .load(c)?;
        let mut count = 0;
        let mut rows = vec![(base.code().to_owned(), 0)];
        for r in all {
            let off = held.iter().find(|h| h.currency == r.currency);
            let n = r.n - off.map_or(0, |h| h.n);
            if n > 0 {
                count += n;
                rows.push((r.currency, r.total_minor - off.map_or(0, |h| h.total_minor)));
            }
        }
        Ok(ToPay {
            count,
            amounts: Amounts::sum(base, rows),
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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

    #[test]
    fn amounts_keep_currencies_apart_base_first() {
        let eur = Currency::parse("EUR").unwrap();
        let a = Amounts::sum(
            eur,
            [
                ("USD".to_owned(), 1),
                ("GBP".to_owned(), 2),
                ("EUR".to_owned(), 3),
                ("GBP".to_owned(), 4),
            ],
        );
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(
            a.as_slice(),
            [(eur, 3), (Currency::GBP, 6), (usd, 1)].as_slice()
        );
        assert_eq!(a.get(usd), 1);
        assert_eq!(a.get(Currency::parse("JPY").unwrap()), 0);
    }
}
