//! Receipts through the pages: recognised by content, cleaned of metadata, sealed at
//! rest, and served only to the people with a part in the claim.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::Cursor;

use actix_web::http::{StatusCode, header};
use actix_web::test as atest;
use common::{Client, PASSWORD, assert_absent};
use expenseplus::expenses::claims;
use expenseplus::web::build_app;

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// A small real JPEG with an EXIF block holding a fake GPS position and a payload
/// appended after the image's end (a polyglot).
fn jpeg_with_exif_and_payload() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Jpeg)
        .unwrap();
    let mut exif = b"Exif\0\0GPSLatitude 51.4545 N GPSLongitude 2.5879 W".to_vec();
    exif.resize(64, 0);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&plain[2..]);
    out.extend_from_slice(b"<html><script>alert('polyglot')</script></html>");
    out
}

pub(crate) fn line_fields<'a>(date: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("date", date),
        ("category", "accommodation"),
        ("merchant", "Harbour Hotel"),
        ("description", "One night"),
        ("amount", "80.00"),
        ("currency", "GBP"),
        ("form_key", key),
    ]
}

#[actix_web::test]
async fn a_receipt_is_cleaned_sealed_and_shown_only_to_those_with_a_part() {
    let acme = common::acme_with_people();
    let env = &acme.env;
    let app = atest::init_service(build_app(env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let url = emp
        .post("/claims", &[("title", "Bristol"), ("form_key", "k")])
        .await
        .location()
        .unwrap()
        .to_owned();
    emp.get(&url).await;
    let date = today();

    // A file named .jpg that is not a JPEG comes back with a message on the field and
    // the rest of the input kept; nothing is written.
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l1"),
            Some((
                "receipt",
                "photo.jpg",
                b"\xff\xd8\xff\xe0 not really a jpeg",
            )),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("could not be read as a JPEG"),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"Harbour Hotel\""));
    assert!(page.body.contains("No lines yet."));
    // An HTML page renamed to .png is none of the accepted kinds.
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l2"),
            Some(("receipt", "x.png", b"<html><script>1</script></html>")),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("none of these"), "{}", page.body);

    // A real photo with EXIF GPS data and an appended payload is accepted, cleaned.
    let photo = jpeg_with_exif_and_payload();
    let added = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l3"),
            Some(("receipt", "IMG_0001.JPG", &photo)),
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let page = emp.get(&url).await;
    let at = page.body.find("/receipts/").unwrap();
    let href_start = page.body[..at].rfind('"').unwrap() + 1;
    let href_end = at + page.body[at..].find('"').unwrap();
    let receipt_url = page.body[href_start..href_end].to_owned();

    let got = emp.get(&receipt_url).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.headers.get(header::CONTENT_TYPE).unwrap(), "image/jpeg");
    assert_eq!(
        got.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
        "nosniff"
    );
    let disposition = got.headers.get(header::CONTENT_DISPOSITION).unwrap();
    assert!(
        disposition
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"receipt-")
    );
    let served = got.bytes;
    assert!(served.starts_with(&[0xFF, 0xD8, 0xFF]));
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!find(&served, b"GPSLatitude"), "EXIF survived");
    assert!(!find(&served, b"polyglot"), "appended payload survived");
    assert!(image::load_from_memory(&served).is_ok());

    // The file and its merchant are nowhere in plain text under the data dir.
    assert_absent(&env.data_dir(), "Harbour Hotel");
    let probe = served[served.len() / 2..served.len() / 2 + 32].to_vec();
    for (path, bytes) in common::all_files(&env.data_dir()) {
        assert!(!find(&bytes, &probe), "receipt bytes in clear in {path:?}");
    }

    // Another employee and a manager who is not Eve's get the same 404 as for nothing.
    let mut other = Client::new(&app);
    other.sign_in("acme", "other@acme.example", PASSWORD).await;
    assert_eq!(other.get(&receipt_url).await.status, StatusCode::NOT_FOUND);
    let wrong_claim = receipt_url.replacen(&url, "/claims/999999", 1);
    assert_eq!(emp.get(&wrong_claim).await.status, StatusCode::NOT_FOUND);

    // Her manager sees it once the claim is submitted.
    let version = common::field_value(&emp.get(&url).await.body, "version").unwrap();
    let sub = emp
        .post(&format!("{url}/submit"), &[("version", &version)])
        .await;
    assert_eq!(sub.status, StatusCode::SEE_OTHER);
    let mut boss = Client::new(&app);
    boss.sign_in("acme", "boss@acme.example", PASSWORD).await;
    let got = boss.get(&receipt_url).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.bytes, served);
}

