//! Deadline arithmetic for data-subject requests (GDPR Art. 12(3)) and the breach
//! clock (Art. 33(1)). Pure functions of dates: no database, no HTTP, no clock reads
//! except through the `today`/`now` arguments callers pass in.
//!
//! # The rule for a request's deadline
//! * The clock starts on the day the request was received, unless the organisation
//!   asked the person to prove who they are: then it starts on the day their identity
//!   was verified (ICO guidance: the time limit begins once the requested information
//!   is received). While identity is being checked the request has no due date.
//! * It is due [`SAR_DEADLINE_MONTHS`] calendar month after the clock starts: the same
//!   day of the month, or that month's last day where the day does not exist
//!   (31 January -> 28/29 February; 30 and 31 March -> 30 April).
//! * It may be extended once, by 1 to [`MAX_EXTENSION_MONTHS`] months, only while the
//!   first month is still running (today on or before the original due date). The
//!   extended due date counts the months from the clock start (start + 1 + extension
//!   months, clamped the same way), so "three months in all" means exactly that.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A request is due this many calendar months after its clock starts.
pub const SAR_DEADLINE_MONTHS: u32 = 1;
/// At most this many further months may be added, once.
pub const MAX_EXTENSION_MONTHS: u32 = 2;
/// Requests due within this many days are shown as due soon.
pub const DUE_SOON_DAYS: i64 = 7;
/// The supervisory authority must be told of a breach within this many hours.
pub const BREACH_NOTIFY_HOURS: i64 = 72;

/// `date` plus `months` calendar months, clamped to the last day of the target month.
pub fn add_months(date: Date, months: u32) -> Date {
    let index = date.year() as i64 * 12 + (date.month() as i64 - 1) + months as i64;
    let year = index.div_euclid(12) as i32;
    let month = Month::try_from((index.rem_euclid(12) + 1) as u8).unwrap_or(Month::December);
    let day = date.day().min(month.length(year));
    // In range by construction: the day was clamped to the month's length.
    Date::from_calendar_date(year, month, day).unwrap_or(date)
}

/// What the deadline of a request depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub received: Date,
    /// The day the organisation asked the person to prove their identity, if it did.
    pub identity_requested: Option<Date>,
    /// The day identity was verified, if it has been.
    pub identity_verified: Option<Date>,
    /// 0 (not extended), 1 or 2.
    pub extension_months: u32,
}

impl Clock {
    /// The day the one-month period starts, or `None` while the clock waits for proof
    /// of identity that was asked for.
    pub fn start(&self) -> Option<Date> {
        match (self.identity_requested, self.identity_verified) {
            (None, _) => Some(self.received),
            (Some(_), Some(verified)) => Some(verified.max(self.received)),
            (Some(_), None) => None,
        }
    }

    /// The first-month due date, before any extension.
    pub fn first_due(&self) -> Option<Date> {
        self.start().map(|s| add_months(s, SAR_DEADLINE_MONTHS))
    }

    /// The due date with any extension.
    pub fn due(&self) -> Option<Date> {
        self.start()
            .map(|s| add_months(s, SAR_DEADLINE_MONTHS + self.extension_months))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("This request has already been extended once; it cannot be extended again.")]
    AlreadyExtended,
    #[error("An extension must be one or two months.")]
    BadLength,
    #[error("The deadline can only be extended within the first month, which ended on {0}.")]
    FirstMonthOver(Date),
    #[error(
        "The deadline cannot be extended while identity is being checked: the clock has not started."
    )]
    ClockStopped,
}

/// Whether `months` may be added to this request's deadline today.
pub fn check_extension(clock: &Clock, today: Date, months: u32) -> Result<(), ExtensionError> {
    if clock.extension_months > 0 {
        return Err(ExtensionError::AlreadyExtended);
    }
    if !(1..=MAX_EXTENSION_MONTHS).contains(&months) {
        return Err(ExtensionError::BadLength);
    }
    let first = clock.first_due().ok_or(ExtensionError::ClockStopped)?;
    if today > first {
        return Err(ExtensionError::FirstMonthOver(first));
    }
    Ok(())
}

