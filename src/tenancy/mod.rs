//! Organisations: the registry that lists them, and a bounded cache of open
//! organisations, each with its own database pool and key ring. Code reaches an
//! organisation's data only through an [`Org`] handle, which belongs to exactly one.

pub mod job_runs;
pub mod org;
pub mod registry;
pub mod serving;

pub use org::{Org, Tenants};
pub use registry::{OrgRecord, Registry, Usage};

use crate::crypto::CryptoError;
use crate::crypto::master::MasterKeyError;
use crate::db::DbError;
use crate::ids::SlugError;

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error(transparent)]
    Slug(#[from] SlugError),
    #[error("an organisation with the slug {0} already exists")]
    Duplicate(String),
    #[error("there is no organisation {0}")]
    NotFound(String),
    #[error(
        "another ExpensePlus server, or a command that must not run beside one (retention run, keys rotate-master), is running on this data dir"
    )]
    AlreadyServing,
    #[error(
        "an older ExpensePlus server is running on this data dir, and this command would upgrade the organisation's data under it: upgrade and restart the server first (it upgrades the data itself), then run this again"
    )]
    OlderServer,
    #[error(
        "an ExpensePlus server is running on this data dir: stop it first (retention also runs inside the server every day)"
    )]
    Serving,
    #[error("the data dir's server lock could not be used: {0}")]
    Lock(String),
    #[error("an organisation name must be 1 to 100 characters without control characters")]
    BadName,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error("the keys of organisation {slug} could not be used: {source}")]
    Keys { slug: String, source: CryptoError },
    #[error("{0}")]
    DataDir(String),
}

impl From<diesel::result::Error> for TenancyError {
    fn from(e: diesel::result::Error) -> Self {
        TenancyError::Db(e.into())
    }
}
