//! Platform: organisations are segregated, personal data is encrypted at rest, and
//! crypto-shredding turns a person's data into "erased".

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{TestEnv, all_files, assert_absent};
use diesel::prelude::*;
use expenseplus::auth::users;
use expenseplus::crypto::Revealed;
use expenseplus::crypto::columns::{UserEmail, UserName};

#[test]
fn no_plaintext_personal_data_in_any_file() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    let globex = env.create_org("globex", "Globex plc");
    let secrets = [
        ("ada.lovelace@acme.example", "Ada Lovelace-Unique"),
        ("grace.hopper@acme.example", "Grace Hopper-Unique"),
        ("hedy.lamarr@globex.example", "Hedy Lamarr-Unique"),
    ];
    env.create_user(&acme, secrets[0].0, secrets[0].1, "employee", None);
    env.create_user(&acme, secrets[1].0, secrets[1].1, "manager", None);
    env.create_user(&globex, secrets[2].0, secrets[2].1, "employee", None);

    // The values read back through the type...
    let listed = users::list(&acme).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name.as_str(), Some(secrets[0].1));
    assert_eq!(listed[1].email.as_str(), Some(secrets[1].0));

    // ...while every byte of every file (databases, -wal, -shm, key stores) lacks them,
    // with the pools still open so the write-ahead logs hold the latest pages.
    let files = all_files(&env.data_dir());
    assert!(files.iter().any(|(p, _)| p.ends_with("org.sqlite-wal")));
    assert!(files.iter().any(|(p, _)| p.ends_with("keys.sqlite")));
    // Positive control: the scan does see plain bytes that are there.
    assert!(
        files
            .iter()
            .any(|(_, b)| b.windows(15).any(|w| w == b"SQLite format 3"))
    );
    for (email, name) in secrets {
        assert_absent(&env.data_dir(), email);
        assert_absent(&env.data_dir(), name);
        assert_absent(&env.data_dir(), email.split('@').next().unwrap());
    }
}

#[test]
fn organisations_are_segregated() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    let globex = env.create_org("globex", "Globex plc");
    env.create_user(&acme, "ada@acme.example", "Ada", "employee", None);
    env.create_user(&globex, "hedy@globex.example", "Hedy", "employee", None);

    // Separate database files.
    let dir = env.data_dir().join("orgs");
    assert!(dir.join("acme/org.sqlite").exists() && dir.join("globex/org.sqlite").exists());

    // A look-up in one organisation never finds the other's people...
    assert!(
        users::find_by_email(&acme, "hedy@globex.example")
            .unwrap()
            .is_none()
    );
    assert!(
        users::find_by_email(&acme, "ada@acme.example")
            .unwrap()
            .is_some()
    );
    // ...and blind indexes differ for the same email.
    assert_ne!(
        acme.keys
            .blind_index(users::EMAIL_INDEX, "same@example.com"),
        globex
            .keys
            .blind_index(users::EMAIL_INDEX, "same@example.com")
    );

    // A value sealed in one organisation does not open with the other's keys.
    let hedy = users::find_by_email(&globex, "hedy@globex.example")
        .unwrap()
        .unwrap();
    assert!(matches!(
        acme.keys.open(&hedy.name),
        Err(expenseplus::crypto::CryptoError::UnknownKey)
    ));
    assert_eq!(
        globex.keys.open(&hedy.name).unwrap(),
        Revealed::Value("Hedy".into())
    );
}

#[test]
fn sealed_values_are_bound_to_their_column() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    env.create_user(&acme, "ada@acme.example", "Ada", "employee", None);
    let row = users::find_by_email(&acme, "ada@acme.example")
        .unwrap()
        .unwrap();
    // Copy the email ciphertext into the name column, in SQL.
    let mut conn = acme.conn().unwrap();
    diesel::sql_query("UPDATE users SET name = email")
        .execute(&mut conn)
        .unwrap();
    let row2 = users::get(&acme, row.user_id()).unwrap().unwrap();
    assert!(acme.keys.open::<UserName>(&row2.name).is_err());
    assert_eq!(
        acme.keys.open::<UserEmail>(&row2.email).unwrap().as_str(),
        Some("ada@acme.example")
    );
}

