//! HTTP: the route table, thin handlers, error pages, headers and the app builder
//! that production and tests share. Handlers parse, authorise, call the domain, render.

pub mod access;
pub mod app;
pub mod charts;
pub mod client_address;
pub mod csrf;
pub mod device;
pub mod errors;
pub mod form_token;
pub mod forms;
pub mod handlers;
pub mod headers;
pub mod layout;
pub mod pages;
pub mod routes;
pub mod session;
pub mod session_store;
pub mod state;
pub mod static_files;
pub mod uploads;

pub use app::build_app;
pub use errors::AppError;
pub use state::{AppState, WebSettings};
