//! `expenseplus serve`: TLS set-up (a self-signed certificate on first start unless one
//! is given) and the HTTP server. SIGTERM and SIGINT stop accepting, let in-flight
//! requests finish (up to `SHUTDOWN_GRACE`), then exit.

use std::fs;
use std::io::Write;
use std::num::NonZeroUsize;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use actix_web::{HttpServer, web};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

use crate::config::ServeArgs;
use crate::tenancy::{Registry, Tenants, Usage, registry::ensure_dir};
use crate::web::{AppState, WebSettings, build_app};

pub const SHUTDOWN_GRACE_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0} is not an address to listen on (expected e.g. 127.0.0.1:8443)")]
    BadBind(String),
    #[error("could not listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("the TLS certificate or key could not be used: {0}")]
    Tls(String),
    #[error("--max-open-orgs must be at least 1")]
    BadCacheSize,
    #[error(transparent)]
    Tenancy(#[from] crate::tenancy::TenancyError),
    #[error("the server stopped with an error: {0}")]
    Run(String),
    #[error("the first-run setup link could not be made: {0}")]
    SetupToken(String),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error("the daily job thread could not be started: {0}")]
    Jobs(String),
}

fn tls_err(e: impl std::fmt::Display) -> ServeError {
    ServeError::Tls(e.to_string())
}

/// Where the generated certificate and key live.
fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServeError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(tls_err)?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(tls_err)
}

/// A P-256 certificate for localhost, valid for a year, made once and reused.
fn ensure_self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf), ServeError> {
    let (cert_path, key_path) = self_signed_paths(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    ensure_dir(&data_dir.join("tls"))?;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(tls_err)?;
    let key = PKey::from_ec_key(EcKey::generate(&group).map_err(tls_err)?).map_err(tls_err)?;
    let mut name = X509NameBuilder::new().map_err(tls_err)?;
    name.append_entry_by_text("CN", "localhost")
        .map_err(tls_err)?;
    name.append_entry_by_text("O", "ExpensePlus self-signed")
        .map_err(tls_err)?;
    let name = name.build();
    let mut serial = BigNum::new().map_err(tls_err)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(tls_err)?;
    let mut b = X509::builder().map_err(tls_err)?;
    b.set_version(2).map_err(tls_err)?;
    let serial = serial.to_asn1_integer().map_err(tls_err)?;
    b.set_serial_number(&serial).map_err(tls_err)?;
    b.set_subject_name(&name).map_err(tls_err)?;
    b.set_issuer_name(&name).map_err(tls_err)?;
    b.set_pubkey(&key).map_err(tls_err)?;
    let not_before = Asn1Time::days_from_now(0).map_err(tls_err)?;
    let not_after = Asn1Time::days_from_now(365).map_err(tls_err)?;
    b.set_not_before(&not_before).map_err(tls_err)?;
    b.set_not_after(&not_after).map_err(tls_err)?;
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .ip("::1")
        .build(&b.x509v3_context(None, None))
        .map_err(tls_err)?;
    b.append_extension(san).map_err(tls_err)?;
    b.append_extension(
        BasicConstraints::new()
            .critical()
            .build()
            .map_err(tls_err)?,
    )
    .map_err(tls_err)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .map_err(tls_err)?,
    )
    .map_err(tls_err)?;
    b.append_extension(
        ExtendedKeyUsage::new()
            .server_auth()
            .build()
            .map_err(tls_err)?,
    )
    .map_err(tls_err)?;
    b.sign(&key, MessageDigest::sha256()).map_err(tls_err)?;
    let cert = b.build();
    write_private(&key_path, &key.private_key_to_pem_pkcs8().map_err(tls_err)?)?;
    write_private(&cert_path, &cert.to_pem().map_err(tls_err)?)?;
    Ok((cert_path, key_path))
}

pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<SslAcceptorBuilder, ServeError> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(tls_err)?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", key.display())))?;
    builder
        .set_certificate_chain_file(cert)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?;
    builder.check_private_key().map_err(tls_err)?;
    Ok(builder)
}