/// How pressing an open request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Waiting for proof of identity: no due date yet.
    Paused,
    OnTime {
        days_left: i64,
    },
    DueSoon {
        days_left: i64,
    },
    Overdue {
        days_over: i64,
    },
}

/// An open request's urgency today. Due today counts as due soon, not overdue.
pub fn urgency(due: Option<Date>, today: Date) -> Urgency {
    let Some(due) = due else {
        return Urgency::Paused;
    };
    let days_left = (due - today).whole_days();
    if days_left < 0 {
        Urgency::Overdue {
            days_over: -days_left,
        }
    } else if days_left <= DUE_SOON_DAYS {
        Urgency::DueSoon { days_left }
    } else {
        Urgency::OnTime { days_left }
    }
}

/// The breach clock: the authority must be told within 72 hours of detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreachClock {
    /// Time left, in whole minutes.
    Running {
        minutes_left: i64,
    },
    Overdue {
        minutes_over: i64,
    },
    /// The authority was told, or a reason for not telling it is recorded.
    Stopped,
}

pub fn breach_deadline(detected: OffsetDateTime) -> OffsetDateTime {
    detected + Duration::hours(BREACH_NOTIFY_HOURS)
}

pub fn breach_clock(detected: OffsetDateTime, settled: bool, now: OffsetDateTime) -> BreachClock {
    if settled {
        return BreachClock::Stopped;
    }
    let left = (breach_deadline(detected) - now).whole_minutes();
    if left >= 0 {
        BreachClock::Running { minutes_left: left }
    } else {
        BreachClock::Overdue {
            minutes_over: -left,
        }
    }
}

/// "2 days 3 hours", "45 minutes": how a page says a span of minutes.
pub fn span_words(minutes: i64) -> String {
    let (d, h, m) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    let part = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match (d, h) {
        (0, 0) => part(m, "minute"),
        (0, _) => format!("{} {}", part(h, "hour"), part(m, "minute")),
        _ => format!("{} {}", part(d, "day"), part(h, "hour")),
    }
}

fn last_sunday(year: i32, month: Month) -> Date {
    let last = Date::from_calendar_date(year, month, month.length(year)).unwrap_or(Date::MIN);
    let back = last.weekday().number_days_from_sunday();
    last - Duration::days(back as i64)
}

/// The UK's offset from UTC at an instant: BST (+1) from 01:00 UTC on the last Sunday
/// of March to 01:00 UTC on the last Sunday of October, GMT otherwise.
pub fn uk_offset(at: OffsetDateTime) -> UtcOffset {
    let utc = at.to_offset(UtcOffset::UTC);
    let one = Time::from_hms(1, 0, 0).unwrap_or(Time::MIDNIGHT);
    let begins = PrimitiveDateTime::new(last_sunday(utc.year(), Month::March), one).assume_utc();
    let ends = PrimitiveDateTime::new(last_sunday(utc.year(), Month::October), one).assume_utc();
    if utc >= begins && utc < ends {
        UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC)
    } else {
        UtcOffset::UTC
    }
}

/// Today's date in the UK, which is what "received today" means to a DPO there.
pub fn uk_today(now: OffsetDateTime) -> Date {
    now.to_offset(uk_offset(now)).date()
}

/// A UK wall-clock time as an instant. In the repeated autumn hour the earlier
/// (BST) reading is taken; a time in the skipped spring hour is read as GMT.
pub fn uk_local_to_utc(local: PrimitiveDateTime) -> OffsetDateTime {
    let bst = UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC);
    let as_bst = local.assume_offset(bst);
    if uk_offset(as_bst) == bst {
        as_bst
    } else {
        local.assume_utc()
    }
}
