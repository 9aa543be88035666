//! Which backups to keep: the newest of each of the last N days, ISO weeks and months
//! that have a backup (7 daily, 4 weekly, 12 monthly by default), plus the newest one
//! always. `to_delete` is a pure function over dates; `rotate` applies it on disk.

use std::collections::BTreeSet;
use std::path::Path;

use time::OffsetDateTime;

use super::{BackupError, TEMP_PREFIX, list, lock_org, org_root};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            daily: 7,
            weekly: 4,
            monthly: 12,
        }
    }
}

/// Which day, week or month a backup falls in.
type Bucket = dyn Fn(&OffsetDateTime) -> (i32, u32);

/// The ids among `backups` (id, creation time) that the retention rules do not keep.
pub fn to_delete(backups: &[(String, OffsetDateTime)], keep: Retention) -> Vec<String> {
    let mut newest_first: Vec<&(String, OffsetDateTime)> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    if let Some(newest) = newest_first.first() {
        kept.insert(&newest.0);
    }
    let day = |t: &OffsetDateTime| (t.year(), t.ordinal() as u32);
    let week = |t: &OffsetDateTime| {
        let (y, w, _) = t.to_iso_week_date();
        (y, w as u32)
    };
    let month = |t: &OffsetDateTime| (t.year(), u8::from(t.month()) as u32);
    let rules: [(u32, &Bucket); 3] = [
        (keep.daily, &day),
        (keep.weekly, &week),
        (keep.monthly, &month),
    ];
    for (count, bucket) in rules {
        let mut last = None;
        let mut used = 0;
        for (id, at) in &newest_first {
            if used >= count {
                break;
            }
            let b = bucket(&at.to_offset(time::UtcOffset::UTC));
            if last != Some(b) {
                last = Some(b);
                used += 1;
                kept.insert(id);
            }
        }
    }
    newest_first
        .iter()
        .filter(|(id, _)| !kept.contains(id.as_str()))
        .map(|(id, _)| id.clone())
        .collect()
}

/// Deletes the backups of `slug` that `keep` does not keep; returns their ids. A
/// backup whose manifest cannot be read is left alone for a person to look at.
pub fn rotate(root: &Path, slug: &str, keep: Retention) -> Result<Vec<String>, BackupError> {
    let _lock = lock_org(root, slug)?;
    let dated: Vec<(String, OffsetDateTime)> = list(root, slug)?
        .into_iter()
        .filter_map(|e| {
            let at = e.manifest.ok()?.created()?;
            Some((e.id, at))
        })
        .collect();
    let doomed = to_delete(&dated, keep);
    let dir = org_root(root, slug);
    for id in &doomed {
        // Renamed first, so a deletion cut short never leaves a partial backup listed.
        let gone = dir.join(format!("{TEMP_PREFIX}{id}"));
        std::fs::rename(dir.join(id), &gone).map_err(super::io_err(
            "could not remove the old backup",
            &dir.join(id),
        ))?;
        std::fs::remove_dir_all(&gone)
            .map_err(super::io_err("could not remove the old backup", &gone))?;
    }
    Ok(doomed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn daily_for(days: i64, from: OffsetDateTime) -> Vec<(String, OffsetDateTime)> {
        (0..days)
            .map(|d| {
                let at = from + time::Duration::days(d);
                (at.unix_timestamp().to_string(), at)
            })
            .collect()
    }

    fn kept(backups: &[(String, OffsetDateTime)], keep: Retention) -> Vec<OffsetDateTime> {
        let gone = to_delete(backups, keep);
        let mut k: Vec<_> = backups
            .iter()
            .filter(|(id, _)| !gone.contains(id))
            .map(|(_, at)| *at)
            .collect();
        k.sort();
        k
    }

    #[test]
    fn a_year_of_daily_backups_keeps_7_daily_4_weekly_12_monthly() {
        // 2026-01-01 to 2026-12-31, one backup a day at 02:00.
        let all = daily_for(365, datetime!(2026-01-01 02:00 UTC));
        let k = kept(&all, Retention::default());
        let last7: Vec<_> = all[358..].iter().map(|b| b.1).collect();
        assert!(last7.iter().all(|d| k.contains(d)), "the last 7 days");
        // Newest of each ISO week: Sundays. The last 4 weeks' Sundays before the end
        // (Thu 31 Dec): 27, 20, 13 Dec are Sundays and the current week's newest is 31 Dec.
        for d in [
            datetime!(2026-12-27 02:00 UTC),
            datetime!(2026-12-20 02:00 UTC),
            datetime!(2026-12-13 02:00 UTC),
        ] {
            assert!(k.contains(&d), "weekly {d}");
        }
        assert!(!k.contains(&datetime!(2026-12-06 02:00 UTC)));
        // Newest of each month: the last day of each of the 12 months.
        for m in 1..=12u8 {
            let month = time::Month::try_from(m).unwrap();
            let last = time::Date::from_calendar_date(2026, month, month.length(2026)).unwrap();
            let at = last.with_hms(2, 0, 0).unwrap().assume_utc();
            assert!(k.contains(&at), "monthly {at}");
        }
        // 7 daily (25..31 Dec) + weeks' 13, 20 Dec (27 is a daily) + 11 month ends
        // (31 Dec is a daily) = 20.
        assert_eq!(k.len(), 20, "{k:?}");
    }

    #[test]
    fn several_a_day_keep_the_newest_of_each_day_and_the_newest_overall() {
        let base = datetime!(2026-03-10 02:00 UTC);
        let all: Vec<_> = (0..6)
            .map(|i| {
                let at = base + time::Duration::hours(4 * i);
                (format!("b{i}"), at)
            })
            .collect();
        let gone = to_delete(
            &all,
            Retention {
                daily: 1,
                weekly: 0,
                monthly: 0,
            },
        );
        // 02:00..22:00 on the 10th: the 22:00 one is kept; 06:00 on the 11th does not
        // exist. Only the newest remains.
        assert_eq!(gone.len(), 5);
        assert!(!gone.contains(&"b5".to_owned()));
    }

    #[test]
    fn zero_retention_still_keeps_the_newest_and_empty_is_fine() {
        let all = daily_for(3, datetime!(2026-05-01 02:00 UTC));
        let none = Retention {
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(kept(&all, none), vec![all[2].1]);
        assert!(to_delete(&[], Retention::default()).is_empty());
    }

    #[test]
    fn gaps_count_only_days_that_have_backups() {
        // Backups on 1, 5 and 20 June: with 2 daily, the 20th and 5th stay.
        let days = [1, 5, 20].map(|d| {
            let at = time::Date::from_calendar_date(2026, time::Month::June, d)
                .unwrap()
                .with_hms(2, 0, 0)
                .unwrap()
                .assume_utc();
            (format!("d{d}"), at)
        });
        let gone = to_delete(
            &days,
            Retention {
                daily: 2,
                weekly: 0,
                monthly: 0,
            },
        );
        assert_eq!(gone, vec!["d1".to_owned()]);
    }
}
