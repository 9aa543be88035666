//! Builds the actix application: the same function serves production and tests.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, Logger};
use actix_web::{App, web};

use super::{AppState, errors, headers, pages, static_files};

/// Request bodies for ordinary forms; uploads get their own limit on their route.
pub const FORM_LIMIT: usize = 64 * 1024;

/// Every route, in one place. Each line names the roles it admits.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(pages::healthz)) // anyone
        .route("/static/{name}", web::get().to(static_files::serve)); // anyone
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
    App::new()
        .app_data(state)
        .app_data(web::FormConfig::default().limit(FORM_LIMIT))
        .configure(routes)
        .default_service(web::to(errors::not_found))
        .wrap(ErrorHandlers::new().default_handler(errors::render_framework_error))
        .wrap(headers::security_headers())
        // No client address, referrer or agent: the access log holds nothing personal.
        .wrap(Logger::new("%r %s %b %Dms"))
}
