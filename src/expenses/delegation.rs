//! Delegated approvals: a manager names another active manager or finance user of the
//! organisation to decide their reports' claims for a range of days (inclusive). While
//! it runs, `claims::part_for` lets the delegate act as approver "on behalf of" the
//! manager; the delegate still never decides their own claim. Days are UK dates.
//! Adding and removing are audited. Nothing here knows about HTTP.

use diesel::prelude::*;
use time::{Date, OffsetDateTime};

use super::claims::{ClaimError, FieldErrors};
use crate::audit::{self, Action};
use crate::auth::users;
use crate::auth::{Role, Roles};
use crate::db::now_unix;
use crate::db::schema::org::{delegations, users as users_t};
use crate::ids::UserId;
use crate::tenancy::Org;

/// The longest a single delegation may run.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = delegations)]
pub struct Delegation {
    pub id: i64,
    pub delegator_id: i64,
    pub delegate_id: i64,
    pub starts_on: String,
    pub ends_on: String,
    pub created_at: i64,
}

/// Delegations run over UK days, as the DPO's deadlines do: "from the 10th" starts
/// at midnight in the UK, not at 01:00 in summer.
fn today() -> Date {
    crate::privacy::deadlines::uk_today(OffsetDateTime::now_utc())
}

/// The managers whose approvals `delegate` holds today. A delegator who is no longer
/// an active manager passes nothing on.
pub fn acting_for(org: &Org, delegate: UserId) -> Result<Vec<UserId>, ClaimError> {
    let day = today().to_string();
    let mut conn = org.conn()?;
    let rows: Vec<(i64, String, bool)> = delegations::table
        .inner_join(users_t::table.on(users_t::id.eq(delegations::delegator_id)))
        .filter(delegations::delegate_id.eq(delegate.0))
        .filter(delegations::starts_on.le(&day))
        .filter(delegations::ends_on.ge(&day))
        .select((delegations::delegator_id, users_t::roles, users_t::active))
        .load(&mut conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, roles, active)| {
            *active && Roles::parse_list(roles).is_ok_and(|r| r.contains(Role::Manager))
        })
        .map(|(id, _, _)| UserId(id))
        .collect())
}

/// People who may be named: active managers or finance users other than `me`.
pub fn candidates(org: &Org, me: UserId) -> Result<Vec<users::Person>, ClaimError> {
    let approvers = Roles::of(&[Role::Manager, Role::Finance]);
    Ok(users::active_with_any_role(org, approvers)?
        .into_iter()
        .filter(|p| p.id != me)
        .collect())
}

/// Delegations `who` gave, or was given (`as_delegate`), that have not ended.
pub fn current(org: &Org, who: UserId, as_delegate: bool) -> Result<Vec<Delegation>, ClaimError> {
    let day = today().to_string();
    let mut conn = org.conn()?;
    let q = delegations::table
        .filter(delegations::ends_on.ge(day))
        .order((delegations::starts_on, delegations::id))
        .select(Delegation::as_select())
        .into_boxed();
    let q = if as_delegate {
        q.filter(delegations::delegate_id.eq(who.0))
    } else {
        q.filter(delegations::delegator_id.eq(who.0))
    };
    Ok(q.load(&mut conn)?)
}

/// The form as typed.
#[derive(Debug, Clone, Default)]
pub struct DelegationInput {
    pub delegate: String,
    pub from: String,
    pub to: String,
}

fn parse_day(raw: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.trim(), &format).ok()
}

/// Names a delegate for `delegator` (who must be a manager), or says what is wrong
/// with each field. The same delegation posted twice is made once.
pub fn add(
    org: &Org,
    delegator: UserId,
    roles: Roles,
    input: &DelegationInput,
) -> Result<Result<i64, FieldErrors>, ClaimError> {
    if !roles.contains(Role::Manager) {
        return Err(ClaimError::Forbidden);
    }
    let mut errors = FieldErrors::default();
    let choices = candidates(org, delegator)?;
    let delegate = input
        .delegate
        .trim()
        .parse::<i64>()
        .ok()
        .map(UserId)
        .filter(|id| choices.iter().any(|c| c.id == *id));
    if delegate.is_none() {
        errors.add(
            "delegate",
            "choose another active manager or finance person from the list",
        );
    }
    let today = today();
    let from = parse_day(&input.from);
    match from {
        None => errors.add("from", "enter a real date as YYYY-MM-DD"),
        Some(f) if f < today => errors.add("from", "the first day cannot be in the past"),
        _ => {}
    }
    let to = parse_day(&input.to);
    match (from, to) {
        (_, None) => errors.add("to", "enter a real date as YYYY-MM-DD"),
        (Some(f), Some(t)) if t < f => errors.add("to", "the last day cannot be before the first"),
        (Some(f), Some(t)) if (t - f).whole_days() >= MAX_DAYS => errors.add(
            "to",
            format!("a delegation can run for at most {MAX_DAYS} days"),
        ),
        _ => {}
    }
    let (Some(delegate), Some(from), Some(to)) = (delegate, from, to) else {
        return Ok(Err(errors));
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let (from, to) = (from.to_string(), to.to_string());
    let id = org.write(|c| -> Result<i64, ClaimError> {
        let same: Option<i64> = delegations::table
            .filter(delegations::delegator_id.eq(delegator.0))
            .filter(delegations::delegate_id.eq(delegate.0))
            .filter(delegations::starts_on.eq(&from))
            .filter(delegations::ends_on.eq(&to))
            .select(delegations::id)
            .first(c)
            .optional()?;
        if let Some(id) = same {
            return Ok(id);
        }
        let id = super::row_ids::next(c, super::row_ids::Table::Delegations)?;
        diesel::insert_into(delegations::table)
            .values((
                delegations::id.eq(id),
                delegations::delegator_id.eq(delegator.0),
                delegations::delegate_id.eq(delegate.0),
                delegations::starts_on.eq(&from),
                delegations::ends_on.eq(&to),
                delegations::created_at.eq(now_unix()),
            ))
            .execute(c)?;
        audit::append(
            c,
            Some(delegator),
            Some(delegate),
            Action::DelegationAdded,
            &format!("delegation {id}: {from} to {to}"),
        )?;
        Ok(id)
    })?;
    Ok(Ok(id))
}

/// Removes one of `delegator`'s delegations. Gives false if there was none (removed
/// already, or not theirs: the same answer, so ids leak nothing).
pub fn remove(org: &Org, delegator: UserId, id: i64) -> Result<bool, ClaimError> {
    org.write(|c| -> Result<bool, ClaimError> {
        let found: Option<i64> = delegations::table
            .filter(delegations::id.eq(id))
            .filter(delegations::delegator_id.eq(delegator.0))
            .select(delegations::delegate_id)
            .first(c)
            .optional()?;
        let Some(delegate) = found else {
            return Ok(false);
        };
        diesel::delete(delegations::table.find(id)).execute(c)?;
        audit::append(
            c,
            Some(delegator),
            Some(UserId(delegate)),
            Action::DelegationRemoved,
            &format!("delegation {id}"),
        )?;
        Ok(true)
    })
}
