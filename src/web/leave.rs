//! Leaving the current project: a confirmation that says what leaving means for this person
//! (or why they cannot yet), then the membership goes.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::AppState;
use super::errors::AppError;
use super::extractors::{CurrentUser, Meta};
use super::htmx::see_other;
use super::render::{csrf_of, page};
use super::session;
use crate::services::audit::Acting;
use crate::services::members::ownership;
use crate::services::{ServiceError, projects};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/projects/leave")
            .route(web::get().to(confirm))
            .route(web::post().to(leave)),
    );
}

#[derive(Template)]
#[template(path = "pages/leave.html")]
struct LeavePage {
    csrf: String,
    project_name: String,
    /// Why leaving is refused now, if it is.
    refusal: Option<String>,
    admin: bool,
    /// The account exists only in this project: leaving deletes it.
    project_scoped: bool,
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    refusal: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let view = LeavePage {
        csrf: csrf_of(req),
        project_name: user.membership.project_name.clone(),
        refusal,
        admin: user.membership.admin,
        project_scoped: user.ctx.user.project_id.is_some(),
    };
    page(req, state, Some(&user.ctx), "Leave project", &view, status).await
}

async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let project_id = user.membership.project_id.clone();
    let owner = state
        .db
        .run(move |conn| Ok(projects::get(conn, &project_id)?.owner_id))
        .await?;
    // Said before the button, not after it: the owner hands over first.
    let refusal = (owner == user.ctx.user.id)
        .then(|| crate::services::Conflict::OwnerMustHandOver.to_string());
    show(&req, &state, &user, refusal, StatusCode::OK).await
}

async fn leave(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    Meta(meta): Meta,
) -> Result<HttpResponse, AppError> {
    let (project_id, membership_id) = (
        user.membership.project_id.clone(),
        user.membership.id.clone(),
    );
    let by = Acting::user(&user.ctx.user, &meta);
    let outcome = state
        .db
        .run(move |conn| {
            let project = projects::get(conn, &project_id)?;
            ownership::leave(conn, &project, &by, &membership_id)
        })
        .await;
    match outcome {
        Ok(_) => {
            session::set_flash(
                &session,
                &format!("You left {}", user.membership.project_name),
            )?;
            Ok(see_other(&req, "/signin/project"))
        }
        Err(ServiceError::Conflict(c)) => {
            show(
                &req,
                &state,
                &user,
                Some(c.to_string()),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
