//! `/invitations`: the invitations of other projects waiting for the signed-in person, to
//! accept or decline.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::AppState;
use super::errors::AppError;
use super::extractors::{Meta, SignedIn};
use super::htmx::see_other;
use super::render::{csrf_of, page};
use super::session;
use crate::services::auth;
use crate::services::invitations::{self, PendingInvitation};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/invitations").route(web::get().to(list)))
        .service(web::resource("/invitations/{id}/accept").route(web::post().to(accept)))
        .service(web::resource("/invitations/{id}/decline").route(web::post().to(decline)));
}

#[derive(Template)]
#[template(path = "pages/invitations.html")]
struct InvitationsPage {
    csrf: String,
    invitations: Vec<PendingInvitation>,
    has_project: bool,
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(ctx): SignedIn,
) -> Result<HttpResponse, AppError> {
    let user_id = ctx.user.id.clone();
    let view = InvitationsPage {
        csrf: csrf_of(&req),
        invitations: state
            .db
            .run(move |conn| invitations::pending(conn, &user_id))
            .await?,
        has_project: ctx.membership.is_some(),
    };
    page(
        &req,
        &state,
        Some(&ctx),
        "Invitations",
        &view,
        StatusCode::OK,
    )
    .await
}

async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
    Meta(meta): Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (user, login_id, id) = (ctx.user.clone(), ctx.login_id.clone(), path.into_inner());
    let project = state
        .db
        .run(move |conn| {
            let project = invitations::accept(conn, &user, &id, &meta)?;
            auth::select_membership(conn, &login_id, &user.id, &id)?;
            Ok(project)
        })
        .await?;
    session::set_flash(
        &session,
        &format!("You joined {}; you are now working in it", project.name),
    )?;
    Ok(see_other(&req, "/"))
}

async fn decline(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
    Meta(meta): Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (user, id) = (ctx.user.clone(), path.into_inner());
    let project_name = state
        .db
        .run(move |conn| invitations::decline(conn, &user, &id, &meta))
        .await?;
    session::set_flash(
        &session,
        &format!("You declined the invitation to {project_name}"),
    )?;
    Ok(see_other(&req, "/invitations"))
}