#[actix_web::test]
async fn oversized_receipts_are_refused_and_nothing_is_half_written() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get("/claims").await;
    let url = emp
        .post("/claims", &[("title", "Hotel"), ("form_key", "k")])
        .await
        .location()
        .unwrap()
        .to_owned();
    emp.get(&url).await;
    let date = today();
    // 10 MB and a little: over the receipt limit but inside the request limit.
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(10 * 1024 * 1024 + 10, b' ');
    big.extend_from_slice(b"%%EOF\n");
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l1"),
            Some(("receipt", "big.pdf", &big)),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("at most 10 MB"), "{}", page.body);
    assert!(page.body.contains("No lines yet."));
    // A 20 MB file: the form comes back with the message on the receipt and the
    // rest of the line as typed (the file is read and dropped, never kept).
    let huge = vec![b'a'; 20 * 1024 * 1024];
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l2"),
            Some(("receipt", "huge.jpg", &huge)),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("at most 10 MB"), "{}", page.body);
    assert_eq!(
        common::field_value(&page.body, "merchant").as_deref(),
        Some("Harbour Hotel")
    );
    assert_eq!(
        common::field_value(&page.body, "amount").as_deref(),
        Some("80.00")
    );
    // Past 32 MB in all the request is refused outright.
    let absurd = vec![b'a'; 33 * 1024 * 1024];
    let page = emp
        .post_multipart(
            &format!("{url}/lines"),
            &line_fields(&date, "l3"),
            Some(("receipt", "absurd.jpg", &absurd)),
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(emp.get(&url).await.body.contains("No lines yet."));
}

#[actix_web::test]
async fn nobody_signed_out_can_make_the_server_hold_a_large_upload() {
    let acme = common::acme_with_people();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    // A visitor with a session and a valid CSRF token (the sign-in page gives both).
    let mut visitor = Client::new(&app);
    visitor.get("/login").await;
    let one_mb = vec![b'a'; 1024 * 1024];
    let page = visitor
        .post_multipart("/login", &[], Some(("receipt", "x.jpg", &one_mb)))
        .await;
    // Refused unread: no form before signing in is multipart.
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // So is a small body that never ends its last part (which once kept the request,
    // and its connection, waiting until the read time ran out).
    let page = within_a_minute(visitor.send(truncated("/login", visitor.csrf.clone()))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

/// A multipart POST, complete by its length, whose last part has no closing boundary.
fn truncated(path: &str, csrf: Option<String>) -> atest::TestRequest {
    let body = format!(
        "--BB\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n",
        csrf.unwrap_or_default()
    );
    atest::TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, "multipart/form-data; boundary=BB"))
        .set_payload(body)
}

/// Fails the test, rather than hanging it, if the answer does not come.
async fn within_a_minute<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), f)
        .await
        .expect("an answer, not a request held open")
}

#[actix_web::test]
async fn a_signed_in_body_that_never_ends_its_last_part_is_answered_at_once() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = claims::create(&org, acme.emp, "Trip", "t").unwrap();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    emp.get(&format!("/claims/{id}")).await;
    let page =
        within_a_minute(emp.send(truncated(&format!("/claims/{id}/lines"), emp.csrf.clone())))
            .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(
        page.body.contains("The form could not be read."),
        "{}",
        page.body
    );
    assert!(claims::lines(&org, id).unwrap().is_empty());
}

/// A multipart POST of these parts, each `(name, file name, bytes)`, with the token.
fn parts(path: &str, csrf: &str, list: &[(&str, Option<&str>, &[u8])]) -> atest::TestRequest {
    let mut body =
        format!("--BB\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n")
            .into_bytes();
    for (name, file, bytes) in list {
        let file = file
            .map(|f| format!("; filename=\"{f}\""))
            .unwrap_or_default();
        body.extend_from_slice(
            format!("--BB\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--BB--\r\n");
    atest::TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, "multipart/form-data; boundary=BB"))
        .set_payload(body)
}

#[actix_web::test]
async fn a_receipt_sent_as_text_or_twice_is_not_silently_dropped() {
    let acme = common::acme_with_people();
    let org = acme.env.org("acme");
    let id = claims::create(&org, acme.emp, "Trip", "t").unwrap();
    let app = atest::init_service(build_app(acme.env.state.clone())).await;
    let mut emp = Client::new(&app);
    emp.sign_in("acme", "emp@acme.example", PASSWORD).await;
    let url = format!("/claims/{id}");
    emp.get(&url).await;
    let date = today();
    let text: Vec<(&str, Option<&str>, &[u8])> = line_fields(&date, "k1")
        .into_iter()
        .map(|(k, v)| (k, None, v.as_bytes()))
        .collect();
    let jpeg = jpeg_with_exif_and_payload();
    let csrf = emp.csrf.clone().unwrap();

    // The receipt as a text field (curl's `-F receipt=<file`): said on its field.
    let mut as_text = text.clone();
    as_text.push(("receipt", None, &jpeg));
    let page = emp
        .send(parts(&format!("{url}/lines"), &csrf, &as_text))
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "<p class=\"field-error\" id=\"receipt-error\">Attach the receipt as a file.</p>"
        ),
        "{}",
        page.body
    );
    assert!(claims::lines(&org, id).unwrap().is_empty());

    // Two files where the form has one: the form is refused whole.
    let mut twice = text.clone();
    twice.push(("receipt", Some("a.jpg"), &jpeg));
    twice.push(("other", Some("b.jpg"), &jpeg));
    let page = emp
        .send(parts(&format!("{url}/lines"), &csrf, &twice))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("The form could not be read."));
    assert!(claims::lines(&org, id).unwrap().is_empty());

    // One file, as a browser sends it: the line and its receipt.
    let mut once = text;
    once.push(("receipt", Some("a.jpg"), &jpeg));
    let page = emp.send(parts(&format!("{url}/lines"), &csrf, &once)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(claims::lines(&org, id).unwrap().len(), 1);
}
