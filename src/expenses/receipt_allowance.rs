//! How much receipt data one person may store in a day. Every organisation on a server
//! shares its disk, so one account (a script, or a stolen sign-in) must not be able to
//! fill it for everyone. 500 MB a day is 50 files at the 10 MB limit and hundreds of
//! ordinary receipt photos: someone catching up on a year of receipts is not stopped.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::claims::ClaimError;
use crate::db::now_unix;
use crate::db::schema::org::{claims, receipts};
use crate::ids::UserId;
use crate::tenancy::Org;

/// Receipt bytes one person may store in any 24 hours. The check is made before a
/// file is decoded, so the file that crosses it is still kept (at most one more).
pub const DAILY_BYTES: i64 = 500 * 1024 * 1024;
const DAY: i64 = 24 * 60 * 60;

/// Bytes of receipts stored on `owner`'s claims since `since` (unix seconds).
pub fn stored_since(org: &Org, owner: UserId, since: i64) -> Result<i64, ClaimError> {
    let mut conn = org.conn()?;
    Ok(receipts::table
        .inner_join(claims::table)
        .filter(claims::owner_id.eq(owner.0))
        .filter(receipts::created_at.gt(since))
        .select(sql::<BigInt>("COALESCE(SUM(receipts.size), 0)"))
        .first(&mut conn)?)
}

/// The message for the receipt field when `owner` has stored their day's allowance;
/// `None` if another file may go on to be checked.
pub fn refusal(org: &Org, owner: UserId) -> Result<Option<String>, ClaimError> {
    if stored_since(org, owner, now_unix() - DAY)? < DAILY_BYTES {
        return Ok(None);
    }
    Ok(Some(
        "you have stored 500 MB of receipts in the last 24 hours, the most one person \
         may; save the line without this file and attach it tomorrow"
            .into(),
    ))
}
