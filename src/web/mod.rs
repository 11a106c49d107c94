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

use actix_web::{HttpResponse, web};

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
        .service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
}

/// The process is alive and answering (for a supervisor's liveness check).
async fn healthz() -> &'static str {
    "ok"
}

/// Ready for traffic: the database answers and has every migration this build knows (for a
/// proxy's or an orchestrator's readiness check). Otherwise 503 with `Retry-After` and the
/// reason, with no detail of the database's own error.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = state
        .db
        .run(|conn| {
            crate::db::pending_migrations(conn).map_err(crate::services::ServiceError::Internal)
        })
        .await;
    let reason = match ready {
        Ok(0) => return HttpResponse::Ok().content_type("text/plain").body("ready"),
        Ok(1) => "not ready: 1 database migration of this version not applied yet".to_owned(),
        Ok(n) => format!("not ready: {n} database migrations of this version not applied yet"),
        Err(_) => "not ready: the database does not answer".to_owned(),
    };
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "5"))
        .content_type("text/plain")
        .body(reason)
}
