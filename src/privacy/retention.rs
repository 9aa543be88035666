//! Retention: how long each kind of record is kept (per organisation, in the settings
//! table) and [`run`], which applies the periods as of a day:
//! - scheduled erasures that are due are shredded (the erasure path);
//! - deactivated people are shredded once their profile period is over AND the tax
//!   period of their latest claim has ended (one key seals both, so the profile waits
//!   for the claims rather than shredding claim texts HMRC still expects to see);
//! - claims past their period (six years after the end of the UK tax year of their last
//!   change, by default) are deleted outright with their lines, receipts and history:
//!   once the tax reason to keep them has gone, nothing justifies keeping even the
//!   amounts against a person. Claims still in progress are never deleted;
//! - a person whose data is restricted keeps their profile and claims (Art. 18: the
//!   data is stored, e.g. for a legal claim), unless the DPO scheduled their erasure;
//! - the audit log is append-only and hash-chained: entries past their period are
//!   counted and reported, not deleted, since deleting them would break the chain.
//!
//! What a run did goes to the audit log and to the retention log the DPO sees.

use diesel::prelude::*;
use time::{Date, Month, OffsetDateTime};

use super::deadlines::uk_today;
use super::{PrivacyError, erasure, restriction};
use crate::audit::{self, Action};
use crate::db::now_unix;
use crate::db::schema::org::{audit_log, claims, retention_log, settings, users};
use crate::expenses::status::Status;
use crate::ids::{PersonKeyId, UserId};
use crate::tenancy::Org;

const CLAIMS_YEARS: &str = "retention_claims_years";
const PROFILE_MONTHS: &str = "retention_profile_months";
const AUDIT_YEARS: &str = "retention_audit_years";
/// Ids named in one retention log entry; the rest are counted.
const IDS_LOGGED: usize = 50;

/// The organisation's retention periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    /// Claims: this many years after the end of the UK tax year of their last change.
    pub claims_years: i32,
    /// Profiles of deactivated people: this many months after deactivation.
    pub profile_months: i32,
    /// Audit entries: this many years.
    pub audit_years: i32,
}

impl Default for Periods {
    fn default() -> Self {
        Periods {
            claims_years: 6,
            profile_months: 12,
            audit_years: 6,
        }
    }
}

/// The allowed range of each period, for the form.
pub const CLAIMS_YEARS_RANGE: (i32, i32) = (1, 20);
pub const PROFILE_MONTHS_RANGE: (i32, i32) = (1, 120);
pub const AUDIT_YEARS_RANGE: (i32, i32) = (1, 20);

/// The `settings` row holding when retention last ran (Unix time).
const LAST_RUN: &str = "retention_last_run";

/// When retention last ran for the organisation, if it ever did.
pub fn last_run(org: &Org) -> Result<Option<OffsetDateTime>, PrivacyError> {
    let mut conn = org.conn()?;
    let value: Option<String> = settings::table
        .find(LAST_RUN)
        .select(settings::value)
        .first(&mut conn)
        .optional()?;
    Ok(value
        .and_then(|v| v.parse().ok())
        .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok()))
}

pub fn periods(org: &Org) -> Result<Periods, PrivacyError> {
    let mut conn = org.conn()?;
    let rows: Vec<(String, String)> = settings::table
        .filter(settings::name.eq_any([CLAIMS_YEARS, PROFILE_MONTHS, AUDIT_YEARS]))
        .select((settings::name, settings::value))
        .load(&mut conn)?;
    let get = |name: &str, default: i32| {
        rows.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(default)
    };
    let d = Periods::default();
    Ok(Periods {
        claims_years: get(CLAIMS_YEARS, d.claims_years),
        profile_months: get(PROFILE_MONTHS, d.profile_months),
        audit_years: get(AUDIT_YEARS, d.audit_years),
    })
}

