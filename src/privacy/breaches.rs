//! The breach register (GDPR Art. 33(5)) with its 72-hour clock, and breach notices
//! the operator (the processor) posts to the organisation (Art. 33(2)).
//!
//! Free text here is about an incident, not about one person, so it cannot be sealed
//! under a subject's key. It is still sealed, under the organisation's *register key*:
//! a person key that belongs to no user, made on first use and named in `settings`.
//! Texts written in a hurry often name people ("J. Smith's laptop"); sealing keeps
//! them out of plain files and backups like every other personal field, and the key
//! is never destroyed by one subject's erasure. Numbers and times stay plain.

use diesel::prelude::*;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::deadlines::{self, BreachClock};
use super::requests::{Dpo, RequestError, clean_text};
use crate::audit::{self, Action};
use crate::crypto::columns::{
    BreachCategories, BreachConsequences, BreachMeasures, BreachNature, BreachNoReportReason,
    ProcessorNotice,
};
use crate::crypto::{PersonalColumn, Revealed, Sealed};
use crate::db::now_unix;
use crate::db::schema::org::{breaches, processor_notices, settings};
use crate::ids::PersonKeyId;
use crate::tenancy::Org;

/// `settings` row naming the organisation's register key.
pub const REGISTER_KEY_SETTING: &str = "privacy_register_key";
/// Longest processor notice accepted.
pub const NOTICE_MAX: usize = 20_000;

/// The organisation's register key, made on first use. Two first uses at once both
/// make a key; the one written first wins and the other is destroyed unused.
pub fn register_key(org: &Org) -> Result<PersonKeyId, RequestError> {
    let mut conn = org.conn()?;
    let read = |c: &mut SqliteConnection| -> QueryResult<Option<String>> {
        settings::table
            .find(REGISTER_KEY_SETTING)
            .select(settings::value)
            .first(c)
            .optional()
    };
    if let Some(id) = read(&mut conn)?.and_then(|v| v.parse().ok()) {
        return Ok(PersonKeyId(id));
    }
    let fresh = org.keys.create_person_key()?;
    diesel::insert_or_ignore_into(settings::table)
        .values((
            settings::name.eq(REGISTER_KEY_SETTING),
            settings::value.eq(fresh.0.to_string()),
        ))
        .execute(&mut conn)?;
    let id = read(&mut conn)?
        .and_then(|v| v.parse().ok())
        .map(PersonKeyId)
        .unwrap_or(fresh);
    if id != fresh {
        org.keys.destroy(fresh)?;
    }
    Ok(id)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = breaches)]
