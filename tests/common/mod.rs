//! Shared test set-up: a temporary data dir with organisations and users, and the
//! production app builder on top of it.
#![allow(dead_code)]

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use expenseplus::auth::users::{self, NewUser};
use expenseplus::auth::{Roles, password};
use expenseplus::ids::{Slug, UserId};
use expenseplus::tenancy::{Org, Registry, Tenants};
use expenseplus::web::{AppState, WebSettings};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub state: actix_web::web::Data<AppState>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        Self::with_settings(WebSettings::default())
    }

    pub fn with_settings(settings: WebSettings) -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(
            &dir.path().join("data"),
            true,
            expenseplus::tenancy::Usage::Server,
        )
        .expect("registry");
        let tenants = Tenants::new(registry, NonZeroUsize::new(8).expect("nonzero"));
        let state = actix_web::web::Data::new(AppState::new(tenants, settings));
        TestEnv { dir, state }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Moves `field` (`iat` signed in, `seen` last active) of every signed-in session
    /// `secs` seconds into the past, instead of waiting.
    #[allow(dead_code)]
    pub fn age_sessions(&self, field: &str, secs: i64) {
        use diesel::RunQueryDsl;
        let old = expenseplus::db::now_unix() - secs;
        let mut conn = self
            .state
            .tenants
            .registry()
            .pool()
            .get()
            .expect("registry");
        diesel::sql_query(format!(
            "UPDATE sessions SET state = json_set(state, '$.{field}', '{old}') WHERE user_id IS NOT NULL"
        ))
        .execute(&mut conn)
        .expect("sessions aged");
    }

    pub fn create_org(&self, slug: &str, name: &str) -> Arc<Org> {
        let slug = Slug::parse(slug).expect("slug");
        let registry = self.state.tenants.registry();
        registry.create_org(&slug, name).expect("create org");
        self.org(slug.as_str())
    }

    pub fn org(&self, slug: &str) -> Arc<Org> {
        self.state
            .tenants
            .by_slug(&Slug::parse(slug).expect("slug"))
            .expect("open org")
            .expect("org exists")
    }

    /// A user whose password is [`PASSWORD`]; hashing is skipped when not needed.
    pub fn create_user(
        &self,
        org: &Org,
        email: &str,
        name: &str,
        roles: &str,
        manager: Option<UserId>,
    ) -> UserId {
        users::create(
            org,
            NewUser {
                email,
                name,
                roles: Roles::parse_list(roles).expect("roles"),
                manager,
                password_hash: Some(password::hash(PASSWORD).expect("hash")),
            },
        )
        .expect("create user")
    }
}

/// The standard cast: organisation `acme` with one person per role (plus a second
/// manager and a manager-only user), all with [`PASSWORD`]. Emails are
/// `<who>@acme.example`; `emp` reports to `boss`.
pub struct Acme {
    pub env: TestEnv,
    pub boss: UserId,
    pub other: UserId,
    pub emp: UserId,
    pub fin: UserId,
    pub dpo: UserId,
    pub admin: UserId,
    pub mgr: UserId,
}

/// The organisation's audit entries of one action, newest first.
pub fn audited(org: &Org, action: expenseplus::audit::Action) -> Vec<expenseplus::audit::AuditRow> {
    let filter = expenseplus::audit::Filter {
        action: Some(action),
        ..Default::default()
    };
    expenseplus::audit::page(org, &filter, None, 10_000).expect("the audit log reads")
}

pub fn acme_with_people() -> Acme {
    acme_with_people_in(TestEnv::new())
}

/// The same people in `env` (made with settings of the test's own).
pub fn acme_with_people_in(env: TestEnv) -> Acme {
    let acme = env.create_org("acme", "Acme Ltd");
    let boss = env.create_user(
        &acme,
        "boss@acme.example",
        "Bea Boss",
        "manager,employee",
        None,
    );
    let other = env.create_user(
        &acme,
        "other@acme.example",
        "Otto Other",
        "manager,employee",
        None,
    );
    let emp = env.create_user(
        &acme,
        "emp@acme.example",
        "Eve Employee",
        "employee",
        Some(boss),
    );
    let fin = env.create_user(&acme, "fin@acme.example", "Finn Finance", "finance", None);
    let dpo = env.create_user(&acme, "dpo@acme.example", "Dee Protection", "dpo", None);
    let admin = env.create_user(&acme, "admin@acme.example", "Ann Admin", "admin", None);
    let mgr = env.create_user(&acme, "mgr@acme.example", "Mo Manager", "manager", None);
    Acme {
        env,
        boss,
        other,
        emp,
        fin,
        dpo,
        admin,
        mgr,
    }
}

