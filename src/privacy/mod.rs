//! Data-subject rights and GDPR operations in one organisation: the request register
//! with its deadlines, the access and portability export, the DPO's rectification,
//! restriction, erasure by crypto-shredding, retention, the breach register and
//! processor notices, and the records of processing. Nothing here knows about HTTP;
//! every change writes its audit entry (ids only).

pub mod breaches;
pub mod deadlines;
pub mod erasure;
pub mod export;
mod export_zip;
pub mod records;
pub mod rectify;
pub mod requests;
mod requests_actions;
pub mod restriction;
pub mod retention;
pub mod retention_job;

pub use requests::{Dpo, RequestError, mark_completed, subject_of};

use crate::auth::users::UserError;
use crate::crypto::CryptoError;
use crate::db::DbError;
use crate::expenses::claims::ClaimError;

/// What a person is told when their data is restricted and something tries to use it.
pub const RESTRICTED_MESSAGE: &str = "This person's data is restricted: it cannot be changed, \
     exported to accounting or used until the data protection officer lifts the restriction.";

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("there is no such person")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{RESTRICTED_MESSAGE}")]
    Restricted,
    #[error("this person's data has been erased")]
    Erased,
    #[error("the export could not be written: {0}")]
    Export(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<diesel::result::Error> for PrivacyError {
    fn from(e: diesel::result::Error) -> Self {
        PrivacyError::Db(e.into())
    }
}

impl From<UserError> for PrivacyError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Db(e) => PrivacyError::Db(e),
            UserError::Crypto(e) => PrivacyError::Crypto(e),
            UserError::NotFound => PrivacyError::NotFound,
            e => PrivacyError::Invalid(e.to_string()),
        }
    }
}

impl From<ClaimError> for PrivacyError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Db(e) => PrivacyError::Db(e),
            ClaimError::Crypto(e) => PrivacyError::Crypto(e),
            ClaimError::NotFound | ClaimError::Forbidden => PrivacyError::NotFound,
            ClaimError::Restricted => PrivacyError::Restricted,
            e => PrivacyError::Invalid(e.to_string()),
        }
    }
}

/// `time::Date` as `YYYY-MM-DD` from a Unix time (UTC); `None` if out of range.
pub(crate) fn day_of(at: i64) -> Option<time::Date> {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .map(|t| t.date())
}
