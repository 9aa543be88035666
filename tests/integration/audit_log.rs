//! The audit log viewer: names for people, filters, paging, and a broken chain shown
//! both in the viewer and by `expenseplus audit verify`.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD, TestEnv};
use diesel::RunQueryDsl;
use expenseplus::audit::{self, Action, Filter};
use expenseplus::auth::users;
use expenseplus::ids::UserId;
use expenseplus::web::build_app;

struct People {
    env: TestEnv,
    emp: UserId,
    admin: UserId,
}

fn env_with_people() -> People {
    let a = common::acme_with_people();
    People {
        env: a.env,
        emp: a.emp,
        admin: a.admin,
    }
}

/// Rows shown on a page, newest first, as (id, row html).
fn rows(body: &str) -> Vec<(i64, String)> {
    body.split("<tr id=\"entry-")
        .skip(1)
        .map(|s| {
            let id = s[..s.find('"').unwrap()].parse().unwrap();
            (id, s[..s.find("</tr>").unwrap()].to_owned())
        })
        .collect()
}

fn older_link(body: &str) -> Option<String> {
    let end = body.find("\">Older entries</a>")?;
    let start = body[..end].rfind("href=\"")? + "href=\"".len();
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

#[actix_web::test]
async fn viewer_shows_names_and_filters() {
    let p = env_with_people();
    let acme = p.env.org("acme");
    audit::record(
        &acme,
        Some(p.admin),
        Some(p.emp),
        Action::RolesChanged,
        "employee",
    )
    .unwrap();
    audit::record(&acme, None, Some(p.emp), Action::SignInFailed, "attempt 1").unwrap();
    // Someone whose personal data has since been erased (their key destroyed).
    let gone = p
        .env
        .create_user(&acme, "gus@acme.example", "Gus Gone", "employee", None);
    audit::record(
        &acme,
        Some(p.admin),
        Some(gone),
        Action::UserDeactivated,
        "",
    )
    .unwrap();
    let gone_row = users::get(&acme, gone).unwrap().unwrap();
    acme.keys.destroy(gone_row.person_key()).unwrap();
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "dpo@acme.example", PASSWORD).await;

    let page = c.get("/audit").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let all = rows(&page.body);
    let changed = &all
        .iter()
        .find(|r| r.1.contains("roles changed"))
        .unwrap()
        .1;
    assert!(changed.contains("Ann Admin") && changed.contains("Eve Employee"));
    assert!(!changed.contains("emp@acme.example"));
    assert!(page.body.contains("UTC"));
    let erased = &all
        .iter()
        .find(|r| r.1.contains("user deactivated"))
        .unwrap()
        .1;
    assert!(erased.contains("<td>erased</td>") && erased.contains("Ann Admin"));
    assert!(!page.body.contains("Gus Gone"));
    assert!(page.body.contains("Chain verified:"));
    // Newest first, and opening the viewer is itself an entry, by the viewer.
    assert!(all.windows(2).all(|w| w[0].0 > w[1].0));
    assert!(all[0].1.contains("viewed audit log") && all[0].1.contains("Dee Protection"));

    let by_action = c.get("/audit?action=roles_changed").await;
    let shown = rows(&by_action.body);
    assert_eq!(shown.len(), 1);
    assert!(shown[0].1.contains("roles changed"));
    assert!(by_action.body.contains("value=\"roles_changed\" selected"));

    let by_person = c.get(&format!("/audit?person={}", p.emp.0)).await;
    let shown = rows(&by_person.body);
    // Her two entries, and this viewing of her trail.
    assert_eq!(shown.len(), 3, "{}", by_person.body);
    assert!(shown.iter().all(|r| r.1.contains("Eve Employee")));

    let today = time::OffsetDateTime::now_utc().date();
    let by_date = c.get(&format!("/audit?from={today}&to={today}")).await;
    assert!(rows(&by_date.body).len() >= 3);
    let past = c.get("/audit?from=2001-01-01&to=2001-01-31").await;
    assert_eq!(rows(&past.body).len(), 0);
    assert!(past.body.contains("No entries match"));

    // Bad values get a message, never a 500.
    for (query, message) in [
        ("action=bogus", "Choose an action"),
        ("person=abc", "Choose a person"),
        ("person=9999", "Choose a person"),
        ("from=2026-13-45", "from date"),
        ("to=yesterday", "to date"),
        ("from=2026-02-01&to=2026-01-01", "must not be after"),
        ("before=-3", "does not exist"),
        ("action=%ZZ", ""),
    ] {
        let page = c.get(&format!("/audit?{query}")).await;
        assert!(page.status.is_client_error(), "{query}: {}", page.status);
        assert!(page.body.contains(message), "{query}: {}", page.body);
        assert!(page.body.contains("role=\"alert\""), "{query}");
    }
    // The viewing entry names the person whose trail was looked at, by id only.
    let viewed = audit::page(
        &acme,
        &Filter {
            action: Some(Action::ViewedAuditLog),
            person: Some(p.emp),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(viewed.len(), 1);
    assert_eq!(viewed[0].detail, format!("person={}", p.emp.0));
}

#[actix_web::test]
async fn paging_goes_back_fifty_at_a_time() {
    let p = env_with_people();
    let acme = p.env.org("acme");
    for i in 0..70 {
        audit::record(
            &acme,
            Some(p.admin),
            None,
            Action::PolicyChanged,
            &format!("{i}"),
        )
        .unwrap();
    }
    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let first = c.get("/audit?action=policy_changed").await;
    let first_rows = rows(&first.body);
    assert_eq!(first_rows.len(), 50);
    let link = older_link(&first.body).expect("an Older entries link");
    assert!(link.contains("action=policy_changed") && link.contains("before="));
    let second = c.get(&link).await;
    assert_eq!(second.status, StatusCode::OK);
    let second_rows = rows(&second.body);
    assert_eq!(second_rows.len(), 20);
    assert!(older_link(&second.body).is_none());
    assert!(second.body.contains("Newest entries"));
    assert!(first_rows.last().unwrap().0 > second_rows[0].0);
    let mut ids: Vec<i64> = first_rows.iter().chain(&second_rows).map(|r| r.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 70);
}

#[actix_web::test]
async fn a_tampered_entry_is_reported_by_the_viewer_and_the_command() {
    let p = env_with_people();
    let acme = p.env.org("acme");
    for detail in ["one", "two", "three"] {
        audit::record(
            &acme,
            Some(p.admin),
            Some(p.emp),
            Action::RolesChanged,
            detail,
        )
        .unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_expenseplus");
    let verify = || {
        std::process::Command::new(bin)
            .arg("--data-dir")
            .arg(p.env.data_dir())
            .args(["audit", "verify", "--org", "acme"])
            .env_remove("EXPENSEPLUS_MASTER_KEY")
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "audit log of acme: 3 entries, chain intact\n\
         no sealed backup in backups records an entry to compare with\n"
    );

    let mut conn = acme.conn().unwrap();
    diesel::sql_query("DROP TRIGGER audit_log_no_update")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("UPDATE audit_log SET detail = 'admin' WHERE id = 2")
        .execute(&mut conn)
        .unwrap();
    drop(conn);

    let broken = verify();
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("entry 2 "), "{stderr}");
    assert!(broken.stdout.is_empty());

    let app = atest::init_service(build_app(p.env.state.clone())).await;
    let mut c = Client::new(&app);
    c.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let page = c.get("/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Chain verified"));
    assert!(page.body.contains("hash chain is broken"), "{}", page.body);
    assert!(page.body.contains("audit entry 2 "));
}

/// Writers of one organisation take turns in this process: many at once, more than
/// its pool has connections, all succeed and nothing is lost.
#[test]
fn many_writers_at_once_all_succeed() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let before = audit::page(&org, &Filter::default(), None, 10_000)
        .unwrap()
        .len();
    std::thread::scope(|s| {
        for t in 0..24 {
            let org = &org;
            s.spawn(move || {
                for i in 0..10 {
                    audit::record(org, None, None, Action::ViewedPerson, &format!("w{t}-{i}"))
                        .unwrap();
                }
            });
        }
    });
    let after = audit::page(&org, &Filter::default(), None, 10_000).unwrap();
    assert_eq!(after.len(), before + 240);
}

