//! The access and portability export (GDPR Art. 15 and 20): one ZIP with `data.json`
//! (machine-readable, its schema in `README.txt` and the report), `report.html`
//! (readable offline, with the Art. 15(1) information) and `receipts/`.
//!
//! It holds the person's own data. Other people appear by their part ("your
//! manager", "finance"), never by name. A comment someone else wrote on the person's
//! own claim (an approval note, a reason for rejecting or returning it) is included
//! with the part its author played in that step: the claim page already shows it to
//! the owner, with the author's name, and it is information about them and their
//! claim. What the owner sees nowhere else stays out: the DPO's working notes on their
//! requests are only counted (the DPO can weigh disclosing them, DPA 2018 Sch. 2
//! para 16).
//! Audit entries about the person are included in full; entries of things the person
//! did to someone else show only that it was "another person", without its detail.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{PrivacyError, restriction};
use crate::audit::AuditRow;
use crate::auth::users::{self, UserRow};
use crate::auth::{Role, Roles};
use crate::db::schema::org::{audit_log, claim_events, claims as claims_t, users as users_t};
use crate::expenses::claims::{self, ClaimFields, ClaimRow, EventRow};
use crate::expenses::money::{Currency, format_minor};
use crate::expenses::receipts;
use crate::expenses::status::Status;
use crate::ids::UserId;
use crate::tenancy::Org;

pub use super::export_zip::{Prepared, prepare, subject_zip};

/// The `schema` value of `data.json`; bumped when a field changes meaning.
pub const SCHEMA_ID: &str = "expenseplus-subject-export/1";

/// The schema of `data.json`, in `README.txt` and in the report.
pub const SCHEMA_DOC: &str = include_str!("export_schema.txt");

#[derive(Debug, Serialize)]
pub struct SubjectData {
    pub schema: &'static str,
    pub generated_at: String,
    pub organisation: String,
    pub person: Person,
    pub claims: Vec<Claim>,
    pub actions_on_other_claims: Vec<OtherAction>,
    /// The person's own data-subject requests and what became of them.
    pub privacy_requests: Vec<RequestItem>,
    /// Approvals the person handed to someone else, or was handed, for a range of days.
    pub delegations: Vec<DelegationItem>,
    pub audit: Vec<AuditItem>,
}

