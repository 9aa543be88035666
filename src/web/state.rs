//! What every request can reach: the organisations and the web settings.

use std::time::Duration;

use crate::tenancy::Tenants;

#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Sessions end after this long without a request.
    pub session_idle: Duration,
    /// ...and after this long in any case.
    pub session_absolute: Duration,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 60 * 60),
        }
    }
}

pub struct AppState {
    pub tenants: Tenants,
    pub settings: WebSettings,
}

impl AppState {
    pub fn new(tenants: Tenants, settings: WebSettings) -> AppState {
        AppState { tenants, settings }
    }
}