pub struct BreachRow {
    pub id: i64,
    pub detected_at: i64,
    pub nature: Sealed<BreachNature>,
    pub categories: Sealed<BreachCategories>,
    pub people_approx: i64,
    pub records_approx: i64,
    pub consequences: Sealed<BreachConsequences>,
    pub measures: Sealed<BreachMeasures>,
    pub authority_told_at: Option<i64>,
    pub no_report_reason: Option<Sealed<BreachNoReportReason>>,
    pub people_told_at: Option<i64>,
    pub recorded_by: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl BreachRow {
    /// The authority was told, or a reason for not telling it is recorded.
    pub fn settled(&self) -> bool {
        self.authority_told_at.is_some() || self.no_report_reason.is_some()
    }

    pub fn clock(&self, now: OffsetDateTime) -> BreachClock {
        let detected = OffsetDateTime::from_unix_timestamp(self.detected_at)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        deadlines::breach_clock(detected, self.settled(), now)
    }
}

/// The breach form as typed. Times are UK wall-clock `YYYY-MM-DDTHH:MM` (a
/// `datetime-local` input); empty optional times mean "not yet".
#[derive(Debug, Clone, Default)]
pub struct BreachInput {
    pub detected: String,
    pub nature: String,
    pub categories: String,
    pub people: String,
    pub records: String,
    pub consequences: String,
    pub measures: String,
    pub authority_told: String,
    pub no_report_reason: String,
    pub people_told: String,
}

impl BreachInput {
    /// A field by its form name, for the form template.
    pub fn get(&self, name: &str) -> &str {
        match name {
            "detected" => &self.detected,
            "nature" => &self.nature,
            "categories" => &self.categories,
            "people" => &self.people,
            "records" => &self.records,
            "consequences" => &self.consequences,
            "measures" => &self.measures,
            "authority_told" => &self.authority_told,
            "no_report_reason" => &self.no_report_reason,
            "people_told" => &self.people_told,
            _ => "",
        }
    }
}

const LOCAL: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");

pub fn parse_local(raw: &str) -> Option<OffsetDateTime> {
    let raw = raw.trim();
    // Browsers may add seconds.
    let raw = raw.get(..16).unwrap_or(raw);
    PrimitiveDateTime::parse(raw, LOCAL)
        .ok()
        .map(deadlines::uk_local_to_utc)
}

/// An instant as the form shows it again (UK wall-clock).
pub fn to_local(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .map(|t| {
            let t = t.to_offset(deadlines::uk_offset(t));
            format!("{}T{:02}:{:02}", t.date(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}

/// Checked values, ready to seal.
struct Checked {
    detected: i64,
    texts: [String; 4],
    people: i64,
    records: i64,
    authority_told: Option<i64>,
    no_report: Option<String>,
    people_told: Option<i64>,
}

fn check(input: &BreachInput, now: OffsetDateTime) -> Result<Checked, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let mut time_field = |field: &'static str, raw: &str, required: bool| -> Option<i64> {
        if raw.trim().is_empty() {
            if required {
                errors.push((field, "Give the date and time.".to_owned()));
            }
            return None;
        }
        match parse_local(raw) {
            Some(t) if t <= now + time::Duration::minutes(5) => Some(t.unix_timestamp()),
            Some(_) => {
                errors.push((field, "This time is in the future.".to_owned()));
                None
            }
            None => {
                errors.push((
                    field,
                    "Give a date and time like 2026-11-20T09:30.".to_owned(),
                ));
                None
            }
        }
    };
    let detected = time_field("detected", &input.detected, true);
    let authority_told = time_field("authority_told", &input.authority_told, false);
    let people_told = time_field("people_told", &input.people_told, false);
    let mut text = |field: &'static str, raw: &str, required: bool| -> Option<String> {
        match clean_text(raw) {
            Ok(Some(t)) => Some(t),
            Ok(None) if required => {
                errors.push((field, "This is required.".to_owned()));
                None
            }
            Ok(None) => None,
            Err(m) => {
                errors.push((field, m));
                None
            }
        }
    };
    let nature = text("nature", &input.nature, true);
    let categories = text("categories", &input.categories, true);
    let consequences = text("consequences", &input.consequences, true);
    let measures = text("measures", &input.measures, true);
    let no_report = text("no_report_reason", &input.no_report_reason, false);
    let mut count = |field: &'static str, raw: &str| -> Option<i64> {
        match raw.trim().replace(',', "").parse::<i64>() {
            Ok(n) if (0..=1_000_000_000_000).contains(&n) => Some(n),
            _ => {
                errors.push((
                    field,
                    "Give a whole number (an estimate is fine).".to_owned(),
                ));
                None
            }
        }
    };
    let people = count("people", &input.people);
    let records = count("records", &input.records);
    if let (Some(d), Some(t)) = (detected, authority_told)
        && t < d
    {
        errors.push((
            "authority_told",
            "This is before the breach was detected.".to_owned(),
        ));
    }
    match (
        detected,
        nature,
        categories,
        consequences,
        measures,
        people,
        records,
    ) {
        (Some(detected), Some(n), Some(c), Some(q), Some(m), Some(people), Some(records))
            if errors.is_empty() =>
        {
            Ok(Checked {
                detected,
                texts: [n, c, q, m],
                people,
                records,
                authority_told,
                no_report,
                people_told,
            })
        }
        _ => Err(errors),
    }
}

fn seal<C: PersonalColumn>(
    org: &Org,
    key: PersonKeyId,
    t: &str,
) -> Result<Sealed<C>, RequestError> {
    Ok(org.keys.seal::<C>(key, t)?)
}

/// Records a breach (`id` None) or rewrites one; returns its id.
pub fn save(
    org: &Org,
    dpo: Dpo,
    id: Option<i64>,
    input: &BreachInput,
    now: OffsetDateTime,
) -> Result<i64, RequestError> {
    let actor = dpo.id();
    let c = check(input, now).map_err(RequestError::Fields)?;
    let key = register_key(org)?;
    let [n, cat, q, m] = &c.texts;
    let nature = seal::<BreachNature>(org, key, n)?;
    let categories = seal::<BreachCategories>(org, key, cat)?;
    let consequences = seal::<BreachConsequences>(org, key, q)?;
    let measures = seal::<BreachMeasures>(org, key, m)?;
    let no_report = c
        .no_report
        .as_deref()
        .map(|t| seal::<BreachNoReportReason>(org, key, t))
        .transpose()?;
    let at = now.unix_timestamp();
    org.write(|conn| -> Result<i64, RequestError> {
        let values = (
            breaches::detected_at.eq(c.detected),
            breaches::nature.eq(&nature),
            breaches::categories.eq(&categories),
            breaches::people_approx.eq(c.people),
            breaches::records_approx.eq(c.records),
            breaches::consequences.eq(&consequences),
            breaches::measures.eq(&measures),
            breaches::authority_told_at.eq(c.authority_told),
            breaches::no_report_reason.eq(no_report.as_ref()),
            breaches::people_told_at.eq(c.people_told),
            breaches::updated_at.eq(at),
        );
        let mut detail = String::new();
        let (id, action) = match id {
            Some(id) => {
                let old: Option<Times> = breaches::table
                    .find(id)
                    .select((
                        breaches::detected_at,
                        breaches::authority_told_at,
                        breaches::people_told_at,
                    ))
                    .first(conn)
                    .optional()?;
                let old = old.ok_or(RequestError::NotFound)?;
                detail = moved_times(old, (c.detected, c.authority_told, c.people_told));
                diesel::update(breaches::table.find(id))
                    .set(values)
                    .execute(conn)?;
                (id, Action::BreachUpdated)
            }
            None => {
                let id = diesel::insert_into(breaches::table)
                    .values((
                        values,
                        breaches::recorded_by.eq(actor.0),
                        breaches::created_at.eq(at),
                    ))
                    .returning(breaches::id)
                    .get_result(conn)?;
                (id, Action::BreachRecorded)
            }
        };
        audit::append(
            conn,
            Some(actor),
            None,
            action,
            &format!("breach {id}{detail}"),
        )?;
        Ok(id)
    })
}

/// When the breach was detected, the authority told, the people told.
type Times = (i64, Option<i64>, Option<i64>);

/// The times a rewrite moved, old and new, for the audit entry: the detection time
/// starts the 72-hour clock and the others stop it, so moving one must leave a trace
/// (the texts are the DPO's to correct; times are not personal data).
fn moved_times(old: Times, new: Times) -> String {
    let show = |t: Option<i64>| match t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()) {
        Some(t) => format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute()),
        None => "none".to_owned(),
    };
    let mut out = String::new();
    for (what, was, now) in [
        ("detected", Some(old.0), Some(new.0)),
        ("authority told", old.1, new.1),
        ("people told", old.2, new.2),
    ] {
        if was != now {
            out.push_str(&format!("; {what} {} -> {}", show(was), show(now)));
        }
    }
    out
}

