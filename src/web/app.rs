//! Builds the actix application: the same function serves production and tests.

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, Logger, from_fn};
use actix_web::{App, web};

use super::session_store::SqliteSessionStore;
use super::{AppState, csrf, errors, headers, routes};

/// Request bodies for ordinary forms (uploads have their own limits): 10,000 characters
/// of any script fit, percent-encoded at up to 9 bytes each, so overlong text gets a
/// message on its field rather than a refused request.
pub const FORM_LIMIT: usize = 128 * 1024;
/// `__Host-`: Secure, path `/`, no Domain, so no sibling host can set or read it.
pub const SESSION_COOKIE: &str = "__Host-expenseplus";

/// The path as the access log shows it: one-time tokens in reset and setup links are
/// replaced, since anyone reading the log could otherwise use an unspent link. Any path
/// under them is masked, not only the routes' own shape, and the first part is read as
/// a router might (empty parts skipped, percent escapes decoded, any case): a link
/// pasted a little wrong is a 404, yet carries a live token all the same.
pub fn loggable_path(path: &str) -> String {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let first = segments.next().unwrap_or_default();
    let first = percent_encoding::percent_decode_str(first).decode_utf8_lossy();
    let more = segments.next().is_some();
    if more && first.eq_ignore_ascii_case("reset") {
        "/reset/{org}/{token}".to_owned()
    } else if more && first.eq_ignore_ascii_case("setup") {
        "/setup/{token}".to_owned()
    } else {
        path.to_owned()
    }
}

pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let store = SqliteSessionStore::new(state.tenants.registry().pool().clone());
    let key = Key::from(&state.session_key[..]);
    let idle =
        actix_web::cookie::time::Duration::seconds(state.settings.session_idle.as_secs() as i64);
    let sessions = SessionMiddleware::builder(store, key)
        .cookie_name(SESSION_COOKIE.to_owned())
        // Secure even behind a TLS-terminating proxy (--plain-http).
        .cookie_secure(true)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_owned())
        .cookie_domain(None)
        .cookie_content_security(CookieContentSecurity::Private)
        // The store forgets a session after the idle timeout; activity refreshes it
        // through the `seen` stamp (one write a minute), see `session::touch`.
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl(idle)
                .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build();
    App::new()
        .app_data(state)
        .app_data(web::FormConfig::default().limit(FORM_LIMIT))
        .configure(routes::configure)
        .default_service(web::to(errors::not_found))
        .wrap(from_fn(csrf::protect))
        .wrap(sessions)
        .wrap(ErrorHandlers::new().default_handler(errors::render_framework_error))
        .wrap(headers::security_headers())
        // No client address, referrer, agent or query string, and secret path segments
        // masked: the access log holds nothing personal and no usable token.
        .wrap(
            Logger::new("%{path}xi %s %b %Dms").custom_request_replace("path", |req| {
                format!("{} {}", req.method(), loggable_path(req.path()))
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn tokens_never_reach_the_access_log() {
        assert_eq!(
            loggable_path("/reset/acme/0123abcd"),
            "/reset/{org}/{token}"
        );
        assert_eq!(loggable_path("/setup/0123abcd"), "/setup/{token}");
        assert_eq!(loggable_path("/claims/12"), "/claims/12");
        // Pasted a little wrong, still a live token: masked as well.
        for path in [
            "/reset/acme/0123abcd/",
            "/reset/0123abcd",
            "/RESET/acme/0123abcd",
        ] {
            assert_eq!(loggable_path(path), "/reset/{org}/{token}", "{path}");
        }
        assert_eq!(loggable_path("/setup/0123abcd/x"), "/setup/{token}");
        assert_eq!(loggable_path("/Setup/0123abcd"), "/setup/{token}");
    }
}
