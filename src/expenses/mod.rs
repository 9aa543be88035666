//! Expense claims: money without floats, the claim state machine and mileage rates.
//! (Claims, lines, receipts and approvals in the database come on top of these.)
//! Nothing here knows about HTTP.

pub mod claims;
pub mod delegation;
pub mod drafts;
pub mod finance;
pub mod line_check;
pub mod line_edit;
pub mod lines;
pub mod lists;
pub mod mileage;
pub mod money;
mod pdf_object_streams;
pub mod policy;
pub mod receipt_allowance;
mod receipt_check;
mod receipt_pdf;
pub mod receipts;
pub mod reports;
pub mod row_ids;
pub mod status;
mod text;
