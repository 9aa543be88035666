//! The queries behind every claims page are read from indexes, never a scan of the
//! claims or a sort per request: checked on the migrated schema with SQLite's own
//! `EXPLAIN QUERY PLAN`, so a migration that drops or reorders an index fails here.
//! Queries diesel builds are captured as the code runs them (diesel's
//! instrumentation), so a change to the query itself fails here too.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
use diesel::prelude::*;
use diesel::sql_types::Text;
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, ListFilter};
use expenseplus::expenses::status::Status;
use expenseplus::expenses::{finance, receipt_allowance, reports};

#[derive(QueryableByName)]
struct Step {
    #[diesel(sql_type = Text)]
    detail: String,
}

thread_local! {
    /// The SQL of every query this thread ran since `queries_of` began.
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn capture() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            // "SQL -- binds: [...]": the plan is made for the placeholders.
            let text = query.to_string();
            let sql = text.split(" -- binds: ").next().unwrap_or_default();
            SEEN.with(|s| s.borrow_mut().push(sql.to_owned()));
        }
    }))
}

/// Acme with its people, every connection to it reporting its queries.
fn acme() -> common::Acme {
    set_default_instrumentation(capture).unwrap();
    common::acme_with_people()
}

/// The SQL of the queries `f` ran that read `table`.
fn queries_of(table: &str, f: impl FnOnce()) -> Vec<String> {
    SEEN.with(|s| s.borrow_mut().clear());
    f();
    let seen = SEEN.with(|s| s.take());
    let from = format!("FROM `{table}`");
    let picked: Vec<String> = seen.into_iter().filter(|q| q.contains(&from)).collect();
    assert!(!picked.is_empty(), "no query read {table}");
    picked
}

fn plan_in(acme: &common::Acme, sql: &str) -> String {
    let org = acme.env.org("acme");
    let steps: Vec<Step> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load(&mut org.conn().unwrap())
        .unwrap();
    steps
        .into_iter()
        .map(|s| s.detail)
        .collect::<Vec<_>>()
        .join("; ")
}

fn plan(sql: &str) -> String {
    plan_in(&common::acme_with_people(), sql)
}

/// The plan of the one query `f` ran on `table`.
fn plan_of(acme: &common::Acme, table: &str, f: impl FnOnce()) -> String {
    let queries = queries_of(table, f);
    assert_eq!(queries.len(), 1, "{queries:#?}");
    plan_in(acme, &queries[0])
}

