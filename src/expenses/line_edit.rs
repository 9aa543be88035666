//! Changing and removing lines of a draft claim, by its owner only. Both carry the
//! claim's `version` from the page the owner saw: if the claim changed since, nothing
//! happens (`ClaimError::Stale`). Both are safe to post twice: an edit remembers its
//! form key on the line, a removal is remembered in `removed_lines`. The claim's total
//! is recomputed in the same transaction. Nothing here knows about HTTP.

use diesel::prelude::*;

use super::claims::{self, AddLine, ClaimError, ClaimFields, ClaimRow, LineInput, LineRow};
use super::lines;
use super::receipts::{self, ReceiptMeta, Upload};
use super::row_ids;
use super::status::Status;
use crate::audit::{self, Action};
use crate::db::now_unix;
use crate::db::schema::org::{
    claim_lines, claims as claims_t, receipts as receipts_t, removed_lines,
};
use crate::ids::UserId;
use crate::tenancy::Org;

/// The owner's claim and one of its lines; anything else is `NotFound`.
fn owned_line(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    line_id: i64,
) -> Result<(ClaimRow, Option<LineRow>), ClaimError> {
    let claim = claims::get(org, claim_id)?;
    if claim.owner_id != owner.0 {
        return Err(ClaimError::NotFound);
    }
    let mut conn = org.conn()?;
    let line = claim_lines::table
        .filter(claim_lines::id.eq(line_id))
        .filter(claim_lines::claim_id.eq(claim_id))
        .select(LineRow::as_select())
        .first(&mut conn)
        .optional()?;
    Ok((claim, line))
}

/// A line of the owner's claim with its receipt, for the edit form.
pub fn for_edit(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    line_id: i64,
) -> Result<(ClaimRow, LineRow, Option<ReceiptMeta>), ClaimError> {
    let (claim, line) = owned_line(org, owner, claim_id, line_id)?;
    let line = line.ok_or(ClaimError::NotFound)?;
    let receipt = receipts::for_claim(org, claim_id)?
        .into_iter()
        .find(|r| r.line_id == Some(line_id));
    Ok((claim, line, receipt))
}

/// Whether the claim had this line and it was removed.
fn was_removed(org: &Org, claim_id: i64, line_id: i64) -> Result<bool, ClaimError> {
    let mut conn = org.conn()?;
    let gone: i64 = removed_lines::table
        .filter(removed_lines::line_id.eq(line_id))
        .filter(removed_lines::claim_id.eq(claim_id))
        .count()
        .get_result(&mut conn)?;
    Ok(gone > 0)
}

fn only_drafts() -> ClaimError {
    ClaimError::Invalid("only a draft claim can be changed".into())
}

