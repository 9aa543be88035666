//! Things done twice at the same moment: two approvers deciding one claim, the same
//! "new claim" or "add line" form sent from two threads. Exactly one of each happens;
//! the other caller is told so plainly (never a database error or a panic).

#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::{Arc, Barrier};
use std::thread;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, field_value};
use diesel::prelude::*;
use expenseplus::auth::Roles;
use expenseplus::expenses::claims::{self, AddLine, ClaimError, ClaimFields, LineInput};
use expenseplus::expenses::delegation::{self, DelegationInput};
use expenseplus::expenses::receipts::{self, Upload};
use expenseplus::expenses::status::{Status, Transition};
use expenseplus::ids::UserId;
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;

const ROUNDS: usize = 20;

fn roles(s: &str) -> Roles {
    Roles::parse_list(s).unwrap()
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

fn uk_day(offset: i64) -> String {
    let today = expenseplus::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
    (today + time::Duration::days(offset)).to_string()
}

fn line(amount: &str, category: &str, key: &str) -> LineInput {
    LineInput {
        date: today(),
        category: category.into(),
        merchant: "Rail".into(),
        description: "Client visit".into(),
        amount: amount.into(),
        currency: "GBP".into(),
        form_key: key.into(),
        ..Default::default()
    }
}

fn step(org: &Org, who: UserId, r: &str, id: i64, t: Transition) -> Status {
    let v = claims::get(org, id).unwrap().version;
    claims::transition(org, who, roles(r), id, Some(v), t, "").unwrap()
}

/// A submitted claim of `owner` with one line.
fn submitted(org: &Org, owner: UserId, key: &str, amount: &str, category: &str) -> i64 {
    let id = claims::create(org, owner, "Trip", key).unwrap();
    assert!(matches!(
        claims::add_line(org, owner, id, &line(amount, category, &format!("{key}-l"))).unwrap(),
        AddLine::Added
    ));
    step(org, owner, "employee", id, Transition::Submit);
    id
}

/// Runs both calls at the same moment (released together by a barrier) on two threads
/// and gives their results in order.
fn at_once<T: Send + 'static>(
    a: impl FnOnce() -> T + Send + 'static,
    b: impl FnOnce() -> T + Send + 'static,
) -> (T, T) {
    let gate = Arc::new(Barrier::new(2));
    let (ga, gb) = (gate.clone(), gate);
    let ta = thread::spawn(move || {
        ga.wait();
        a()
    });
    let tb = thread::spawn(move || {
        gb.wait();
        b()
    });
    (
        ta.join().expect("first call panicked"),
        tb.join().expect("second call panicked"),
    )
}

/// Bea and Otto (deciding for Bea as her delegate) decide the same submitted claim at
/// once, one approving and one rejecting: one decision is made, the other person is
/// told someone else changed the claim, and the history has one decision.
#[test]
fn a_manager_and_her_delegate_deciding_at_once_one_wins() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    delegation::add(
        &org,
        acme.boss,
        roles("manager,employee"),
        &DelegationInput {
            delegate: acme.other.0.to_string(),
            from: uk_day(0),
            to: uk_day(1),
        },
    )
    .unwrap()
    .unwrap();
    let mut wins = [0usize; 2];
    for round in 0..ROUNDS {
        let id = submitted(&org, acme.emp, &format!("d{round}"), "20.00", "travel");
        let v = claims::get(&org, id).unwrap().version;
        // Who approves and who rejects alternates, so neither is always first.
        let (bea_t, otto_t) = if round % 2 == 0 {
            (Transition::Approve, Transition::Reject)
        } else {
            (Transition::Reject, Transition::Approve)
        };
        let (o1, o2) = (org.clone(), org.clone());
        let (bea, otto) = (acme.boss, acme.other);
        let (r_bea, r_otto) = at_once(
            move || {
                claims::transition(
                    &o1,
                    bea,
                    roles("manager,employee"),
                    id,
                    Some(v),
                    bea_t,
                    "bea",
                )
            },
            move || {
                claims::transition(
                    &o2,
                    otto,
                    roles("manager,employee"),
                    id,
                    Some(v),
                    otto_t,
                    "otto",
                )
            },
        );
        let results = [&r_bea, &r_otto];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {r_bea:?} / {r_otto:?}"
        );
        let (winner, won, lost) = if r_bea.is_ok() {
            (0, bea_t, &r_otto)
        } else {
            (1, otto_t, &r_bea)
        };
        wins[winner] += 1;
        assert!(
            matches!(lost, Err(ClaimError::Conflict)),
            "round {round}: the loser is told someone else acted: {lost:?}"
        );
        let want = if won == Transition::Approve {
            Status::Approved
        } else {
            Status::Rejected
        };
        let claim = claims::get(&org, id).unwrap();
        assert_eq!(claim.status(), want, "round {round}");
        assert_eq!(claim.version, v + 1, "round {round}: one change");
        let history = claims::history(&org, id).unwrap();
        assert_eq!(history.len(), 2, "round {round}: submit and one decision");
        let decider = if winner == 0 { acme.boss } else { acme.other };
        assert_eq!(history[1].actor_id, decider.0, "round {round}");
        assert_eq!(history[1].to_status, want.code());
        // The delegate's decision says for whom it was made.
        let on_behalf = if winner == 1 { Some(acme.boss.0) } else { None };
        assert_eq!(history[1].on_behalf_of, on_behalf, "round {round}");
    }
    assert_eq!(wins.iter().sum::<usize>(), ROUNDS);
}

