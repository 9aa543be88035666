//! The audit log: one per organisation, append-only (SQL triggers refuse UPDATE and
//! DELETE) and hash-chained, so any edit made behind the application's back breaks
//! `verify`. Entries carry ids and action codes only, never personal data.

mod chain;

use diesel::prelude::*;

pub use chain::{
    GENESIS, VerifyError, append, append_views, hash_of, record, record_views, verify,
};

use crate::db::DbError;
use crate::db::schema::org::audit_log;
use crate::ids::UserId;
use crate::tenancy::Org;

/// What happened. The code is what is stored; it never changes once used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignInFailed,
    SignInThrottled,
    SignOut,
    SignOutEverywhere,
    MfaEnrolled,
    /// An administrator turned off a person's two-step sign-in (a lost device).
    MfaReset,
    MfaFailed,
    RecoveryCodeUsed,
    PasswordChanged,
    /// A wrong current password when changing one's own (detail: the attempt count).
    PasswordChangeFailed,
    /// A wrong password when proving it again before setting up two-step sign-in
    /// (detail: the attempt count).
    PasswordConfirmFailed,
    PasswordResetIssued,
    PasswordReset,
    UserCreated,
    RolesChanged,
    ManagerChanged,
    UserDeactivated,
    UserReactivated,
    PolicyChanged,
    /// Someone looked at another person's personal data.
    ViewedPerson,
    ViewedAuditLog,
    OrganisationSetUp,
    /// A claim moved through its state machine.
    ClaimTransition,
    /// Finance exported claim lines for accounting.
    ExportedAccounts,
    /// A person downloaded their own data (access and portability).
    ExportedOwnData,
    /// The DPO corrected a person's details (which fields only, never values).
    RectifiedPerson,
    RestrictedPerson,
    RestrictionLifted,
    /// A person's key was destroyed: their personal data is unreadable everywhere.
    ErasedPerson,
    /// A person is restricted now and will be erased at the end of retention.
    ErasureScheduled,
    RetentionChanged,
    /// Retention shredded or deleted what was past its period.
    RetentionApplied,
    /// Data-subject requests: logged, changed (identity, status), extended, refused,
    /// completed, noted. The detail names the request id only.
    PrivacyRequestOpened,
    PrivacyRequestUpdated,
    PrivacyRequestExtended,
    PrivacyRequestRefused,
    PrivacyRequestCompleted,
    PrivacyRequestNoted,
    /// The breach register and processor breach notices.
    BreachRecorded,
    BreachUpdated,
    ProcessorNoticeReceived,
    ProcessorNoticeAcknowledged,
    /// A manager named a delegate for their approvals.
    DelegationAdded,
    DelegationRemoved,
    /// The owner started a claim, or added a line to their draft (detail: ids only).
    ClaimCreated,
    ClaimLineAdded,
    /// The owner changed or removed a line of their draft claim.
    ClaimLineChanged,
    ClaimLineRemoved,
    /// The owner discarded a draft claim (detail: its id).
    ClaimDiscarded,
    /// The organisation's data was replaced from a backup (detail: the backup id).
    BackupRestored,
    /// A verified backup of the organisation was written (detail: the backup id).
    BackupTaken,
}

