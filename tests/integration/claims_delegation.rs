//! Delegated approvals: a manager names a delegate for a range of days; in range the
//! delegate sees and decides the manager's reports' claims "on behalf of" them, never
//! their own claim; outside the range (not started, ended, removed) they see nothing.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, field_value};
use diesel::prelude::*;
use expenseplus::audit::{self, Action, Filter};
use expenseplus::db::schema::org::delegations;
use expenseplus::expenses::claims::{self, ClaimFields};
use expenseplus::expenses::status::Status;
use expenseplus::web::build_app;
use time::{Duration, OffsetDateTime};

/// A UK day, as delegations count them.
fn day(offset: i64) -> String {
    let today = expenseplus::privacy::deadlines::uk_today(OffsetDateTime::now_utc());
    (today + Duration::days(offset)).to_string()
}

#[actix_web::test]
async fn a_delegate_decides_for_the_manager_in_range_but_never_their_own_claim() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    // Dana is a manager who herself reports to Bea Boss.
    let dana = env.create_user(
        &org,
        "dana@acme.example",
        "Dana Deputy",
        "manager,employee",
        Some(acme.boss),
    );
    let app = atest::init_service(build_app(env.state.clone())).await;

    // Eve and Dana each submit a claim; both wait for Bea.
    let mut claim_ids = Vec::new();
    for who in ["emp@acme.example", "dana@acme.example"] {
        let mut c = Client::new(&app);
        c.sign_in("acme", who, PASSWORD).await;
        c.get("/claims").await;
        let url = c
            .post(
                "/claims",
                &[("title", &format!("Trip of {who}")), ("form_key", who)],
            )
            .await
            .location()
            .unwrap()
            .to_owned();
        let fields = [
            ("date", day(0)),
            ("category", "travel".into()),
            ("merchant", "Rail".into()),
            ("amount", "20.00".into()),
            ("currency", "GBP".into()),
            ("form_key", format!("l-{who}")),
        ];
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.post_multipart(&format!("{url}/lines"), &refs, None).await;
        let version = field_value(&c.get(&url).await.body, "version").unwrap();
        c.post(&format!("{url}/submit"), &[("version", &version)])
            .await;
        claim_ids.push(url);
    }
    let (eve_url, dana_url) = (claim_ids[0].clone(), claim_ids[1].clone());

    let mut dana_c = Client::new(&app);
    dana_c.sign_in("acme", "dana@acme.example", PASSWORD).await;
    assert!(!dana_c.get("/approvals").await.body.contains("Trip of emp"));
    assert_eq!(dana_c.get(&eve_url).await.status, StatusCode::NOT_FOUND);

    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let page = boss.get("/approvals").await;
    assert!(page.body.contains("Delegate your approvals"));
    assert!(page.body.contains("Dana Deputy"), "a manager can be named");
    assert!(
        !page.body.contains(&format!("value=\"{}\"", acme.emp.0)),
        "an employee cannot"
    );

    // Bad input: a message per field, the input kept, nothing written.
    let me = acme.boss.0.to_string();
    let emp_id = acme.emp.0.to_string();
    let dana_id = dana.0.to_string();
    for (delegate, from, to, field_msg) in [
        (
            me.as_str(),
            day(0),
            day(3),
            "choose another active manager or finance person",
        ),
        (
            emp_id.as_str(),
            day(0),
            day(3),
            "choose another active manager or finance person",
        ),
        (
            dana_id.as_str(),
            day(-1),
            day(3),
            "the first day cannot be in the past",
        ),
        (
            dana_id.as_str(),
            day(3),
            day(1),
            "the last day cannot be before the first",
        ),
        (
            dana_id.as_str(),
            day(0),
            "2026-02-30".into(),
            "enter a real date",
        ),
    ] {
        let bad = boss
            .post(
                "/approvals/delegations",
                &[("delegate", delegate), ("from", &from), ("to", &to)],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{field_msg}");
        assert!(bad.body.contains(field_msg), "{field_msg}");
        assert!(
            bad.body.contains(&format!("value=\"{from}\"")),
            "input kept"
        );
    }
    let mut conn = org.conn().unwrap();
    let count: i64 = delegations::table.count().get_result(&mut conn).unwrap();
    assert_eq!(count, 0);

    // In range from today: Dana sees Eve's claim, not her own, and decides for Bea.
    let added = boss
        .post(
            "/approvals/delegations",
            &[("delegate", &dana_id), ("from", &day(0)), ("to", &day(7))],
        )
        .await;
    assert_eq!(added.location(), Some("/approvals"));
    // Posted twice, made once.
    boss.post(
        "/approvals/delegations",
        &[("delegate", &dana_id), ("from", &day(0)), ("to", &day(7))],
    )
    .await;
    let count: i64 = delegations::table.count().get_result(&mut conn).unwrap();
    assert_eq!(count, 1);
    let queue = dana_c.get("/approvals").await;
    assert!(queue.body.contains("Trip of emp"), "{}", queue.body);
    assert!(!queue.body.contains("Trip of dana"), "never her own claim");
    assert!(queue.body.contains("Bea Boss's reports"));
    let page = dana_c.get(&dana_url).await;
    assert!(
        !page.body.contains("Your decision"),
        "no decision on her own claim"
    );
    let dana_claim: i64 = dana_url.trim_start_matches("/claims/").parse().unwrap();
    let version = claims::get(&org, dana_claim).unwrap().version.to_string();
    let own = dana_c
        .post(&format!("{dana_url}/approve"), &[("version", &version)])
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        own.body
            .contains("cannot approve, reject or pay your own claim")
    );

    let page = dana_c.get(&eve_url).await;
    assert!(page.body.contains("Your decision"));
    let version = field_value(&page.body, "version").unwrap();
    let approved = dana_c
        .post(
            &format!("{eve_url}/approve"),
            &[("version", &version), ("comment", "ok")],
        )
        .await;
    assert_eq!(approved.location(), Some(eve_url.as_str()));
    let page = dana_c.get(&eve_url).await;
    assert!(
        page.body.contains("by Dana Deputy on behalf of Bea Boss"),
        "{}",
        page.body
    );
    let eve_id: i64 = eve_url.trim_start_matches("/claims/").parse().unwrap();
    assert_eq!(
        claims::get(&org, eve_id).unwrap().status(),
        Status::Approved
    );
    let decided = audit::page(
        &org,
        &Filter {
            action: Some(Action::ClaimTransition),
            person: Some(dana),
            ..Default::default()
        },
        None,
        5,
    )
    .unwrap();
    assert!(
        decided[0]
            .detail
            .ends_with(&format!("on behalf of {}", acme.boss.0))
    );

    // Bea still decides Dana's claim herself.
    let page = boss.get(&dana_url).await;
    assert!(page.body.contains("Your decision"));

    // A delegation not started yet grants nothing; nor does one that has ended.
    let other_id = acme.other.0.to_string();
    boss.post(
        "/approvals/delegations",
        &[("delegate", &other_id), ("from", &day(1)), ("to", &day(5))],
    )
    .await;
    diesel::insert_into(delegations::table)
        .values((
            delegations::delegator_id.eq(acme.boss.0),
            delegations::delegate_id.eq(acme.mgr.0),
            delegations::starts_on.eq(day(-10)),
            delegations::ends_on.eq(day(-1)),
            delegations::created_at.eq(0),
        ))
        .execute(&mut conn)
        .unwrap();
    // A fresh claim from Eve to look for.
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    eve.get("/claims").await;
    let url = eve
        .post(
            "/claims",
            &[("title", "Second trip"), ("form_key", "second")],
        )
        .await
        .location()
        .unwrap()
        .to_owned();
    let refs = [
        ("date", day(0)),
        ("category", "travel".into()),
        ("merchant", "Rail".into()),
        ("amount", "9.00".into()),
        ("currency", "GBP".into()),
        ("form_key", "second-line".into()),
    ];
    let refs: Vec<(&str, &str)> = refs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    eve.post_multipart(&format!("{url}/lines"), &refs, None)
        .await;
    let version = field_value(&eve.get(&url).await.body, "version").unwrap();
    eve.post(&format!("{url}/submit"), &[("version", &version)])
        .await;
    for who in ["other@acme.example", "mgr@acme.example"] {
        let mut c = Client::new(&app);
        c.sign_in("acme", who, PASSWORD).await;
        assert!(
            !c.get("/approvals").await.body.contains("Second trip"),
            "{who}"
        );
        assert_eq!(c.get(&url).await.status, StatusCode::NOT_FOUND, "{who}");
    }
    assert!(dana_c.get("/approvals").await.body.contains("Second trip"));

    // Removed: Dana sees nothing of Eve's any more.
    let page = boss.get("/approvals").await;
    let id = page
        .body
        .split("action=\"/approvals/delegations/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let removed = boss
        .post(&format!("/approvals/delegations/{id}/remove"), &[])
        .await;
    assert_eq!(removed.location(), Some("/approvals"));
    assert!(!dana_c.get("/approvals").await.body.contains("Second trip"));
    assert_eq!(dana_c.get(&url).await.status, StatusCode::NOT_FOUND);
    // Someone else's delegation cannot be removed by changing the id.
    let mut other = Client::new(&app);
    other.sign_in("acme", "other@acme.example", PASSWORD).await;
    other.get("/approvals").await;
    let count_before: i64 = delegations::table.count().get_result(&mut conn).unwrap();
    for d in 1..=count_before + 1 {
        other
            .post(&format!("/approvals/delegations/{d}/remove"), &[])
            .await;
    }
    let count_after: i64 = delegations::table.count().get_result(&mut conn).unwrap();
    assert_eq!(count_before, count_after);

    let entries = |a| {
        audit::page(
            &org,
            &Filter {
                action: Some(a),
                ..Default::default()
            },
            None,
            10,
        )
        .unwrap()
        .len()
    };
    assert_eq!(entries(Action::DelegationAdded), 2);
    assert_eq!(entries(Action::DelegationRemoved), 1);
    audit::verify(&org).unwrap();
}