#[derive(Debug, Serialize)]
pub struct DelegationItem {
    /// "given" (your approvals, to someone else) or "received".
    pub direction: &'static str,
    pub starts_on: String,
    pub ends_on: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct RequestItem {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub received_on: String,
    pub identity_requested_on: Option<String>,
    pub identity_verified_on: Option<String>,
    pub identity_checked_by: Option<String>,
    pub extension_reason: Option<String>,
    pub refusal_reason: Option<String>,
    pub closed_on: Option<String>,
    /// Notes the person wrote on the request themselves.
    pub your_notes: Vec<String>,
    /// Notes the data protection officer wrote on it, less those withheld.
    pub dpo_notes: Vec<NoteOut>,
    /// How many of the officer's notes were withheld (they name someone else, or an
    /// exemption applies).
    pub notes_withheld: usize,
}

#[derive(Debug, Serialize)]
pub struct NoteOut {
    pub at: String,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub manager_id: Option<i64>,
    pub active: bool,
    pub mfa_enrolled: bool,
    pub restricted: bool,
    pub restriction_reason: Option<String>,
    /// The day a scheduled erasure runs, if one is scheduled.
    pub erasure_scheduled_for: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct Claim {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub currency: String,
    pub total: String,
    pub total_minor: i64,
    pub created_at: String,
    pub submitted_at: Option<String>,
    pub decided_at: Option<String>,
    pub paid_at: Option<String>,
    pub lines: Vec<Line>,
    pub receipts: Vec<Receipt>,
    pub history: Vec<Event>,
}

#[derive(Debug, Serialize)]
pub struct Line {
    pub id: i64,
    pub date: String,
    pub category: String,
    pub merchant: String,
    pub description: String,
    pub amount: String,
    pub amount_minor: i64,
    pub currency: String,
    pub rate: String,
    pub amount_in_claim_currency: String,
    pub base_minor: i64,
    pub vat: Option<String>,
    pub vat_minor: Option<i64>,
    pub miles_tenths: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Receipt {
    pub id: i64,
    pub line_id: Option<i64>,
    pub content_type: String,
    pub size: i64,
    /// Path inside the ZIP, or `None` if the file was erased.
    pub file: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Event {
    pub at: String,
    pub by: String,
    pub from: String,
    pub to: String,
    /// The comment written at this step, by whoever took it (`by`).
    pub comment: Option<String>,
    /// Always false since comments by others on the person's claims are included; kept
    /// so that readers of `expenseplus-subject-export/1` keep working.
    pub comment_withheld: bool,
}

#[derive(Debug, Serialize)]
pub struct OtherAction {
    pub claim_id: i64,
    pub at: String,
    pub from: String,
    pub to: String,
    /// Their own comment; none on a decision their delegate took (the delegate's words).
    pub comment: Option<String>,
    /// Taken in their name by someone they handed their approvals to.
    pub by_delegate: bool,
}

#[derive(Debug, Serialize)]
pub struct AuditItem {
    pub id: i64,
    pub at: String,
    pub action: String,
    pub by: String,
    pub about: String,
    pub detail: String,
}

fn stamp(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

fn status_text(code: &str) -> String {
    Status::parse(code).map_or_else(|| code.to_owned(), |s| s.to_string())
}

/// Who took a step of the subject's own claim, by the part they played in that step
/// (the state machine says who moves a claim out of each status), not by whatever
/// else they are in the organisation.
fn step_part(e: &EventRow, subject: &UserRow, roles: &HashMap<i64, Roles>) -> String {
    if e.actor_id == subject.id {
        return "you".into();
    }
    match Status::parse(&e.from_status) {
        Some(Status::Submitted) if Some(e.actor_id) == subject.manager_id => "your manager".into(),
        Some(Status::Submitted) => "an approver".into(),
        Some(Status::AwaitingFinance | Status::Approved) => "finance".into(),
        _ => part(Some(e.actor_id), subject, roles),
    }
}

/// Who did something to the subject's data, by their part only.
fn part(actor: Option<i64>, subject: &UserRow, roles: &HashMap<i64, Roles>) -> String {
    let Some(actor) = actor else {
        return "the system".into();
    };
    if actor == subject.id {
        return "you".into();
    }
    if Some(actor) == subject.manager_id {
        return "your manager".into();
    }
    let r = roles.get(&actor).copied().unwrap_or_default();
    if r.contains(Role::Finance) {
        "finance".into()
    } else if r.contains(Role::Dpo) {
        "the data protection officer".into()
    } else if r.contains(Role::Admin) {
        "an administrator".into()
    } else if r.contains(Role::Manager) {
        "an approver".into()
    } else {
        "another person".into()
    }
}

fn claim_of(
    org: &Org,
    c: &ClaimRow,
    subject: &UserRow,
    roles: &HashMap<i64, Roles>,
    files: &mut Files,
    key_alive: bool,
) -> Result<Claim, PrivacyError> {
    let currency = c.currency();
    let mut lines = Vec::new();
    for l in claims::lines(org, c.id)? {
        let lc = Currency::parse(&l.currency).unwrap_or(currency);
        lines.push(Line {
            id: l.id,
            date: l.spent_on.clone(),
            category: l.category.clone(),
            merchant: org.keys.open(&l.merchant)?.to_string(),
            description: org.keys.open(&l.description)?.to_string(),
            amount: format_minor(l.amount_minor, lc),
            amount_minor: l.amount_minor,
            currency: l.currency.clone(),
            rate: crate::expenses::money::format_rate(l.rate_e12),
            amount_in_claim_currency: format_minor(l.base_minor, currency),
            base_minor: l.base_minor,
            vat: l.vat_minor.map(|v| format_minor(v, lc)),
            vat_minor: l.vat_minor,
            miles_tenths: l.miles_tenths,
        });
    }
    let mut receipts_out = Vec::new();
    for meta in receipts::for_claim(org, c.id)? {
        let ext = meta.kind().map_or("bin", |k| k.extension());
        // Sealed under the person's key: readable while it lives, and only opened
        // when the ZIP is written.
        let file = key_alive.then(|| {
            let name = format!("receipts/claim-{}-receipt-{}.{ext}", c.id, meta.id);
            files.push((name.clone(), meta.id));
            name
        });
        receipts_out.push(Receipt {
            id: meta.id,
            line_id: meta.line_id,
            content_type: meta.content_type.clone(),
            size: meta.size,
            file,
        });
    }
    let mut history = Vec::new();
    for e in claims::history(org, c.id)? {
        // Whoever wrote it: the owner sees every comment on their claim on its page.
        let comment = match &e.comment {
            Some(sealed) => Some(org.keys.open(sealed)?.to_string()),
            None => None,
        };
        history.push(Event {
            at: stamp(e.at),
            by: step_part(&e, subject, roles),
            from: status_text(&e.from_status),
            to: status_text(&e.to_status),
            comment_withheld: false,
            comment,
        });
    }
    Ok(Claim {
        id: c.id,
        title: claims::title(org, c)?.to_string(),
        status: c.status().to_string(),
        currency: c.currency.clone(),
        total: format_minor(c.total_minor, currency),
        total_minor: c.total_minor,
        created_at: stamp(c.created_at),
        submitted_at: c.submitted_at.map(stamp),
        decided_at: c.decided_at.map(stamp),
        paid_at: c.paid_at.map(stamp),
        lines,
        receipts: receipts_out,
        history,
    })
}

/// Receipt files of the export beside the data: (path inside the ZIP, receipt id).
pub type Files = Vec<(String, i64)>;

/// Everything the export holds: the data and the receipt files.
pub fn collect(org: &Org, subject: UserId) -> Result<(SubjectData, Files), PrivacyError> {
    let row = users::get(org, subject)?.ok_or(PrivacyError::NotFound)?;
    let mut conn = org.conn()?;
    let roles: HashMap<i64, Roles> = users_t::table
        .select((users_t::id, users_t::roles))
        .load::<(i64, String)>(&mut conn)?
        .into_iter()
        .map(|(id, r)| (id, Roles::parse_list(&r).unwrap_or_default()))
        .collect();
    let own_claims: Vec<ClaimRow> = claims_t::table
        .filter(claims_t::owner_id.eq(subject.0))
        .order(claims_t::id)
        .select(ClaimRow::as_select())
        .load(&mut conn)?;
    let others: Vec<EventRow> = claim_events::table
        .inner_join(claims_t::table)
        .filter(
            claim_events::actor_id
                .eq(subject.0)
                .or(claim_events::on_behalf_of.eq(subject.0)),
        )
        .filter(claims_t::owner_id.ne(subject.0))
        .order(claim_events::id)
        .select(EventRow::as_select())
        .load(&mut conn)?;
    let audit_rows: Vec<AuditRow> = audit_log::table
        .filter(
            audit_log::actor_id
                .eq(subject.0)
                .or(audit_log::subject_id.eq(subject.0)),
        )
        .order(audit_log::id)
        .select(AuditRow::as_select())
        .load(&mut conn)?;
    drop(conn);

    let mut files = Vec::new();
    let mut claims_out = Vec::new();
    let key_alive = org.keys.is_alive(row.person_key())?;
    for c in &own_claims {
        claims_out.push(claim_of(org, c, &row, &roles, &mut files, key_alive)?);
    }
    let mut actions = Vec::new();
    for e in others {
        let by_delegate = e.actor_id != subject.0;
        let comment = match &e.comment {
            Some(sealed) if !by_delegate => Some(org.keys.open(sealed)?.to_string()),
            _ => None,
        };
        actions.push(OtherAction {
            claim_id: e.claim_id,
            at: stamp(e.at),
            from: status_text(&e.from_status),
            to: status_text(&e.to_status),
            comment,
            by_delegate,
        });
    }
    let audit = audit_rows
        .into_iter()
        .map(|a| {
            let about_them = a.subject_id == Some(subject.0);
            AuditItem {
                id: a.id,
                at: stamp(a.at),
                action: a.action.replace('_', " "),
                by: part(a.actor_id, &row, &roles),
                about: match a.subject_id {
                    Some(s) if s == subject.0 => "you".into(),
                    Some(_) => "another person".into(),
                    None => "nobody in particular".into(),
                },
                detail: if about_them || a.subject_id.is_none() {
                    a.detail
                } else {
                    String::new()
                },
            }
        })
        .collect();
    let mut privacy_requests = Vec::new();
    let requests = super::requests::list_for_subject(org, subject)
        .map_err(|e| PrivacyError::Export(e.to_string()))?;
    for r in requests {
        let notes = super::requests::notes_of(org, r.id)
            .map_err(|e| PrivacyError::Export(e.to_string()))?;
        // Their own notes, and the DPO's unless the DPO withheld them (each such note
        // counted, so the person knows something was kept back).
        let (shown, withheld): (Vec<_>, Vec<_>) = notes
            .into_iter()
            .partition(|n| n.author_id == subject.0 || !n.withheld);
        let mut your_notes = Vec::new();
        let mut dpo_notes = Vec::new();
        for n in shown {
            let text = org.keys.open(&n.body)?.to_string();
            if n.author_id == subject.0 {
                your_notes.push(text);
            } else {
                dpo_notes.push(NoteOut {
                    at: stamp(n.at),
                    text,
                });
            }
        }
        privacy_requests.push(RequestItem {
            id: r.id,
            kind: r.kind().code().to_owned(),
            status: r.status().label().to_owned(),
            received_on: r.received_on.clone(),
            identity_requested_on: r.identity_requested_on.clone(),
            identity_verified_on: r.identity_verified_on.clone(),
            identity_checked_by: open_opt(org, &r.identity_method)?,
            extension_reason: open_opt(org, &r.extension_reason)?,
            refusal_reason: open_opt(org, &r.refusal_reason)?,
            closed_on: r.closed_on.clone(),
            your_notes,
            dpo_notes,
            notes_withheld: withheld.len(),
        });
    }
    let delegations = delegations_of(org, subject)?;
    let flags = restriction::flags(org, subject)?;
    let data = SubjectData {
        schema: SCHEMA_ID,
        generated_at: stamp(crate::db::now_unix()),
        organisation: org.name.clone(),
        person: Person {
            id: row.id,
            name: org.keys.open(&row.name)?.to_string(),
            email: org.keys.open(&row.email)?.to_string(),
            roles: row.roles().iter().map(|r| r.as_str().to_owned()).collect(),
            manager_id: row.manager_id,
            active: row.active,
            mfa_enrolled: row.mfa_enabled,
            restricted: flags.restricted(),
            restriction_reason: open_opt(org, &flags.restriction_reason)?,
            erasure_scheduled_for: flags.erase_due.clone(),
            created_at: stamp(row.created_at),
        },
        claims: claims_out,
        actions_on_other_claims: actions,
        privacy_requests,
        delegations,
        audit,
    };
    Ok((data, files))
}

/// Delegations the person gave or received; the other side is not named.
fn delegations_of(org: &Org, subject: UserId) -> Result<Vec<DelegationItem>, PrivacyError> {
    use crate::db::schema::org::delegations as d;
    let mut conn = org.conn()?;
    let rows: Vec<(i64, String, String, i64)> = d::table
        .filter(
            d::delegator_id
                .eq(subject.0)
                .or(d::delegate_id.eq(subject.0)),
        )
        .order(d::id)
        .select((d::delegator_id, d::starts_on, d::ends_on, d::created_at))
        .load(&mut conn)?;
    Ok(rows
        .into_iter()
        .map(|(from, starts_on, ends_on, at)| DelegationItem {
            direction: if from == subject.0 {
                "given"
            } else {
                "received"
            },
            starts_on,
            ends_on,
            created_at: stamp(at),
        })
        .collect())
}

/// An optional sealed text, opened ("erased" if its key is gone).
fn open_opt<C: crate::crypto::PersonalColumn>(
    org: &Org,
    sealed: &Option<crate::crypto::Sealed<C>>,
) -> Result<Option<String>, PrivacyError> {
    Ok(match sealed {
        Some(s) => Some(org.keys.open(s)?.to_string()),
        None => None,
    })
}
