//! A request's export and erasure through the pages: only once identity is verified,
//! erasure only for an erasure request, with a mode and a confirmation; erasure
//! completes the request and the person can no longer sign in.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::{Cursor, Read};

use actix_web::http::{StatusCode, header};
use actix_web::test as atest;
use common::{Client, PASSWORD};
use expenseplus::web::build_app;

async fn log_request<S, B>(dpo: &mut Client<'_, S>, kind: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    dpo.get("/privacy/requests").await;
    let made = dpo
        .post(
            "/privacy/requests",
            &[("subject_email", "emp@acme.example"), ("kind", kind)],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    made.location().unwrap().to_owned()
}

fn zip_text(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[actix_web::test]
async fn export_and_erasure_of_a_request_need_a_verified_identity() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut dpo = Client::new(&app);
    dpo.sign_in("acme", "dpo@acme.example", PASSWORD).await;

    // An access request: no export before identity is verified, then the ZIP.
    let access = log_request(&mut dpo, "access").await;
    let early = dpo.get(&format!("{access}/export")).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        early
            .body
            .contains("Verify the subject&#39;s identity first"),
        "{}",
        early.body
    );
    dpo.get(&access).await;
    let v = dpo
        .post(&format!("{access}/verify"), &[("method", "badge seen")])
        .await;
    assert_eq!(v.status, StatusCode::SEE_OTHER);
    let zip = dpo.get(&format!("{access}/export")).await;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(
        zip.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/zip"
    );
    let data = zip_text(&zip.bytes, "data.json");
    assert!(data.contains("Eve Employee"));
    // Her own requests are her data too, with how her identity was checked.
    assert!(data.contains("\"privacy_requests\""), "{data}");
    assert!(data.contains("badge seen"), "{data}");
    assert!(zip_text(&zip.bytes, "report.html").contains("Your data protection requests"));
    // An access request cannot erase anyone.
    dpo.get(&access).await;
    let wrong = dpo
        .post(
            &format!("{access}/erase"),
            &[("mode", "now"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.body.contains("Only an erasure request"),
        "{}",
        wrong.body
    );

    // An erasure request: refused before verification, without a mode or without the tick.
    let erasure = log_request(&mut dpo, "erasure").await;
    dpo.get(&erasure).await;
    let early = dpo
        .post(
            &format!("{erasure}/erase"),
            &[("mode", "now"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    dpo.post(&format!("{erasure}/verify"), &[("method", "video call")])
        .await;
    dpo.get(&erasure).await;
    let no_mode = dpo
        .post(&format!("{erasure}/erase"), &[("confirm", "yes")])
        .await;
    assert!(no_mode.body.contains("Choose when to erase"));
    let no_tick = dpo
        .post(&format!("{erasure}/erase"), &[("mode", "now")])
        .await;
    assert!(no_tick.body.contains("Tick the box"));
    // "Completed" with nothing erased would tell Eve something untrue: the page offers
    // no such button for an erasure request, and the route refuses it.
    let page = dpo.get(&erasure).await;
    assert!(!page.body.contains("Mark completed"), "{}", page.body);
    let unerased = dpo.post(&format!("{erasure}/complete"), &[]).await;
    assert_eq!(unerased.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unerased
            .body
            .contains("An erasure request is completed by erasing the person"),
        "{}",
        unerased.body
    );
    assert!(!dpo.get(&erasure).await.body.contains(">completed<"));
    // Still nothing erased: Eve signs in.
    let mut eve = Client::new(&app);
    eve.sign_in("acme", "emp@acme.example", PASSWORD).await;
    assert!(eve.get("/").await.body.contains("Eve Employee"));

    let done = dpo
        .post(
            &format!("{erasure}/erase"),
            &[("mode", "now"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = dpo.get(&erasure).await;
    assert!(page.body.contains("Erased: the person"), "{}", page.body);
    assert!(page.body.contains("completed"));
    assert!(!page.body.contains("Eve Employee"));
    // Her session ended and she cannot sign in again.
    assert_eq!(eve.get("/").await.status, StatusCode::SEE_OTHER);
    let mut again = Client::new(&app);
    let refused = again
        .try_sign_in("acme", "emp@acme.example", PASSWORD)
        .await;
    assert_ne!(refused.status, StatusCode::SEE_OTHER);
    // The completed request cannot erase again, and other roles never reach these routes.
    let twice = dpo
        .post(
            &format!("{erasure}/erase"),
            &[("mode", "now"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut admin = Client::new(&app);
    admin.sign_in("acme", "admin@acme.example", PASSWORD).await;
    assert_eq!(
        admin.get(&format!("{access}/export")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        dpo.get("/privacy/requests/999999/export").await.status,
        StatusCode::NOT_FOUND
    );
}