/// A finance person can stand in for a manager, but two approvals stay two people; and a
/// delegator who stops being a manager passes nothing on any more.
#[test]
fn a_finance_delegate_cannot_give_both_approvals() {
    use expenseplus::auth::{Roles, account};
    use expenseplus::expenses::claims::{AddLine, LineInput};
    use expenseplus::expenses::delegation::{self, DelegationInput};
    use expenseplus::expenses::status::Transition;

    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let fin2 = env.create_user(&org, "fin2@acme.example", "Fay Finance", "finance", None);
    let roles = |s: &str| Roles::parse_list(s).unwrap();
    let made = delegation::add(
        &org,
        acme.boss,
        roles("manager,employee"),
        &DelegationInput {
            delegate: acme.fin.0.to_string(),
            from: day(0),
            to: day(0),
        },
    )
    .unwrap();
    assert!(made.is_ok());

    let id = claims::create(&org, acme.emp, "Conference", "f").unwrap();
    let line = LineInput {
        date: day(0),
        category: "training".into(),
        merchant: "Conference Ltd".into(),
        amount: "1500.00".into(),
        currency: "GBP".into(),
        form_key: "l".into(),
        ..Default::default()
    };
    assert!(matches!(
        claims::add_line(&org, acme.emp, id, &line).unwrap(),
        AddLine::Added
    ));
    let v = claims::get(&org, id).unwrap().version;
    claims::transition(
        &org,
        acme.emp,
        roles("employee"),
        id,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();

    let queue = claims::waiting_for(
        &org,
        acme.fin,
        roles("finance"),
        &Default::default(),
        None,
        10,
    )
    .unwrap();
    assert_eq!(queue.iter().map(|c| c.id).collect::<Vec<_>>(), vec![id]);
    let v = claims::get(&org, id).unwrap().version;
    let to = claims::transition(
        &org,
        acme.fin,
        roles("finance"),
        id,
        Some(v),
        Transition::Approve,
        "",
    )
    .unwrap();
    assert_eq!(
        to,
        Status::AwaitingFinance,
        "over the threshold: finance next"
    );
    let history = claims::history(&org, id).unwrap();
    assert_eq!(history.last().unwrap().on_behalf_of, Some(acme.boss.0));

    let v = claims::get(&org, id).unwrap().version;
    let again = claims::transition(
        &org,
        acme.fin,
        roles("finance"),
        id,
        Some(v),
        Transition::Approve,
        "",
    );
    assert!(
        matches!(&again, Err(claims::ClaimError::Invalid(m)) if m.contains("someone other than the first approver")),
        "{again:?}"
    );
    let to = claims::transition(
        &org,
        fin2,
        roles("finance"),
        id,
        Some(v),
        Transition::Approve,
        "",
    )
    .unwrap();
    assert_eq!(to, Status::Approved);
    // At the finance stage Finn is finance again, delegate or not: he can pay it.
    let c = claims::get(&org, id).unwrap();
    assert_eq!(
        claims::role_for(&org, acme.fin, roles("finance"), &c).unwrap(),
        Some(expenseplus::expenses::status::Actor::Finance)
    );
    let paid = claims::transition(
        &org,
        acme.fin,
        roles("finance"),
        id,
        Some(c.version),
        Transition::MarkPaid,
        "",
    );
    assert_eq!(paid.unwrap(), Status::Paid);

    // Bea stops being a manager: her delegation no longer gives Finn anything.
    let claim2 = claims::create(&org, acme.emp, "Second", "f2").unwrap();
    let mut l2 = line.clone();
    l2.amount = "10.00".into();
    l2.form_key = "l2".into();
    claims::add_line(&org, acme.emp, claim2, &l2).unwrap();
    let v = claims::get(&org, claim2).unwrap().version;
    claims::transition(
        &org,
        acme.emp,
        roles("employee"),
        claim2,
        Some(v),
        Transition::Submit,
        "",
    )
    .unwrap();
    assert_eq!(
        claims::waiting_for(
            &org,
            acme.fin,
            roles("finance"),
            &Default::default(),
            None,
            10
        )
        .unwrap()
        .len(),
        1
    );
    account::set_roles(&org, acme.admin, acme.boss, roles("employee")).unwrap();
    assert!(
        claims::waiting_for(
            &org,
            acme.fin,
            roles("finance"),
            &Default::default(),
            None,
            10
        )
        .unwrap()
        .is_empty()
    );
    let c2 = claims::get(&org, claim2).unwrap();
    assert_eq!(
        claims::role_for(&org, acme.fin, roles("finance"), &c2).unwrap(),
        None
    );
}

/// A manager who also holds finance, whose delegate gave a claim its first approval
/// for them, cannot give the second: both would rest on their authority. Their finance
/// queue does not offer it, and their claim page has no approve button for it.
#[test]
fn the_second_approval_cannot_come_from_the_manager_a_delegate_acted_for() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::claims::{AddLine, LineInput};
    use expenseplus::expenses::delegation::{self, DelegationInput};
    use expenseplus::expenses::status::Transition;

    let acme = common::acme_with_people();
    let env = &acme.env;
    let org = env.org("acme");
    let roles = |s: &str| Roles::parse_list(s).unwrap();
    let mf = env.create_user(&org, "mf@acme.example", "Max Both", "manager,finance", None);
    let rep = env.create_user(&org, "rep@acme.example", "Rae Report", "employee", Some(mf));
    let made = delegation::add(
        &org,
        mf,
        roles("manager,finance"),
        &DelegationInput {
            delegate: acme.other.0.to_string(),
            from: day(0),
            to: day(0),
        },
    )
    .unwrap();
    assert!(made.is_ok());

    let id = claims::create(&org, rep, "Conference", "f").unwrap();
    let line = LineInput {
        date: day(0),
        category: "training".into(),
        merchant: "Conference Ltd".into(),
        amount: "1500.00".into(),
        currency: "GBP".into(),
        form_key: "l".into(),
        ..Default::default()
    };
    assert!(matches!(
        claims::add_line(&org, rep, id, &line).unwrap(),
        AddLine::Added
    ));
    let act = |who, r: &str, t| {
        let v = claims::get(&org, id).unwrap().version;
        claims::transition(&org, who, roles(r), id, Some(v), t, "")
    };
    act(rep, "employee", Transition::Submit).unwrap();
    // Otto approves for Max: over the threshold, so finance is next.
    assert_eq!(
        act(acme.other, "manager,employee", Transition::Approve).unwrap(),
        Status::AwaitingFinance
    );
    assert_eq!(
        claims::history(&org, id)
            .unwrap()
            .last()
            .unwrap()
            .on_behalf_of,
        Some(mf.0)
    );

    let queue = |who| {
        claims::waiting_for(
            &org,
            who,
            roles("manager,finance"),
            &Default::default(),
            None,
            10,
        )
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect::<Vec<_>>()
    };
    assert!(queue(mf).is_empty(), "not waiting for Max");
    let refused = act(mf, "manager,finance", Transition::Approve);
    assert!(
        matches!(&refused, Err(claims::ClaimError::Invalid(m)) if m.contains("someone other than the first approver")),
        "{refused:?}"
    );
    assert!(claims::gave_first_approval(
        &claims::history(&org, id).unwrap(),
        mf
    ));
    // Otto, as the one who acted, could not either; Finn, who had no part, can.
    assert!(claims::gave_first_approval(
        &claims::history(&org, id).unwrap(),
        acme.other
    ));
    assert_eq!(queue(acme.fin), vec![id]);
    assert_eq!(
        act(acme.fin, "finance", Transition::Approve).unwrap(),
        Status::Approved
    );
}

