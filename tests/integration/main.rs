//! The integration tests, in one program: each module drives the production app builder
//! (or the real binary) on its own temporary data dir. One program rather than one per
//! file, because each links the whole app: ~45 of them took ~3 GB and ~45 links in CI.
//! Tests that change process-wide state (the logger, diesel's instrumentation) and the
//! browser tests stay programs of their own: `query_plans`, `backup_faults`, `browser*`.
//!
//! Run one module with `cargo test --test integration claims_web::`.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod audit_log;
mod auth;
mod backup;
mod backup_cli;
mod claims_access;
mod claims_bad_input;
mod claims_concurrency;
mod claims_delegation;
mod claims_domain;
mod claims_escaping;
mod claims_forms;
mod claims_input_review;
mod claims_lines;
mod claims_list;
mod claims_money;
mod claims_policy;
mod claims_repeats;
mod claims_web;
mod cli;
mod cli_guards;
mod crash;
mod daily_jobs;
mod dashboard;
mod deadlines;
mod dpo_daily_runs;
mod erasure;
mod erasure_backups;
mod errors;
mod finance;
mod form_tokens;
mod mfa_enrolment;
mod migrations;
mod mileage_repricing;
mod platform;
mod privacy_breaches;
mod privacy_export;
mod privacy_guards;
mod privacy_request_ops;
mod privacy_requests;
mod receipt_allowance;
mod receipts_web;
mod retention;
mod retention_failures;
mod server;
mod sessions_live;
mod setup;
mod uploads;
