//! The HTML side: routes, extractors, CSRF, errors, htmx helpers, one module per area.

pub mod account;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod csrf;
pub mod errors;
pub mod extractors;
pub mod forms;
pub mod home;
pub mod htmx;
pub mod invitations;
pub mod mfa;
pub mod profile;
pub mod recovery;
pub mod render;
pub mod session;

use std::sync::Arc;

use actix_web::web;

use crate::config::Settings;
use crate::services::Db;
use crate::services::auth::SessionPolicy;
use crate::services::mail::MailSignal;
use crate::services::passwords::Hasher;
use crate::services::throttle::Throttle;
use crate::services::tokens::TokenSigner;
use errors::AppError;

/// Everything handlers share, built once at start.
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// The public base URL without a trailing slash, for links in emails.
    pub base_url: String,
    pub hasher: Hasher,
    pub throttle: Throttle,
    pub mail: MailSignal,
    pub session_policy: SessionPolicy,
    pub tokens: TokenSigner,
}

/// Every route, in one place.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::configure)
        .configure(admin::configure)
        .configure(account::configure)
        .configure(mfa::configure)
        .configure(profile::configure)
        .configure(home::configure)
        .configure(invitations::configure)
        .configure(auth::configure)
        .configure(recovery::configure)
        .service(web::resource("/healthz").route(web::get().to(healthz)));
}

async fn healthz() -> &'static str {
    "ok"
}

/// Unknown paths: an OperationOutcome under the API's prefixes, a page elsewhere.
pub async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    // `from_error` keeps the error on the response, which the error-page middleware needs.
    if csrf::is_api_path(req.path()) {
        actix_web::HttpResponse::from_error(crate::api::errors::ApiError::NotFound)
    } else {
        actix_web::HttpResponse::from_error(AppError::NotFound)
    }
}
