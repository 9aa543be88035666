//! Identity and access: users, roles, passwords, MFA, sign-in throttling and account
//! changes. Nothing here knows about HTTP; the web layer's guards call into it.

pub mod account;
pub mod login;
pub mod mfa;
pub mod mfa_enrolment;
pub mod mfa_reset;
pub mod password;
pub mod policy;
pub mod roles;
pub mod session_sealed;
pub mod throttle;
pub mod users;

pub use roles::{Role, Roles};