/// Replaces a line of the owner's draft claim with what was typed (checked exactly as
/// a new line); a new receipt replaces the line's old one, no file keeps it.
pub fn update(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    line_id: i64,
    seen_version: i64,
    input: &LineInput,
    upload: Upload,
) -> Result<AddLine, ClaimError> {
    let (claim, line) = owned_line(org, owner, claim_id, line_id)?;
    let Some(line) = line else {
        return Err(if was_removed(org, claim_id, line_id)? {
            ClaimError::LineGone
        } else {
            ClaimError::NotFound
        });
    };
    // This very form was saved already (a double post): nothing more to do.
    if !input.form_key.is_empty() && line.form_key.as_deref() == Some(input.form_key.as_str()) {
        return Ok(AddLine::Added);
    }
    if claim.version != seen_version {
        return Err(ClaimError::Stale);
    }
    if !claim.status().editable() {
        return Err(only_drafts());
    }
    let valid = lines::validate_for(org, owner, claim_id, input, Some(&line))?;
    let receipt = upload.checked(org, owner)?;
    let (valid, receipt) = match (valid, receipt) {
        (Ok(v), Ok(r)) => (v, r),
        (v, r) => {
            let mut errors = v.err().unwrap_or_default();
            if let Err(msg) = r {
                errors.add("receipt", msg);
            }
            return Ok(AddLine::Invalid(errors));
        }
    };
    let sealed = match &receipt {
        Some(r) => Some(receipts::seal(org, valid.owner_key(), r)?),
        None => None,
    };
    let done = org.write(|c| -> Result<(), ClaimError> {
        // A form key already on another line: a form replayed against the wrong line.
        let used: i64 = match &valid.form_key {
            Some(key) => claim_lines::table
                .filter(claim_lines::form_key.eq(key))
                .filter(claim_lines::id.ne(line_id))
                .count()
                .get_result(c)?,
            None => 0,
        };
        if used > 0 {
            return Err(ClaimError::Invalid(
                "this form was used already; open the line again to change it".into(),
            ));
        }
        // Mileage as checked is provisional: priced again below, once written.
        let (amount, base_minor, m) = (valid.amount, valid.base_minor, valid.mileage);
        // Removed in another tab meanwhile: the page is out of date, not a failure.
        let old_base: i64 = claim_lines::table
            .find(line_id)
            .select(claim_lines::base_minor)
            .first(c)
            .optional()?
            .ok_or(ClaimError::LineGone)?;
        let n = diesel::update(
            claims_t::table
                .find(claim_id)
                .filter(claims_t::version.eq(seen_version))
                .filter(claims_t::status.eq(Status::Draft.code())),
        )
        .set((
            claims_t::total_minor.eq(claims_t::total_minor - old_base + base_minor),
            claims_t::version.eq(claims_t::version + 1),
            claims_t::updated_at.eq(now_unix()),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(ClaimError::Stale);
        }
        // The key that made the line (or its last edit) stays a repeat once replaced.
        if let Some(old) = line.form_key.as_deref() {
            row_ids::spend(c, [(old, claim_id)])?;
        }
        diesel::update(claim_lines::table.find(line_id))
            .set((
                claim_lines::spent_on.eq(valid.date.to_string()),
                claim_lines::category.eq(&valid.category),
                claim_lines::merchant.eq(&valid.merchant),
                claim_lines::description.eq(&valid.description),
                claim_lines::amount_minor.eq(amount),
                claim_lines::currency.eq(valid.currency.code()),
                claim_lines::rate_e12.eq(valid.rate),
                claim_lines::base_minor.eq(base_minor),
                claim_lines::vat_minor.eq(valid.vat),
                claim_lines::miles_tenths.eq(m.map(|m| m.tenths)),
                claim_lines::mileage_first_tenths.eq(m.map(|m| m.first_tenths)),
                claim_lines::mileage_first_rate.eq(m.map(|m| m.first_rate)),
                claim_lines::mileage_after_rate.eq(m.map(|m| m.after_rate)),
                claim_lines::form_key.eq(&valid.form_key),
            ))
            .execute(c)?;
        if line.miles_tenths.is_some() || m.is_some() {
            super::mileage::reprice_drafts_in(c, owner)?;
        }
        if let (Some(r), Some(data)) = (&receipt, &sealed) {
            diesel::delete(receipts_t::table.filter(receipts_t::line_id.eq(line_id))).execute(c)?;
            receipts::insert_row(c, claim_id, Some(line_id), r, data)?;
        }
        audit::append(
            c,
            Some(owner),
            Some(owner),
            Action::ClaimLineChanged,
            &format!(
                "claim {claim_id} line {line_id}{}",
                if receipt.is_some() {
                    ", receipt replaced"
                } else {
                    ""
                }
            ),
        )?;
        Ok(())
    });
    done.map(|()| AddLine::Added)
}

/// Removes a line (and its receipt) from the owner's draft claim. Removing a line
/// that was removed already is done, not an error.
pub fn remove(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    line_id: i64,
    seen_version: i64,
) -> Result<(), ClaimError> {
    let (claim, line) = owned_line(org, owner, claim_id, line_id)?;
    let Some(line) = line else {
        return if was_removed(org, claim_id, line_id)? {
            Ok(())
        } else {
            Err(ClaimError::NotFound)
        };
    };
    if claim.version != seen_version {
        return Err(ClaimError::Stale);
    }
    if !claim.status().editable() {
        return Err(only_drafts());
    }
    claims::if_restricted(org, owner)?;
    org.write(|c| -> Result<(), ClaimError> {
        let n = diesel::update(
            claims_t::table
                .find(claim_id)
                .filter(claims_t::version.eq(seen_version))
                .filter(claims_t::status.eq(Status::Draft.code())),
        )
        .set((
            claims_t::total_minor.eq(claims_t::total_minor - line.base_minor),
            claims_t::version.eq(claims_t::version + 1),
            claims_t::updated_at.eq(now_unix()),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(ClaimError::Stale);
        }
        diesel::delete(receipts_t::table.filter(receipts_t::line_id.eq(line_id))).execute(c)?;
        diesel::delete(claim_lines::table.find(line_id)).execute(c)?;
        if let Some(key) = line.form_key.as_deref() {
            row_ids::spend(c, [(key, claim_id)])?;
        }
        diesel::insert_into(removed_lines::table)
            .values((
                removed_lines::line_id.eq(line_id),
                removed_lines::claim_id.eq(claim_id),
            ))
            .execute(c)?;
        if line.miles_tenths.is_some() {
            // Its miles no longer count: later drafts may get the first rate back.
            super::mileage::reprice_drafts_in(c, owner)?;
        }
        audit::append(
            c,
            Some(owner),
            Some(owner),
            Action::ClaimLineRemoved,
            &format!("claim {claim_id} line {line_id}"),
        )?;
        Ok(())
    })
}
