//! Two-factor authentication pages: the second step of signing in, enrolment (forced when a
//! project requires it, or chosen from the Security page), and turning it off.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::errors::AppError;
use super::extractors::{CurrentUser, PendingSession};
use super::htmx::{safe_next, see_other};
use super::render::{csrf_of, page};
use super::session;
use crate::domain::FieldErrors;
use crate::services::ServiceError;
use crate::services::auth::SessionContext;
use crate::services::mfa;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/signin/mfa")
            .route(web::get().to(code_form))
            .route(web::post().to(check_code)),
    )
    .service(
        web::resource("/signin/mfa/enroll")
            .route(web::get().to(forced_enrolment))
            .route(web::post().to(confirm_forced)),
    )
    .service(
        web::resource("/account/mfa")
            .route(web::get().to(chosen_enrolment))
            .route(web::post().to(confirm_chosen)),
    )
    .service(web::resource("/account/mfa/disable").route(web::post().to(disable)));
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/mfa_code.html")]
struct CodePage {
    csrf: String,
    next: String,
    errors: FieldErrors,
}

async fn code_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingSession(ctx): PendingSession,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref());
    if ctx.mfa_verified {
        return Ok(see_other(&req, next.as_deref().unwrap_or("/")));
    }
    let view = CodePage {
        csrf: csrf_of(&req),
        next: next.unwrap_or_default(),
        errors: FieldErrors::new(),
    };
    page(
        &req,
        &state,
        None,
        "Two-factor authentication",
        &view,
        StatusCode::OK,
    )
    .await
}

/// Wrong codes count per account: a fresh password sign-in must not bring fresh guesses.
fn code_key(ctx: &SessionContext) -> String {
    format!("mfa-code:{}", ctx.user.id)
}

async fn check_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingSession(ctx): PendingSession,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref());
    if ctx.mfa_verified {
        return Ok(see_other(&req, next.as_deref().unwrap_or("/")));
    }
    let key = code_key(&ctx);
    let limits = &state.settings.limits;
    state
        .throttle
        .hit_and_check(&key, limits.mfa_failures_per_account, limits.mfa_window)
        .await?;
    let (user_id, login_id, code) = (
        ctx.user.id.clone(),
        ctx.login_id.clone(),
        form.token.clone(),
    );
    match state
        .db
        .run(move |conn| mfa::verify_signin(conn, &user_id, &login_id, &code))
        .await
    {
        Ok(()) => {
            state.throttle.reset(&key).await?;
            Ok(see_other(&req, next.as_deref().unwrap_or("/")))
        }
        Err(ServiceError::Invalid(errors)) => {
            let view = CodePage {
                csrf: csrf_of(&req),
                next: next.unwrap_or_default(),
                errors,
            };
            page(
                &req,
                &state,
                None,
                "Two-factor authentication",
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/mfa_enroll.html")]
struct EnrollPage {
    csrf: String,
    action: String,
    forced: bool,
    next: String,
    secret: String,
    qr_svg: String,
    errors: FieldErrors,
}

impl EnrollPage {
    /// The key in groups of four, for typing it into an app by hand.
    fn grouped_secret(&self) -> String {
        self.secret
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

async fn enrolment_page(
    req: &HttpRequest,
    state: &AppState,
    ctx: &SessionContext,
    forced: bool,
    next: String,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let user = ctx.user.clone();
    let enrolment = state
        .db
        .run(move |conn| mfa::start_enrolment(conn, &user))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = EnrollPage {
        csrf: csrf_of(req),
        action: req.path().to_owned(),
        forced,
        next,
        secret: enrolment.secret,
        qr_svg: enrolment.qr_svg,
        errors,
    };
    // The forced step happens before the project opens: no project menus around it.
    let chrome = if forced { None } else { Some(ctx) };
    page(
        req,
        state,
        chrome,
        "Set up two-factor authentication",
        &view,
        status,
    )
    .await
}

async fn confirm(
    state: &AppState,
    ctx: &SessionContext,
    form: CodeForm,
) -> Result<Result<(), FieldErrors>, AppError> {
    let key = code_key(ctx);
    let limits = &state.settings.limits;
    state
        .throttle
        .hit_and_check(&key, limits.mfa_failures_per_account, limits.mfa_window)
        .await?;
    let (user_id, login_id, code) = (ctx.user.id.clone(), ctx.login_id.clone(), form.token);
    match state
        .db
        .run(move |conn| mfa::confirm_enrolment(conn, &user_id, &login_id, &code))
        .await
    {
        Ok(()) => {
            state.throttle.reset(&key).await?;
            Ok(Ok(()))
        }
        Err(ServiceError::Invalid(errors)) => Ok(Err(errors)),
        Err(e) => Err(e.into()),
    }
}

async fn forced_enrolment(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingSession(ctx): PendingSession,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref()).unwrap_or_default();
    if ctx.user.mfa_enrolled {
        let to = if ctx.mfa_verified { "/" } else { "/signin/mfa" };
        return Ok(see_other(&req, to));
    }
    enrolment_page(&req, &state, &ctx, true, next, FieldErrors::new()).await
}

async fn confirm_forced(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    PendingSession(ctx): PendingSession,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    match confirm(&state, &ctx, form).await? {
        Ok(()) => {
            session::set_flash(&session, "Two-factor authentication is set up")?;
            Ok(see_other(&req, next.as_deref().unwrap_or("/")))
        }
        Err(errors) => {
            enrolment_page(&req, &state, &ctx, true, next.unwrap_or_default(), errors).await
        }
    }
}

async fn chosen_enrolment(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    if user.ctx.user.mfa_enrolled {
        return Ok(see_other(&req, "/account/security"));
    }
    enrolment_page(
        &req,
        &state,
        &user.ctx,
        false,
        String::new(),
        FieldErrors::new(),
    )
    .await
}

async fn confirm_chosen(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    match confirm(&state, &user.ctx, form.into_inner()).await? {
        Ok(()) => {
            session::set_flash(&session, "Two-factor authentication is set up")?;
            Ok(see_other(&req, "/account/security"))
        }
        Err(errors) => enrolment_page(&req, &state, &user.ctx, false, String::new(), errors).await,
    }
}

async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    if user.membership.mfa_required {
        session::set_flash(
            &session,
            "This project requires two-factor authentication, so it cannot be turned off",
        )?;
        return Ok(see_other(&req, "/account/security"));
    }
    let key = code_key(&user.ctx);
    let limits = &state.settings.limits;
    state
        .throttle
        .hit_and_check(&key, limits.mfa_failures_per_account, limits.mfa_window)
        .await?;
    let (user_id, code) = (user.ctx.user.id.clone(), form.token.clone());
    match state
        .db
        .run(move |conn| mfa::disable(conn, &user_id, &code))
        .await
    {
        Ok(()) => {
            state.throttle.reset(&key).await?;
            session::set_flash(&session, "Two-factor authentication is off")?;
            Ok(see_other(&req, "/account/security"))
        }
        Err(ServiceError::Invalid(errors)) => {
            super::account::render_security(&req, &state, &user, errors).await
        }
        Err(e) => Err(e.into()),
    }
}