/// A write started inside another write to the same organisation is refused at once
/// (it would otherwise wait for its own turn forever); the outer write is rolled back
/// with it, and the turn is free again afterwards.
#[test]
fn a_nested_write_is_refused_not_left_waiting() {
    use expenseplus::db::DbError;

    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let count = || {
        audit::page(&org, &Filter::default(), None, 10_000)
            .unwrap()
            .len()
    };
    let before = count();
    // On its own thread: without the check it would never return, and this test
    // should then fail, not hang.
    let (tx, rx) = std::sync::mpsc::channel();
    let o = org.clone();
    std::thread::spawn(move || {
        let nested = o.write(|c| -> Result<(), DbError> {
            audit::append(c, None, None, Action::ViewedPerson, "outer")?;
            audit::record(&o, None, None, Action::ViewedPerson, "inner")
        });
        let _ = tx.send(nested);
    });
    let nested = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a nested write returns instead of waiting for itself");
    assert!(matches!(nested, Err(DbError::NestedWrite)), "{nested:?}");
    assert_eq!(count(), before, "neither entry was kept");
    audit::record(&org, None, None, Action::ViewedPerson, "after").unwrap();
    assert_eq!(count(), before + 1);
}

/// The privacy register is the DPO's alone: an administrator reading the audit log sees
/// that privacy actions happened, but not who they were about (nor who asked, when the
/// person asked themselves) nor their detail, and filtering by a person does not find
/// them. The DPO sees every entry in full, and the chain is untouched.
#[actix_web::test]
async fn admins_see_privacy_entries_without_the_person_or_the_detail() {
    use expenseplus::privacy::requests::{self, Dpo, NewRequest};
    use expenseplus::privacy::restriction;

    let a = common::acme_with_people();
    let acme = a.env.org("acme");
    let today = time::OffsetDateTime::now_utc().date();
    // Eve asks for erasure herself; the DPO logs an access request for Otto, restricts
    // Bea, schedules Bea's erasure and opens Eve's privacy page.
    requests::open_own(&acme, a.emp, "erasure", "", today).unwrap();
    let dpo = Dpo::check(a.dpo, expenseplus::auth::Roles::parse_list("dpo").unwrap()).unwrap();
    let new = NewRequest {
        subject_email: "other@acme.example".into(),
        kind: "access".into(),
        received: String::new(),
    };
    requests::open(&acme, dpo, &new, today).unwrap();
    restriction::restrict(&acme, a.dpo, a.boss, "legal hold").unwrap();
    audit::record(
        &acme,
        Some(a.dpo),
        Some(a.boss),
        Action::ErasureScheduled,
        "due 2032-04-06",
    )
    .unwrap();
    audit::record(
        &acme,
        Some(a.dpo),
        Some(a.emp),
        Action::ViewedPerson,
        "privacy page",
    )
    .unwrap();
    // Ordinary administration stays as it was.
    audit::record(
        &acme,
        Some(a.admin),
        Some(a.emp),
        Action::RolesChanged,
        "employee",
    )
    .unwrap();
    let app = atest::init_service(build_app(a.env.state.clone())).await;
    let privacy = [
        "privacy request opened",
        "restricted person",
        "erasure scheduled",
    ];
    let named = ["Eve Employee", "Otto Other", "Bea Boss"];

    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    let page = admin.get("/audit").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let all = rows(&page.body);
    let hidden: Vec<&String> = all
        .iter()
        .map(|r| &r.1)
        .filter(|r| {
            privacy.iter().any(|p| r.contains(p))
                || (r.contains("viewed person") && r.contains("Dee Protection"))
        })
        .collect();
    // Two requests, the restriction, the scheduled erasure and the DPO's look.
    assert_eq!(hidden.len(), 5, "{}", page.body);
    for row in &hidden {
        assert!(row.contains("<td>a person</td>"), "{row}");
        assert!(row.contains("withheld"), "{row}");
        for name in named {
            assert!(!row.contains(name), "{name} shown to an admin: {row}");
        }
        for detail in [": erasure", ": access", "due 2032", "privacy page"] {
            assert!(!row.contains(detail), "{detail} shown to an admin: {row}");
        }
    }
    // The DPO acting is still named; Eve asking for herself is not.
    let opened: Vec<&&String> = hidden
        .iter()
        .filter(|r| r.contains("privacy request opened"))
        .collect();
    assert!(opened.iter().any(|r| r.contains("Dee Protection")));
    assert!(
        opened
            .iter()
            .any(|r| r.matches("<td>a person</td>").count() == 2)
    );
    let changed = all.iter().find(|r| r.1.contains("roles changed")).unwrap();
    assert!(changed.1.contains("Eve Employee") && changed.1.contains("<td>employee</td>"));
    // Filtering by a person finds none of their privacy entries, by action either.
    for person in [a.emp, a.boss, a.other] {
        for extra in [
            "",
            "&action=privacy_request_opened",
            "&action=restricted_person",
        ] {
            let page = admin
                .get(&format!("/audit?person={}{extra}", person.0))
                .await;
            assert_eq!(page.status, StatusCode::OK);
            for (_, row) in rows(&page.body) {
                assert!(
                    !privacy.iter().any(|p| row.contains(p)) && !row.contains("a person"),
                    "filtering by #{} shows {row}",
                    person.0
                );
            }
        }
    }
    let eve = rows(&admin.get(&format!("/audit?person={}", a.emp.0)).await.body);
    assert!(eve.iter().any(|r| r.1.contains("roles changed")));

    // The DPO sees it all, by name and with its detail.
    let mut dee = Client::new(&app);
    dee.sign_in("acme", "dpo@acme.example", PASSWORD).await;
    let page = dee.get(&format!("/audit?person={}", a.boss.0)).await;
    let bea = rows(&page.body);
    assert!(
        bea.iter()
            .any(|r| r.1.contains("restricted person") && r.1.contains("Bea Boss"))
    );
    assert!(
        bea.iter()
            .any(|r| r.1.contains("erasure scheduled") && r.1.contains("due 2032-04-06"))
    );
    let page = dee.get(&format!("/audit?person={}", a.emp.0)).await;
    assert!(
        rows(&page.body)
            .iter()
            .any(|r| r.1.contains("privacy request opened")
                && r.1.contains("Eve Employee")
                && r.1.contains(": erasure"))
    );
    audit::verify(&acme).unwrap();
}

