//! Turns for reading uploads through the pages: one person sending two files slowly
//! cannot make the server wait on a third of theirs; they are told plainly instead.

#![allow(clippy::unwrap_used)]

use crate::common;

use actix_http::error::PayloadError;
use actix_web::http::{StatusCode, header};
use actix_web::test as atest;
use actix_web::web::Bytes;
use common::{Client, PASSWORD};
use expenseplus::web::build_app;
use futures_util::future::{Either, select};
use tokio::sync::{mpsc, oneshot};

const BOUNDARY: &str = "----expenseplus-upload-turns";

/// A multipart body that sends its first part and then stalls, as a slow phone does;
/// `started` fires when the server begins reading it.
fn stalled_body(
    csrf: &str,
) -> (
    actix_http::Payload,
    mpsc::UnboundedSender<Bytes>,
    oneshot::Receiver<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let (started_tx, started_rx) = oneshot::channel();
    tx.send(Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"receipt\"; filename=\"r.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\nthe first bytes of a photo"
    )))
    .unwrap();
    let stream =
        futures_util::stream::unfold((rx, Some(started_tx)), |(mut rx, mut started)| async move {
            if let Some(s) = started.take() {
                let _ = s.send(());
            }
            let chunk = rx.recv().await?;
            Some((Ok::<_, PayloadError>(chunk), (rx, started)))
        });
    let boxed: actix_http::BoxedPayloadStream = Box::pin(stream);
    (actix_http::Payload::from(boxed), tx, started_rx)
}

#[actix_web::test]
async fn a_third_upload_from_one_person_is_refused_while_two_are_under_way() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let claim = emp
        .post("/claims", &[("title", "Bristol"), ("form_key", "k")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let url = format!("{claim}/lines");
    let (cookie, csrf) = (emp.cookie.clone().unwrap(), emp.csrf.clone().unwrap());
    let slow = |payload| {
        let req = atest::TestRequest::post()
            .uri(&url)
            .insert_header((header::COOKIE, cookie.clone()))
            .insert_header((
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            ))
            .to_request();
        atest::call_service(&app, req.replace_payload(payload).0)
    };
    let (body1, _keep1, started1) = stalled_body(&csrf);
    let (body2, _keep2, started2) = stalled_body(&csrf);
    let both_slow = futures_util::future::join(slow(body1), slow(body2));
    // Only once both are being read (each holds a turn) is the third sent.
    let third = async {
        started1.await.unwrap();
        started2.await.unwrap();
        let fields = [
            ("date", "2026-01-01"),
            ("category", "meals"),
            ("merchant", "Cafe"),
            ("amount", "5.00"),
            ("currency", "GBP"),
        ];
        let mut again = Client {
            app: &app,
            cookie: Some(cookie.clone()),
            csrf: Some(csrf.clone()),
        };
        again.post_multipart(&url, &fields, None).await
    };
    // The two slow uploads stay under way (unfinished, holding their turns) below.
    let (third, _still_sending) = match select(Box::pin(both_slow), Box::pin(third)).await {
        Either::Right((page, slow)) => (page, slow),
        Either::Left(_) => panic!("the stalled uploads finished"),
    };
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        third
            .body
            .contains("You are already sending two files. Wait until they have arrived"),
        "{}",
        third.body
    );
    // Someone else in the organisation still gets a turn meanwhile.
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    boss.get("/claims").await;
    let theirs = boss
        .post("/claims", &[("title", "Leeds"), ("form_key", "b")])
        .await
        .location()
        .unwrap()
        .to_owned();
    let page = boss
        .post_multipart(
            &format!("{theirs}/lines"),
            &[
                ("date", &time::OffsetDateTime::now_utc().date().to_string()),
                ("category", "meals"),
                ("merchant", "Cafe"),
                ("amount", "5.00"),
                ("currency", "GBP"),
            ],
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}