/// An approver's queue takes one database connection at a time. It used to hold one
/// while looking up delegations with a second, so under load a full pool of approvers
/// each held one and waited for another until the pool timed out (a 503 page).
#[test]
fn the_approvals_queue_opens_with_one_connection_left() {
    use expenseplus::auth::Roles;

    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let lent: Vec<_> = (1..org.db.max_size())
        .map(|_| org.conn().unwrap())
        .collect();
    let roles = Roles::parse_list("manager,employee").unwrap();
    let queue = claims::waiting_for(&org, acme.boss, roles, &Default::default(), None, 10);
    drop(lent);
    assert!(queue.is_ok(), "the queue could not get a connection");
}

#[test]
fn only_other_active_managers_and_finance_people_may_be_named() {
    use expenseplus::auth::account;
    use expenseplus::auth::users;
    use expenseplus::expenses::delegation;
    use expenseplus::ids::UserId;

    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    account::set_active(&org, acme.admin, acme.mgr, false).unwrap();
    let named: Vec<(UserId, String)> = delegation::candidates(&org, acme.boss)
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.name.to_string()))
        .collect();
    // Otto (manager) and Finn (finance), in id order, names opened; not Bea herself,
    // not Mo (deactivated), not the employee, DPO or admin.
    assert_eq!(
        named,
        vec![
            (acme.other, "Otto Other".to_owned()),
            (acme.fin, "Finn Finance".to_owned()),
        ]
    );

    // Owner names for a list: each id once, unknown ids left out.
    let names = users::names(&org, [acme.emp, acme.emp, acme.fin, UserId(999_999)]).unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(names[&acme.emp].to_string(), "Eve Employee");
    assert_eq!(names[&acme.fin].to_string(), "Finn Finance");
}

