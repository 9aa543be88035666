//! Ids and form keys that are never given twice.
//!
//! SQLite gives the highest rowid again once that row is deleted. A discarded draft's
//! id would then name the next claim anyone starts: a page still open on the old claim
//! could act on the new one (same id, same starting version), and the audit log would
//! tell two claims' stories under one id. Every insert into these tables takes its id
//! from [`next`], which remembers the highest ever given.
//!
//! A form key makes a posted form safe to post twice. Keys of claims and lines that
//! are gone, and of lines edited since (an edit puts its own key on the line), are
//! kept by [`spend`], so posting the old form again is still seen as a repeat.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use crate::db::schema::org::{claim_lines, spent_form_keys};

#[derive(Debug, Clone, Copy)]
pub enum Table {
    Claims,
    Lines,
    Receipts,
    Delegations,
}

impl Table {
    /// The statement that takes the next id: one above both the highest id given and
    /// the highest present (rows can arrive without the counter, e.g. a restore of an
    /// older backup). One statement, as it runs inside every writer's turn.
    fn next_sql(self) -> &'static str {
        macro_rules! next_of {
            ($table:literal) => {
                concat!(
                    "INSERT INTO id_high_water (tbl, last) VALUES ('",
                    $table,
                    "', COALESCE((SELECT MAX(id) FROM ",
                    $table,
                    "), 0) + 1) ON CONFLICT (tbl) DO UPDATE SET last = MAX(last + 1, excluded.last) \
                     RETURNING last"
                )
            };
        }
        match self {
            Table::Claims => next_of!("claims"),
            Table::Lines => next_of!("claim_lines"),
            Table::Receipts => next_of!("receipts"),
            Table::Delegations => next_of!("delegations"),
        }
    }
}

#[derive(QueryableByName)]
struct Last {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last: i64,
}

/// The id for a new row of `table`, above every id it has ever held. Call inside the
/// write transaction that inserts the row.
pub fn next(c: &mut SqliteConnection, table: Table) -> QueryResult<i64> {
    let taken: Last = diesel::sql_query(table.next_sql()).get_result(c)?;
    Ok(taken.last)
}

/// Keeps form keys whose row is going away or being re-keyed, with their claim.
pub fn spend<'a>(
    c: &mut SqliteConnection,
    keys: impl IntoIterator<Item = (&'a str, i64)>,
) -> QueryResult<()> {
    for (key, claim_id) in keys {
        diesel::insert_or_ignore_into(spent_form_keys::table)
            .values((
                spent_form_keys::form_key.eq(key),
                spent_form_keys::claim_id.eq(claim_id),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// The claim a spent form key was used on, if it was spent.
pub fn spent_on(c: &mut SqliteConnection, key: &str) -> QueryResult<Option<i64>> {
    spent_form_keys::table
        .find(key)
        .select(spent_form_keys::claim_id)
        .first(c)
        .optional()
}

/// The claim a line form key added a line to: on a line now, or spent (the line was
/// edited or removed since, or its claim discarded).
pub fn line_key_used_on(c: &mut SqliteConnection, key: &str) -> QueryResult<Option<i64>> {
    let live: Option<i64> = claim_lines::table
        .filter(claim_lines::form_key.eq(key))
        .select(claim_lines::claim_id)
        .first(c)
        .optional()?;
    match live {
        Some(claim) => Ok(Some(claim)),
        None => spent_on(c, key),
    }
}
