//! Forgotten passwords, and the one-time links that set a password (reset and invite).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::errors::AppError;
use super::extractors::Meta;
use super::htmx::see_other;
use super::render::{csrf_of, page};
use super::session;
use crate::domain::{EmailAddress, FieldErrors, Password};
use crate::services::recovery::{self, LinkError, LinkProblem};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/resetpassword")
            .route(web::get().to(reset_form))
            .route(web::post().to(request_reset)),
    )
    .service(
        web::resource("/setpassword/{id}/{secret}")
            .route(web::get().to(set_password_form))
            .route(web::post().to(set_password)),
    );
}

#[derive(Template, Default)]
#[template(path = "pages/reset_password.html")]
struct ResetPage {
    csrf: String,
    errors: FieldErrors,
    email: String,
    sent: bool,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    email: String,
}

async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let view = ResetPage {
        csrf: csrf_of(&req),
        ..Default::default()
    };
    page(
        &req,
        &state,
        None,
        "Reset your password",
        &view,
        StatusCode::OK,
    )
    .await
}

async fn request_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    Meta(meta): Meta,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let mut view = ResetPage {
        csrf: csrf_of(&req),
        email: form.email.clone(),
        ..Default::default()
    };
    let email = match EmailAddress::parse(&form.email) {
        Ok(e) => e,
        Err(message) => {
            view.errors = FieldErrors::single("email", message);
            return page(
                &req,
                &state,
                None,
                "Reset your password",
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let limits = state.settings.limits.clone();
    let (ip, address) = (
        meta.ip.clone().unwrap_or_else(|| "-".into()),
        email.to_string(),
    );
    state
        .db
        .run(move |conn| recovery::count_reset_request(conn, &limits, &ip, &address))
        .await?;
    // The answer does not wait for the lookup and the outbox: known and unknown addresses
    // take the same time.
    let (base_url, worker) = (state.base_url.clone(), state.clone());
    actix_web::rt::spawn(async move {
        match worker
            .db
            .run(move |conn| recovery::request_reset(conn, &email, &base_url))
            .await
        {
            Ok(_) => worker.mail.wake(),
            Err(e) => tracing::error!(error = ?e, "could not queue a password reset"),
        }
    });
    view.sent = true;
    page(
        &req,
        &state,
        None,
        "Check your email",
        &view,
        StatusCode::OK,
    )
    .await
}

#[derive(Template)]
#[template(path = "pages/link_problem.html")]
struct LinkProblemPage {
    problem: LinkProblem,
}

#[derive(Template, Default)]
#[template(path = "pages/set_password.html")]
struct SetPasswordPage {
    csrf: String,
    action: String,
    email: String,
    invite: bool,
    errors: FieldErrors,
}

async fn link_problem(
    req: &HttpRequest,
    state: &AppState,
    problem: LinkProblem,
) -> Result<HttpResponse, AppError> {
    let status = match problem {
        LinkProblem::Invalid => StatusCode::NOT_FOUND,
        _ => StatusCode::GONE,
    };
    page(
        req,
        state,
        None,
        "This link cannot be used",
        &LinkProblemPage { problem },
        status,
    )
    .await
}

async fn set_password_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, secret) = path.into_inner();
    let info = match state
        .db
        .run_link(move |conn| recovery::check_link(conn, &id, &secret))
        .await?
    {
        Ok(info) => info,
        Err(problem) => return link_problem(&req, &state, problem).await,
    };
    let view = SetPasswordPage {
        csrf: csrf_of(&req),
        action: req.path().to_owned(),
        email: info.user.email,
        invite: info.request.kind == recovery::KIND_INVITE,
        ..Default::default()
    };
    page(
        &req,
        &state,
        None,
        "Choose a password",
        &view,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm_password: String,
}

async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Meta(meta): Meta,
    path: web::Path<(String, String)>,
    form: web::Form<SetPasswordForm>,
) -> Result<HttpResponse, AppError> {
    let (id, secret) = path.into_inner();
    let info = {
        let (id, secret) = (id.clone(), secret.clone());
        match state
            .db
            .run_link(move |conn| recovery::check_link(conn, &id, &secret))
            .await?
        {
            Ok(info) => info,
            Err(problem) => return link_problem(&req, &state, problem).await,
        }
    };
    let mut errors = FieldErrors::new();
    let email = EmailAddress::parse(&info.user.email).ok();
    let password = errors.take(
        "password",
        Password::parse(
            &form.password,
            email.as_ref(),
            &[&info.user.first_name, &info.user.last_name],
        ),
    );
    if form.confirm_password.is_empty() {
        errors.add("confirmPassword", "Enter the password again to confirm it");
    } else if form.confirm_password != form.password {
        errors.add("confirmPassword", "The passwords do not match");
    }
    let Some(password) = password.filter(|_| errors.is_empty()) else {
        let view = SetPasswordPage {
            csrf: csrf_of(&req),
            action: req.path().to_owned(),
            email: info.user.email,
            invite: info.request.kind == recovery::KIND_INVITE,
            errors,
        };
        return page(
            &req,
            &state,
            None,
            "Choose a password",
            &view,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let hash = state.hasher.hash(password.expose()).await?;
    let policy = state.session_policy;
    let done = match state
        .db
        .run_link(move |conn| recovery::set_password(conn, &id, &secret, &hash, &meta, &policy))
        .await?
    {
        Ok(done) => done,
        Err(problem) => return link_problem(&req, &state, problem).await,
    };
    // Every session of the user ended, this browser's too; an invitation starts a new one.
    session::sign_out(&session);
    if let Some(login_id) = &done.login_id {
        session::sign_in(&session, login_id)?;
        session::set_flash(&session, "Your password is set. Welcome!")?;
        return Ok(see_other(&req, "/"));
    }
    session::set_flash(&session, "Your password is set. Sign in with it now.")?;
    let location = match done.project_id {
        Some(p) => format!(
            "/signin?{}",
            serde_urlencoded::to_string([("project", p)]).unwrap_or_default()
        ),
        None => "/signin".to_owned(),
    };
    Ok(see_other(&req, &location))
}

impl crate::services::Db {
    /// Runs a link operation, separating "this link cannot be used" from real failures.
    pub(super) async fn run_link<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::db::DbConn) -> Result<T, LinkError> + Send + 'static,
    ) -> Result<Result<T, LinkProblem>, AppError> {
        let outcome = self
            .run(move |conn| {
                Ok(match f(conn) {
                    Ok(v) => Ok(v),
                    Err(LinkError::Problem(p)) => Err(Ok(p)),
                    Err(LinkError::Service(e)) => Err(Err(e)),
                })
            })
            .await?;
        match outcome {
            Ok(v) => Ok(Ok(v)),
            Err(Ok(problem)) => Ok(Err(problem)),
            Err(Err(e)) => Err(e.into()),
        }
    }
}
