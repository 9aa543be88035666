//! Lists of claims: a person's own, filtered and paged newest first, and the claims
//! waiting for an approver, oldest first. Both read indexes in id order and stop at a
//! page; the line filters (category, dates) are one correlated probe per claim.

use diesel::prelude::*;
use time::Date;

use super::claims::{ClaimError, ClaimSummary};
use super::status::Status;
use crate::auth::{Role, Roles};
use crate::db::schema::org::claims;
use crate::ids::UserId;
use crate::tenancy::Org;

/// What a list of one's own claims is narrowed to. `category`, `from` and `to` pick
/// claims with at least one line in that category dated in that range (inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub category: Option<String>,
    pub from: Option<Date>,
    pub to: Option<Date>,
}

/// Claims having a line in the filter's category (if any) dated in its range (if
/// any): a correlated EXISTS (diesel's DSL has none), one probe per claim into the
/// `(claim_id, category, spent_on)` index. The values are bound parameters.
fn with_lines_filter<'a>(
    q: claims::BoxedQuery<'a, diesel::sqlite::Sqlite>,
    filter: &ListFilter,
) -> claims::BoxedQuery<'a, diesel::sqlite::Sqlite> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    if filter.category.is_none() && filter.from.is_none() && filter.to.is_none() {
        return q;
    }
    let from = filter.from.map_or("0000-01-01".into(), |d| d.to_string());
    let to = filter.to.map_or("9999-12-31".into(), |d| d.to_string());
    let lines = "EXISTS (SELECT 1 FROM claim_lines l WHERE l.claim_id = claims.id";
    match &filter.category {
        Some(c) => q.filter(
            sql::<Bool>(lines)
                .sql(" AND l.category = ")
                .bind::<Text, _>(c.clone())
                .sql(" AND l.spent_on BETWEEN ")
                .bind::<Text, _>(from)
                .sql(" AND ")
                .bind::<Text, _>(to)
                .sql(")"),
        ),
        None => q.filter(
            sql::<Bool>(lines)
                .sql(" AND l.spent_on BETWEEN ")
                .bind::<Text, _>(from)
                .sql(" AND ")
                .bind::<Text, _>(to)
                .sql(")"),
        ),
    }
}

/// A page of a person's own claims matching `filter`, newest first, with ids below
/// `before`. Walks the `claims_owner_list` index (reading no table row) or the
/// `(owner_id, status)` one; the line conditions are one probe per claim into the
/// `(claim_id, category, spent_on)` index.
pub fn list_own(
    org: &Org,
    owner: UserId,
    filter: &ListFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ClaimSummary>, ClaimError> {
    let mut conn = org.conn()?;
    let mut q = claims::table
        .filter(claims::owner_id.eq(owner.0))
        .into_boxed();
    if let Some(s) = filter.status {
        q = q.filter(claims::status.eq(s.code()));
    }
    if let Some(b) = before {
        q = q.filter(claims::id.lt(b));
    }
    let q = with_lines_filter(q, filter);
    Ok(q.order(claims::id.desc())
        .limit(limit)
        .select(ClaimSummary::as_select())
        .load(&mut conn)?)
}

/// Claims waiting for `approver`: submitted claims of their reports (managers) and of
/// the reports of managers who delegated to them today, never their own; and claims
/// awaiting the second approval (finance). Oldest first, as a queue: at most `limit`
/// claims with ids above `after` (the last one of the previous page), matching
/// `filter` (a status other than these two matches nothing).
pub fn waiting_for(
    org: &Org,
    approver: UserId,
    roles: Roles,
    filter: &ListFilter,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<ClaimSummary>, ClaimError> {
    use crate::db::schema::org::users;
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    let after = after.unwrap_or(0);
    let wants = |s: Status| filter.status.is_none_or(|f| f == s);
    let mut out = Vec::new();
    let mut managers = vec![approver.0];
    if roles.contains(Role::Manager) || roles.contains(Role::Finance) {
        managers.extend(
            super::delegation::acting_for(org, approver)?
                .into_iter()
                .map(|u| u.0),
        );
    }
    if !roles.contains(Role::Manager) {
        managers.retain(|m| *m != approver.0);
    }
    // Taken only now: holding a connection while `acting_for` takes another let a
    // full queue of approvers each hold one and wait for a second (pool exhausted).
    let mut conn = org.conn()?;
    let mut load = |q: claims::BoxedQuery<'_, diesel::sqlite::Sqlite>| {
        with_lines_filter(q.filter(claims::id.gt(after)), filter)
            .filter(claims::owner_id.ne(approver.0))
            .order(claims::id.asc())
            .limit(limit)
            .select(ClaimSummary::as_select())
            .load(&mut conn)
    };
    if !managers.is_empty() && wants(Status::Submitted) {
        let reports = users::table
            .filter(users::manager_id.eq_any(managers))
            .select(users::id);
        // Read through the status index in id order, stopping at a page: "submitted"
        // is a passing state, so it holds the claims in flight, not the team's history.
        out.extend(load(
            claims::table
                .filter(claims::owner_id.eq_any(reports))
                .filter(claims::status.eq(Status::Submitted.code()))
                .into_boxed(),
        )?);
    }
    if roles.contains(Role::Finance) && wants(Status::AwaitingFinance) {
        // Not the claims whose first approval was this person's, given by them or by
        // their delegate for them: the second must be someone else's, so they are not
        // waiting for them.
        let not_theirs = sql::<Bool>("(SELECT (e.actor_id IS ")
            .bind::<diesel::sql_types::BigInt, _>(approver.0)
            .sql(" OR e.on_behalf_of IS ")
            .bind::<diesel::sql_types::BigInt, _>(approver.0)
            .sql(" ) FROM claim_events e WHERE e.claim_id = claims.id AND e.to_status = ")
            .bind::<Text, _>(Status::AwaitingFinance.code())
            .sql(" ORDER BY e.id DESC LIMIT 1) IS NOT 1");
        out.extend(load(
            claims::table
                .filter(claims::status.eq(Status::AwaitingFinance.code()))
                .filter(not_theirs)
                .into_boxed(),
        )?);
    }
    // The two queues as one, oldest first (a claim is in at most one of them).
    out.sort_by_key(|c| c.id);
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(out)
}
