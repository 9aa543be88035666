//! ExpensePlus: self-hosted expense claims. `web::build_app` builds the application
//! exactly as `expenseplus serve` runs it, so tests drive production code.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod expenses;
pub mod ids;
pub mod jobs;
pub mod privacy;
pub mod server;
pub mod tenancy;
pub mod web;
