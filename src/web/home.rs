//! The project home page and creating projects.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::errors::AppError;
use super::extractors::{CurrentUser, Meta, SignedIn};
use super::htmx::see_other;
use super::render::{csrf_of, page};
use super::session;
use crate::domain::{FieldErrors, ProjectName};
use crate::services::projects::{self, ProjectSummary};
use crate::services::registration;
use crate::services::{auth, authority, invitations};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(home)))
        .service(
            web::resource("/register/project")
                .route(web::get().to(new_project_form))
                .route(web::post().to(create_project)),
        )
        .service(
            web::resource("/projects/new")
                .route(web::get().to(new_project_form))
                .route(web::post().to(create_project)),
        );
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct HomePage {
    first_name: String,
    admin: bool,
    summary: ProjectSummary,
    invitations: i64,
}

async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let (project_id, user_id) = (user.membership.project_id.clone(), user.ctx.user.id.clone());
    let admin = user.membership.admin;
    let (summary, invitations) = state
        .db
        .run(move |conn| {
            Ok((
                projects::summary(conn, &project_id, admin)?,
                invitations::count_pending(conn, &user_id)?,
            ))
        })
        .await?;
    let view = HomePage {
        first_name: user.ctx.user.first_name.clone(),
        admin: user.membership.admin,
        summary,
        invitations,
    };
    let title = view.summary.project.name.clone();
    page(&req, &state, Some(&user.ctx), &title, &view, StatusCode::OK).await
}

#[derive(Template, Default)]
#[template(path = "pages/new_project.html")]
struct NewProjectPage {
    csrf: String,
    action: String,
    first_project: bool,
    errors: FieldErrors,
    project_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProjectForm {
    #[serde(default)]
    project_name: String,
}

/// A project-scoped account belongs to its one project: no creating (or owning) others.
fn may_create(ctx: &auth::SessionContext) -> Result<(), AppError> {
    if authority::may_create_projects(&ctx.user) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

async fn new_project_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(ctx): SignedIn,
) -> Result<HttpResponse, AppError> {
    may_create(&ctx)?;
    let view = NewProjectPage {
        csrf: csrf_of(&req),
        action: req.path().to_owned(),
        first_project: req.path() == "/register/project",
        ..Default::default()
    };
    page(
        &req,
        &state,
        Some(&ctx),
        "Create a project",
        &view,
        StatusCode::OK,
    )
    .await
}

async fn create_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
    Meta(meta): Meta,
    form: web::Form<NewProjectForm>,
) -> Result<HttpResponse, AppError> {
    may_create(&ctx)?;
    let name = match ProjectName::parse(&form.project_name) {
        Ok(name) => name,
        Err(message) => {
            let view = NewProjectPage {
                csrf: csrf_of(&req),
                action: req.path().to_owned(),
                first_project: req.path() == "/register/project",
                errors: FieldErrors::single("projectName", message),
                project_name: form.project_name.clone(),
            };
            return page(
                &req,
                &state,
                Some(&ctx),
                "Create a project",
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let base_url = state.base_url.clone();
    let user = ctx.user.clone();
    let login_id = ctx.login_id.clone();
    let created = state
        .db
        .run(move |conn| {
            let created = registration::create_project(conn, &user, name, "", &base_url, &meta)?;
            auth::select_membership(conn, &login_id, &user.id, &created.membership_id)?;
            Ok(created)
        })
        .await?;
    state.mail.wake();
    session::set_flash(
        &session,
        &format!("Project {} created", created.project.name),
    )?;
    Ok(see_other(&req, "/"))
}