/// Two finance people give the second approval of the same claim at once: one
/// approval, the other told someone else changed it, three history entries.
#[test]
fn two_finance_people_giving_the_second_approval_at_once_one_wins() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let fay = acme
        .env
        .create_user(&org, "fay@acme.example", "Fay Finance", "finance", None);
    for round in 0..ROUNDS {
        // Over the threshold (1,000.00): the manager's approval leaves it with finance.
        let id = submitted(&org, acme.emp, &format!("f{round}"), "1500.00", "training");
        assert_eq!(
            step(&org, acme.boss, "manager,employee", id, Transition::Approve),
            Status::AwaitingFinance
        );
        let v = claims::get(&org, id).unwrap().version;
        let (o1, o2) = (org.clone(), org.clone());
        let (finn, fay_id) = (acme.fin, fay);
        let (r_finn, r_fay) = at_once(
            move || {
                claims::transition(
                    &o1,
                    finn,
                    roles("finance"),
                    id,
                    Some(v),
                    Transition::Approve,
                    "",
                )
            },
            move || {
                claims::transition(
                    &o2,
                    fay_id,
                    roles("finance"),
                    id,
                    Some(v),
                    Transition::Approve,
                    "",
                )
            },
        );
        let oks: Vec<_> = [&r_finn, &r_fay]
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .collect();
        assert_eq!(
            oks,
            vec![&Status::Approved],
            "round {round}: {r_finn:?} / {r_fay:?}"
        );
        let lost = if r_finn.is_ok() { &r_fay } else { &r_finn };
        assert!(
            matches!(lost, Err(ClaimError::Conflict)),
            "round {round}: {lost:?}"
        );
        let claim = claims::get(&org, id).unwrap();
        assert_eq!(
            (claim.status(), claim.version),
            (Status::Approved, v + 1),
            "round {round}"
        );
        let steps: Vec<_> = claims::history(&org, id)
            .unwrap()
            .iter()
            .map(|e| e.to_status.clone())
            .collect();
        assert_eq!(
            steps,
            ["submitted", "awaiting_finance", "approved"],
            "round {round}"
        );
    }
}

/// Claims carrying this form key.
fn claims_with_key(org: &Org, key: &str) -> Vec<i64> {
    use expenseplus::db::schema::org::claims as t;
    let mut conn = org.conn().unwrap();
    t::table
        .filter(t::form_key.eq(key))
        .select(t::id)
        .load(&mut conn)
        .unwrap()
}

/// The "new claim" form sent from two threads at once (a double click racing itself):
/// one claim, and both posts are answered with it.
#[test]
fn the_same_new_claim_form_at_once_makes_one_claim() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    for round in 0..ROUNDS {
        let key = format!("new-claim-{round}");
        let (o1, o2) = (org.clone(), org.clone());
        let (k1, k2) = (key.clone(), key.clone());
        let emp = acme.emp;
        let (a, b) = at_once(
            move || claims::create(&o1, emp, "Bristol trip", &k1),
            move || claims::create(&o2, emp, "Bristol trip", &k2),
        );
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            other => panic!("round {round}: both posts should land on the claim: {other:?}"),
        };
        assert_eq!(a, b, "round {round}: the same claim");
        assert_eq!(claims_with_key(&org, &key), vec![a], "round {round}");
    }
    let own = claims::list_own(&org, acme.emp, &Default::default(), None, 1000).unwrap();
    assert_eq!(own.len(), ROUNDS, "one claim per form");
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 20, y as u8 * 20, 3]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// What a line post came to, in words (`AddLine` has no `Debug`).
fn outcome(r: &Result<AddLine, ClaimError>) -> String {
    match r {
        Ok(AddLine::Added) => "added".into(),
        Ok(AddLine::Invalid(e)) => format!("invalid: {e:?}"),
        Err(e) => format!("error: {e:?}"),
    }
}

