//! What a restore keeps from the live data instead of taking it from the backup.
//!
//! A restore puts the organisation's expense data back as it was. Its duties to the
//! people in it do not go back: a restriction applied since the backup must go on
//! holding (GDPR Art. 18), an erasure scheduled since must still happen, a request
//! logged since keeps its deadline, a breach recorded since stays in the register, and
//! the audit entries written since stay in the log. So these registers keep their live
//! rows, and the live audit entries after the backup's last one are kept when they
//! continue its hash chain. Rows about people the backup does not know (they were
//! added after it) go, with those people. Each step is best effort: a live database
//! too damaged to read gives the backup's rows, and the restore says how much it kept.
//!
//! Nor do the people themselves go back: a leaver deactivated since stays out, a
//! password changed or reset after a compromise stays changed, roles taken away stay
//! away, a recovery code or reset link used since stays used, and details the DPO
//! rectified stay right (Art. 16). So everyone in both copies keeps their live account.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary};
use diesel::sqlite::SqliteConnection;

use super::restore::Count;
use super::{sql_ident, sql_literal};

/// The registers whose live rows survive a restore. Parents before children: a note
/// whose request went with its subject goes too.
const KEPT_TABLES: [&str; 6] = [
    "privacy_flags",
    "privacy_requests",
    "privacy_request_notes",
    "breaches",
    "processor_notices",
    "retention_log",
];

/// Sign-in secrets kept whole from the live data (less rows of people the backup
/// lacks): a code or link used since the backup must not work again.
const ACCOUNT_TABLES: [&str; 2] = ["recovery_codes", "reset_tokens"];

/// The columns of `users` a person in both copies keeps from the live data: all but
/// their id, key and creation time.
const LIVE_USER_COLUMNS: [&str; 12] = [
    "email_index",
    "email",
    "name",
    "roles",
    "manager_id",
    "password_hash",
    "totp_secret",
    "totp_last_step",
    "mfa_enabled",
    "active",
    "session_version",
    "updated_at",
];

/// Bookkeeping merged from both: an id given out since the backup is never given
/// again (it may be named in a kept audit entry), a form key used since stays used.
const MERGED: [(&str, &str); 2] = [
    (
        "id_high_water",
        "INSERT OR REPLACE INTO main.id_high_water (tbl, last) \
         SELECT tbl, MAX(last) FROM (SELECT tbl, last FROM main.id_high_water \
         UNION ALL SELECT tbl, last FROM temp.kept_id_high_water) GROUP BY tbl",
    ),
    (
        "spent_form_keys",
        "INSERT OR IGNORE INTO main.spent_form_keys SELECT * FROM temp.kept_spent_form_keys",
    ),
];

/// How much of the live data a restore kept, and what it could not read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Kept {
    /// Rows of the privacy registers kept from the live data.
    pub register_rows: i64,
    /// Of those, rows left out: about people the backup does not have.
    pub dropped_rows: i64,
    /// Audit entries written since the backup, kept after its own.
    pub audit_entries: i64,
    /// People in both copies whose account (sign-in, roles, status, details) is live.
    pub people: i64,
    /// Registers (or "audit_log") whose live rows could not be read or did not fit:
    /// the backup's rows stand there.
    pub not_kept: Vec<String>,
}

#[derive(QueryableByName)]
struct Hash {
    #[diesel(sql_type = Binary)]
    hash: Vec<u8>,
}

#[derive(QueryableByName)]
struct Violation {
    #[diesel(sql_type = BigInt)]
    rowid: i64,
}

fn temp_name(table: &str) -> String {
    sql_ident(&format!("kept_{table}"))
}

/// Copies the live rows of the kept registers, and the audit entries written after
/// the backup's last one, to temporary tables before the swap replaces them. Run in
/// the restore's transaction, with the backup attached as `source`.
pub(super) fn stash(conn: &mut SqliteConnection, source: &str, kept: &mut Kept) {
    let merged = MERGED.iter().map(|(table, _)| *table);
    for table in KEPT_TABLES
        .into_iter()
        .chain(ACCOUNT_TABLES)
        .chain(merged)
        .chain(["users"])
    {
        let sql = format!(
            "CREATE TEMP TABLE {} AS SELECT * FROM main.{}",
            temp_name(table),
            sql_ident(table)
        );
        if let Err(e) = conn.batch_execute(&sql) {
            log::warn!("restore: the live {table} could not be read, the backup's stands: {e}");
            kept.not_kept.push(table.to_owned());
        }
    }
    let sql = format!(
        "CREATE TEMP TABLE {} AS SELECT * FROM main.audit_log \
         WHERE id > (SELECT COALESCE(MAX(id), 0) FROM {source}.audit_log)",
        temp_name("audit_log")
    );
    if let Err(e) = conn.batch_execute(&sql) {
        log::warn!("restore: the live audit log could not be read: {e}");
        kept.not_kept.push("audit_log".to_owned());
    }
}