/// Makes the organisation require two-step sign-in for `roles` (e.g. "dpo").
#[allow(dead_code)]
pub fn require_mfa_for(org: &Org, roles: &str) {
    let mut conn = org.conn().expect("connection");
    let roles = Roles::parse_list(roles).expect("roles");
    expenseplus::auth::policy::set_mfa_required_roles(&mut conn, roles).expect("policy saved");
}

/// The TOTP secret an enrolment page shows, without the spaces that group it.
#[allow(dead_code)]
pub fn secret_on(body: &str) -> String {
    let marker = "<code class=\"mono secret\">";
    let at = body.find(marker).expect("secret shown") + marker.len();
    let rest = &body[at..];
    rest[..rest.find("</code>").expect("secret ends")].replace(' ', "")
}

/// The recovery codes a page lists (`xxxxx-xxxxx`).
#[allow(dead_code)]
pub fn recovery_codes_on(body: &str) -> Vec<String> {
    body.split("<li>")
        .skip(1)
        .filter_map(|s| s.split("</li>").next())
        .filter(|s| s.len() == 11 && s.as_bytes()[5] == b'-')
        .map(str::to_owned)
        .collect()
}

/// Every regular file below `dir`, with its bytes.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A fingerprint of every data file below `dir` (path, length, digest), for "nothing
/// changed". SQLite's `-shm` index and an empty `-wal` hold no data: a process that
/// exits with a pooled connection still open may leave them behind.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, usize, String)> {
    use sha2::{Digest, Sha256};
    all_files(dir)
        .into_iter()
        .filter(|(p, b)| {
            let name = p.to_string_lossy();
            !(name.ends_with("-shm") || (name.ends_with("-wal") && b.is_empty()))
        })
        .map(|(p, b)| (p, b.len(), hex::encode(Sha256::digest(&b))))
        .collect()
}

/// Asserts that no file below `dir` contains `needle` as bytes (nor its UTF-16 form).
pub fn assert_absent(dir: &Path, needle: &str) {
    let utf16: Vec<u8> = needle
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    for (path, bytes) in all_files(dir) {
        for pattern in [needle.as_bytes(), &utf16[..]] {
            assert!(
                !bytes.windows(pattern.len()).any(|w| w == pattern),
                "{needle:?} found in plain text in {}",
                path.display()
            );
        }
    }
}

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::test as atest;

/// What a test sees of a response.
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
    /// The body as sent, for downloads.
    pub bytes: Vec<u8>,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// A browser-like client for `actix_web::test`: keeps its cookies and the last
/// CSRF token a page showed, and sends that token with every POST.
pub struct Client<'a, S> {
    pub app: &'a S,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