/// The manager sends a claim back while their delegate, from a page opened before,
/// approves it: the delegate is told someone else decided it, not "page not found".
#[actix_web::test]
async fn the_approver_who_loses_a_race_to_a_return_is_told_so() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::delegation::{self, DelegationInput};

    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let made = delegation::add(
        &org,
        acme.boss,
        Roles::parse_list("manager,employee").unwrap(),
        &DelegationInput {
            delegate: acme.other.0.to_string(),
            from: day(0),
            to: day(0),
        },
    )
    .unwrap();
    assert!(made.is_ok());
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let url = emp
        .post("/claims", &[("title", "Trip")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let line = [
        ("date", day(0)),
        ("category", "travel".to_owned()),
        ("merchant", "Rail".to_owned()),
        ("amount", "20.00".to_owned()),
        ("currency", "GBP".to_owned()),
    ];
    let line: Vec<(&str, &str)> = line.iter().map(|(k, v)| (*k, v.as_str())).collect();
    emp.post_multipart(&format!("{url}/lines"), &line, None)
        .await;
    assert_eq!(emp.post(&format!("{url}/submit"), &[]).await.status, 303);

    let mut delegate = Client::new(&app);
    delegate
        .sign_in("acme", "other@acme.example", PASSWORD)
        .await;
    let seen = field_value(&delegate.get(&url).await.body, "version").unwrap();
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    boss.get(&url).await;
    let back = boss
        .post(&format!("{url}/return"), &[("comment", "Add the receipt")])
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);

    let late = delegate
        .post(&format!("{url}/approve"), &[("version", &seen)])
        .await;
    assert_eq!(late.status, StatusCode::SEE_OTHER);
    assert_eq!(late.location(), Some("/approvals"));
    let queue = delegate.get("/approvals").await;
    assert!(
        queue.body.contains("Someone else decided that claim"),
        "{}",
        queue.body
    );
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    assert_eq!(claims::get(&org, id).unwrap().status(), Status::Draft);
}

