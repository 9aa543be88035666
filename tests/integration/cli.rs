//! The operator's command line: bad input gives one plain sentence on stderr, exit
//! status 1, and leaves the data dir exactly as it was.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::snapshot;
use diesel::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_expenseplus");

fn run(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("EXPENSEPLUS_MASTER_KEY")
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().expect("stdin");
    // The program may exit (refusing bad input) before reading stdin: that is fine.
    let _ = pipe.write_all(stdin.unwrap_or("").as_bytes());
    drop(pipe);
    child.wait_with_output().expect("wait")
}

/// Exit 1 with exactly one line on stderr that contains `expected`.
fn assert_refused(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(expected), "{expected:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(
        &data,
        &["org", "create", "acme", "--name", "Acme Ltd"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, data)
}

#[test]
fn org_create_and_list() {
    let (_dir, data) = setup();
    let out = run(
        &data,
        &["org", "create", "globex", "--name", "Globex plc"],
        None,
    );
    assert!(out.status.success());
    let out = run(&data, &["org", "list"], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "acme\tAcme Ltd\nglobex\tGlobex plc\n"
    );
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert_eq!(mode(&data.join("orgs/acme/org.sqlite")), 0o600);
    assert_eq!(mode(&data), 0o700);
}

#[test]
fn bad_input_changes_nothing() {
    let (_dir, data) = setup();
    let before = snapshot(&data);
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (
            &["org", "create", "Bad_Slug", "--name", "X"],
            None,
            "slug must be",
        ),
        (
            &["org", "create", "../etc", "--name", "X"],
            None,
            "slug must be",
        ),
        (
            &["org", "create", "acme", "--name", "Again"],
            None,
            "already exists",
        ),
        (
            &["org", "create", "new-org", "--name", ""],
            None,
            "name must be",
        ),
        (
            &[
                "user",
                "create",
                "--org",
                "nope",
                "--email",
                "a@b.example",
                "--name",
                "A",
                "--role",
                "employee",
                "--password-stdin",
            ],
            Some("correct horse battery staple"),
            "no organisation nope",
        ),
        (
            &[
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "not-an-email",
                "--name",
                "A",
                "--role",
                "employee",
                "--password-stdin",
            ],
            Some("correct horse battery staple"),
            "valid email",
        ),
        (
            &[
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "a@b.example",
                "--name",
                "A",
                "--role",
                "boss",
                "--password-stdin",
            ],
            Some("correct horse battery staple"),
            "nknown role",
        ),
        (
            &[
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "a@b.example",
                "--name",
                "A",
                "--role",
                "employee",
                "--password-stdin",
            ],
            Some("password1"),
            "at least 12",
        ),
        (
            &[
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "a@b.example",
                "--name",
                "A",
                "--role",
                "employee",
                "--password-stdin",
                "--manager",
                "x@b.example",
            ],
            Some("correct horse battery staple"),
            "--manager",
        ),
        (&["--bogus-flag"], None, "Unexpected argument"),
        (
            &["serve", "--bind", "not-an-address"],
            None,
            "not an address",
        ),
    ];
    for (args, stdin, expected) in cases {
        let out = run(&data, args, *stdin);
        assert_refused(&out, expected);
        let after = snapshot(&data);
        let changed: Vec<_> = after
            .iter()
            .filter(|f| !before.contains(f))
            .map(|f| &f.0)
            .collect();
        assert!(
            changed.is_empty() && before.len() == after.len(),
            "{args:?} changed {changed:?}"
        );
    }
}

#[test]
fn missing_or_corrupt_master_key() {
    let (_dir, data) = setup();
    let key = data.join("master.key");
    let good = std::fs::read(&key).unwrap();

    std::fs::write(&key, b"short").unwrap();
    let before = snapshot(&data);
    assert_refused(&run(&data, &["org", "list"], None), "corrupt");
    assert_refused(
        &run(
            &data,
            &["serve", "--plain-http", "--bind", "127.0.0.1:0"],
            None,
        ),
        "corrupt",
    );
    assert_eq!(before, snapshot(&data));

    // The right length but the wrong key.
    std::fs::write(&key, [7u8; 32]).unwrap();
    assert_refused(&run(&data, &["org", "list"], None), "does not match");

    std::fs::remove_file(&key).unwrap();
    let before = snapshot(&data);
    assert_refused(&run(&data, &["org", "list"], None), "missing");
    assert_refused(
        &run(
            &data,
            &["serve", "--plain-http", "--bind", "127.0.0.1:0"],
            None,
        ),
        "missing",
    );
    // A missing key is never silently replaced by a new one.
    assert!(!key.exists());
    assert_eq!(before, snapshot(&data));

    // Put back as a plain copy would (readable by everyone): refused until made private.
    std::fs::write(&key, &good).unwrap();
    let everyone = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(&key, everyone).unwrap();
    let before = snapshot(&data);
    assert_refused(
        &run(&data, &["org", "list"], None),
        "can be read by other users (mode 644): run chmod 600",
    );
    assert_refused(
        &run(&data, &["org", "list"], None),
        "or give the key in EXPENSEPLUS_MASTER_KEY instead",
    );
    assert_refused(
        &run(
            &data,
            &["serve", "--plain-http", "--bind", "127.0.0.1:0"],
            None,
        ),
        "chmod 600",
    );
    assert_eq!(before, snapshot(&data));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(run(&data, &["org", "list"], None).status.success());
}

