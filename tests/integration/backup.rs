//! Backups taken while the app writes, verified, restored while it serves; damaged
//! backups refused; erasure reaching every backup; rotation on disk.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, TestEnv, acme_with_people};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use expenseplus::audit::{self, Action, Filter};
use expenseplus::backup::{self, BackupError, Manifest, Retention, Unsealed};
use expenseplus::expenses::claims;
use expenseplus::ids::UserId;
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(path: &Path, sql: &str) -> i64 {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

fn root(env: &TestEnv) -> PathBuf {
    env.dir.path().join("backups")
}

/// Restores acme from backup `id` as the server does (sealed backups only).
fn restore(env: &TestEnv, acme: &Org, id: &str) -> Result<backup::RestoreReport, BackupError> {
    backup::restore(
        env.state.tenants.registry(),
        acme,
        &root(env),
        id,
        Unsealed::Refuse,
    )
}

/// [`restore`] through the tenants, which then open acme afresh.
fn restore_tenant(env: &TestEnv, id: &str) -> backup::RestoreReport {
    let slug = expenseplus::ids::Slug::parse("acme").unwrap();
    backup::restore_tenant(&env.state.tenants, &slug, &root(env), id, Unsealed::Refuse).unwrap()
}

fn take(env: &TestEnv, org: &Org) -> backup::BackupReport {
    let dir = env.state.tenants.registry().org_dir(org.slug.as_str());
    backup::backup_org(org, &dir, &root(env)).unwrap()
}

fn new_claim(org: &Org, owner: UserId, title: &str) -> i64 {
    claims::create(org, owner, title, &hex::encode(title)).unwrap()
}

#[actix_web::test]
async fn backup_while_writes_run_then_restore_shows_the_same_claims() {
    let a = acme_with_people();
    let acme = a.env.org("acme");
    for i in 0..3 {
        new_claim(&acme, a.emp, &format!("Before backup {i}"));
    }
    // A writer keeps creating claims while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (org, stop, made, emp) = (acme.clone(), stop.clone(), made.clone(), a.emp);
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) || i < 20 {
                claims::create(&org, emp, &format!("Busy claim {i}"), &format!("busy-{i}"))
                    .unwrap();
                made.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    while made.load(Ordering::Relaxed) < 5 {
        std::thread::yield_now();
    }
    let report = take(&a.env, &acme);
    let during = made.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = made.load(Ordering::Relaxed) as i64 + 3;

    // The files are where the report says, and the manifest matches them.
    assert_eq!(report.files.len(), 3);
    assert!(report.files.iter().all(|f| f.exists()));
    assert!(!report.dir.starts_with(a.env.data_dir()));
    let manifest = backup::verify(&root(&a.env), "acme", &report.id).unwrap();
    // The DPO sees the backup in the audit log.
    let taken = audit::page(
        &acme,
        &Filter {
            action: Some(Action::BackupTaken),
            ..Filter::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].detail, format!("backup {}", report.id));
    assert_eq!(manifest.org_slug, "acme");
    assert_eq!(manifest.org_id, acme.id.0);
    assert!(!manifest.schema_version.is_empty());
    // A consistent snapshot: between the claims before and after, each complete.
    let in_backup = count(
        &report.dir.join("org.sqlite"),
        "SELECT COUNT(*) AS n FROM claims",
    );
    assert!(
        in_backup >= 3 + 5 && in_backup < total,
        "{in_backup} of {total}"
    );
    assert!(in_backup <= 3 + during as i64 + 1);
    // Nothing personal in plain text in the backup.
    common::assert_absent(&report.dir, "Before backup");
    common::assert_absent(&report.dir, "emp@acme.example");

    // After the backup: one more claim, which the restore must undo.
    new_claim(&acme, a.emp, "After backup");
    let app = atest::init_service(build_app(a.env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert!(c.get("/claims").await.body.contains("After backup"));

    let registry = a.env.state.tenants.registry();
    let restored = restore_tenant(&a.env, &report.id);
    assert!(restored.tables >= 8);
    assert!(restored.sessions_ended >= 1);
    let live = registry.org_dir("acme").join("org.sqlite");
    assert_eq!(count(&live, "SELECT COUNT(*) AS n FROM claims"), in_backup);
    assert!(!backup::restore::staging_path(&registry.org_dir("acme"), &report.id).exists());

    // The session was ended; signing in again shows exactly the backed-up claims.
    assert_eq!(c.get("/claims").await.status, StatusCode::SEE_OTHER);
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let page = c.get("/claims").await;
    assert_eq!(page.status, StatusCode::OK);
    for i in 0..3 {
        assert!(page.body.contains(&format!("Before backup {i}")), "{i}");
    }
    assert!(!page.body.contains("After backup"));

    // The restore is in the restored audit log, whose chain is intact.
    let entries = audit::page(
        &acme,
        &Filter {
            action: Some(Action::BackupRestored),
            ..Filter::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]
            .detail
            .starts_with(&format!("backup {}; kept since it: ", report.id)),
        "{}",
        entries[0].detail
    );
    audit::verify(&acme).unwrap();
    // The append-only triggers are back.
    let mut conn = acme.conn().unwrap();
    assert!(
        diesel::sql_query("DELETE FROM audit_log")
            .execute(&mut conn)
            .is_err()
    );
}

#[actix_web::test]
async fn a_damaged_backup_is_refused_and_the_live_data_is_untouched() {
    let a = acme_with_people();
    let acme = a.env.org("acme");
    new_claim(&acme, a.emp, "Kept claim");
    let report = take(&a.env, &acme);
    new_claim(&acme, a.emp, "Newer claim");
    // Flip bytes of the schema page (page 1 after the file header): always in use, so
    // the damage is found whatever the layout of the rest of the file.
    let file = report.dir.join("org.sqlite");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = 100;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();
    let live_dir = a.env.state.tenants.registry().org_dir("acme");
    let before = common::snapshot(&live_dir);
    let err = restore(&a.env, &acme, &report.id).unwrap_err();
    assert!(matches!(err, BackupError::Damaged { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("damaged"), "{msg}");
    assert!(
        msg.contains("org.sqlite does not match its checksum"),
        "{msg}"
    );
    assert!(msg.contains("live data is unchanged"), "{msg}");
    assert_eq!(before, common::snapshot(&live_dir));
    // A manifest rewritten to match the damage is still caught: integrity check.
    let mut m = Manifest::read(&report.dir).unwrap();
    m.files[0] = backup::manifest::file_entry(&file).unwrap();
    m.write(&report.dir).unwrap();
    let err = backup::verify(&root(&a.env), "acme", &report.id).unwrap_err();
    assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
    // Unknown ids and path tricks are refused plainly.
    for bad in ["20990101T000000Z", "../acme"] {
        let err = restore(&a.env, &acme, bad).unwrap_err();
        assert!(
            matches!(err, BackupError::NotFound { .. } | BackupError::BadId(_)),
            "{err:?}"
        );
    }
    let app = atest::init_service(build_app(a.env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let page = c.get("/claims").await;
    assert!(page.body.contains("Kept claim") && page.body.contains("Newer claim"));
}

#[actix_web::test]
async fn other_organisations_and_readers_keep_answering_during_a_restore() {
    let a = acme_with_people();
    let acme = a.env.org("acme");
    let beta = a.env.create_org("beta", "Beta Ltd");
    a.env
        .create_user(&beta, "bo@beta.example", "Bo Beta", "employee", None);
    new_claim(&beta, beta_user(&beta), "Beta claim");
    // Enough data that a restore takes a while.
    let first = new_claim(&acme, a.emp, "Acme claim");
    {
        let mut conn = acme.conn().unwrap();
        diesel::sql_query(format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO claim_events (claim_id, actor_id, at, from_status, to_status, comment) \
             SELECT {first}, {}, i, 'draft', 'draft', randomblob(200) FROM n",
            a.emp.0
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let report = take(&a.env, &acme);

    let app = atest::init_service(build_app(a.env.state.clone())).await;
    let mut beta_client = Client::new(&app);
    beta_client
        .sign_in("beta", "bo@beta.example", PASSWORD)
        .await;

    let restoring = Arc::new(AtomicBool::new(true));
    let worker = {
        let emp = a.emp;
        let (state, acme, restoring, root, id) = (
            a.env.state.clone(),
            acme.clone(),
            restoring.clone(),
            root(&a.env),
            report.id.clone(),
        );
        std::thread::spawn(move || {
            for i in 0..3 {
                // Live now differs from the backup by one claim; the restore removes it.
                claims::create(&acme, emp, "Extra claim", &format!("extra-{i}")).unwrap();
                backup::restore(
                    state.tenants.registry(),
                    &acme,
                    &root,
                    &id,
                    Unsealed::Refuse,
                )
                .unwrap();
            }
            restoring.store(false, Ordering::SeqCst);
        })
    };
    let (mut served_during, mut acme_reads_during) = (0, 0);
    while restoring.load(Ordering::SeqCst) {
        let page = beta_client.get("/claims").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Beta claim"));
        // Readers of the organisation being restored see the old rows (2 claims) or
        // the new (1), never a half-replaced table (0).
        let n = claims::list_own(&acme, a.emp, &Default::default(), None, 10).unwrap();
        assert!(n.len() == 1 || n.len() == 2, "{}", n.len());
        if restoring.load(Ordering::SeqCst) {
            served_during += 1;
            acme_reads_during += 1;
        }
    }
    worker.join().unwrap();
    assert!(served_during > 0, "beta answered while acme was restored");
    assert!(acme_reads_during > 0);
    let entries = audit::page(
        &acme,
        &Filter {
            action: Some(Action::BackupRestored),
            ..Filter::default()
        },
        None,
        10,
    )
    .unwrap();
    // Each restore keeps the entries written since the backup (the restores before it
    // among them), then records itself.
    assert_eq!(entries.len(), 3);
    audit::verify(&acme).unwrap();
}

fn beta_user(beta: &Org) -> UserId {
    expenseplus::auth::users::find_by_email(beta, "bo@beta.example")
        .unwrap()
        .unwrap()
        .user_id()
}

/// When scrubbing a backup's `org.sqlite` fails (here a trigger refuses it), the key
/// stays in that backup, so the daily run finds the erasure unfinished and ends it.
async fn scrub_failed_first_is_found_again(a: &common::Acme, acme: &Org) {
    let boss_key = expenseplus::auth::users::get(acme, a.boss)
        .unwrap()
        .unwrap()
        .person_key();
    let third = take(&a.env, acme);
    let org_file = third.dir.join("org.sqlite");
    let key_there = || {
        count(
            &third.dir.join("keys.sqlite"),
            &format!(
                "SELECT COUNT(*) AS n FROM person_keys WHERE id = {}",
                boss_key.0
            ),
        )
    };
    let exec = |sql: &str| {
        let mut conn = SqliteConnection::establish(org_file.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    };
    exec(
        "CREATE TRIGGER stuck BEFORE UPDATE ON users \
         BEGIN SELECT RAISE(ABORT, 'disk trouble'); END",
    );
    acme.keys.destroy(boss_key).unwrap();
    assert!(backup::forget_person_key(&root(&a.env), acme, boss_key).is_err());
    assert_eq!(key_there(), 1, "left for the daily run to find");

    exec("DROP TRIGGER stuck");
    assert!(backup::keys::forget_destroyed_keys(&root(&a.env), acme).unwrap() >= 1);
    assert_eq!(key_there(), 0);
    assert_eq!(
        count(
            &org_file,
            &format!(
                "SELECT COUNT(*) AS n FROM users WHERE id = {} AND password_hash IS NULL",
                a.boss.0
            )
        ),
        1,
        "scrubbed in the backup"
    );
    backup::verify(&root(&a.env), "acme", &third.id).unwrap();
}

#[derive(QueryableByName)]
struct Wrapped {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
    wrapped: Option<Vec<u8>>,
}

#[actix_web::test]
async fn forgetting_a_key_removes_it_from_every_backup_and_a_restore_keeps_it_erased() {
    let a = acme_with_people();
    let acme = a.env.org("acme");
    new_claim(&acme, a.emp, "Taxi to the airport");
    let first = take(&a.env, &acme);
    let second = take(&a.env, &acme);
    let emp_key = expenseplus::auth::users::get(&acme, a.emp)
        .unwrap()
        .unwrap()
        .person_key();
    let wrapped = {
        let mut conn =
            SqliteConnection::establish(first.dir.join("keys.sqlite").to_str().unwrap()).unwrap();
        diesel::sql_query(format!(
            "SELECT wrapped FROM person_keys WHERE id = {}",
            emp_key.0
        ))
        .get_result::<Wrapped>(&mut conn)
        .unwrap()
        .wrapped
        .unwrap()
    };
    acme.keys.destroy(emp_key).unwrap();
    let n = backup::forget_person_key(&root(&a.env), &acme, emp_key).unwrap();
    assert_eq!(n, 2);
    for b in [&first, &second] {
        let keys = b.dir.join("keys.sqlite");
        assert_eq!(
            count(
                &keys,
                &format!(
                    "SELECT COUNT(*) AS n FROM person_keys WHERE id = {}",
                    emp_key.0
                )
            ),
            0
        );
        // Other people's keys are still there, and the backup still verifies.
        assert!(count(&keys, "SELECT COUNT(*) AS n FROM person_keys") >= 6);
        backup::verify(&root(&a.env), "acme", &b.id).unwrap();
        for (path, bytes) in common::all_files(&b.dir) {
            assert!(
                !bytes.windows(wrapped.len()).any(|w| w == wrapped),
                "the destroyed key is still in {}",
                path.display()
            );
        }
    }
    // A second call finds nothing more to rewrite.
    assert_eq!(
        backup::forget_person_key(&root(&a.env), &acme, emp_key).unwrap(),
        0
    );
    scrub_failed_first_is_found_again(&a, &acme).await;
    // Restoring the older backup uses the current key store: the person stays erased.
    restore(&a.env, &acme, &first.id).unwrap();
    assert!(!acme.keys.is_alive(emp_key).unwrap());
    let claim = claims::list_own(&acme, a.emp, &Default::default(), None, 10).unwrap();
    assert_eq!(
        claims::title(&acme, &claim[0]).unwrap(),
        expenseplus::crypto::Revealed::Erased
    );
    let app = atest::init_service(build_app(a.env.state.clone())).await;
    let mut c = Client::new(&app);
    let page = c.try_sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert_ne!(
        page.location(),
        Some("/"),
        "an erased person cannot sign in"
    );
}

#[test]
fn rotation_removes_what_the_rules_do_not_keep() {
    let a = acme_with_people();
    let acme = a.env.org("acme");
    let mut ids = Vec::new();
    for day in 1..=4 {
        let r = take(&a.env, &acme);
        // Pretend the backups were taken on 1..4 March.
        let mut m = Manifest::read(&r.dir).unwrap();
        m.created_at = format!("2026-03-0{day}T02:00:00Z");
        m.write(&r.dir).unwrap();
        ids.push(r.id);
    }
    let keep = Retention {
        daily: 2,
        weekly: 0,
        monthly: 0,
    };
    let gone = backup::rotation::rotate(&root(&a.env), "acme", keep).unwrap();
    assert_eq!(gone, vec![ids[1].clone(), ids[0].clone()]);
    let left: Vec<String> = backup::list(&root(&a.env), "acme")
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, ids[2..].to_vec());
    // A half-written backup (temp dir) is never listed, and the next run removes it.
    let org_dir = root(&a.env).join("acme");
    std::fs::create_dir(org_dir.join(".tmp-20260101T000000Z")).unwrap();
    assert_eq!(backup::list(&root(&a.env), "acme").unwrap().len(), 2);
    take(&a.env, &acme);
    assert!(!org_dir.join(".tmp-20260101T000000Z").exists());
}

#[test]
fn a_backup_from_an_older_schema_is_migrated_on_restore() {
    let a = acme_with_people();
    let acme = a.env.org("acme");
    new_claim(&acme, a.emp, "Old schema claim");
    let r = take(&a.env, &acme);
    // Make the backup look like it came from before receipts existed: restoring it
    // only works if the migrations create the receipts table in the copy first.
    let file = r.dir.join("org.sqlite");
    {
        let mut conn = SqliteConnection::establish(file.to_str().unwrap()).unwrap();
        for m in ["000004_report_indexes", "000003_receipts"] {
            let down =
                std::fs::read_to_string(format!("migrations/org/2026-11-25-{m}/down.sql")).unwrap();
            diesel::connection::SimpleConnection::batch_execute(&mut conn, &down).unwrap();
        }
        let n = diesel::sql_query(
            "DELETE FROM __diesel_schema_migrations WHERE version IN ('20261125000004', '20261125000003')",
        )
        .execute(&mut conn)
        .unwrap();
        assert_eq!(n, 2);
        let tables =
            diesel::sql_query("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'receipts'")
                .get_result::<Count>(&mut conn)
                .unwrap();
        assert_eq!(tables.n, 0);
    }
    // Sealed as the older version that made it would have.
    let mut m = Manifest::read(&r.dir).unwrap();
    m.files[0] = backup::manifest::file_entry(&file).unwrap();
    m.seal_with(&acme.keys);
    m.write(&r.dir).unwrap();
    // A staging copy left by a restore that was killed is cleared away.
    let org_dir = a.env.state.tenants.registry().org_dir("acme");
    std::fs::write(
        org_dir.join(".restore-20200101T000000Z.sqlite-journal"),
        b"x",
    )
    .unwrap();
    let report = restore(&a.env, &acme, &r.id).unwrap();
    assert!(report.rows > 0);
    let claims = claims::list_own(&acme, a.emp, &Default::default(), None, 10).unwrap();
    assert_eq!(claims.len(), 1);
    let left: Vec<_> = std::fs::read_dir(&org_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".restore-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_daily_backup_job_backs_up_every_organisation_and_rotates() {
    use clap::Parser;
    let a = acme_with_people();
    a.env.create_org("beta", "Beta Ltd");
    let root = root(&a.env);
    let cli = expenseplus::config::Cli::try_parse_from([
        "expenseplus",
        "serve",
        "--backup-at",
        "03:15",
        "--keep-daily",
        "1",
        "--keep-weekly",
        "0",
        "--keep-monthly",
        "0",
        "--backup-dir",
        root.to_str().unwrap(),
    ])
    .unwrap();
    let Some(expenseplus::config::Command::Serve(args)) = cli.command else {
        panic!("serve args");
    };
    let jobs = expenseplus::server::daily_jobs(&a.env.state, &args);
    let job = jobs.iter().find(|j| j.name == "backup").unwrap();
    assert_eq!(job.at, time::macros::time!(03:15));
    let summary = expenseplus::jobs::run_now(job).unwrap();
    assert!(
        summary.starts_with("2 organisation(s) backed up"),
        "{summary}"
    );
    for slug in ["acme", "beta"] {
        let list = backup::list(&root, slug).unwrap();
        assert_eq!(list.len(), 1, "{slug}");
        backup::verify(&root, slug, &list[0].id).unwrap();
    }
    // The second run's rotation keeps one backup a day: the newest.
    let summary = expenseplus::jobs::run_now(job).unwrap();
    assert!(summary.contains("2 old backup(s) removed"), "{summary}");
    assert_eq!(backup::list(&root, "acme").unwrap().len(), 1);
}

/// Backup files hold everyone's sealed data: only the server's user may read them,
/// even when copied out of their private directory.
#[test]
fn backup_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let acme = acme_with_people();
    let org = acme.env.org("acme");
    let report = take(&acme.env, &org);
    let dir = root(&acme.env).join("acme").join(&report.id);
    for file in ["org.sqlite", "keys.sqlite"] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
    }
}

/// A restore puts the expense data back as it was, but not the duties to the people in
/// it: a restriction, a scheduled erasure, a request and a breach recorded since the
/// backup are still there afterwards, and so are the audit entries written since (the
/// chain still verifies). Ids given out since are not given again. Rows about a person
/// added after the backup go with that person.
#[test]
fn a_restore_keeps_the_privacy_registers_and_the_audit_entries_since_the_backup() {
    use expenseplus::privacy::{erasure, requests, restriction};

    let a = acme_with_people();
    let acme = a.env.org("acme");
    let before = new_claim(&acme, a.emp, "Before backup");
    // Bea has a claim to keep for the tax period, so her erasure waits for it.
    new_claim(&acme, a.boss, "Bea's trip");
    let report = take(&a.env, &acme);

    // Since the backup: Eve restricted, Bea's erasure scheduled, a request by Eve, a
    // newcomer with a request of their own, a claim started by Otto.
    restriction::restrict(&acme, a.dpo, a.emp, "accuracy contested").unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let scheduled = erasure::erase(&acme, a.dpo, a.boss, erasure::Mode::AfterRetention, today);
    assert!(
        matches!(scheduled, Ok(erasure::Outcome::Scheduled(_))),
        "{scheduled:?}"
    );
    let eve_request = requests::open_own(&acme, a.emp, "access", "", today).unwrap();
    let newcomer = a
        .env
        .create_user(&acme, "new@acme.example", "Nia New", "employee", None);
    requests::open_own(&acme, newcomer, "erasure", "", today).unwrap();
    let after = new_claim(&acme, a.other, "After backup");
    let audited_before = audit::page(&acme, &Filter::default(), None, 500)
        .unwrap()
        .len();

    let restored = restore_tenant(&a.env, &report.id);
    let acme = a.env.org("acme");
    assert!(restored.kept.not_kept.is_empty(), "{:?}", restored.kept);
    assert!(restored.kept.dropped_rows >= 1, "the newcomer's request");
    assert!(restored.kept.audit_entries > 0);

    // The expense data is the backup's...
    assert!(claims::get(&acme, before).is_ok());
    assert!(claims::get(&acme, after).is_err());
    // ...the duties are today's.
    assert!(
        restriction::check(&acme, a.emp).unwrap(),
        "still restricted"
    );
    assert!(
        restriction::flags(&acme, a.boss)
            .unwrap()
            .erase_due
            .is_some()
    );
    let register = requests::list(&acme).unwrap();
    assert!(register.iter().any(|r| r.id == eve_request), "{register:?}");
    assert_eq!(register.len(), 1, "the newcomer's request went with them");
    // Every entry written before the restore is still there, and the chain holds.
    let audited = audit::page(&acme, &Filter::default(), None, 500).unwrap();
    assert_eq!(audited.len(), audited_before + 1, "plus the restore's own");
    audit::verify(&acme).unwrap();
    // The claim started after the backup had an id: the next claim does not reuse it.
    assert!(new_claim(&acme, a.other, "Next") > after);
}

/// Backups sit where others may write. Someone who edits a backed-up database (here:
/// makes Eve an administrator) and recomputes the checksums still cannot make the
/// manifest's seal, which needs the organisation key: the restore refuses it. A backup
/// without a seal (made before backups were sealed) is restored only when accepted.
#[test]
fn a_backup_changed_outside_expenseplus_is_not_restored() {
    let a = acme_with_people();
    let acme = a.env.org("acme");
    let report = take(&a.env, &acme);
    let restore = |unsealed| {
        backup::restore(
            a.env.state.tenants.registry(),
            &acme,
            &root(&a.env),
            &report.id,
            unsealed,
        )
    };
    backup::verify_sealed(&root(&a.env), &acme, &report.id, false).unwrap();

    let file = report.dir.join("org.sqlite");
    let mut conn = SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    diesel::sql_query(format!(
        "UPDATE users SET roles = 'admin,employee' WHERE id = {}",
        a.emp.0
    ))
    .execute(&mut conn)
    .unwrap();
    drop(conn);
    let mut manifest = Manifest::read(&report.dir).unwrap();
    for f in &mut manifest.files {
        *f = backup::manifest::file_entry(&report.dir.join(&f.name)).unwrap();
    }
    manifest.write(&report.dir).unwrap();
    backup::verify(&root(&a.env), "acme", &report.id).expect("the checksums match now");
    let err = restore(Unsealed::Accept).unwrap_err();
    assert!(matches!(err, BackupError::BadSeal { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("does not carry this organisation's seal")
    );

    // Without its seal: refused unless accepted.
    manifest.seal = None;
    manifest.write(&report.dir).unwrap();
    let err = restore(Unsealed::Refuse).unwrap_err();
    assert!(matches!(err, BackupError::Unsealed { .. }), "{err:?}");
    assert!(err.to_string().contains("--accept-unsealed"));
    // Nothing was restored by the refusals.
    let roles = |org: &Org| {
        expenseplus::auth::users::get(org, a.emp)
            .unwrap()
            .unwrap()
            .roles
    };
    assert_eq!(roles(&acme), "employee");
    restore(Unsealed::Accept).unwrap();
}

/// Nor does a restore bring people back as they were: a leaver deactivated since stays
/// out, a changed password stays changed, roles taken away stay away, a recovery code
/// used since stays used, and details the DPO corrected stay corrected.
#[test]
fn a_restore_keeps_everyones_account_as_it_is_now() {
    use expenseplus::auth::{Roles, account, login, users};

    let a = acme_with_people();
    let acme = a.env.org("acme");
    let exec = |org: &Org, sql: &str| {
        diesel::sql_query(sql)
            .execute(&mut org.conn().unwrap())
            .unwrap()
    };
    exec(
        &acme,
        &format!(
            "INSERT INTO recovery_codes (user_id, code_hash) VALUES ({}, x'0102')",
            a.emp.0
        ),
    );
    let report = take(&a.env, &acme);

    account::set_active(&acme, a.admin, a.other, false).unwrap();
    let new_password = "a quite different passphrase 2026";
    let throttle = &a.env.state.throttle;
    account::change_password(&acme, throttle, a.fin, PASSWORD, new_password).unwrap();
    account::set_roles(
        &acme,
        a.admin,
        a.boss,
        Roles::parse_list("employee").unwrap(),
    )
    .unwrap();
    let fixed = expenseplus::privacy::rectify::rectify(
        &acme,
        a.dpo,
        a.emp,
        "Eve Corrected",
        "eve.new@acme.example",
    )
    .unwrap();
    assert!(matches!(
        fixed,
        expenseplus::privacy::rectify::Rectified::Changed(_)
    ));
    // Bea takes the address Eve gave up: in the backup it is still Eve's.
    let taken = expenseplus::privacy::rectify::rectify(
        &acme,
        a.dpo,
        a.boss,
        "Bea Boss",
        "emp@acme.example",
    )
    .unwrap();
    assert!(matches!(
        taken,
        expenseplus::privacy::rectify::Rectified::Changed(_)
    ));
    exec(&acme, "UPDATE recovery_codes SET used_at = 1");

    let restored = restore_tenant(&a.env, &report.id);
    assert!(restored.kept.not_kept.is_empty(), "{:?}", restored.kept);
    assert_eq!(restored.kept.people, 7, "everyone in the cast");
    let acme = a.env.org("acme");

    assert!(!users::get(&acme, a.other).unwrap().unwrap().active);
    let signs_in = |email: &str, password: &str| {
        login::check_password(Some(&acme), email, password)
            .unwrap()
            .is_some()
    };
    assert!(!signs_in("fin@acme.example", PASSWORD), "the old password");
    assert!(signs_in("fin@acme.example", new_password));
    assert_eq!(
        users::get(&acme, a.boss).unwrap().unwrap().roles,
        "employee"
    );
    let eve = users::find_by_email(&acme, "eve.new@acme.example")
        .unwrap()
        .expect("the corrected email signs in");
    assert_eq!(eve.id, a.emp.0);
    assert_eq!(
        acme.keys.open(&eve.name).unwrap().to_string(),
        "Eve Corrected"
    );
    assert_eq!(
        users::find_by_email(&acme, "emp@acme.example")
            .unwrap()
            .map(|u| u.id),
        Some(a.boss.0),
        "the address moved from one person to another since the backup"
    );
    let unused: i64 =
        diesel::sql_query("SELECT COUNT(*) AS n FROM recovery_codes WHERE used_at IS NULL")
            .get_result::<Count>(&mut acme.conn().unwrap())
            .unwrap()
            .n;
    assert_eq!(unused, 0, "a code used since the backup stays used");
    audit::verify(&acme).unwrap();
}

/// The scheduled run copies the registry (the organisations' wrapped keys) beside the
/// backups, keeping the newest few copies.
#[test]
fn the_daily_run_copies_the_registry_and_keeps_the_newest_copies() {
    let acme = acme_with_people();
    let root = root(&acme.env);
    let settings = backup::BackupSettings {
        root: root.clone(),
        retention: Retention::default(),
    };
    let copies = || {
        let dir = root.join(backup::registry_copy::DIR);
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| backup::check_id(&p.file_name().unwrap().to_string_lossy()).is_ok())
            .map(|p| p.join(backup::registry_copy::FILE))
            .collect();
        found.sort();
        found
    };
    let tenants = &acme.env.state.tenants;
    backup::take::daily_run(tenants, &settings).unwrap();
    let first = copies();
    assert_eq!(first.len(), 1);
    let orgs = count(&first[0], "SELECT COUNT(*) AS n FROM organisations");
    assert_eq!(orgs, 1);
    // Older copies beyond the number kept are removed (ids are one a second: make
    // them up rather than wait).
    let dir = root.join(backup::registry_copy::DIR);
    for day in 1..=backup::registry_copy::KEEP {
        let old = dir.join(format!("202001{day:02}T000000Z"));
        std::fs::create_dir(&old).unwrap();
        std::fs::copy(&first[0], old.join(backup::registry_copy::FILE)).unwrap();
    }
    backup::take::daily_run(tenants, &settings).unwrap();
    let kept = copies();
    assert_eq!(kept.len(), backup::registry_copy::KEEP);
    assert!(kept.contains(&first[0]), "the newest are kept");
    assert!(
        !kept
            .iter()
            .any(|p| p.to_string_lossy().contains("20200101T"))
    );
}

/// A restore killed mid-way leaves its staging copy (the organisation's data, outside
/// the files erasure scrubs) in the live directory: the daily run removes it once it
/// is clearly abandoned, and leaves a fresh one to the restore that may own it.
#[test]
fn the_daily_run_removes_a_killed_restores_staging_copy() {
    let acme = acme_with_people();
    let root = root(&acme.env);
    let settings = backup::BackupSettings {
        root,
        retention: Retention::default(),
    };
    let live = acme.env.state.tenants.registry().org_dir("acme");
    let abandoned = live.join(".restore-20260101T000000Z.sqlite");
    let running = live.join(".restore-20260102T000000Z.sqlite");
    for f in [&abandoned, &running] {
        std::fs::write(f, b"a copy of the organisation's data").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    backup::take::daily_run(&acme.env.state.tenants, &settings).unwrap();
    assert!(!abandoned.exists(), "the abandoned copy is removed");
    assert!(
        running.exists(),
        "a fresh one may belong to a restore still running"
    );
}