/// The approvers' queue is paged, oldest first: a manager with more claims waiting
/// than a page holds follows a link to the rest.
#[actix_web::test]
async fn the_approvals_queue_is_paged_oldest_first() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::claims::LineInput;
    use expenseplus::expenses::status::Transition;
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let submit = |title: &str| {
        let id = claims::create(&org, acme.emp, title, title).unwrap();
        let line = LineInput {
            date: day(0),
            category: "meals".into(),
            merchant: "Cafe".into(),
            amount: "5.00".into(),
            currency: "GBP".into(),
            form_key: format!("{title}-l"),
            ..Default::default()
        };
        claims::add_line(&org, acme.emp, id, &line).unwrap();
        let v = claims::get(&org, id).unwrap().version;
        let emp = Roles::parse_list("employee").unwrap();
        claims::transition(&org, acme.emp, emp, id, Some(v), Transition::Submit, "").unwrap();
        id
    };
    let ids: Vec<i64> = (0..51).map(|i| submit(&format!("Lunch {i}"))).collect();
    // Another team's claim never shows in Bea's queue.
    let theirs = claims::create(&org, acme.boss, "Bea's own", "own").unwrap();

    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut bea = Client::new(&app);
    bea.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let first = bea.get("/approvals").await;
    assert_eq!(first.status, StatusCode::OK);
    let shows = |body: &str, id: i64| body.contains(&format!("href=\"/claims/{id}\""));
    assert!(shows(&first.body, ids[0]) && shows(&first.body, ids[49]));
    assert!(!shows(&first.body, ids[50]), "one page holds 50");
    let link = format!("/approvals?after={}", ids[49]);
    assert!(
        first.body.contains(&format!("href=\"{link}\"")),
        "{}",
        first.body
    );
    let second = bea.get(&link).await;
    assert!(shows(&second.body, ids[50]) && !shows(&second.body, ids[49]));
    assert!(
        !second.body.contains("/approvals?after="),
        "no further page"
    );
    assert!(!shows(&second.body, theirs));
    // A mangled page start is the first page, not an error.
    let bad = bea.get("/approvals?after=x").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(shows(&bad.body, ids[0]));
}

