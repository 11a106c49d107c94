//! The HTML side: routes, extractors, CSRF, errors, htmx helpers, one module per area.

pub mod account;
mod account_delete;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod authorize;
pub mod csrf;
pub mod email_link;
pub mod error_page;
pub mod errors;
pub mod external;
pub mod extractors;
pub mod forms;
pub mod home;
pub mod htmx;
pub mod invitations;
pub mod leave;
pub mod mfa;
pub mod profile;
pub mod recovery;
pub mod render;
pub mod spreadsheet;

use actix_web::web;

pub use crate::http::{AppState, session};

/// Every route, in one place.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::configure)
        .configure(admin::configure)
        .configure(account::configure)
        .configure(account_delete::configure)
        .configure(mfa::configure)
        .configure(profile::configure)
        .configure(home::configure)
        .configure(invitations::configure)
        .configure(leave::configure)
        .configure(email_link::configure)
        .configure(auth::configure)
        .configure(authorize::configure)
        .configure(external::configure)
        .configure(recovery::configure)
        .service(web::resource("/healthz").route(web::get().to(healthz)));
}

async fn healthz() -> &'static str {
    "ok"
}