/// A view of many people at once writes one entry each, in statements of a hundred
/// rows: the chain stays whole across them, the viewer is left out, and each person
/// finds their own entry.
#[test]
fn a_view_of_many_people_writes_each_their_entry_in_one_chain() {
    let env = TestEnv::new();
    let org = env.create_org("acme", "Acme Ltd");
    audit::record(&org, None, None, Action::OrganisationSetUp, "first").unwrap();
    let viewer = UserId(7);
    let people: Vec<UserId> = (1..=250).map(UserId).chain([UserId(3)]).collect();
    audit::record_views(&org, viewer, people, "approvals queue (250 claims)").unwrap();
    assert_eq!(audit::verify(&org).unwrap(), 1 + 249);
    let views = common::audited(&org, Action::ViewedPerson);
    assert_eq!(views.len(), 249, "each once, the viewer not at all");
    assert!(
        views
            .iter()
            .all(|e| e.actor_id == Some(7) && e.subject_id != Some(7))
    );
    let theirs = audit::page(
        &org,
        &Filter {
            person: Some(UserId(250)),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(theirs.len(), 1);
    // The next single entry goes on from the end of the batch.
    audit::record(&org, None, None, Action::OrganisationSetUp, "after").unwrap();
    assert_eq!(audit::verify(&org).unwrap(), 251);
}
