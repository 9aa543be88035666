//! Every column that holds personal data, with the label bound into its ciphertext.
//! Adding a personal column means adding a marker here; labels never change once used.

use super::{BytesColumn, PersonalColumn};

macro_rules! personal_columns {
    ($($(#[$doc:meta])* $name:ident => $label:literal,)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl PersonalColumn for $name {
                const LABEL: &'static str = $label;
            }
        )*
    };
}

personal_columns! {
    UserName => "users.name",
    UserEmail => "users.email",
    /// TOTP secrets are personal authentication data: sealed, not merely hidden.
    UserTotpSecret => "users.totp_secret",
    /// A TOTP secret offered at enrolment, not yet confirmed: it lives in the one
    /// session that asked for it, never in a column; its own label keeps it out of one.
    PendingTotpSecret => "sessions.pending_totp_secret",
    /// New recovery codes waiting in the enrolling session to be shown once.
    PendingRecoveryCodes => "sessions.recovery_codes",
    /// A password reset link waiting in the administrator's session to be shown once,
    /// sealed under the key of the person it resets.
    PendingResetLink => "sessions.reset_link",
    ClaimTitle => "claims.title",
    LineMerchant => "claim_lines.merchant",
    LineDescription => "claim_lines.description",
    /// Sealed under the key of the person who wrote it.
    EventComment => "claim_events.comment",
    /// A receipt file (an image re-encoded without metadata, or a PDF), sealed under
    /// the claim owner's key. Bytes, not text: see [`BytesColumn`].
    ReceiptFile => "receipts.data",
    /// Why a person's data is restricted: about them, so sealed under their key.
    RestrictionReason => "privacy_flags.restriction_reason",
    /// Data-subject request texts, sealed under the SUBJECT's key (erased with them).
    RequestIdentityMethod => "privacy_requests.identity_method",
    RequestExtensionReason => "privacy_requests.extension_reason",
    RequestRefusalReason => "privacy_requests.refusal_reason",
    RequestNote => "privacy_request_notes.body",
    /// Breach register texts, sealed under the organisation's register key.
    BreachNature => "breaches.nature",
    BreachCategories => "breaches.categories",
    BreachConsequences => "breaches.consequences",
    BreachMeasures => "breaches.measures",
    BreachNoReportReason => "breaches.no_report_reason",
    ProcessorNotice => "processor_notices.body",
}

impl BytesColumn for ReceiptFile {}