impl Action {
    pub const ALL: [Action; 52] = [
        Action::SignIn,
        Action::SignInFailed,
        Action::SignInThrottled,
        Action::SignOut,
        Action::SignOutEverywhere,
        Action::MfaEnrolled,
        Action::MfaReset,
        Action::MfaFailed,
        Action::RecoveryCodeUsed,
        Action::PasswordChanged,
        Action::PasswordChangeFailed,
        Action::PasswordConfirmFailed,
        Action::PasswordResetIssued,
        Action::PasswordReset,
        Action::UserCreated,
        Action::RolesChanged,
        Action::ManagerChanged,
        Action::UserDeactivated,
        Action::UserReactivated,
        Action::PolicyChanged,
        Action::ViewedPerson,
        Action::ViewedAuditLog,
        Action::OrganisationSetUp,
        Action::ClaimTransition,
        Action::ExportedAccounts,
        Action::ExportedOwnData,
        Action::RectifiedPerson,
        Action::RestrictedPerson,
        Action::RestrictionLifted,
        Action::ErasedPerson,
        Action::ErasureScheduled,
        Action::RetentionChanged,
        Action::RetentionApplied,
        Action::PrivacyRequestOpened,
        Action::PrivacyRequestUpdated,
        Action::PrivacyRequestExtended,
        Action::PrivacyRequestRefused,
        Action::PrivacyRequestCompleted,
        Action::PrivacyRequestNoted,
        Action::BreachRecorded,
        Action::BreachUpdated,
        Action::ProcessorNoticeReceived,
        Action::ProcessorNoticeAcknowledged,
        Action::DelegationAdded,
        Action::DelegationRemoved,
        Action::ClaimCreated,
        Action::ClaimLineAdded,
        Action::ClaimLineChanged,
        Action::ClaimLineRemoved,
        Action::ClaimDiscarded,
        Action::BackupRestored,
        Action::BackupTaken,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Action::SignIn => "sign_in",
            Action::SignInFailed => "sign_in_failed",
            Action::SignInThrottled => "sign_in_throttled",
            Action::SignOut => "sign_out",
            Action::SignOutEverywhere => "sign_out_everywhere",
            Action::MfaEnrolled => "mfa_enrolled",
            Action::MfaReset => "mfa_reset",
            Action::MfaFailed => "mfa_failed",
            Action::RecoveryCodeUsed => "recovery_code_used",
            Action::PasswordChanged => "password_changed",
            Action::PasswordChangeFailed => "password_change_failed",
            Action::PasswordConfirmFailed => "password_confirm_failed",
            Action::PasswordResetIssued => "password_reset_issued",
            Action::PasswordReset => "password_reset",
            Action::UserCreated => "user_created",
            Action::RolesChanged => "roles_changed",
            Action::ManagerChanged => "manager_changed",
            Action::UserDeactivated => "user_deactivated",
            Action::UserReactivated => "user_reactivated",
            Action::PolicyChanged => "policy_changed",
            Action::ViewedPerson => "viewed_person",
            Action::ViewedAuditLog => "viewed_audit_log",
            Action::OrganisationSetUp => "organisation_set_up",
            Action::ClaimTransition => "claim_transition",
            Action::ExportedAccounts => "exported_accounts",
            Action::ExportedOwnData => "exported_own_data",
            Action::RectifiedPerson => "rectified_person",
            Action::RestrictedPerson => "restricted_person",
            Action::RestrictionLifted => "restriction_lifted",
            Action::ErasedPerson => "erased_person",
            Action::ErasureScheduled => "erasure_scheduled",
            Action::RetentionChanged => "retention_changed",
            Action::RetentionApplied => "retention_applied",
            Action::PrivacyRequestOpened => "privacy_request_opened",
            Action::PrivacyRequestUpdated => "privacy_request_updated",
            Action::PrivacyRequestExtended => "privacy_request_extended",
            Action::PrivacyRequestRefused => "privacy_request_refused",
            Action::PrivacyRequestCompleted => "privacy_request_completed",
            Action::PrivacyRequestNoted => "privacy_request_noted",
            Action::BreachRecorded => "breach_recorded",
            Action::BreachUpdated => "breach_updated",
            Action::ProcessorNoticeReceived => "processor_notice_received",
            Action::ProcessorNoticeAcknowledged => "processor_notice_acknowledged",
            Action::DelegationAdded => "delegation_added",
            Action::DelegationRemoved => "delegation_removed",
            Action::ClaimCreated => "claim_created",
            Action::ClaimLineAdded => "claim_line_added",
            Action::ClaimLineChanged => "claim_line_changed",
            Action::ClaimLineRemoved => "claim_line_removed",
            Action::ClaimDiscarded => "claim_discarded",
            Action::BackupRestored => "backup_restored",
            Action::BackupTaken => "backup_taken",
        }
    }

    pub fn from_code(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }

    /// Whether an entry of this action tells of a person's dealings with the DPO: that
    /// they exercised a data-protection right (a request of any kind, a download of
    /// their own data), or that the DPO acted on them (rectification, restriction,
    /// erasure now or scheduled). The privacy register is the DPO's alone, so the
    /// audit viewer shows these to anyone else without the person or the detail.
    /// Retention and the breach register are DPO duties too: their entries name no
    /// one, but their detail (what retention shredded, which breach changed) is the
    /// DPO's business, and hiding it costs other viewers nothing.
    /// `ViewedPerson` is shared with ordinary work (a manager opening a claim) and is
    /// judged by its detail instead: see [`is_privacy_entry`].
    pub fn is_privacy(self) -> bool {
        matches!(
            self,
            Action::ExportedOwnData
                | Action::RectifiedPerson
                | Action::RestrictedPerson
                | Action::RestrictionLifted
                | Action::ErasedPerson
                | Action::ErasureScheduled
                | Action::RetentionChanged
                | Action::RetentionApplied
                | Action::PrivacyRequestOpened
                | Action::PrivacyRequestUpdated
                | Action::PrivacyRequestExtended
                | Action::PrivacyRequestRefused
                | Action::PrivacyRequestCompleted
                | Action::PrivacyRequestNoted
                | Action::BreachRecorded
                | Action::BreachUpdated
                | Action::ProcessorNoticeReceived
                | Action::ProcessorNoticeAcknowledged
        )
    }
}

