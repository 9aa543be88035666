//! The queries behind every claims page are read from indexes, never a scan of the
//! claims or a sort per request: checked on the migrated schema with SQLite's own
//! `EXPLAIN QUERY PLAN`, so a migration that drops or reorders an index fails here.

#![allow(clippy::unwrap_used)]

mod common;

use diesel::prelude::*;
use diesel::sql_types::Text;
use expenseplus::expenses::reports;

#[derive(QueryableByName)]
struct Step {
    #[diesel(sql_type = Text)]
    detail: String,
}

fn plan(sql: &str) -> String {
    let acme = common::acme_with_people();
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

#[test]
fn a_persons_claims_list_is_read_from_one_covering_index() {
    // The columns of `ClaimSummary`, as `list_own` selects them.
    let p = plan(
        "SELECT id, owner_id, title, status, currency, total_minor FROM claims \
         WHERE owner_id = 7 AND id < 9000 ORDER BY id DESC LIMIT 50",
    );
    assert!(p.contains("USING COVERING INDEX claims_owner_list"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
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
    // As `waiting_for` selects a manager's queue: the claims in flight ("submitted" is a
    // passing state) in id order, stopping at a page, each owner checked against the
    // team; never every claim the team ever made, nor a sort.
    let p = plan(
        "SELECT id, owner_id, title, status, currency, total_minor FROM claims \
         WHERE owner_id IN (SELECT id FROM users WHERE manager_id IN (3)) \
         AND owner_id != 3 AND id > 0 AND status = 'submitted' \
         ORDER BY id LIMIT 51",
    );
    assert!(p.contains("INDEX claims_status (status=? AND id>?)"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}
