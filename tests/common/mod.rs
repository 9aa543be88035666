//! Shared test set-up: a temporary data dir with organisations and users, and the
//! production app builder on top of it.
#![allow(dead_code)]

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::ids::{Slug, UserId};
use expenseplus::tenancy::{Org, Registry, Tenants};
use expenseplus::web::{AppState, WebSettings};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub state: actix_web::web::Data<AppState>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(
            &dir.path().join("data"),
            true,
            expenseplus::tenancy::Usage::Server,
        )
        .expect("registry");
        let tenants = Tenants::new(registry, NonZeroUsize::new(8).expect("nonzero"));
        let state = actix_web::web::Data::new(AppState::new(tenants, WebSettings::default()));
        TestEnv { dir, state }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn create_org(&self, slug: &str, name: &str) -> Arc<Org> {
        let slug = Slug::parse(slug).expect("slug");
        let registry = self.state.tenants.registry();
        registry.create_org(&slug, name).expect("create org");
        self.org(slug.as_str())
    }

    pub fn org(&self, slug: &str) -> Arc<Org> {
        self.state
            .tenants
            .by_slug(&Slug::parse(slug).expect("slug"))
            .expect("open org")
            .expect("org exists")
    }

    /// A user whose password is [`PASSWORD`]; hashing is skipped when not needed.
    pub fn create_user(
        &self,
        org: &Org,
        email: &str,
        name: &str,
        roles: &str,
        manager: Option<UserId>,
    ) -> UserId {
        users::create(
            org,
            NewUser {
                email,
                name,
                roles: Roles::parse_list(roles).expect("roles"),
                manager,
                password_hash: Some(password::hash(PASSWORD).expect("hash")),
            },
        )
        .expect("create user")
    }
}

/// Every regular file below `dir`, with its bytes.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A fingerprint of every data file below `dir` (path, length, digest), for "nothing
/// changed". SQLite's `-shm` index and an empty `-wal` hold no data: a process that
/// exits with a pooled connection still open may leave them behind.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, usize, String)> {
    use sha2::{Digest, Sha256};
    all_files(dir)
        .into_iter()
        .filter(|(p, b)| {
            let name = p.to_string_lossy();
            !(name.ends_with("-shm") || (name.ends_with("-wal") && b.is_empty()))
        })
        .map(|(p, b)| (p, b.len(), hex::encode(Sha256::digest(&b))))
        .collect()
}

/// Asserts that no file below `dir` contains `needle` as bytes (nor its UTF-16 form).
pub fn assert_absent(dir: &Path, needle: &str) {
    let utf16: Vec<u8> = needle
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    for (path, bytes) in all_files(dir) {
        for pattern in [needle.as_bytes(), &utf16[..]] {
            assert!(
                !bytes.windows(pattern.len()).any(|w| w == pattern),
                "{needle:?} found in plain text in {}",
                path.display()
            );
        }
    }
}
