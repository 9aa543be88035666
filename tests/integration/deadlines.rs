//! Deadline arithmetic for data-subject requests and the breach clock: month ends,
//! leap years, the identity-check pause, extension limits, UK dates.

#![allow(clippy::unwrap_used)]

use expenseplus::privacy::deadlines::{
    BreachClock, Clock, ExtensionError, MAX_EXTENSION_MONTHS, SAR_DEADLINE_MONTHS, Urgency,
    add_months, breach_clock, check_extension, span_words, uk_local_to_utc, uk_today, urgency,
};
use time::macros::{date, datetime};

fn clock(received: time::Date) -> Clock {
    Clock {
        received,
        identity_requested: None,
        identity_verified: None,
        extension_months: 0,
    }
}

#[test]
fn due_one_calendar_month_after_receipt() {
    assert_eq!(SAR_DEADLINE_MONTHS, 1);
    let cases = [
        (date!(2024 - 01 - 31), date!(2024 - 02 - 29)), // leap year
        (date!(2025 - 01 - 31), date!(2025 - 02 - 28)),
        (date!(2100 - 01 - 31), date!(2100 - 02 - 28)), // century, not leap
        (date!(2000 - 01 - 30), date!(2000 - 02 - 29)), // 400-year leap
        (date!(2024 - 01 - 29), date!(2024 - 02 - 29)),
        (date!(2025 - 01 - 29), date!(2025 - 02 - 28)),
        (date!(2024 - 02 - 29), date!(2024 - 03 - 29)),
        (date!(2025 - 02 - 28), date!(2025 - 03 - 28)),
        (date!(2026 - 03 - 30), date!(2026 - 04 - 30)),
        (date!(2026 - 03 - 31), date!(2026 - 04 - 30)),
        (date!(2026 - 05 - 31), date!(2026 - 06 - 30)),
        (date!(2026 - 08 - 31), date!(2026 - 09 - 30)),
        (date!(2026 - 10 - 31), date!(2026 - 11 - 30)),
        (date!(2026 - 07 - 31), date!(2026 - 08 - 31)),
        (date!(2023 - 12 - 31), date!(2024 - 01 - 31)), // across the year end
        (date!(2023 - 12 - 01), date!(2024 - 01 - 01)),
        (date!(2026 - 11 - 25), date!(2026 - 12 - 25)),
        (date!(2026 - 06 - 01), date!(2026 - 07 - 01)),
    ];
    for (received, due) in cases {
        assert_eq!(clock(received).due(), Some(due), "received {received}");
        assert_eq!(
            clock(received).first_due(),
            Some(due),
            "received {received}"
        );
    }
}

#[test]
fn every_day_of_two_years_lands_in_the_next_month_on_or_before_its_day() {
    let mut d = date!(2023 - 01 - 01);
    while d < date!(2025 - 01 - 01) {
        let due = add_months(d, 1);
        let next_month = d.month().next();
        assert_eq!(due.month(), next_month, "{d}");
        assert!(due.day() <= d.day(), "{d}");
        assert!(
            due.day() == d.day() || due.day() == next_month.length(due.year()),
            "{d} -> {due}"
        );
        d = d.next_day().unwrap();
    }
}

#[test]
fn add_months_over_several_months_and_years() {
    assert_eq!(add_months(date!(2024 - 11 - 30), 3), date!(2025 - 02 - 28));
    assert_eq!(add_months(date!(2023 - 11 - 30), 3), date!(2024 - 02 - 29));
    assert_eq!(add_months(date!(2024 - 12 - 31), 2), date!(2025 - 02 - 28));
    assert_eq!(add_months(date!(2024 - 01 - 31), 12), date!(2025 - 01 - 31));
    assert_eq!(add_months(date!(2024 - 02 - 29), 12), date!(2025 - 02 - 28));
    assert_eq!(add_months(date!(2024 - 05 - 15), 0), date!(2024 - 05 - 15));
}

#[test]
fn the_clock_waits_while_identity_is_checked() {
    let mut c = clock(date!(2026 - 01 - 10));
    // Verified without asking for proof: the clock ran from receipt.
    c.identity_verified = Some(date!(2026 - 01 - 20));
    assert_eq!(c.due(), Some(date!(2026 - 02 - 10)));
    // Proof was asked for: no due date until it arrives.
    c.identity_requested = Some(date!(2026 - 01 - 11));
    c.identity_verified = None;
    assert_eq!(c.start(), None);
    assert_eq!(c.due(), None);
    assert_eq!(urgency(c.due(), date!(2026 - 03 - 01)), Urgency::Paused);
    // Proof arrived on 31 January: due on the last day of February.
    c.identity_verified = Some(date!(2026 - 01 - 31));
    assert_eq!(c.start(), Some(date!(2026 - 01 - 31)));
    assert_eq!(c.due(), Some(date!(2026 - 02 - 28)));
}

