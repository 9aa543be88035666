//! Thin handlers, one module per area: parse, authorise (the route table already has),
//! call the domain on the blocking pool, render.

pub mod account;
pub mod admin;
pub mod admin_policy;
pub mod approvals;
pub mod audit;
pub mod claim_page;
pub mod claims;
pub mod claims_lines;
pub mod claims_list;
pub mod claims_receipts;
pub mod expense_policy;
pub mod finance;
pub mod home;
pub mod login;
pub mod me;
pub mod privacy;
pub mod privacy_backups;
pub mod privacy_breaches;
pub mod privacy_me;
pub mod privacy_people;
pub mod privacy_request_ops;
pub mod privacy_retention;
pub mod reset;
pub mod setup;
