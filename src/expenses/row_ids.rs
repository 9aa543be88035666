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

use crate::db::schema::org::{
    claim_lines, claims, delegations, id_high_water, receipts, spent_form_keys,
};

#[derive(Debug, Clone, Copy)]
pub enum Table {
    Claims,
    Lines,
    Receipts,
    Delegations,
}

impl Table {
    fn code(self) -> &'static str {
        match self {
            Table::Claims => "claims",
            Table::Lines => "claim_lines",
            Table::Receipts => "receipts",
            Table::Delegations => "delegations",
        }
    }

    fn max_present(self, c: &mut SqliteConnection) -> QueryResult<Option<i64>> {
        use diesel::dsl::max;
        match self {
            Table::Claims => claims::table.select(max(claims::id)).first(c),
            Table::Lines => claim_lines::table.select(max(claim_lines::id)).first(c),
            Table::Receipts => receipts::table.select(max(receipts::id)).first(c),
            Table::Delegations => delegations::table.select(max(delegations::id)).first(c),
        }
    }
}

/// The id for a new row of `table`, above every id it has ever held. Call inside the
/// write transaction that inserts the row.
pub fn next(c: &mut SqliteConnection, table: Table) -> QueryResult<i64> {
    let given: Option<i64> = id_high_water::table
        .find(table.code())
        .select(id_high_water::last)
        .first(c)
        .optional()?;
    // Rows can also arrive without this counter (a restore of an older backup).
    let present = table.max_present(c)?;
    let id = given.max(present).unwrap_or(0) + 1;
    diesel::replace_into(id_high_water::table)
        .values((
            id_high_water::tbl.eq(table.code()),
            id_high_water::last.eq(id),
        ))
        .execute(c)?;
    Ok(id)
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
