//! One person may store at most 500 MB of receipts in 24 hours: the disk is shared by
//! every organisation, so one account cannot fill it. What is over is refused on the
//! receipt field with the line as typed; older receipts and colleagues do not count.

#![allow(clippy::unwrap_used)]

use crate::common;

use super::receipts_web::line_fields;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test as atest;
use common::{Client, PASSWORD};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use expenseplus::expenses::receipt_allowance::DAILY_BYTES;
use expenseplus::tenancy::Org;
use expenseplus::web::build_app;

const REFUSED: &str = "You have stored 500 MB of receipts in the last 24 hours";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A receipt row of `size` bytes stored at `at` on claim `claim` (its file is a
/// placeholder: only the sizes are counted, and nothing here opens it).
fn stored(org: &Org, claim: i64, size: i64, at: i64) {
    diesel::sql_query(
        "INSERT INTO receipts (claim_id, line_id, content_type, size, data, created_at) \
         VALUES (?, NULL, 'application/pdf', ?, x'00', ?)",
    )
    .bind::<BigInt, _>(claim)
    .bind::<BigInt, _>(size)
    .bind::<BigInt, _>(at)
    .execute(&mut org.conn().unwrap())
    .unwrap();
}

/// Signs `email` in and opens a new draft: the client and the claim's URL and id.
async fn draft<'a, S, B>(app: &'a S, email: &str) -> (Client<'a, S>, String, i64)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut c = Client::new(app);
    c.sign_in("acme", email, PASSWORD).await;
    let url = c.start_claim("Trip").await;
    let id = url.rsplit('/').next().unwrap().parse().unwrap();
    c.get(&url).await;
    (c, url, id)
}

#[actix_web::test]
async fn a_person_past_the_days_allowance_is_told_on_the_receipt_field_and_keeps_the_line() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let date = time::OffsetDateTime::now_utc().date().to_string();
    let (mut emp, url, claim) = draft(&app, "emp@acme.example").await;

    // A good file with a refused field: the browser forgets the file, so the notice
    // asks for it again.
    let mut bad_amount = line_fields(&date, "l0");
    bad_amount[4] = ("amount", "-5");
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &bad_amount,
            Some(("receipt", "a.png", &common::png())),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains("see the messages below, and choose the receipt again."),
        "{}",
        page.body
    );

    // A full allowance stored 25 hours ago no longer counts.
    stored(&org, claim, DAILY_BYTES, now() - 25 * 60 * 60);
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l1"),
            Some(("receipt", "a.png", &common::png())),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // Short of the allowance in the last day (by more than the small file above): one
    // more file is still taken, even though it takes the day past the allowance.
    stored(&org, claim, DAILY_BYTES - 100_000, now() - 60);
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l2"),
            Some(("receipt", "b.png", &common::png())),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // A little more and the day is at its allowance: the next file is refused on the
    // receipt field, the rest of the line as typed, and
    // nothing written.
    stored(&org, claim, 100_000, now() - 60);
    emp.get(&url).await;
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l3"),
            Some(("receipt", "c.png", &common::png())),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(REFUSED), "{}", page.body);
    // Choosing the file again would not help: the notice does not ask for it.
    assert!(
        page.body
            .contains("The line was not added: see the messages below.</p>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<p class="field-error" id="receipt-error">You have stored"#),
        "the message is on the receipt field: {}",
        page.body
    );
    assert_eq!(
        common::field_value(&page.body, "merchant").as_deref(),
        Some("Harbour Hotel")
    );
    let lines = emp.get(&url).await.body.matches("Harbour Hotel").count();
    assert_eq!(lines, 2, "the refused line was not added");

    // The form whose file took the day past the allowance, posted again (its answer
    // lost): a repeat, done, not refused for the allowance it used up itself.
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l2"),
            Some(("receipt", "b.png", &common::png())),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let lines = emp.get(&url).await.body.matches("Harbour Hotel").count();
    assert_eq!(lines, 2, "and not added twice");

    // The same line without the file is taken, as the message says.
    let page = emp
        .post_multipart(&format!("{url}/lines"), &line_fields(&date, "l4"), None)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // Nor can the file come in through the line's edit form.
    let page = emp.get(&url).await;
    let prefix = format!("href=\"{url}/lines/");
    let last = page.body.rsplit(&prefix).next().unwrap();
    let line_id = &last[..last.find('/').unwrap()];
    let edit = format!("{url}/lines/{line_id}/edit");
    let form = emp.get(&edit).await;
    let version = common::field_value(&form.body, "version").unwrap();
    let key = common::field_value(&form.body, "form_key").unwrap();
    let mut fields = line_fields(&date, &key);
    fields.push(("version", &version));
    let page = emp
        .post_multipart(&edit, &fields, Some(("receipt", "e.png", &common::png())))
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(REFUSED), "{}", page.body);
    assert!(
        page.body
            .contains("The line was not saved: see the messages below.</p>")
    );

    // A colleague's allowance is their own.
    let (mut boss, boss_url, _) = draft(&app, "boss@acme.example").await;
    let page = boss
        .post_multipart(
            &format!("{boss_url}/lines"),
            &line_fields(&date, "b1"),
            Some(("receipt", "d.png", &common::png())),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}