/// The "add line" form (with a receipt, as the page sends it) posted from two threads
/// at once: one line and one receipt; both posts are answered "added" (the second
/// found the first's line) or, at worst, with a plain refusal, never a database error.
#[test]
fn the_same_add_line_form_at_once_makes_one_line() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = claims::create(&org, acme.emp, "Lunches", "lunches").unwrap();
    let receipt = png();
    for round in 0..ROUNDS {
        let before = claims::get(&org, id).unwrap();
        let input = line("12.50", "meals", &format!("line-{round}"));
        let (o1, o2) = (org.clone(), org.clone());
        let (i1, i2) = (input.clone(), input);
        let (f1, f2) = (receipt.clone(), receipt.clone());
        let emp = acme.emp;
        let (a, b) = at_once(
            move || receipts::add_line_with_receipt(&o1, emp, id, &i1, Upload::File(f1)),
            move || receipts::add_line_with_receipt(&o2, emp, id, &i2, Upload::File(f2)),
        );
        let said = (outcome(&a), outcome(&b));
        assert!(
            said.0 == "added" || said.1 == "added",
            "round {round}: {said:?}"
        );
        for r in [&a, &b] {
            assert!(
                !matches!(
                    r,
                    Err(ClaimError::Db(_) | ClaimError::Crypto(_)) | Ok(AddLine::Invalid(_))
                ),
                "round {round}: {said:?}"
            );
        }
        let after = claims::get(&org, id).unwrap();
        assert_eq!(
            after.version,
            before.version + 1,
            "round {round}: one change"
        );
        assert_eq!(
            after.total_minor,
            before.total_minor + 1250,
            "round {round}"
        );
        let keyed: Vec<_> = claims::lines(&org, id)
            .unwrap()
            .into_iter()
            .filter(|l| l.form_key.as_deref() == Some(format!("line-{round}").as_str()))
            .collect();
        assert_eq!(keyed.len(), 1, "round {round}: one line");
    }
    assert_eq!(claims::lines(&org, id).unwrap().len(), ROUNDS);
    assert_eq!(
        receipts::for_claim(&org, id).unwrap().len(),
        ROUNDS,
        "one receipt per line, none twice"
    );
}

/// Through the pages: the same add-line form (its key as the page gave it) posted twice
/// in a row is one line, and both posts are answered with the claim page, not an error.
#[actix_web::test]
async fn the_same_add_line_form_posted_twice_is_one_line() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let form_key = field_value(&eve.get("/claims").await.body, "form_key").unwrap();
    let url = eve
        .post("/claims", &[("title", "Leeds"), ("form_key", &form_key)])
        .await
        .location()
        .unwrap()
        .to_owned();
    let id: i64 = url.trim_start_matches("/claims/").parse().unwrap();
    let page = eve.get(&url).await;
    let key = field_value(&page.body, "form_key").expect("the line form carries a key");
    let version = claims::get(&org, id).unwrap().version;
    let date = today();
    let fields = [
        ("date", date.as_str()),
        ("category", "meals"),
        ("merchant", "Cafe Twice"),
        ("description", "Lunch"),
        ("amount", "12.50"),
        ("currency", "GBP"),
        ("form_key", key.as_str()),
    ];
    let receipt = png();
    for attempt in ["first", "second"] {
        let sent = eve
            .post_multipart(
                &format!("{url}/lines"),
                &fields,
                Some(("receipt", "r.png", &receipt)),
            )
            .await;
        assert_eq!(
            sent.status,
            StatusCode::SEE_OTHER,
            "{attempt}: {}",
            sent.body
        );
        assert_eq!(sent.location(), Some(url.as_str()), "{attempt}");
        let page = eve.get(&url).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(
            page.body.matches("Cafe Twice").count(),
            1,
            "{attempt}: one line shown"
        );
        assert!(page.body.contains("12.50 GBP"), "{attempt}");
    }
    assert_eq!(claims::lines(&org, id).unwrap().len(), 1);
    assert_eq!(receipts::for_claim(&org, id).unwrap().len(), 1);
    let claim = claims::get(&org, id).unwrap();
    assert_eq!(
        (claim.version, claim.total_minor),
        (version + 1, 1250),
        "changed once"
    );
}

/// A line form key already used on one claim, sent with a line for another claim of
/// the same person (a script reusing its keys, say): the line is added or refused in
/// words, never a database error (500).
#[actix_web::test]
async fn a_line_key_used_on_another_claim_is_not_a_server_error() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let first = claims::create(&org, acme.emp, "First", "first").unwrap();
    let second = claims::create(&org, acme.emp, "Second", "second").unwrap();
    assert!(matches!(
        claims::add_line(&org, acme.emp, first, &line("5.00", "travel", "shared")).unwrap(),
        AddLine::Added
    ));
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = format!("/claims/{second}");
    eve.get(&url).await;
    let date = today();
    let fields = [
        ("date", date.as_str()),
        ("category", "travel"),
        ("merchant", "Rail"),
        ("amount", "7.00"),
        ("currency", "GBP"),
        ("form_key", "shared"),
    ];
    let page = eve
        .post_multipart(&format!("{url}/lines"), &fields, None)
        .await;
    let r = claims::add_line(&org, acme.emp, second, &line("6.00", "travel", "shared"));
    let domain = outcome(&r);
    assert!(
        !matches!(r, Err(ClaimError::Db(_))),
        "domain: {domain}; web: {} {}",
        page.status,
        page.body
    );
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "This form was already used for another claim; open the claim and add the line again."
        ),
        "{}",
        page.body
    );
    // What was typed is kept for the next try.
    assert!(page.body.contains("value=\"Rail\""), "{}", page.body);
    assert_eq!(claims::lines(&org, first).unwrap().len(), 1);
    assert!(claims::lines(&org, second).unwrap().is_empty());
}
