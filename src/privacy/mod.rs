//! Data-subject rights and GDPR operations: the request register with its deadlines,
//! the breach register and processor notices, and the records of processing. Domain
//! code only: nothing here knows about HTTP.

pub mod breaches;
pub mod deadlines;
pub mod records;
pub mod requests;
mod requests_actions;

pub use requests::{Dpo, PrivacyError, mark_completed, subject_of};