/// The jobs `serve` runs once a day. To add one, push a `DailyJob` whose closure
/// captures what it needs (e.g. a clone of `state`) and returns a one-line summary.
pub fn daily_jobs(state: &web::Data<AppState>, args: &ServeArgs) -> Vec<crate::jobs::DailyJob> {
    let backup = crate::backup::BackupSettings {
        root: args.backup_dir.clone(),
        retention: args.keep.retention(),
    };
    let backup_state = state.clone();
    let (retention_state, backup_root) = (state.clone(), args.backup_dir.clone());
    vec![
        // Retention first, so the backup after it already lacks what it shredded.
        crate::jobs::DailyJob::new("retention", args.backup_at, move || {
            let today = crate::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
            crate::privacy::retention_job::daily_run(&retention_state.tenants, &backup_root, today)
        }),
        crate::jobs::DailyJob::new("backup", args.backup_at, move || {
            crate::backup::take::daily_run(&backup_state.tenants, &backup)
        }),
    ]
}

/// Opens the data dir, builds the app and serves until a shutdown signal.
pub fn serve(data_dir: &Path, args: &ServeArgs) -> Result<(), ServeError> {
    let addr: std::net::SocketAddr = args
        .bind
        .parse()
        .map_err(|_| ServeError::BadBind(args.bind.clone()))?;
    let capacity = NonZeroUsize::new(args.max_open_orgs).ok_or(ServeError::BadCacheSize)?;
    crate::backup::check_location(data_dir, &args.backup_dir)?;
    let registry = Registry::open(data_dir, true, Usage::Server)?;
    let _serving = crate::tenancy::serving::claim(data_dir)?;
    // A key rotation refuses to start once the lock is held; one that ran between the
    // opening and the lock would leave this server with the old key.
    registry.ensure_current()?;
    // Copies left by a restore killed before this start hold an organisation's data
    // outside the files erasure scrubs.
    for record in registry.list()? {
        let dir = registry.org_dir(&record.slug);
        crate::backup::restore::remove_abandoned_staging(&dir, &record.slug);
    }
    let tls = if args.plain_http {
        None
    } else {
        let (cert, key) = match (&args.tls_cert, &args.tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => ensure_self_signed(data_dir)?,
        };
        Some(tls_acceptor(&cert, &key)?)
    };
    // First run: a one-time link to create the first organisation.
    let setup_token = if registry.is_empty()? {
        let bytes = crate::crypto::random_array::<32>()
            .map_err(|e| ServeError::SetupToken(e.to_string()))?;
        Some(hex::encode(bytes))
    } else {
        None
    };
    let trusted = crate::web::client_address::TrustedProxies::new(
        args.trusted_proxies.clone(),
        args.plain_http,
    );
    for net in trusted.wide() {
        log::warn!(
            "--trusted-proxy {net} is a wide network: a client inside it can give any address \
             to the sign-in throttle; name the proxies' own addresses instead"
        );
    }
    let state = web::Data::new(AppState::new(
        Tenants::new(registry, capacity),
        WebSettings {
            session_idle: std::time::Duration::from_secs(args.session_idle_minutes * 60),
            session_absolute: std::time::Duration::from_secs(args.session_hours * 3600),
            trusted_proxies: trusted,
        },
    ));
    *state.setup_token.lock().unwrap_or_else(|p| p.into_inner()) = setup_token.clone();
    let _ = state.backup_dir.set(args.backup_dir.clone());
    // Stops when `serve` returns; a job still running is cut off with the process, and
    // a backup cut off leaves only a temp directory that the next run removes.
    let runs = crate::tenancy::job_runs::JobRuns(state.tenants.registry().pool().clone());
    let _jobs = crate::jobs::start(daily_jobs(&state, args), runs)
        .map_err(|e| ServeError::Jobs(e.to_string()))?;
    actix_web::rt::System::new().block_on(async move {
        let app_state = state.clone();
        let mut server = HttpServer::new(move || build_app(app_state.clone()))
            .shutdown_timeout(SHUTDOWN_GRACE_SECS);
        if let Some(n) = args.workers {
            server = server.workers(n.max(1));
        }
        let listen_err = |e: std::io::Error| ServeError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        };
        let (server, scheme) = match tls {
            Some(acceptor) => (server.bind_openssl(addr, acceptor).map_err(listen_err)?, "https"),
            None => {
                log::warn!("serving plain HTTP: only do this behind a TLS-terminating proxy");
                eprintln!(
                    "warning: serving plain HTTP without TLS; use this only behind a TLS-terminating proxy"
                );
                (server.bind(addr).map_err(listen_err)?, "http")
            }
        };
        let bound = server.addrs().first().copied().unwrap_or(addr);
        println!("ExpensePlus is serving at {scheme}://{bound}/");
        if let Some(token) = &setup_token {
            println!("First-run setup: {scheme}://{bound}/setup/{token}");
        }
        server
            .run()
            .await
            .map_err(|e| ServeError::Run(e.to_string()))
    })
}