#[test]
fn unusable_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert_refused(
        &run(&file, &["org", "create", "acme", "--name", "A"], None),
        "not a directory",
    );
    assert_refused(
        &run(
            &file.join("below"),
            &["org", "create", "acme", "--name", "A"],
            None,
        ),
        "could not be created",
    );
    assert_refused(
        &run(&dir.path().join("absent"), &["org", "list"], None),
        "does not exist",
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn database_from_a_newer_schema_is_refused() {
    let (_dir, data) = setup();
    let org_db = data.join("orgs/acme/org.sqlite");
    {
        let mut conn = SqliteConnection::establish(org_db.to_str().unwrap()).unwrap();
        diesel::sql_query(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000000')",
        )
        .execute(&mut conn)
        .unwrap();
    }
    let before = snapshot(&data);
    let out = run(
        &data,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "a@b.example",
            "--name",
            "A",
            "--role",
            "employee",
            "--password-stdin",
        ],
        Some("correct horse battery staple"),
    );
    assert_refused(&out, "newer version of ExpensePlus");
    assert_eq!(before, snapshot(&data));

    let registry = data.join("registry.sqlite");
    {
        let mut conn = SqliteConnection::establish(registry.to_str().unwrap()).unwrap();
        diesel::sql_query(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000000')",
        )
        .execute(&mut conn)
        .unwrap();
    }
    assert_refused(
        &run(&data, &["org", "list"], None),
        "newer version of ExpensePlus",
    );
}

#[test]
fn user_create_and_rotate_master() {
    let (_dir, data) = setup();
    let out = run(
        &data,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "Ada@Acme.Example",
            "--name",
            "Ada Lovelace",
            "--role",
            "employee,manager",
            "--password-stdin",
        ],
        Some("correct horse battery staple\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &data,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "ada@acme.example",
            "--name",
            "Ada Again",
            "--role",
            "employee",
            "--password-stdin",
        ],
        Some("correct horse battery staple\n"),
    );
    assert_refused(&out, "already exists");
    // Two registry copies beside the backups, each with acme's key under this master key.
    let backups = data.parent().unwrap().join("backups");
    let b = backups.to_str().unwrap();
    for _ in 0..2 {
        let made = run(&data, &["backup", "run", "--backup-dir", b], None);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let copies = || -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = std::fs::read_dir(backups.join("_registry"))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("registry.sqlite"))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        found
    };
    assert_eq!(copies().len(), 2);
    let old_copy = std::fs::read(&copies()[0]).unwrap();
    let wrapped = |path: &Path| -> Vec<u8> {
        #[derive(QueryableByName)]
        struct Key {
            #[diesel(sql_type = diesel::sql_types::Binary)]
            wrapped_key: Vec<u8>,
        }
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query("SELECT wrapped_key FROM organisations")
            .get_result::<Key>(&mut conn)
            .unwrap()
            .wrapped_key
    };
    let retired = wrapped(&copies()[0]);

    let out = run(&data, &["keys", "rotate-master", "--backup-dir", b], None);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("re-wrapped 1 organisation key"), "{said}");
    assert!(said.contains("replaced the 2 registry cop(ies)"), "{said}");
    assert!(run(&data, &["org", "list"], None).status.success());
    // One copy is left, holding the key as the live registry now wraps it; the key
    // under the retired master key is nowhere beside the backups or in the registry.
    let left = copies();
    assert_eq!(left.len(), 1);
    let live = wrapped(&data.join("registry.sqlite"));
    assert_eq!(wrapped(&left[0]), live);
    assert_ne!(live, retired);
    assert_ne!(std::fs::read(&left[0]).unwrap(), old_copy);
    for (path, bytes) in common::all_files(&backups)
        .into_iter()
        .chain(common::all_files(&data))
    {
        assert!(
            !bytes.windows(retired.len()).any(|w| w == retired),
            "the key under the retired master key is still in {}",
            path.display()
        );
    }
}

