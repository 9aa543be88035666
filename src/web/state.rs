//! What every request can reach: the organisations, sign-in throttling, the limit on
//! concurrent password hashing, the first-run setup token, the turns for uploads and
//! exports, and the web settings.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::client_address::TrustedProxies;
use super::uploads::Turns;
use crate::auth::throttle::Throttle;
use crate::tenancy::Tenants;

#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Sessions end after this long without a request.
    pub session_idle: Duration,
    /// ...and after this long in any case.
    pub session_absolute: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (loopback always).
    pub trusted_proxies: TrustedProxies,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 60 * 60),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

pub struct AppState {
    pub tenants: Tenants,
    pub settings: WebSettings,
    pub throttle: Throttle,
    /// Argon2 takes ~19 MiB and tens of ms per hash: at most one per core at a time,
    /// so a sign-in storm queues instead of starving page requests.
    pub hashing: Semaphore,
    /// Signs and encrypts session cookies; derived from the master key, so it
    /// survives restarts without another secret file.
    pub session_key: [u8; 64],
    /// Signs the CSRF tokens of forms shown before signing in (`form_token`).
    pub form_key: [u8; 32],
    /// Signs the sign-in lanes of browsers people signed in from (`device`).
    pub device_key: [u8; 32],
    /// The one-time first-run setup token, while no organisation exists.
    pub setup_token: Mutex<Option<String>>,
    /// Where backups are written (set by `serve`), e.g. for erasure to rewrite the
    /// key stores in them with `backup::forget_person_key`.
    pub backup_dir: OnceLock<PathBuf>,
    /// Turns for reading multipart bodies (each may hold a 10 MB receipt in memory).
    pub uploads: Turns,
    /// Turns for writing data exports (each holds a blocking thread while it downloads).
    pub exports: Turns,
}

impl AppState {
    pub fn new(tenants: Tenants, settings: WebSettings) -> AppState {
        let a = tenants.registry().derive_key(b"session cookie key 1");
        let b = tenants.registry().derive_key(b"session cookie key 2");
        let mut session_key = [0u8; 64];
        session_key[..32].copy_from_slice(&a);
        session_key[32..].copy_from_slice(&b);
        let form_key = tenants.registry().derive_key(b"form token key 1");
        let device_key = tenants.registry().derive_key(b"device lane key 1");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AppState {
            tenants,
            settings,
            throttle: Throttle::default(),
            hashing: Semaphore::new(cores),
            session_key,
            form_key,
            device_key,
            setup_token: Mutex::new(None),
            backup_dir: OnceLock::new(),
            uploads: Turns::for_uploads(),
            exports: Turns::for_exports(),
        }
    }
}
