//! Identity and access: users, roles and passwords. Nothing here knows about HTTP;
//! the web layer's guards call into it.

pub mod password;
pub mod roles;
pub mod users;

pub use roles::{Role, Roles};