/// Saves new periods with their audit entry; each must be within its range.
pub fn set_periods(org: &Org, actor: UserId, p: Periods) -> Result<(), PrivacyError> {
    for (value, (lo, hi), what) in [
        (p.claims_years, CLAIMS_YEARS_RANGE, "claims period (years)"),
        (
            p.profile_months,
            PROFILE_MONTHS_RANGE,
            "profile period (months)",
        ),
        (p.audit_years, AUDIT_YEARS_RANGE, "audit log period (years)"),
    ] {
        if !(lo..=hi).contains(&value) {
            return Err(PrivacyError::Invalid(format!(
                "the {what} must be between {lo} and {hi}"
            )));
        }
    }
    org.write(|c| -> Result<_, PrivacyError> {
        for (name, value) in [
            (CLAIMS_YEARS, p.claims_years),
            (PROFILE_MONTHS, p.profile_months),
            (AUDIT_YEARS, p.audit_years),
        ] {
            diesel::replace_into(settings::table)
                .values((
                    settings::name.eq(name),
                    settings::value.eq(value.to_string()),
                ))
                .execute(c)?;
        }
        audit::append(
            c,
            Some(actor),
            None,
            Action::RetentionChanged,
            &format!(
                "claims {}y profiles {}m audit {}y",
                p.claims_years, p.profile_months, p.audit_years
            ),
        )?;
        Ok(())
    })?;
    Ok(())
}

fn april(year: i32, day: u8) -> Date {
    // 5 and 6 April exist in every year the `time` crate represents.
    Date::from_calendar_date(year, Month::April, day).unwrap_or(Date::MIN)
}

/// The last day (5 April) of the UK tax year `d` falls in (6 April to 5 April).
pub fn tax_year_end(d: Date) -> Date {
    if d >= april(d.year(), 6) {
        april(d.year() + 1, 5)
    } else {
        april(d.year(), 5)
    }
}

/// The first day a claim last changed on `d` may be deleted: the day after the end of
/// the tax year `years` after the one it falls in.
pub fn claim_shred_on(d: Date, years: i32) -> Date {
    let end = tax_year_end(d);
    april(end.year() + years, 6)
}

/// The UK calendar day of a Unix time, `None` if out of range. Tax years and retention
/// periods run on UK dates: a claim changed at 00:30 BST on 6 April (23:30 UTC on the
/// 5th) belongs to the new tax year, and must not be deleted a year early.
pub fn uk_day_of(at: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(at).ok().map(uk_today)
}

/// [`claim_shred_on`] for a claim last changed at the Unix time `at`.
pub fn claim_shred_on_at(at: i64, years: i32) -> Option<Date> {
    uk_day_of(at).map(|d| claim_shred_on(d, years))
}

/// `d` plus `months` calendar months, on the month's last day where `d`'s day does
/// not exist (31 January + 1 month = 28 or 29 February).
pub fn add_months(d: Date, months: i32) -> Date {
    let index = d.year() * 12 + (d.month() as i32 - 1) + months;
    let (year, month0) = (index.div_euclid(12), index.rem_euclid(12));
    let month = Month::try_from(month0 as u8 + 1).unwrap_or(Month::January);
    let day = d.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(d)
}

/// The day the person's claims may go (the latest of their claims decides), or `None`
/// if they have no claims.
pub fn claims_shred_on(org: &Org, user: UserId, p: &Periods) -> Result<Option<Date>, PrivacyError> {
    let mut conn = org.conn()?;
    Ok(claims_shred_on_in(&mut conn, user, p)?)
}

/// [`claims_shred_on`] on a connection the caller already holds: a command's pool has
/// one connection, so asking for a second while holding it waits, then fails.
fn claims_shred_on_in(
    conn: &mut SqliteConnection,
    user: UserId,
    p: &Periods,
) -> QueryResult<Option<Date>> {
    let latest: Option<i64> = claims::table
        .filter(claims::owner_id.eq(user.0))
        .select(diesel::dsl::max(claims::updated_at))
        .first(conn)?;
    Ok(latest.and_then(|at| claim_shred_on_at(at, p.claims_years)))
}

/// When the deactivated person was deactivated: their latest deactivation in the
/// audit log, or their row's last change.
fn deactivated_on(conn: &mut SqliteConnection, user: i64, updated_at: i64) -> QueryResult<i64> {
    let at: Option<i64> = audit_log::table
        .filter(audit_log::subject_id.eq(user))
        .filter(audit_log::action.eq(Action::UserDeactivated.code()))
        .select(diesel::dsl::max(audit_log::at))
        .first(conn)?;
    Ok(at.unwrap_or(updated_at))
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Scheduled erasures carried out.
    pub erased_scheduled: Vec<UserId>,
    /// Deactivated people shredded at the end of their profile period.
    pub erased_profiles: Vec<UserId>,
    /// People due for erasure whose erasure failed (logged; the next run tries again).
    pub erasures_failed: Vec<UserId>,
    /// Keys destroyed by this run: backups must forget them too.
    pub destroyed_keys: Vec<PersonKeyId>,
    /// Claims deleted (with lines, receipts and history).
    pub claims_deleted: Vec<i64>,
    /// Claims past their period but still in progress, so kept.
    pub claims_open_past_period: usize,
    /// Audit entries older than their period, kept to keep the chain whole.
    pub audit_past_period: i64,
}