#[test]
fn destroying_a_key_erases_the_person_only() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    env.create_user(&acme, "ada@acme.example", "Ada", "employee", None);
    env.create_user(&acme, "bob@acme.example", "Bob", "employee", None);
    let ada = users::find_by_email(&acme, "ada@acme.example")
        .unwrap()
        .unwrap();
    acme.keys.destroy(ada.person_key()).unwrap();

    let ada = users::get(&acme, ada.user_id()).unwrap().unwrap();
    assert_eq!(acme.keys.open(&ada.name).unwrap(), Revealed::Erased);
    assert_eq!(acme.keys.open(&ada.name).unwrap().to_string(), "erased");
    assert!(!acme.keys.is_alive(ada.person_key()).unwrap());
    let bob = users::find_by_email(&acme, "bob@acme.example")
        .unwrap()
        .unwrap();
    assert_eq!(acme.keys.open(&bob.name).unwrap().as_str(), Some("Bob"));

    // A fresh key ring (as after a restart) also sees the key as gone, and the key
    // store file no longer holds the wrapped key bytes.
    env.state.tenants.evict(acme.id);
    let reopened = env.org("acme");
    assert_eq!(reopened.keys.open(&ada.name).unwrap(), Revealed::Erased);
}

#[test]
fn master_key_rotation_keeps_data_readable() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    env.create_user(&acme, "ada@acme.example", "Ada", "employee", None);
    let before = std::fs::read(env.data_dir().join("master.key")).unwrap();
    let org_db = std::fs::read(env.data_dir().join("orgs/acme/org.sqlite")).unwrap();
    drop(acme);

    let mut registry = expenseplus::tenancy::Registry::open(
        &env.data_dir(),
        false,
        expenseplus::tenancy::Usage::Server,
    )
    .unwrap();
    assert_eq!(registry.rotate_master().unwrap(), 1);
    let after = std::fs::read(env.data_dir().join("master.key")).unwrap();
    assert_ne!(before, after);
    assert_eq!(after.len(), 32);
    // The organisation's data file was not touched.
    assert_eq!(
        org_db,
        std::fs::read(env.data_dir().join("orgs/acme/org.sqlite")).unwrap()
    );

    let registry = expenseplus::tenancy::Registry::open(
        &env.data_dir(),
        false,
        expenseplus::tenancy::Usage::Server,
    )
    .unwrap();
    let record = registry.find_by_slug("acme").unwrap().unwrap();
    let org = registry.open_org(&record).unwrap();
    let row = users::find_by_email(&org, "ada@acme.example")
        .unwrap()
        .unwrap();
    assert_eq!(org.keys.open(&row.name).unwrap().as_str(), Some("Ada"));

    // The old key no longer opens the data dir.
    std::fs::write(env.data_dir().join("master.key"), &before).unwrap();
    assert!(
        expenseplus::tenancy::Registry::open(
            &env.data_dir(),
            false,
            expenseplus::tenancy::Usage::Server
        )
        .is_err()
    );
}

#[test]
fn interrupted_rotation_recovers_with_the_pending_key() {
    let env = TestEnv::new();
    let acme = env.create_org("acme", "Acme Ltd");
    env.create_user(&acme, "ada@acme.example", "Ada", "employee", None);
    drop(acme);
    let old = std::fs::read(env.data_dir().join("master.key")).unwrap();
    let mut registry = expenseplus::tenancy::Registry::open(
        &env.data_dir(),
        false,
        expenseplus::tenancy::Usage::Server,
    )
    .unwrap();
    registry.rotate_master().unwrap();
    // Simulate a crash after the registry commit but before the rename.
    let new = std::fs::read(env.data_dir().join("master.key")).unwrap();
    // Written as the rotation writes it: private to the server's user.
    let next = env.data_dir().join("master.key.next");
    std::fs::write(&next, &new).unwrap();
    std::fs::set_permissions(&next, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(env.data_dir().join("master.key"), &old).unwrap();

    let registry = expenseplus::tenancy::Registry::open(
        &env.data_dir(),
        false,
        expenseplus::tenancy::Usage::Server,
    )
    .unwrap();
    assert!(registry.find_by_slug("acme").unwrap().is_some());
    assert_eq!(
        std::fs::read(env.data_dir().join("master.key")).unwrap(),
        new
    );
    assert!(!env.data_dir().join("master.key.next").exists());
}

#[test]
fn pool_cache_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let registry =
        expenseplus::tenancy::Registry::open(dir.path(), true, expenseplus::tenancy::Usage::Server)
            .unwrap();
    for slug in ["aa", "bb", "cc"] {
        registry
            .create_org(&expenseplus::ids::Slug::parse(slug).unwrap(), slug)
            .unwrap();
    }
    let tenants =
        expenseplus::tenancy::Tenants::new(registry, std::num::NonZeroUsize::new(2).unwrap());
    for slug in ["aa", "bb", "cc", "aa"] {
        let org = tenants
            .by_slug(&expenseplus::ids::Slug::parse(slug).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(org.slug.as_str(), slug);
    }
    assert_eq!(tenants.open_count(), 2);
}

/// An organisation pushed out of the cache while a request still holds it is handed
/// out again, not opened a second time: each handle caches its people's unwrapped keys,
/// so an erasure through one would leave a second still opening the erased person's
/// data. Once nobody holds it, it is opened afresh.
#[test]
fn an_organisation_still_in_use_is_never_opened_twice() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let registry =
        expenseplus::tenancy::Registry::open(dir.path(), true, expenseplus::tenancy::Usage::Server)
            .unwrap();
    for slug in ["aa", "bb"] {
        registry
            .create_org(&expenseplus::ids::Slug::parse(slug).unwrap(), slug)
            .unwrap();
    }
    let tenants = expenseplus::tenancy::Tenants::new(registry, std::num::NonZeroUsize::MIN);
    let open = |slug: &str| {
        tenants
            .by_slug(&expenseplus::ids::Slug::parse(slug).unwrap())
            .unwrap()
            .unwrap()
    };
    let held = open("aa");
    let other = open("bb");
    assert_eq!(tenants.open_count(), 1, "aa was pushed out by bb");
    // A request for aa while the first still holds it: the same handle, same keys.
    assert!(Arc::ptr_eq(&held, &open("aa")));
    assert!(Arc::ptr_eq(&held, &tenants.get(held.id).unwrap()));
    // bb pushed out in turn, and dropped by everyone: opened afresh next time.
    let bb_id = other.id;
    drop(other);
    let again = open("bb");
    assert_eq!(again.id, bb_id);
    assert_eq!(
        Arc::strong_count(&again),
        2,
        "the cache's and ours: a new handle"
    );
}