/// The value of the first input named `name` in a page.
#[allow(dead_code)]
pub fn field_value(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = &body[body.find(&marker)? + marker.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

pub fn csrf_in(body: &str) -> Option<String> {
    let at = body.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    let rest = &body[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl<'a, S, B> Client<'a, S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    pub fn new(app: &'a S) -> Self {
        Client {
            app,
            cookie: None,
            csrf: None,
        }
    }

    pub async fn send(&mut self, req: atest::TestRequest) -> Page {
        let req = match &self.cookie {
            Some(c) => req.insert_header((header::COOKIE, c.clone())),
            None => req,
        };
        let resp = atest::call_service(self.app, req.to_request()).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = atest::read_body(resp).await;
        let body = String::from_utf8_lossy(&bytes).into_owned();
        // A small cookie jar, kept as the Cookie header it sends (tests may set that).
        let mut jar: Vec<(String, String)> = self
            .cookie
            .iter()
            .flat_map(|h| h.split("; "))
            .filter_map(|p| p.split_once('='))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap_or_default();
            let pair = c.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            jar.retain(|(n, _)| n != name);
            if !value.is_empty() {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
        let header: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
        self.cookie = (!header.is_empty()).then(|| header.join("; "));
        if let Some(t) = csrf_in(&body) {
            self.csrf = Some(t);
        }
        Page {
            status,
            headers,
            body,
            bytes: bytes.to_vec(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(atest::TestRequest::get().uri(path)).await
    }

    /// POSTs a form with the client's CSRF token added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        let token = self.csrf.clone().unwrap_or_default();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all).await
    }

    /// POSTs a multipart form (text fields plus an optional file) with the CSRF token.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &str, &[u8])>,
    ) -> Page {
        let boundary = "----expenseplus-test-boundary";
        let mut body = Vec::new();
        let token = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        all.extend_from_slice(fields);
        for (name, value) in all {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        if let Some((name, filename, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.send(
            atest::TestRequest::post()
                .uri(path)
                .insert_header((
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                ))
                .set_payload(body),
        )
        .await
    }

    /// POSTs exactly these fields (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).expect("form");
        self.send(
            atest::TestRequest::post()
                .uri(path)
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(body),
        )
        .await
    }

    /// Starts a claim through the pages, with a form key of its own; gives its URL.
    pub async fn start_claim(&mut self, title: &str) -> String {
        static KEYS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let key = format!(
            "claim-{}",
            KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.get("/claims").await;
        let made = self
            .post("/claims", &[("title", title), ("form_key", &key)])
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        made.location().expect("the new claim's URL").to_owned()
    }

    /// Signs in with a password (no MFA) and asserts it worked.
    /// Opens the sign-in form and sends it; gives the answer, whatever it is.
    pub async fn try_sign_in(&mut self, org: &str, email: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post(
            "/login",
            &[
                ("organisation", org),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    pub async fn sign_in(&mut self, org: &str, email: &str, password: &str) {
        let page = self.try_sign_in(org, email, password).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "sign-in failed: {}",
            page.body
        );
        assert_eq!(page.location(), Some("/"));
        // Pick up the new session's CSRF token.
        self.get("/").await;
    }
}

/// A small real PNG (8 x 8), for a receipt whose content does not matter.
pub fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 9]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("a PNG is written");
    out
}

/// A draft claim with one line dated yesterday, owned by `owner`; `key` makes its
/// repeat-guard form keys unique.
pub fn claim_with_line(org: &Org, owner: UserId, key: &str) -> i64 {
    use expenseplus::expenses::claims::{self, AddLine, LineInput};
    let id = claims::create(org, owner, "Old trip", &format!("form-{key}")).expect("claim");
    let today = expenseplus::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
    let input = LineInput {
        date: (today - time::Duration::days(1)).to_string(),
        category: "travel".into(),
        merchant: "Rail".into(),
        amount: "10.00".into(),
        currency: "GBP".into(),
        form_key: format!("line-{key}"),
        ..Default::default()
    };
    assert!(matches!(
        claims::add_line(org, owner, id, &input).expect("line"),
        AddLine::Added
    ));
    id
}

/// Moves a claim's last change to midday UTC on `d`, as if it were made then.
pub fn age_claim(org: &Org, claim: i64, d: time::Date) {
    use diesel::prelude::*;
    use expenseplus::db::schema::org::claims;
    let at = d.midnight().assume_utc().unix_timestamp() + 12 * 3600;
    let mut conn = org.conn().expect("connection");
    diesel::update(claims::table.find(claim))
        .set(claims::updated_at.eq(at))
        .execute(&mut conn)
        .expect("claim aged");
}

/// Runs the real binary on `data_dir` with `args`, environment defaults cleared and
/// its log off, and waits for it.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_expenseplus"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("EXPENSEPLUS_MASTER_KEY")
        .env_remove("EXPENSEPLUS_BACKUP_DIR")
        .env("RUST_LOG", "off")
        .output()
        .expect("the command runs")
}
