//! Discarding a draft: its owner throws away a claim they will not submit, with its
//! lines, receipts and history. Claims leave the database only here and through
//! retention, which share [`delete_rows`].

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::claims::{self, ClaimError, ClaimFields};
use super::status::Status;
use crate::audit::{self, Action};
use crate::db::schema::org::{claim_events, claim_lines, claims as claims_t, receipts};
use crate::ids::UserId;
use crate::tenancy::Org;

/// Deletes these claims and everything hanging off them (receipts, lines, history).
/// The databases zero what they delete (`secure_delete`). Miles on the deleted lines
/// no longer count: their owners' draft mileage is priced again.
pub fn delete_rows(c: &mut SqliteConnection, ids: &[i64]) -> QueryResult<()> {
    let mut owners = Vec::new();
    for chunk in ids.chunks(500) {
        owners.extend(
            claims_t::table
                .filter(claims_t::id.eq_any(chunk))
                .select(claims_t::owner_id)
                .distinct()
                .load::<i64>(c)?,
        );
    }
    owners.sort_unstable();
    owners.dedup();
    for chunk in ids.chunks(500) {
        // Forms that made these claims and lines, posted again, stay repeats.
        let mut keys: Vec<(String, i64)> = claims_t::table
            .filter(claims_t::id.eq_any(chunk))
            .filter(claims_t::form_key.is_not_null())
            .select((claims_t::form_key.assume_not_null(), claims_t::id))
            .load(c)?;
        keys.extend(
            claim_lines::table
                .filter(claim_lines::claim_id.eq_any(chunk))
                .filter(claim_lines::form_key.is_not_null())
                .select((
                    claim_lines::form_key.assume_not_null(),
                    claim_lines::claim_id,
                ))
                .load::<(String, i64)>(c)?,
        );
        super::row_ids::spend(c, keys.iter().map(|(k, id)| (k.as_str(), *id)))?;
        diesel::delete(receipts::table.filter(receipts::claim_id.eq_any(chunk))).execute(c)?;
        diesel::delete(claim_events::table.filter(claim_events::claim_id.eq_any(chunk)))
            .execute(c)?;
        diesel::delete(claim_lines::table.filter(claim_lines::claim_id.eq_any(chunk)))
            .execute(c)?;
        diesel::delete(claims_t::table.filter(claims_t::id.eq_any(chunk))).execute(c)?;
    }
    for owner in owners {
        super::mileage::reprice_drafts_in(c, UserId(owner))?;
    }
    Ok(())
}

/// Discards the owner's draft claim as their page showed it (`seen_version`; without
/// one, as it is now). Only drafts, only the owner's, not while their data is
/// restricted; a claim changed since the page was shown is left alone (`Stale`).
pub fn discard(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    seen_version: Option<i64>,
) -> Result<(), ClaimError> {
    let claim = claims::get(org, claim_id)?;
    if claim.owner_id != owner.0 {
        return Err(ClaimError::NotFound);
    }
    if claim.status() != Status::Draft {
        return Err(ClaimError::Invalid(
            "only a draft can be discarded; this claim has been submitted".into(),
        ));
    }
    claims::if_restricted(org, owner)?;
    let version = seen_version.unwrap_or(claim.version);
    org.write(|c| -> Result<(), ClaimError> {
        // Still this owner's draft, as seen: else someone (another tab) changed it.
        let still: i64 = claims_t::table
            .find(claim_id)
            .filter(claims_t::version.eq(version))
            .filter(claims_t::status.eq(Status::Draft.code()))
            .count()
            .get_result(c)?;
        if still != 1 {
            return Err(ClaimError::Stale);
        }
        delete_rows(c, &[claim_id])?;
        audit::append(
            c,
            Some(owner),
            Some(owner),
            Action::ClaimDiscarded,
            &format!("claim {claim_id}"),
        )?;
        Ok(())
    })
}