/// A registry with the organisation `aa` as an older version left it: its newest
/// migration not yet applied.
fn an_org_left_by_an_older_version() -> (
    tempfile::TempDir,
    expenseplus::tenancy::Registry,
    expenseplus::tenancy::OrgRecord,
) {
    use diesel_migrations::MigrationHarness;
    let dir = tempfile::tempdir().unwrap();
    let registry =
        expenseplus::tenancy::Registry::open(dir.path(), true, expenseplus::tenancy::Usage::Server)
            .unwrap();
    let record = registry
        .create_org(&expenseplus::ids::Slug::parse("aa").unwrap(), "aa")
        .unwrap();
    let path = registry.org_dir("aa").join("org.sqlite");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    conn.revert_last_migration(expenseplus::db::ORG_MIGRATIONS)
        .unwrap();
    (dir, registry, record)
}

/// The first requests after an upgrade reach an organisation whose database still needs
/// a migration, several at once. Each opened and migrated it on its own, and all but
/// the first failed ("table already exists"), so those people got an error page.
#[test]
fn requests_opening_an_organisation_at_once_migrate_it_once_and_all_get_it() {
    use diesel_migrations::MigrationHarness;
    use std::sync::{Arc, Barrier};
    let (_dir, registry, record) = an_org_left_by_an_older_version();

    let tenants = expenseplus::tenancy::Tenants::new(registry, std::num::NonZeroUsize::MIN);
    let start = Barrier::new(4);
    let opened: Vec<Arc<expenseplus::tenancy::Org>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    tenants.get(record.org_id())
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect()
    });
    assert!(opened.iter().all(|o| Arc::ptr_eq(o, &opened[0])));
    let mut conn = opened[0].conn().unwrap();
    assert!(
        !conn
            .has_pending_migration(expenseplus::db::ORG_MIGRATIONS)
            .unwrap()
    );
}

/// Two processes (a command beside the server) opening a database that needs a
/// migration: the second waits for the first and finds nothing left to do.
#[test]
fn two_connections_migrating_one_file_at_once_both_succeed() {
    use expenseplus::tenancy::registry::ORG_SPEC;
    use std::sync::Barrier;
    let (_dir, registry, _) = an_org_left_by_an_older_version();
    let path = registry.org_dir("aa").join("org.sqlite");
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    expenseplus::db::open(&path, ORG_SPEC, false).map(drop)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    });
}

/// The setup form sent twice, or a command beside it: two creations of one slug at
/// once. One makes the organisation, the other is told it exists; the one made opens.
#[test]
fn two_creations_of_one_organisation_at_once_make_one_and_refuse_the_other() {
    use expenseplus::tenancy::TenancyError;
    use std::sync::Barrier;
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let registry = expenseplus::tenancy::Registry::open(
            dir.path(),
            true,
            expenseplus::tenancy::Usage::Server,
        )
        .unwrap();
        let slug = expenseplus::ids::Slug::parse("aa").unwrap();
        let start = Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        registry.create_org(&slug, "Aa Ltd")
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let made: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(made.len(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(TenancyError::Duplicate(_)))),
            "{results:?}"
        );
        registry.open_org(made[0]).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("orgs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, vec!["aa".to_owned()]);
    }
}
