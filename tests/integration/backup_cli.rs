//! `expenseplus backup run | list | verify | restore` as an operator uses them.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_expenseplus");

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_refused(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(expected), "{expected:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"));
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (data, backups) = (dir.path().join("data"), dir.path().join("backups"));
    ok(&common::run_cli(&data, &["demo"]));
    (dir, data, backups)
}

/// The id in "backed up SLUG as ID (...)".
fn id_of(stdout: &str, slug: &str) -> String {
    let prefix = format!("backed up {slug} as ");
    let line = stdout.lines().find(|l| l.starts_with(&prefix)).unwrap();
    line[prefix.len()..].split(' ').next().unwrap().to_owned()
}

#[test]
fn run_list_verify_and_restore() {
    let (_dir, data, backups) = setup();
    let b = backups.to_str().unwrap();
    ok(&common::run_cli(
        &data,
        &["org", "create", "beta", "--name", "Beta Ltd"],
    ));
    let out = ok(&common::run_cli(
        &data,
        &["backup", "run", "--backup-dir", b],
    ));
    let (demo_id, beta_id) = (id_of(&out, "demo"), id_of(&out, "beta"));
    // Each file written is printed, and exists.
    for slug_id in [format!("demo/{demo_id}"), format!("beta/{beta_id}")] {
        for f in ["org.sqlite", "keys.sqlite", "manifest.json"] {
            let path = backups.join(&slug_id).join(f);
            assert!(out.contains(path.to_str().unwrap()), "{out}");
            assert!(path.is_file());
        }
    }
    let out = ok(&common::run_cli(
        &data,
        &["backup", "run", "--org", "demo", "--backup-dir", b],
    ));
    let second = id_of(&out, "demo");
    assert_ne!(second, demo_id);

    let listed = ok(&common::run_cli(
        &data,
        &["backup", "list", "--backup-dir", b],
    ));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(listed.contains(&format!("demo\t{demo_id}\t")));
    assert!(listed.contains(&format!("beta\t{beta_id}\t")));
    let only_beta = ok(&common::run_cli(
        &data,
        &["backup", "list", "--org", "beta", "--backup-dir", b],
    ));
    assert_eq!(only_beta.lines().count(), 1);

    let verified = ok(&common::run_cli(
        &data,
        &[
            "backup",
            "verify",
            "--org",
            "demo",
            "--id",
            &demo_id,
            "--backup-dir",
            b,
        ],
    ));
    assert!(verified.contains("is intact"), "{verified}");
    assert!(verified.contains("its seal is demo's own"), "{verified}");

    // Damage the second backup's key store copy: verify and restore refuse it, and
    // the live organisation is byte-for-byte unchanged.
    let keys = backups.join("demo").join(&second).join("keys.sqlite");
    let mut bytes = std::fs::read(&keys).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0xff;
    std::fs::write(&keys, bytes).unwrap();
    let live = data.join("orgs/demo");
    let before = common::snapshot(&live);
    assert_refused(
        &common::run_cli(
            &data,
            &[
                "backup",
                "verify",
                "--org",
                "demo",
                "--id",
                &second,
                "--backup-dir",
                b,
            ],
        ),
        "keys.sqlite does not match its checksum",
    );
    assert_refused(
        &common::run_cli(
            &data,
            &[
                "backup",
                "restore",
                "--org",
                "demo",
                "--from",
                &second,
                "--backup-dir",
                b,
            ],
        ),
        "is damaged",
    );
    assert_eq!(before, common::snapshot(&live));
    assert_refused(
        &common::run_cli(
            &data,
            &[
                "backup",
                "restore",
                "--org",
                "demo",
                "--from",
                "20200101T000000Z",
                "--backup-dir",
                b,
            ],
        ),
        "There is no backup 20200101T000000Z of organisation demo.",
    );

    let restored = ok(&common::run_cli(
        &data,
        &[
            "backup",
            "restore",
            "--org",
            "demo",
            "--from",
            &demo_id,
            "--backup-dir",
            b,
        ],
    ));
    assert!(
        restored.contains(&format!("restored demo from backup {demo_id}")),
        "{restored}"
    );
    assert!(restored.contains("current key store was kept"));
    let audit = ok(&common::run_cli(
        &data,
        &["audit", "verify", "--org", "demo", "--backup-dir", b],
    ));
    assert!(audit.contains("chain intact"), "{audit}");
    // The backups were taken before the restore: their records are not compared.
    assert!(
        audit.contains("the organisation was restored after it was taken"),
        "{audit}"
    );
}

