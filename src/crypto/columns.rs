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
}

impl BytesColumn for ReceiptFile {}