#[test]
fn audit_verify_reports_an_intact_chain_and_unknown_organisations() {
    let (_dir, data) = setup();
    let out = run(&data, &["audit", "verify", "--org", "acme"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "audit log of acme: 0 entries, chain intact\n\
         no sealed backup in backups records an entry to compare with\n"
    );
    let before = snapshot(&data);
    assert_refused(
        &run(&data, &["audit", "verify", "--org", "nope"], None),
        "There is no organisation nope.",
    );
    assert_refused(
        &run(&data, &["audit", "verify", "--org", "../x"], None),
        "slug must be",
    );
    assert_eq!(before, snapshot(&data));
}

#[test]
fn audit_verify_names_the_first_tampered_entry() {
    use expenseplus::audit::{self, Action};
    let (_dir, data) = setup();
    {
        let registry = expenseplus::tenancy::Registry::open(
            &data,
            false,
            expenseplus::tenancy::Usage::Command,
        )
        .unwrap();
        let record = registry.find_by_slug("acme").unwrap().unwrap();
        let org = registry.open_org(&record).unwrap();
        for detail in ["a", "b", "c", "d"] {
            audit::record(&org, None, None, Action::PolicyChanged, detail).unwrap();
        }
        let mut conn = org.conn().unwrap();
        diesel::sql_query("DROP TRIGGER audit_log_no_update")
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query("UPDATE audit_log SET detail = 'x' WHERE id = 3")
            .execute(&mut conn)
            .unwrap();
    }
    let out = run(&data, &["audit", "verify", "--org", "acme"], None);
    assert_refused(&out, "audit entry 3 does not match");
    assert!(out.stdout.is_empty());
}

#[test]
fn demo_refuses_to_run_twice() {
    let (_dir, data) = setup();
    let out = run(&data, &["demo"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split('\t').count() == 3)
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("employee\temployee@demo.example\t"));
    let before = snapshot(&data);
    assert_refused(&run(&data, &["demo"], None), "already exists");
    assert_eq!(before, snapshot(&data));
    let out = run(&data, &["org", "list"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("demo\tDemo Ltd\n"));
    // Last: opening the organisation here makes and removes -wal/-shm files.
    // The sample claims cover every state a claim can be in but "awaiting finance".
    {
        use expenseplus::expenses::claims::{self, ClaimFields, ListFilter};
        use expenseplus::tenancy::{Registry, Usage};
        let registry = Registry::open(&data, false, Usage::Command).unwrap();
        let org = registry
            .open_org(&registry.find_by_slug("demo").unwrap().unwrap())
            .unwrap();
        let employee = expenseplus::auth::users::find_by_email(&org, "employee@demo.example")
            .unwrap()
            .unwrap();
        let mut states: Vec<String> =
            claims::list_own(&org, employee.user_id(), &ListFilter::default(), None, 50)
                .unwrap()
                .iter()
                .map(|c| c.status().code().to_owned())
                .collect();
        states.sort();
        assert_eq!(
            states,
            ["approved", "draft", "paid", "rejected", "submitted"]
        );
    }
}

/// An organisation's database emptied (truncated, a copy gone wrong) is refused as
/// damaged, and left as it is: SQLite took it for a new database, and the migrations
/// built fresh tables, so the organisation was served, and backed up, with no one in it.
#[test]
fn an_emptied_organisation_database_is_refused_not_rebuilt() {
    let (_dir, data) = setup();
    let org_dir = data.join("orgs").join("acme");
    for file in ["org.sqlite", "keys.sqlite"] {
        let path = org_dir.join(file);
        let kept = std::fs::read(&path).unwrap();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(org_dir.join(format!("{file}{suffix}")));
        }
        std::fs::write(&path, b"").unwrap();
        assert_refused(
            &run(&data, &["audit", "verify", "--org", "acme"], None),
            "holds no ExpensePlus data",
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "{file} left as it was"
        );
        std::fs::write(&path, &kept).unwrap();
        let fine = run(&data, &["audit", "verify", "--org", "acme"], None);
        assert!(
            fine.status.success(),
            "{}",
            String::from_utf8_lossy(&fine.stderr)
        );
    }
}