pub fn list(org: &Org) -> Result<Vec<BreachRow>, RequestError> {
    let mut conn = org.conn()?;
    Ok(breaches::table
        .order(breaches::detected_at.desc())
        .select(BreachRow::as_select())
        .load(&mut conn)?)
}

pub fn get(org: &Org, id: i64) -> Result<BreachRow, RequestError> {
    let mut conn = org.conn()?;
    breaches::table
        .find(id)
        .select(BreachRow::as_select())
        .first(&mut conn)
        .optional()?
        .ok_or(RequestError::NotFound)
}

/// The stored breach as the form shows it.
pub fn input_of(org: &Org, b: &BreachRow) -> Result<BreachInput, RequestError> {
    let open = |r: Revealed| r.to_string();
    Ok(BreachInput {
        detected: to_local(b.detected_at),
        nature: open(org.keys.open(&b.nature)?),
        categories: open(org.keys.open(&b.categories)?),
        people: b.people_approx.to_string(),
        records: b.records_approx.to_string(),
        consequences: open(org.keys.open(&b.consequences)?),
        measures: open(org.keys.open(&b.measures)?),
        authority_told: b.authority_told_at.map(to_local).unwrap_or_default(),
        no_report_reason: match &b.no_report_reason {
            Some(s) => open(org.keys.open(s)?),
            None => String::new(),
        },
        people_told: b.people_told_at.map(to_local).unwrap_or_default(),
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = processor_notices)]
pub struct NoticeRow {
    pub id: i64,
    pub received_at: i64,
    pub body: Sealed<ProcessorNotice>,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<i64>,
}

/// Checks a processor notice's text: not empty, not too long.
pub fn check_notice(text: &str) -> Result<String, RequestError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(RequestError::Refused("the notice text is empty".into()));
    }
    if t.chars().count() > NOTICE_MAX {
        return Err(RequestError::Refused(format!(
            "the notice text is longer than {NOTICE_MAX} characters"
        )));
    }
    Ok(t.to_owned())
}

/// Stores a processor's breach notice for the organisation's DPO.
pub fn post_notice(org: &Org, text: &str) -> Result<i64, RequestError> {
    let text = check_notice(text)?;
    let sealed = seal::<ProcessorNotice>(org, register_key(org)?, &text)?;
    org.write(|c| -> Result<i64, RequestError> {
        let id = diesel::insert_into(processor_notices::table)
            .values((
                processor_notices::received_at.eq(now_unix()),
                processor_notices::body.eq(&sealed),
            ))
            .returning(processor_notices::id)
            .get_result(c)?;
        audit::append(
            c,
            None,
            None,
            Action::ProcessorNoticeReceived,
            &format!("notice {id}"),
        )?;
        Ok(id)
    })
}

/// Notices not yet acknowledged, oldest first.
pub fn pending_notices(org: &Org) -> Result<Vec<NoticeRow>, RequestError> {
    let mut conn = org.conn()?;
    Ok(processor_notices::table
        .filter(processor_notices::acknowledged_at.is_null())
        .order(processor_notices::id)
        .select(NoticeRow::as_select())
        .load(&mut conn)?)
}

pub fn acknowledge(org: &Org, dpo: Dpo, id: i64) -> Result<(), RequestError> {
    let actor = dpo.id();
    org.write(|c| -> Result<(), RequestError> {
        let n = diesel::update(
            processor_notices::table
                .find(id)
                .filter(processor_notices::acknowledged_at.is_null()),
        )
        .set((
            processor_notices::acknowledged_at.eq(Some(now_unix())),
            processor_notices::acknowledged_by.eq(Some(actor.0)),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(RequestError::NotFound);
        }
        audit::append(
            c,
            Some(actor),
            None,
            Action::ProcessorNoticeAcknowledged,
            &format!("notice {id}"),
        )?;
        Ok(())
    })
}
