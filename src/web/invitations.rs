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
use crate::services::email_verification;
use crate::services::invitations::{self, PendingInvitation};
use crate::services::recovery::LinkProblem;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/invitations").route(web::get().to(list)))
        .service(web::resource("/invitations/{id}/accept").route(web::post().to(accept)))
        .service(web::resource("/invitations/{id}/decline").route(web::post().to(decline)))
        .service(web::resource("/invitations/verify-email").route(web::post().to(send_link)))
        .service(
            web::resource("/verify-email/{id}/{secret}")
                .route(web::get().to(link_page))
                .route(web::post().to(use_link)),
        );
}

#[derive(Template)]
#[template(path = "pages/invitations.html")]
struct InvitationsPage {
    csrf: String,
    invitations: Vec<PendingInvitation>,
    has_project: bool,
    /// The account's address is proven; until then invitations cannot be accepted.
    verified: bool,
    email: String,
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
        verified: ctx.user.email_verified,
        email: ctx.user.email.clone(),
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

/// Only an address's proven owner answers an invitation sent to it: others go back to the
/// list, which offers the confirmation link.
fn unconfirmed(
    req: &HttpRequest,
    session: &Session,
    user: &crate::db::models::User,
) -> Result<Option<HttpResponse>, AppError> {
    if user.email_verified {
        return Ok(None);
    }
    session::set_flash(
        session,
        "Confirm your email address first: send yourself the link below",
    )?;
    Ok(Some(see_other(req, "/invitations")))
}

async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
    Meta(meta): Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    if let Some(back) = unconfirmed(&req, &session, &ctx.user)? {
        return Ok(back);
    }
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
    if let Some(back) = unconfirmed(&req, &session, &ctx.user)? {
        return Ok(back);
    }
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

async fn send_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
) -> Result<HttpResponse, AppError> {
    let (user, base_url, limits) = (
        ctx.user.clone(),
        state.base_url.clone(),
        state.settings.limits.clone(),
    );
    state
        .db
        .run(move |conn| email_verification::request(conn, &user, &base_url, &limits))
        .await?;
    state.mail.wake();
    session::set_flash(
        &session,
        &format!(
            "We sent a link to {}: open it to confirm the address",
            ctx.user.email
        ),
    )?;
    Ok(see_other(&req, "/invitations"))
}

#[derive(Template)]
#[template(path = "pages/verify_email.html")]
struct VerifyPage {
    csrf: String,
    action: String,
    email: String,
    problem: Option<String>,
}

fn link_problem(problem: &LinkProblem) -> String {
    match problem {
        LinkProblem::Expired => {
            "This link has expired. Send yourself a new one from the Invitations page."
        }
        LinkProblem::Used => "This link was already used. Your address is confirmed.",
        LinkProblem::Superseded => "A newer link was sent: use the latest email.",
        LinkProblem::Invalid | LinkProblem::Withdrawn => "This link is not valid.",
    }
    .to_owned()
}

/// Shows what the link does (a mail scanner that opens it changes nothing).
async fn link_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, secret) = path.into_inner();
    let checked = state
        .db
        .run_link(move |conn| email_verification::check(conn, &id, &secret))
        .await?;
    let (email, problem, status) = match checked {
        Ok(info) => (info.user.email, None, StatusCode::OK),
        Err(p) => (String::new(), Some(link_problem(&p)), StatusCode::GONE),
    };
    let view = VerifyPage {
        csrf: csrf_of(&req),
        action: req.path().to_owned(),
        email,
        problem,
    };
    page(
        &req,
        &state,
        None,
        "Confirm your email address",
        &view,
        status,
    )
    .await
}

async fn use_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, secret) = path.into_inner();
    match state
        .db
        .run_link(move |conn| email_verification::confirm(conn, &id, &secret))
        .await?
    {
        Ok(user) => {
            session::set_flash(
                &session,
                &format!(
                    "{} is confirmed: you can accept your invitations",
                    user.email
                ),
            )?;
            Ok(see_other(&req, "/invitations"))
        }
        Err(problem) => {
            let view = VerifyPage {
                csrf: csrf_of(&req),
                action: req.path().to_owned(),
                email: String::new(),
                problem: Some(link_problem(&problem)),
            };
            page(
                &req,
                &state,
                None,
                "Confirm your email address",
                &view,
                StatusCode::GONE,
            )
            .await
        }
    }
}