#[test]
fn a_backup_dir_inside_the_data_dir_is_refused() {
    let (_dir, data, _) = setup();
    let inside = data.join("backups");
    let inside = inside.to_str().unwrap();
    assert_refused(
        &common::run_cli(&data, &["backup", "run", "--backup-dir", inside]),
        "is inside the data directory",
    );
    assert!(!data.join("backups").exists());
    assert_refused(
        &common::run_cli(
            &data,
            &["serve", "--bind", "127.0.0.1:0", "--backup-dir", inside],
        ),
        "is inside the data directory",
    );
    // Nor the data inside the backups: the master key would sit with them.
    let around = data.parent().unwrap().to_str().unwrap();
    assert_refused(
        &common::run_cli(&data, &["backup", "run", "--backup-dir", around]),
        "is inside the backup directory",
    );
    assert_refused(
        &common::run_cli(&data, &["serve", "--backup-at", "25:00"]),
        "25:00 is not a time of day",
    );
}

#[test]
fn serve_schedules_the_daily_backup() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let (dir, data, backups) = setup();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--plain-http",
            "--bind",
            "127.0.0.1:0",
            "--backup-at",
            "04:30",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--backup-dir")
        .arg(&backups)
        .env_remove("EXPENSEPLUS_BACKUP_DIR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let found = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(line) if line.contains("daily job backup scheduled for") => break Some(line),
            Ok(_) => continue,
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = found.expect("the scheduler logs its next run");
    assert!(line.contains("4:30:00"), "{line}");
    drop(dir);
}