/// Puts the stashed rows back over the backup's, once its rows are in `main`: the
/// registers whole (less rows about people the backup lacks), the audit entries only
/// if the live log's entry at the backup's last id is the backup's own (the same
/// chain), so the log still verifies. Run before the audit log's triggers return.
pub(super) fn put_back(conn: &mut SqliteConnection, kept: &mut Kept) -> QueryResult<()> {
    keep_live_people(conn, kept)?;
    for table in KEPT_TABLES.into_iter().chain(ACCOUNT_TABLES) {
        if kept.not_kept.iter().any(|t| t == table) {
            continue;
        }
        let (main, temp) = (sql_ident(table), temp_name(table));
        conn.batch_execute(&format!(
            "DELETE FROM main.{main}; INSERT INTO main.{main} SELECT * FROM temp.{temp}; \
             DROP TABLE temp.{temp};"
        ))?;
        let n: Count =
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM main.{main}")).get_result(conn)?;
        let orphans: Vec<Violation> = diesel::sql_query(format!(
            "SELECT rowid FROM pragma_foreign_key_check({}, 'main')",
            sql_literal(table)
        ))
        .load(conn)?;
        for o in &orphans {
            diesel::sql_query(format!("DELETE FROM main.{main} WHERE rowid = ?"))
                .bind::<BigInt, _>(o.rowid)
                .execute(conn)?;
        }
        if KEPT_TABLES.contains(&table) {
            kept.register_rows += n.n - orphans.len() as i64;
            kept.dropped_rows += orphans.len() as i64;
        }
    }
    for (table, merge) in MERGED {
        if !kept.not_kept.iter().any(|t| t == table) {
            conn.batch_execute(merge)?;
            conn.batch_execute(&format!("DROP TABLE temp.{}", temp_name(table)))?;
        }
    }
    if kept.not_kept.iter().any(|t| t == "audit_log") {
        return Ok(());
    }
    let temp = temp_name("audit_log");
    let first: Option<i64> =
        diesel::sql_query(format!("SELECT COALESCE(MIN(id), 0) AS n FROM temp.{temp}"))
            .get_result::<Count>(conn)
            .map(|c| (c.n > 0).then_some(c.n))?;
    if let Some(first) = first {
        // The backup's last entry, and what the first kept entry says came before it.
        let last: Option<Hash> =
            diesel::sql_query("SELECT hash FROM main.audit_log ORDER BY id DESC LIMIT 1")
                .get_result(conn)
                .optional()?;
        let before: Hash = diesel::sql_query(format!(
            "SELECT prev_hash AS hash FROM temp.{temp} WHERE id = ?"
        ))
        .bind::<BigInt, _>(first)
        .get_result(conn)?;
        // A backup with no entries yet: the live log must begin the chain itself.
        let last = last.map_or_else(|| crate::audit::GENESIS.to_vec(), |h| h.hash);
        if last == before.hash {
            conn.batch_execute(&format!(
                "INSERT INTO main.audit_log SELECT * FROM temp.{temp} ORDER BY id"
            ))?;
            let n: Count = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM temp.{temp}"))
                .get_result(conn)?;
            kept.audit_entries = n.n;
        } else {
            log::warn!(
                "restore: the live audit log does not continue the backup's; its later entries are not kept"
            );
            kept.not_kept.push("audit_log".to_owned());
        }
    }
    conn.batch_execute(&format!("DROP TABLE temp.{temp}"))?;
    Ok(())
}

/// Gives everyone in both copies their live account (see the module docs). A manager
/// the backup does not have leaves the backup's; a person whose key differs (not made
/// by this product) keeps the backup's row, whose sealed values that key opens. Their
/// email indexes are first set to unique placeholders: SQLite checks `UNIQUE` row by
/// row, so two people who swapped addresses since the backup would collide half-way.
/// Unlike the registers, a failure here fails the restore: carrying on would bring
/// back leavers and old passwords.
fn keep_live_people(conn: &mut SqliteConnection, kept: &mut Kept) -> QueryResult<()> {
    if kept.not_kept.iter().any(|t| t == "users") {
        return Ok(());
    }
    let temp = temp_name("users");
    // The people in both copies, each joined to their live row as `k`.
    let matched = format!(
        "FROM temp.{temp} AS k WHERE k.id = users.id AND k.person_key_id = users.person_key_id"
    );
    conn.batch_execute(&format!(
        "UPDATE main.users SET email_index = randomblob(32) {matched}"
    ))?;
    let set = LIVE_USER_COLUMNS
        .iter()
        .map(|c| match *c {
            "manager_id" => "manager_id = CASE WHEN k.manager_id IS NULL OR EXISTS \
                 (SELECT 1 FROM main.users m WHERE m.id = k.manager_id) \
                 THEN k.manager_id ELSE users.manager_id END"
                .to_owned(),
            c => format!("{0} = k.{0}", sql_ident(c)),
        })
        .collect::<Vec<_>>()
        .join(", ");
    conn.batch_execute(&format!("UPDATE main.users SET {set} {matched}"))?;
    let n: Count = diesel::sql_query("SELECT changes() AS n").get_result(conn)?;
    kept.people = n.n;
    conn.batch_execute(&format!("DROP TABLE temp.{temp}"))
}
