//! The daily retention job inside `serve`: applies every organisation's retention
//! periods, then makes the backups forget the keys that were destroyed. Logs counts
//! and organisation slugs only.

use std::path::Path;

use time::Date;

use super::retention;
use crate::tenancy::Tenants;

/// Runs retention for every organisation as of `today`; fails if any part of any one
/// failed (the rest is applied all the same).
pub fn daily_run(tenants: &Tenants, backup_root: &Path, today: Date) -> Result<String, String> {
    let records = tenants.registry().list().map_err(|e| e.to_string())?;
    let (mut orgs, mut shredded, mut deleted) = (0usize, 0usize, 0usize);
    let mut failed = Vec::new();
    for record in records {
        let outcome = tenants
            .get(record.org_id())
            .map_err(|e| e.to_string())
            .and_then(|org| {
                let report = retention::run(&org, today).map_err(|e| e.to_string())?;
                for key in &report.destroyed_keys {
                    crate::backup::forget_now(Some(backup_root), &org, *key);
                }
                // Old page images of anything erased, rectified or deleted since the
                // last time (an erasure's own emptying can be held up by readers).
                if !org.checkpoint_truncate().map_err(|e| e.to_string())? {
                    log::warn!(
                        "retention of organisation {}: readers held the write-ahead log, so it was not emptied",
                        record.slug
                    );
                }
                Ok(report)
            });
        match outcome {
            Ok(report) => {
                orgs += 1;
                shredded += report.destroyed_keys.len();
                deleted += report.claims_deleted.len();
                log::info!(
                    "retention of organisation {}: {} key(s) destroyed, {} claim(s) deleted",
                    record.slug,
                    report.destroyed_keys.len(),
                    report.claims_deleted.len()
                );
                // Each failed erasure was logged; the run is not recorded as done, so
                // a restart before tomorrow's tries them again.
                if !report.erasures_failed.is_empty() {
                    failed.push(record.slug);
                }
            }
            Err(e) => {
                log::error!("retention of organisation {} failed: {e}", record.slug);
                failed.push(record.slug);
            }
        }
    }
    if failed.is_empty() {
        Ok(format!(
            "retention applied to {orgs} organisation(s): {shredded} key(s) destroyed, \
             {deleted} claim(s) deleted"
        ))
    } else {
        Err(format!("retention failed for {}", failed.join(", ")))
    }
}
