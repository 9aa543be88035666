//! Migrations that change data, not just the schema: run on a database left as the
//! migration before them would find it, then checked row by row.

#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::MigrationHarness;
use expenseplus::db::ORG_MIGRATIONS;

/// An in-memory organisation database with every migration before `name` applied.
fn migrated_up_to(name: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(":memory:").unwrap();
    loop {
        let pending = conn.pending_migrations(ORG_MIGRATIONS).unwrap();
        let next = pending.first().expect("the migration exists");
        if next.name().to_string().contains(name) {
            return conn;
        }
        conn.run_next_migration(ORG_MIGRATIONS).unwrap();
    }
}

#[derive(QueryableByName)]
struct Secret {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    kept: Option<i64>,
}

#[test]
fn unconfirmed_totp_secrets_are_cleared_and_confirmed_ones_kept() {
    let mut conn = migrated_up_to("clear_pending_totp");
    // Person 1 was offered a secret and never confirmed it; person 2 confirmed theirs;
    // person 3 never started.
    diesel::sql_query(
        "INSERT INTO users (id, person_key_id, email_index, email, name, roles, \
         totp_secret, mfa_enabled, created_at, updated_at) VALUES \
         (1, 11, x'01', x'00', x'00', 'employee', x'AA', 0, 0, 0), \
         (2, 12, x'02', x'00', x'00', 'employee', x'BB', 1, 0, 0), \
         (3, 13, x'03', x'00', x'00', 'employee', NULL, 0, 0, 0)",
    )
    .execute(&mut conn)
    .unwrap();

    conn.run_pending_migrations(ORG_MIGRATIONS).unwrap();

    let rows: Vec<Secret> =
        diesel::sql_query("SELECT id, length(totp_secret) AS kept FROM users ORDER BY id")
            .load(&mut conn)
            .unwrap();
    let kept: Vec<(i64, Option<i64>)> = rows.into_iter().map(|r| (r.id, r.kept)).collect();
    assert_eq!(kept, vec![(1, None), (2, Some(1)), (3, None)]);
}