/// How the DPO's pages begin the detail of the `ViewedPerson` entries they write about
/// one person (their privacy page, a data export for them, one of their requests, the
/// list of requests naming them) or the breach register. Such a view says that the
/// person has dealings with the DPO, so it is a privacy entry; no other page's detail
/// begins this way.
const PRIVACY_VIEW_DETAILS: [&str; 4] = [
    "privacy page",
    "privacy request ",
    "privacy breach",
    "data export",
];

/// Whether an entry is about a person's dealings with the DPO (see [`Action::is_privacy`]).
pub fn is_privacy_entry(action: &str, detail: &str) -> bool {
    match Action::from_code(action) {
        Some(Action::ViewedPerson) => PRIVACY_VIEW_DETAILS.iter().any(|p| detail.starts_with(p)),
        Some(a) => a.is_privacy(),
        None => false,
    }
}

impl AuditRow {
    pub fn is_privacy(&self) -> bool {
        is_privacy_entry(&self.action, &self.detail)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub subject_id: Option<i64>,
    pub action: String,
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Narrows the audit viewer. Times are Unix seconds, inclusive.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<Action>,
    pub person: Option<UserId>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Leave out privacy entries (see [`is_privacy_entry`]): for a viewer who is not a
    /// DPO, so that filtering by a person cannot find theirs.
    pub without_privacy: bool,
}

/// Newest first; `before` is the id to page back from.
pub fn page(
    org: &Org,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, DbError> {
    let mut conn = org.conn()?;
    let mut q = audit_log::table.into_boxed();
    if let Some(action) = filter.action {
        q = q.filter(audit_log::action.eq(action.code()));
    }
    if let Some(person) = filter.person {
        q = q.filter(
            audit_log::actor_id
                .eq(person.0)
                .or(audit_log::subject_id.eq(person.0)),
        );
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_log::at.ge(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(audit_log::at.le(to));
    }
    if let Some(before) = before {
        q = q.filter(audit_log::id.lt(before));
    }
    if filter.without_privacy {
        let codes: Vec<&str> = Action::ALL
            .into_iter()
            .filter(|a| a.is_privacy())
            .map(Action::code)
            .collect();
        q = q.filter(audit_log::action.ne_all(codes));
        for prefix in PRIVACY_VIEW_DETAILS {
            // The prefixes hold no LIKE wildcards; SQLite's LIKE ignores ASCII case,
            // which can only leave out more, never less.
            q = q.filter(
                audit_log::action
                    .ne(Action::ViewedPerson.code())
                    .or(audit_log::detail.not_like(format!("{prefix}%"))),
            );
        }
    }
    Ok(q.order(audit_log::id.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(&mut conn)?)
}
