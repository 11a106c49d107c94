//! A person deletes their own account: a page that says what goes (or why not yet), then the
//! current password to confirm. Open to anyone signed in, with or without a project.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::account::check_current_password;
use super::errors::AppError;
use super::extractors::{Meta, SignedIn};
use super::htmx::see_other;
use super::render::{csrf_of, page};
use super::session;
use crate::domain::FieldErrors;
use crate::services::ServiceError;
use crate::services::account;
use crate::services::audit::Acting;
use crate::services::auth::SessionContext;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/delete")
            .route(web::get().to(confirm))
            .route(web::post().to(delete)),
    );
}

#[derive(Template)]
#[template(path = "pages/account_delete.html")]
struct DeletePage {
    csrf: String,
    email: String,
    /// The projects the person is a member of, and those they are invited to.
    projects: Vec<String>,
    invitations: Vec<String>,
    /// Why deleting is refused now, if it is.
    refusal: Option<String>,
    errors: FieldErrors,
}

async fn show(
    req: &HttpRequest,
    state: &AppState,
    ctx: &SessionContext,
    refusal: Option<String>,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let user_id = ctx.user.id.clone();
    let account::ProjectsOf {
        member_of: projects,
        invited_to: invitations,
        owned,
    } = state
        .db
        .run(move |conn| account::projects_of(conn, &user_id))
        .await?;
    // Said before the password, not after it: an owner hands over or deletes first.
    let refusal = refusal.or_else(|| {
        (!owned.is_empty()).then(|| crate::services::Conflict::OwnsProjects(owned).to_string())
    });
    let view = DeletePage {
        csrf: csrf_of(req),
        email: ctx.user.email.clone(),
        projects,
        invitations,
        refusal,
        errors,
    };
    page(req, state, Some(ctx), "Delete your account", &view, status).await
}

async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(ctx): SignedIn,
) -> Result<HttpResponse, AppError> {
    show(&req, &state, &ctx, None, FieldErrors::new(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    password: String,
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
    Meta(meta): Meta,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::new();
    check_current_password(&state, &ctx.user, "password", &form.password, &mut errors).await?;
    if !errors.is_empty() {
        return show(
            &req,
            &state,
            &ctx,
            None,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let (me, by) = (ctx.user.clone(), Acting::user(&ctx.user, &meta));
    match state
        .db
        .run(move |conn| account::delete_own(conn, &me, &by))
        .await
    {
        Ok(_) => {
            state.mail.wake();
            session::sign_out(&session);
            session::set_flash(
                &session,
                "Your account was deleted. A confirmation was sent to your email address",
            )?;
            Ok(see_other(&req, "/signin"))
        }
        Err(ServiceError::Conflict(c)) => {
            let refusal = Some(c.to_string());
            show(
                &req,
                &state,
                &ctx,
                refusal,
                FieldErrors::new(),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