#[test]
fn a_persons_claims_list_is_read_from_one_covering_index() {
    let acme = acme();
    let org = acme.env.org("acme");
    let p = plan_of(&acme, "claims", || {
        claims::list_own(&org, acme.emp, &ListFilter::default(), Some(9000), 50).unwrap();
    });
    assert!(p.contains("USING COVERING INDEX claims_owner_list"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}

#[test]
fn a_filtered_claims_list_probes_lines_by_claim_and_needs_no_sort() {
    let acme = acme();
    let org = acme.env.org("acme");
    let date = time::macros::date!(2026 - 01 - 01);
    let filters = [
        ListFilter {
            status: Some(Status::Submitted),
            ..ListFilter::default()
        },
        ListFilter {
            category: Some("travel".into()),
            ..ListFilter::default()
        },
        ListFilter {
            status: Some(Status::Paid),
            category: Some("meals".into()),
            from: Some(date),
            to: Some(date),
        },
        ListFilter {
            from: Some(date),
            ..ListFilter::default()
        },
    ];
    for filter in filters {
        let p = plan_of(&acme, "claims", || {
            claims::list_own(&org, acme.emp, &filter, None, 50).unwrap();
        });
        assert!(p.contains("SEARCH claims USING"), "{filter:?}: {p}");
        assert!(p.contains("(owner_id=?"), "{filter:?}: {p}");
        assert!(!p.contains("TEMP B-TREE"), "{filter:?}: {p}");
        if filter.category.is_some() || filter.from.is_some() {
            assert!(
                p.contains("SEARCH l USING COVERING INDEX claim_lines_report (claim_id=?"),
                "{filter:?}: {p}"
            );
        }
    }
}

#[test]
fn the_category_list_needs_no_sort() {
    let p = plan(
        "SELECT code, label, limit_minor, receipt_above_minor, active FROM categories \
         WHERE active = 1 ORDER BY label",
    );
    assert!(p.contains("INDEX categories_listed"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}

#[test]
fn a_persons_totals_by_status_and_currency_are_read_from_one_index_in_order() {
    let p = plan(reports::TOTALS_BY_STATUS_SQL);
    assert!(
        p.contains("USING COVERING INDEX claims_owner_totals"),
        "{p}"
    );
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}

#[test]
fn the_amount_to_pay_is_read_from_the_status_index_and_restricted_people_by_owner() {
    let p = plan(reports::TO_PAY_SQL);
    assert!(
        p.contains("USING COVERING INDEX claims_status_totals"),
        "{p}"
    );
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    // Restricted people's approved claims are found by owner, a few entries each,
    // not by reading every approved claim.
    let p = plan(reports::RESTRICTED_TO_PAY_SQL);
    assert!(
        p.contains("SEARCH c USING COVERING INDEX claims_owner_totals (owner_id=? AND status=?)"),
        "{p}"
    );
    assert!(!p.contains("claims_status_totals"), "{p}");
}

#[test]
fn team_spend_is_read_from_indexes_alone() {
    // The manager's reports first, then their claims by owner: not every claim of the
    // spend statuses in the organisation.
    let p = plan(reports::TEAM_SPEND_SQL);
    assert!(
        p.starts_with("SEARCH u USING COVERING INDEX users_manager (manager_id=?)"),
        "{p}"
    );
    assert!(
        p.contains("SEARCH c USING COVERING INDEX claims_owner_totals (owner_id=? AND status=?)"),
        "{p}"
    );
    assert!(
        p.contains("SEARCH l USING COVERING INDEX claim_lines_report (claim_id=?)"),
        "{p}"
    );
}

#[test]
fn a_managers_queue_is_read_in_order_from_the_status_index() {
    // A manager's queue: the claims in flight ("submitted" is a passing state) in id
    // order, stopping at a page, each owner checked against the team; never every
    // claim the team ever made, nor a sort.
    let acme = acme();
    let org = acme.env.org("acme");
    let roles = Roles::parse_list("manager,employee").unwrap();
    let p = plan_of(&acme, "claims", || {
        claims::waiting_for(&org, acme.boss, roles, &ListFilter::default(), None, 51).unwrap();
    });
    assert!(p.contains("INDEX claims_status (status=? AND id>?)"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}

#[test]
fn finances_queues_are_read_in_order_from_the_status_indexes() {
    let acme = acme();
    let org = acme.env.org("acme");
    // The second approvals waiting for finance.
    let roles = Roles::parse_list("finance").unwrap();
    let p = plan_of(&acme, "claims", || {
        claims::waiting_for(&org, acme.fin, roles, &ListFilter::default(), None, 51).unwrap();
    });
    assert!(p.contains("INDEX claims_status (status=? AND id>?)"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    // The claims to pay, first page and a later one.
    for after in [None, Some((1_700_000_000, 7))] {
        let p = plan_of(&acme, "claims", || {
            finance::to_pay(&org, after, 50).unwrap();
        });
        let range = match after {
            None => "claims_status_decided (status=?)",
            // A later page starts at its place in the index, not at the first claim.
            Some(_) => "claims_status_decided (status=? AND decided_at>?)",
        };
        assert!(
            p.contains(&format!("SEARCH claims USING INDEX {range}")),
            "{p}"
        );
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }
}

#[test]
fn the_daily_receipt_allowance_reads_one_persons_claims_and_their_receipts_by_index() {
    let acme = acme();
    let org = acme.env.org("acme");
    SEEN.with(|s| s.borrow_mut().clear());
    receipt_allowance::stored_since(&org, acme.emp, 0).unwrap();
    let mut queries = SEEN.with(|s| s.take());
    queries.retain(|q| q.contains("`receipts`"));
    assert_eq!(queries.len(), 1, "{queries:#?}");
    let p = plan_in(&acme, &queries[0]);
    assert!(p.contains("SEARCH claims USING"), "{p}");
    assert!(p.contains("(owner_id=?"), "{p}");
    assert!(
        p.contains(
            "SEARCH receipts USING COVERING INDEX receipts_claim_day (claim_id=? AND created_at>?)"
        ),
        "{p}"
    );
    assert!(!p.contains("SCAN"), "{p}");
}

#[test]
fn the_reference_rate_is_read_from_the_currency_index() {
    let acme = acme();
    let org = acme.env.org("acme");
    let day = time::macros::date!(2026 - 03 - 01);
    SEEN.with(|s| s.borrow_mut().clear());
    let gbp = expenseplus::expenses::money::Currency::GBP;
    claims::reference_rate(&mut org.conn().unwrap(), "EUR", gbp, day, 1).unwrap();
    let mut queries = SEEN.with(|s| s.take());
    queries.retain(|q| q.contains("`claim_lines`"));
    assert_eq!(queries.len(), 1, "{queries:#?}");
    let p = plan_in(&acme, &queries[0]);
    assert!(
        p.contains(
            "SEARCH claim_lines USING COVERING INDEX claim_lines_currency_day (currency=? AND spent_on>? AND spent_on<?)"
        ),
        "{p}"
    );
    assert!(
        p.contains("SEARCH claims USING INTEGER PRIMARY KEY (rowid=?)"),
        "{p}"
    );
    assert!(!p.contains("SCAN"), "{p}");
}