/// Losing the data disk: `master.key` (kept apart), the newest registry copy and each
/// organisation's newest backup bring every organisation back, including one created
/// after anyone could have copied the registry by hand. The copy holds no sessions.
#[test]
fn the_registry_copy_and_the_backups_bring_back_a_lost_data_dir() {
    use diesel::prelude::*;
    use std::os::unix::fs::PermissionsExt;
    let (dir, data, backups) = setup();
    let b = backups.to_str().unwrap();
    // A session as the server writes it, which must not outlive its sign-out in a copy.
    let marker = "session-state-marker-7f3a";
    let mut conn =
        SqliteConnection::establish(data.join("registry.sqlite").to_str().unwrap()).unwrap();
    diesel::sql_query(format!(
        "INSERT INTO sessions (key_hash, state, org_id, user_id, expires_at) \
         VALUES (x'0102', '{{\"m\":\"{marker}\"}}', 1, 1, 99999999999)"
    ))
    .execute(&mut conn)
    .unwrap();
    drop(conn);
    ok(&common::run_cli(
        &data,
        &["org", "create", "late", "--name", "Late Ltd"],
    ));
    let out = ok(&common::run_cli(
        &data,
        &["backup", "run", "--backup-dir", b],
    ));
    let copy = out
        .lines()
        .skip_while(|l| !l.starts_with("copied the registry"))
        .nth(1)
        .map(|l| PathBuf::from(l.trim()))
        .unwrap_or_else(|| panic!("registry copy printed: {out}"));
    assert!(copy.starts_with(backups.join("_registry")), "{copy:?}");
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    common::assert_absent(&backups, marker);
    // The registry copy is not taken for an organisation's backups.
    let listed = ok(&common::run_cli(
        &data,
        &["backup", "list", "--backup-dir", b],
    ));
    assert!(!listed.contains("_registry"), "{listed}");

    // The data disk dies; the master key was kept apart.
    let fresh = dir.path().join("new-disk");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::copy(data.join("master.key"), fresh.join("master.key")).unwrap();
    std::fs::copy(&copy, fresh.join("registry.sqlite")).unwrap();
    for slug in ["demo", "late"] {
        let id = id_of(&out, slug);
        let to = fresh.join("orgs").join(slug);
        std::fs::create_dir_all(&to).unwrap();
        for f in ["org.sqlite", "keys.sqlite"] {
            std::fs::copy(backups.join(slug).join(&id).join(f), to.join(f)).unwrap();
        }
    }
    let orgs = ok(&common::run_cli(&fresh, &["org", "list"]));
    assert!(orgs.contains("demo") && orgs.contains("late"), "{orgs}");
    ok(&common::run_cli(
        &fresh,
        &["audit", "verify", "--org", "late"],
    ));
    // The people's sealed data opens again under the restored keys.
    let registry =
        expenseplus::tenancy::Registry::open(&fresh, false, expenseplus::tenancy::Usage::Command)
            .unwrap();
    let tenants = expenseplus::tenancy::Tenants::new(registry, std::num::NonZeroUsize::MIN);
    let demo = tenants
        .by_slug(&expenseplus::ids::Slug::parse("demo").unwrap())
        .unwrap()
        .unwrap();
    let people = expenseplus::auth::account::list_with_mfa(&demo).unwrap();
    assert!(!people.is_empty());
    for (person, _) in people {
        assert!(person.name.as_str().is_some_and(|n| !n.is_empty()));
    }
}

/// A log wiped (or rewritten) and its chain made whole again passes the chain check,
/// but not the comparison with the entry the newest sealed backup recorded.
#[test]
fn audit_verify_finds_a_log_rewritten_since_the_last_backup() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    let (_dir, data, backups) = setup();
    let b = backups.to_str().unwrap();
    let out = ok(&common::run_cli(
        &data,
        &["backup", "run", "--org", "demo", "--backup-dir", b],
    ));
    let id = id_of(&out, "demo");
    let verify = || {
        common::run_cli(
            &data,
            &["audit", "verify", "--org", "demo", "--backup-dir", b],
        )
    };
    let said = ok(&verify());
    assert!(said.contains("chain intact"), "{said}");
    assert!(
        said.contains(&format!("as backup {id} recorded it")),
        "{said}"
    );

    // Someone who can write the database empties the log: an empty chain is whole.
    let live = data.join("orgs/demo/org.sqlite");
    let mut conn = SqliteConnection::establish(live.to_str().unwrap()).unwrap();
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let triggers: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'",
    )
    .load(&mut conn)
    .unwrap();
    for t in triggers {
        conn.batch_execute(&format!("DROP TRIGGER \"{}\"", t.name))
            .unwrap();
    }
    conn.batch_execute("DELETE FROM audit_log").unwrap();
    drop(conn);
    assert_refused(&verify(), "The audit log of demo was rewritten: entry");

    // Nor does a "restore" entry written into the new log excuse it: when restores
    // happened is taken from the sealed record beside the backups, not from the log.
    {
        use expenseplus::audit::{self, Action};
        use expenseplus::tenancy::{Registry, Tenants, Usage};
        let registry = Registry::open(&data, false, Usage::Command).unwrap();
        let tenants = Tenants::new(registry, std::num::NonZeroUsize::MIN);
        let slug = expenseplus::ids::Slug::parse("demo").unwrap();
        let org = tenants.by_slug(&slug).unwrap().unwrap();
        audit::record(&org, None, None, Action::BackupRestored, "backup forged").unwrap();
    }
    assert_refused(&verify(), "The audit log of demo was rewritten: entry");
}