impl RetentionReport {
    /// The person's id goes to the organisation's retention log, not to the server's.
    fn failed(&mut self, org: &Org, user: UserId, e: &PrivacyError) {
        log::error!(
            "retention of organisation {}: an erasure failed: {e}",
            org.slug
        );
        self.erasures_failed.push(user);
    }
}

fn log(
    c: &mut SqliteConnection,
    today: Date,
    kind: &str,
    ids: &[i64],
    note: &str,
) -> QueryResult<()> {
    let mut detail: Vec<String> = ids.iter().take(IDS_LOGGED).map(i64::to_string).collect();
    if ids.len() > IDS_LOGGED {
        detail.push(format!("and {} more", ids.len() - IDS_LOGGED));
    }
    let detail = match (detail.is_empty(), note.is_empty()) {
        (true, _) => note.to_owned(),
        (false, true) => detail.join(","),
        (false, false) => format!("{} ({note})", detail.join(",")),
    };
    diesel::insert_into(retention_log::table)
        .values((
            retention_log::at.eq(now_unix()),
            retention_log::run_date.eq(today.to_string()),
            retention_log::kind.eq(kind),
            retention_log::count.eq(ids.len() as i64),
            retention_log::detail.eq(&detail),
        ))
        .execute(c)?;
    Ok(())
}

fn log_one(
    org: &Org,
    today: Date,
    kind: &str,
    ids: &[i64],
    note: &str,
) -> Result<(), PrivacyError> {
    org.write(|c| log_in(c, today, kind, ids, note))
}

/// A retention log entry and its audit entry, in the caller's transaction.
fn log_in(
    c: &mut SqliteConnection,
    today: Date,
    kind: &str,
    ids: &[i64],
    note: &str,
) -> Result<(), PrivacyError> {
    log(c, today, kind, ids, note)?;
    audit::append(
        c,
        None,
        None,
        Action::RetentionApplied,
        &format!("{kind} {} as of {today}", ids.len()),
    )?;
    Ok(())
}

/// Applies the organisation's periods as of `today`; see the module docs.
pub fn run(org: &Org, today: Date) -> Result<RetentionReport, PrivacyError> {
    let p = periods(org)?;
    let mut report = RetentionReport::default();

    // Each person is checked again inside the write that erases them; one whose
    // erasure fails is logged and left for the next run, and the others go ahead.
    for user in erasure::due(org, today)? {
        match erase_scheduled_if_due(org, user, today) {
            Ok(Some(key)) => {
                report.erased_scheduled.push(user);
                report.destroyed_keys.push(key);
            }
            Ok(None) | Err(PrivacyError::Erased | PrivacyError::NotFound) => {}
            Err(e) => report.failed(org, user, &e),
        }
    }
    if !report.erased_scheduled.is_empty() {
        let ids: Vec<i64> = report.erased_scheduled.iter().map(|u| u.0).collect();
        log_one(org, today, "scheduled erasures", &ids, "")?;
    }

    for user in profiles_due(org, today, &p)? {
        match erase_profile_if_due(org, user, today, &p) {
            Ok(Some(key)) => {
                report.erased_profiles.push(user);
                report.destroyed_keys.push(key);
            }
            Ok(None) | Err(PrivacyError::Erased | PrivacyError::NotFound) => {}
            Err(e) => report.failed(org, user, &e),
        }
    }
    if !report.erased_profiles.is_empty() {
        let ids: Vec<i64> = report.erased_profiles.iter().map(|u| u.0).collect();
        log_one(org, today, "deactivated profiles", &ids, "")?;
    }
    if !report.erasures_failed.is_empty() {
        let ids: Vec<i64> = report.erasures_failed.iter().map(|u| u.0).collect();
        let note = "not finished; tried again at the next run";
        org.write(|c| -> Result<_, PrivacyError> {
            Ok(log(c, today, "erasures failed", &ids, note)?)
        })?;
    }

    let (deleted, open) = delete_claims_due(org, today, &p)?;
    report.claims_open_past_period = open;
    report.claims_deleted = deleted;

    let cutoff = years_before(today, p.audit_years);
    let mut conn = org.conn()?;
    report.audit_past_period = audit_log::table
        .filter(audit_log::at.lt(cutoff))
        .count()
        .get_result(&mut conn)?;
    drop(conn);
    if report.audit_past_period > 0 {
        org.write(|c| -> Result<_, PrivacyError> {
            Ok(diesel::insert_into(retention_log::table)
                .values((
                    retention_log::at.eq(now_unix()),
                    retention_log::run_date.eq(today.to_string()),
                    retention_log::kind.eq("audit entries kept"),
                    retention_log::count.eq(report.audit_past_period),
                    retention_log::detail.eq(
                        "older than the audit period; not deleted, because the log is \
                         append-only and hash-chained",
                    ),
                ))
                .execute(c)?)
        })?;
    }
    // So the DPO can see that retention runs, on days it has nothing to do too.
    org.write(|c| -> Result<_, PrivacyError> {
        Ok(diesel::replace_into(settings::table)
            .values((
                settings::name.eq(LAST_RUN),
                settings::value.eq(now_unix().to_string()),
            ))
            .execute(c)?)
    })?;
    Ok(report)
}

