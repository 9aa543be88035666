//! When each daily job last ran, kept in the registry's `meta` table so that a server
//! started after a missed slot makes it up (see [`crate::jobs::RunRecord`]).

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::db::DbPool;
use crate::db::schema::registry::meta;

/// The registry's record of job runs. Values are Unix seconds as decimal text.
pub struct JobRuns(pub DbPool);

fn name(job: &str) -> String {
    format!("job_last_run:{job}")
}

impl crate::jobs::RunRecord for JobRuns {
    fn last_run(&self, job: &str) -> Result<Option<OffsetDateTime>, String> {
        let mut conn = self.0.get().map_err(|e| e.to_string())?;
        let value: Option<Vec<u8>> = meta::table
            .find(name(job))
            .select(meta::value)
            .first(&mut conn)
            .optional()
            .map_err(|e| e.to_string())?;
        // An unreadable value counts as no record: the job then waits for its slot,
        // and the next run writes a good one.
        Ok(value
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok()))
    }

    fn set_last_run(&self, job: &str, at: OffsetDateTime) -> Result<(), String> {
        let mut conn = self.0.get().map_err(|e| e.to_string())?;
        let value = at.unix_timestamp().to_string().into_bytes();
        diesel::replace_into(meta::table)
            .values((meta::name.eq(name(job)), meta::value.eq(value)))
            .execute(&mut conn)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