/// The queue filters as the claims list does: by category and by the dates of the
/// lines, and by which approval is awaited; a bad value is a 400 with a message.
#[actix_web::test]
async fn the_approvals_queue_filters_by_category_dates_and_stage() {
    use expenseplus::auth::Roles;
    use expenseplus::expenses::claims::LineInput;
    use expenseplus::expenses::status::Transition;
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let submit = |title: &str, category: &str, ago: i64| {
        let id = claims::create(&org, acme.emp, title, title).unwrap();
        let line = LineInput {
            date: day(-ago),
            category: category.into(),
            merchant: "Somewhere".into(),
            amount: "5.00".into(),
            currency: "GBP".into(),
            form_key: format!("{title}-l"),
            ..Default::default()
        };
        claims::add_line(&org, acme.emp, id, &line).unwrap();
        let v = claims::get(&org, id).unwrap().version;
        let emp = Roles::parse_list("employee").unwrap();
        claims::transition(&org, acme.emp, emp, id, Some(v), Transition::Submit, "").unwrap();
        id
    };
    let lunch = submit("Lunch", "meals", 0);
    let train = submit("Train", "travel", 0);
    let old_lunch = submit("Old lunch", "meals", 10);

    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut bea = Client::new(&app);
    bea.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let shows = |body: &str, id: i64| body.contains(&format!("href=\"/claims/{id}\""));
    let meals = bea.get("/approvals?category=meals").await;
    assert_eq!(meals.status, StatusCode::OK);
    assert!(shows(&meals.body, lunch) && shows(&meals.body, old_lunch));
    assert!(!shows(&meals.body, train));
    assert!(
        meals.body.contains("<option value=\"meals\" selected>"),
        "kept"
    );
    let recent = bea
        .get(&format!("/approvals?category=meals&from={}", day(-2)))
        .await;
    assert!(shows(&recent.body, lunch) && !shows(&recent.body, old_lunch));
    // Bea decides first approvals only: none of hers wait for finance.
    let finance_stage = bea.get("/approvals?status=awaiting_finance").await;
    assert!(
        finance_stage
            .body
            .contains("No claims waiting for you match these filters.")
    );
    let bad = bea.get("/approvals?category=caviar&to=31/12/2026").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("Choose a category from the list."));
    assert!(
        bad.body
            .contains("The to date must be a date like 2026-01-31.")
    );
    assert!(!shows(&bad.body, lunch));
}