/// Unix time of midnight UTC `years` years before `today`.
fn years_before(today: Date, years: i32) -> i64 {
    add_months(today, -12 * years)
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

/// Carries out `user`'s scheduled erasure if, inside the write that erases, it is still
/// scheduled for `today` or before: the DPO may have lifted the restriction (cancelling
/// it) since [`erasure::due`] chose them. `None` if not.
pub fn erase_scheduled_if_due(
    org: &Org,
    user: UserId,
    today: Date,
) -> Result<Option<PersonKeyId>, PrivacyError> {
    let due_day = today.to_string();
    let still_due = |c: &mut SqliteConnection| -> Result<bool, PrivacyError> {
        let flags = restriction::flags_in(c, user)?;
        Ok(flags.erase_due.is_some_and(|d| d <= due_day))
    };
    erasure::erase_if(org, None, user, "scheduled erasure due", still_due)
}

/// Erases a leaver whose periods are over if, inside the write that erases, they still
/// are one of [`profiles_due`]: since the run chose them they may have been restricted
/// or reactivated. `None` if not.
pub fn erase_profile_if_due(
    org: &Org,
    user: UserId,
    today: Date,
    p: &Periods,
) -> Result<Option<PersonKeyId>, PrivacyError> {
    let still_due = |c: &mut SqliteConnection| profile_due_in(c, user, today, p);
    erasure::erase_if(org, None, user, "profile retention over", still_due)
}

/// Deactivated, not yet erased people whose profile period and claims period are over,
/// except those whose data is restricted (Art. 18: kept, e.g. for a legal claim).
fn profiles_due(org: &Org, today: Date, p: &Periods) -> Result<Vec<UserId>, PrivacyError> {
    let mut conn = org.conn()?;
    let inactive: Vec<i64> = users::table
        .filter(users::active.eq(false))
        .select(users::id)
        .load(&mut conn)?;
    let mut out = Vec::new();
    for id in inactive {
        if profile_due_in(&mut conn, UserId(id), today, p)? {
            out.push(UserId(id));
        }
    }
    Ok(out)
}

/// Whether `user` is one of [`profiles_due`], read on the caller's connection.
fn profile_due_in(
    conn: &mut SqliteConnection,
    user: UserId,
    today: Date,
    p: &Periods,
) -> Result<bool, PrivacyError> {
    let row: Option<(bool, i64)> = users::table
        .find(user.0)
        .select((users::active, users::updated_at))
        .first(conn)
        .optional()?;
    let Some((false, updated_at)) = row else {
        return Ok(false);
    };
    let flags = restriction::flags_in(conn, user)?;
    if flags.erased() || flags.holds_from_retention() {
        return Ok(false);
    }
    let Some(off) = uk_day_of(deactivated_on(conn, user.0, updated_at)?) else {
        return Ok(false);
    };
    let profile_due = add_months(off, p.profile_months);
    let claims_due = claims_shred_on_in(conn, user, p)?;
    Ok(claims_due.map_or(profile_due, |c| c.max(profile_due)) <= today)
}

/// Claims past their period: those that may be deleted, and how many are still in
/// progress (kept). Claims of people whose data is restricted are left alone.
fn claims_due(
    conn: &mut SqliteConnection,
    today: Date,
    p: &Periods,
) -> Result<(Vec<i64>, usize), PrivacyError> {
    // A claim can only be due if it is older than the period itself.
    let rough = years_before(today, p.claims_years);
    let held = restriction::held_from_retention(conn)?;
    let rows: Vec<(i64, String, i64)> = claims::table
        .filter(claims::updated_at.lt(rough))
        .filter(claims::owner_id.ne_all(&held))
        .select((claims::id, claims::status, claims::updated_at))
        .load(conn)?;
    let finished = [Status::Draft, Status::Paid, Status::Rejected];
    let mut deletable = Vec::new();
    let mut open = 0;
    for (id, status, updated_at) in rows {
        let Some(shred_on) = claim_shred_on_at(updated_at, p.claims_years) else {
            continue;
        };
        if shred_on > today {
            continue;
        }
        if Status::parse(&status).is_some_and(|s| finished.contains(&s)) {
            deletable.push(id);
        } else {
            open += 1;
        }
    }
    Ok((deletable, open))
}

/// Deletes the claims due, chosen inside the write: a claim whose owner was restricted
/// (Art. 18) or that was taken up again since any earlier look stays. The retention log
/// and the audit entry go in the same transaction, so no deletion goes unrecorded.
/// Gives the claims deleted and how many past their period are still in progress.
fn delete_claims_due(
    org: &Org,
    today: Date,
    p: &Periods,
) -> Result<(Vec<i64>, usize), PrivacyError> {
    org.write(|c| -> Result<_, PrivacyError> {
        let (deletable, open) = claims_due(c, today, p)?;
        if !deletable.is_empty() {
            crate::expenses::drafts::delete_rows(c, &deletable)?;
            log_in(c, today, "claims deleted", &deletable, "")?;
        }
        Ok((deletable, open))
    })
}

/// One entry of the retention log.
#[derive(Debug, Clone, Queryable)]
pub struct LogEntry {
    pub id: i64,
    pub at: i64,
    pub run_date: String,
    pub kind: String,
    pub count: i64,
    pub detail: String,
}

/// The newest entries of the retention log.
pub fn recent_log(org: &Org, limit: i64) -> Result<Vec<LogEntry>, PrivacyError> {
    let mut conn = org.conn()?;
    Ok(retention_log::table
        .order(retention_log::id.desc())
        .limit(limit)
        .select((
            retention_log::id,
            retention_log::at,
            retention_log::run_date,
            retention_log::kind,
            retention_log::count,
            retention_log::detail,
        ))
        .load(&mut conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    /// The tax year turns at midnight UK time: in BST that is 23:00 UTC on 5 April.
    #[test]
    fn the_tax_year_of_a_change_is_judged_on_the_uk_date() {
        use time::macros::datetime;
        let at = |t: OffsetDateTime| t.unix_timestamp();
        // 00:30 BST on 6 April: the new tax year, kept a year longer.
        let early_on_the_6th = at(datetime!(2026-04-05 23:30 UTC));
        assert_eq!(uk_day_of(early_on_the_6th), Some(date!(2026 - 04 - 06)));
        assert_eq!(
            claim_shred_on_at(early_on_the_6th, 6),
            Some(date!(2033 - 04 - 06))
        );
        // 23:59 BST on 5 April: still the old one.
        let late_on_the_5th = at(datetime!(2026-04-05 22:59 UTC));
        assert_eq!(
            claim_shred_on_at(late_on_the_5th, 6),
            Some(date!(2032 - 04 - 06))
        );
        // In winter UK time is UTC.
        assert_eq!(
            uk_day_of(at(datetime!(2026-01-05 23:30 UTC))),
            Some(date!(2026 - 01 - 05))
        );
    }

    #[test]
    fn months_clamp_to_the_month_end() {
        assert_eq!(add_months(date!(2026 - 01 - 31), 1), date!(2026 - 02 - 28));
        assert_eq!(add_months(date!(2028 - 01 - 31), 1), date!(2028 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 11 - 25), 12), date!(2027 - 11 - 25));
        assert_eq!(
            add_months(date!(2026 - 03 - 31), -13),
            date!(2025 - 02 - 28)
        );
    }
}