#[test]
fn extensions_add_one_or_two_months_from_the_clock_start() {
    assert_eq!(MAX_EXTENSION_MONTHS, 2);
    let mut c = clock(date!(2024 - 11 - 30));
    assert_eq!(check_extension(&c, date!(2024 - 12 - 01), 2), Ok(()));
    c.extension_months = 2;
    assert_eq!(c.due(), Some(date!(2025 - 02 - 28)));
    c.extension_months = 1;
    assert_eq!(c.due(), Some(date!(2025 - 01 - 30)));
    let mut c = clock(date!(2024 - 01 - 31));
    c.extension_months = 1;
    assert_eq!(c.due(), Some(date!(2024 - 03 - 31)));
    c.extension_months = 2;
    assert_eq!(c.due(), Some(date!(2024 - 04 - 30)));
    assert_eq!(c.first_due(), Some(date!(2024 - 02 - 29)));
}

#[test]
fn extension_limits() {
    let c = clock(date!(2024 - 11 - 30));
    // On the last day of the first month: still allowed.
    assert_eq!(check_extension(&c, date!(2024 - 12 - 30), 1), Ok(()));
    // The day after: too late.
    let late = check_extension(&c, date!(2024 - 12 - 31), 1).unwrap_err();
    assert_eq!(late, ExtensionError::FirstMonthOver(date!(2024 - 12 - 30)));
    assert!(late.to_string().contains("within the first month"));
    for bad in [0, 3, 12] {
        assert_eq!(
            check_extension(&c, date!(2024 - 12 - 01), bad),
            Err(ExtensionError::BadLength),
            "{bad}"
        );
    }
    let mut once = c;
    once.extension_months = 1;
    let again = check_extension(&once, date!(2024 - 12 - 01), 1).unwrap_err();
    assert_eq!(again, ExtensionError::AlreadyExtended);
    assert_eq!(
        again.to_string(),
        "This request has already been extended once; it cannot be extended again."
    );
    let mut waiting = c;
    waiting.identity_requested = Some(date!(2024 - 12 - 01));
    assert_eq!(
        check_extension(&waiting, date!(2024 - 12 - 02), 1),
        Err(ExtensionError::ClockStopped)
    );
}

#[test]
fn urgency_marks_due_soon_and_overdue() {
    let due = Some(date!(2026 - 03 - 10));
    assert_eq!(
        urgency(due, date!(2026 - 03 - 01)),
        Urgency::OnTime { days_left: 9 }
    );
    assert_eq!(
        urgency(due, date!(2026 - 03 - 03)),
        Urgency::DueSoon { days_left: 7 }
    );
    assert_eq!(
        urgency(due, date!(2026 - 03 - 10)),
        Urgency::DueSoon { days_left: 0 }
    );
    assert_eq!(
        urgency(due, date!(2026 - 03 - 12)),
        Urgency::Overdue { days_over: 2 }
    );
}

#[test]
fn breach_clock_runs_for_72_hours_until_settled() {
    let detected = datetime!(2026-11-20 09:30 UTC);
    assert_eq!(
        breach_clock(detected, false, datetime!(2026-11-20 10:30 UTC)),
        BreachClock::Running {
            minutes_left: 71 * 60
        }
    );
    assert_eq!(
        breach_clock(detected, false, datetime!(2026-11-23 09:30 UTC)),
        BreachClock::Running { minutes_left: 0 }
    );
    assert_eq!(
        breach_clock(detected, false, datetime!(2026-11-23 11:00 UTC)),
        BreachClock::Overdue { minutes_over: 90 }
    );
    assert_eq!(
        breach_clock(detected, true, datetime!(2026-12-23 11:00 UTC)),
        BreachClock::Stopped
    );
    assert_eq!(span_words(71 * 60), "2 days 23 hours");
    assert_eq!(span_words(90), "1 hour 30 minutes");
    assert_eq!(span_words(1), "1 minute");
}

#[test]
fn uk_dates_follow_british_summer_time() {
    // 23:30 UTC in July is already tomorrow in London; in January it is not.
    assert_eq!(
        uk_today(datetime!(2026-07-14 23:30 UTC)),
        date!(2026 - 07 - 15)
    );
    assert_eq!(
        uk_today(datetime!(2026-01-14 23:30 UTC)),
        date!(2026 - 01 - 14)
    );
    // BST 2026: 29 March 01:00 UTC to 25 October 01:00 UTC.
    assert_eq!(
        uk_today(datetime!(2026-03-29 00:59 UTC)),
        date!(2026 - 03 - 29)
    );
    assert_eq!(
        uk_today(datetime!(2026-10-24 23:30 UTC)),
        date!(2026 - 10 - 25)
    );
    assert_eq!(
        uk_today(datetime!(2026-10-25 23:30 UTC)),
        date!(2026 - 10 - 25)
    );
    assert_eq!(
        uk_local_to_utc(datetime!(2026-07-01 09:00)),
        datetime!(2026-07-01 08:00 UTC)
    );
    assert_eq!(
        uk_local_to_utc(datetime!(2026-12-01 09:00)),
        datetime!(2026-12-01 09:00 UTC)
    );
}
