//! The command line's guards: no master key rotation beside a server, no serve flag
//! silently dropped, clap errors that name what is wrong, and no panic on a closed pipe.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::snapshot;

const BIN: &str = env!("CARGO_BIN_EXE_expenseplus");

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("EXPENSEPLUS_MASTER_KEY")
        .env_remove("EXPENSEPLUS_BACKUP_DIR")
        .env_remove("EXPENSEPLUS_BIND")
        .env("RUST_LOG", "off")
        .stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("run")
}

fn data_arg(data: &Path) -> &str {
    data.to_str().unwrap()
}

/// Exit 1 with exactly one line on stderr that contains each of `expected`.
fn assert_refused(out: &Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    for e in expected {
        assert!(stderr.contains(e), "{e:?} not in {stderr:?}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&[
        "--data-dir",
        data_arg(&data),
        "org",
        "create",
        "acme",
        "--name",
        "Acme Ltd",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, data)
}

#[test]
fn rotate_master_is_refused_while_a_server_runs() {
    let (_dir, data) = setup();
    // What a running `serve` holds for its whole life.
    let serving = expenseplus::tenancy::serving::claim(&data).unwrap();
    let before = snapshot(&data);
    let out = run(&["--data-dir", data_arg(&data), "keys", "rotate-master"]);
    assert_refused(
        &out,
        &[
            "An ExpensePlus server is running on this data dir",
            "rotating the master key",
        ],
    );
    assert!(out.stdout.is_empty());
    assert_eq!(before, snapshot(&data));
    assert!(!data.join("master.key.next").exists());

    drop(serving);
    let out = run(&["--data-dir", data_arg(&data), "keys", "rotate-master"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(before, snapshot(&data));
    let out = run(&["--data-dir", data_arg(&data), "org", "list"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "acme\tAcme Ltd\n");
}

#[test]
fn serve_flags_before_a_command_are_refused_not_ignored() {
    let (dir, data) = setup();
    let offsite = dir.path().join("offsite");
    let offsite = offsite.to_str().unwrap();
    let before = snapshot(&data);
    for (args, flag, name) in [
        (
            vec!["--backup-dir", offsite, "backup", "run"],
            "--backup-dir",
            "backup",
        ),
        (
            vec!["--backup-dir", offsite, "serve", "--plain-http"],
            "--backup-dir",
            "serve",
        ),
        (
            vec!["--bind", "127.0.0.1:0", "--keep-daily", "3", "org", "list"],
            "--bind, --keep-daily",
            "org",
        ),
    ] {
        let mut full = vec!["--data-dir", data_arg(&data)];
        full.extend(args);
        assert_refused(
            &run(&full),
            &[flag, &format!("before the command {name}"), "after"],
        );
    }
    assert_eq!(before, snapshot(&data));
    assert!(!Path::new(offsite).exists());
    assert!(!dir.path().join("backups").exists());

    // --data-dir is global: before or after the command, it is used.
    let out = run(&["org", "list", "--data-dir", data_arg(&data)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "acme\tAcme Ltd\n");
    // After the command, the flag is the command's own and is used.
    let out = run(&[
        "--data-dir",
        data_arg(&data),
        "backup",
        "run",
        "--backup-dir",
        offsite,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(offsite).join("acme").is_dir());
    // The environment reaches the command as before.
    let out = command(&["--data-dir", data_arg(&data), "backup", "list"])
        .env("EXPENSEPLUS_BACKUP_DIR", offsite)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("acme\t"));
    // Without a command the flags are serve's (here refused for the bad address, which
    // shows they were read).
    assert_refused(
        &run(&["--data-dir", data_arg(&data), "--bind", "not-an-address"]),
        &["not an address"],
    );
}

#[test]
fn a_clap_error_names_what_is_missing_in_one_line() {
    let (_dir, data) = setup();
    let d = data_arg(&data);
    assert_refused(
        &run(&["--data-dir", d, "org", "create", "globex"]),
        &["required arguments were not provided: --name"],
    );
    assert_refused(
        &run(&[
            "--data-dir",
            d,
            "user",
            "create",
            "--org",
            "acme",
            "--password-stdin",
        ]),
        &["--email <EMAIL>", "--name <NAME>", "--role <ROLE>"],
    );
    assert_refused(
        &run(&["--data-dir", d, "org"]),
        &["A command is missing", "expenseplus org"],
    );
    assert_refused(&run(&["--data-dir", d, "--bogus-flag"]), &["--bogus-flag"]);
}

#[test]
fn a_closed_pipe_on_stdout_is_not_a_panic() {
    let (_dir, data) = setup();
    let (reader, writer) = std::io::pipe().unwrap();
    // The reader is gone before the command writes: like `| head -0`.
    drop(reader);
    let out = command(&["--data-dir", data_arg(&data), "org", "list"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// A command from a newer build beside a server of an older one: opening the
/// organisation would upgrade its data under that server, whose queries would then
/// fail. Refused, with nothing upgraded; beside a server of this build it goes ahead.
#[test]
fn a_command_does_not_upgrade_the_data_under_an_older_server() {
    use diesel::prelude::*;
    use diesel_migrations::MigrationHarness;
    use expenseplus::db::ORG_MIGRATIONS;
    let (_dir, data) = setup();
    let org_db = data.join("orgs").join("acme").join("org.sqlite");
    let pending = || {
        let mut conn = SqliteConnection::establish(org_db.to_str().unwrap()).unwrap();
        conn.has_pending_migration(ORG_MIGRATIONS).unwrap()
    };
    // As an older build left it: the newest migration not yet applied.
    let mut conn = SqliteConnection::establish(org_db.to_str().unwrap()).unwrap();
    conn.revert_last_migration(ORG_MIGRATIONS).unwrap();
    drop(conn);
    // An older server runs: its lock names an older schema.
    let older = expenseplus::tenancy::serving::claim(&data).unwrap();
    std::fs::write(data.join("serve.lock"), "org 20251101000001\n").unwrap();
    let verify = [
        "--data-dir",
        data_arg(&data),
        "audit",
        "verify",
        "--org",
        "acme",
    ];
    let out = run(&verify);
    assert_refused(
        &out,
        &[
            "An older ExpensePlus server is running on this data dir",
            "upgrade and restart the server first",
        ],
    );
    assert!(pending(), "nothing was upgraded");
    drop(older);

    let current = expenseplus::tenancy::serving::claim(&data).unwrap();
    let out = run(&verify);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!pending());
    drop(current);
}
