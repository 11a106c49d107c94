//! The Security page: password, two-factor authentication, sessions.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::errors::AppError;
use super::extractors::{CurrentUser, Meta, SignedIn};
use super::htmx::{referer_path, see_other};
use super::render::{csrf_of, page};
use super::session;
use crate::domain::{EmailAddress, FieldErrors, Password};
use crate::services::ServiceError;
use crate::services::account::{self, SessionRow};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account/security").route(web::get().to(security)))
        .service(web::resource("/account/password").route(web::post().to(change_password)))
        .service(web::resource("/account/email").route(web::post().to(change_email)))
        .service(web::resource("/account/sessions/{id}/revoke").route(web::post().to(revoke)))
        .service(
            web::resource("/account/sessions/revoke-others").route(web::post().to(revoke_others)),
        )
        .service(web::resource("/account/theme").route(web::post().to(set_theme)));
}

#[derive(Template)]
#[template(path = "pages/account_security.html")]
struct SecurityPage {
    csrf: String,
    errors: FieldErrors,
    mfa_enrolled: bool,
    mfa_required: bool,
    sessions: Vec<SessionRow>,
    /// Unused recovery codes.
    recovery_left: i64,
    email: String,
    new_email: String,
}

pub async fn render_security(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    render_security_with(req, state, user, errors, String::new()).await
}

async fn render_security_with(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    errors: FieldErrors,
    new_email: String,
) -> Result<HttpResponse, AppError> {
    let (user_id, login_id) = (user.ctx.user.id.clone(), user.ctx.login_id.clone());
    let (sessions, recovery_left) = state
        .db
        .run(move |conn| {
            Ok((
                account::sessions_of(conn, &user_id, &login_id)?,
                crate::services::mfa::recovery_codes_left(conn, &user_id)?,
            ))
        })
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = SecurityPage {
        csrf: csrf_of(req),
        errors,
        mfa_enrolled: user.ctx.user.mfa_enrolled,
        mfa_required: user.membership.mfa_required,
        sessions,
        recovery_left,
        email: user.ctx.user.email.clone(),
        new_email,
    };
    page(req, state, Some(&user.ctx), "Security", &view, status).await
}

async fn security(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    render_security(&req, &state, &user, FieldErrors::new()).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordForm {
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Checks the current password typed into `field`, adding its error there. Every attempt
/// is counted first (one limit for all the Security page's forms), so parallel guesses
/// cannot slip through.
pub(crate) async fn check_current_password(
    state: &AppState,
    user: &crate::db::models::User,
    field: &str,
    typed: &str,
    errors: &mut FieldErrors,
) -> Result<(), AppError> {
    let limits = &state.settings.limits;
    let key = format!("password-change:{}", user.id);
    state
        .throttle
        .hit_and_check(
            &key,
            limits.signin_failures_per_account_and_ip,
            limits.signin_window,
        )
        .await?;
    if typed.is_empty() {
        errors.add(field, "Enter your current password");
    } else if !state
        .hasher
        .verify(user.password_hash.as_deref(), typed)
        .await?
    {
        errors.add(field, "Your current password is not right");
    }
    Ok(())
}

async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    Meta(meta): Meta,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let me = &user.ctx.user;
    let mut errors = FieldErrors::new();
    check_current_password(
        &state,
        &user.ctx.user,
        "oldPassword",
        &form.old_password,
        &mut errors,
    )
    .await?;
    let email = EmailAddress::parse(&me.email).ok();
    let password = errors.take(
        "newPassword",
        Password::parse(
            &form.new_password,
            email.as_ref(),
            &[&me.first_name, &me.last_name],
        ),
    );
    if form.confirm_password.is_empty() {
        errors.add(
            "confirmPassword",
            "Enter the new password again to confirm it",
        );
    } else if form.confirm_password != form.new_password {
        errors.add("confirmPassword", "The passwords do not match");
    }
    let Some(password) = password.filter(|_| errors.is_empty()) else {
        return render_security(&req, &state, &user, errors).await;
    };
    let hash = state.hasher.hash(password.expose()).await?;
    let (owner, login_id) = (me.clone(), user.ctx.login_id.clone());
    state
        .db
        .run(move |conn| account::change_password(conn, &owner, &login_id, &hash, &meta))
        .await?;
    state.mail.wake();
    session::set_flash(
        &session,
        "Your password was changed. Your other devices were signed out",
    )?;
    Ok(see_other(&req, "/account/security"))
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (user_id, current, target) = (
        user.ctx.user.id.clone(),
        user.ctx.login_id.clone(),
        path.into_inner(),
    );
    match state
        .db
        .run(move |conn| account::revoke_session(conn, &user_id, &current, &target))
        .await
    {
        Ok(()) => session::set_flash(&session, "That device was signed out")?,
        Err(ServiceError::Conflict(message)) => session::set_flash(&session, &message.to_string())?,
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&req, "/account/security"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailForm {
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    email_password: String,
}

/// Asks to change the account's email address: with the current password, a link goes to
/// the new address (and a notice to the old); nothing changes until the link is used.
async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    Meta(meta): Meta,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, AppError> {
    let me = user.ctx.user.clone();
    let mut errors = FieldErrors::new();
    let email = errors.take("newEmail", EmailAddress::parse_new(&form.new_email));
    check_current_password(
        &state,
        &user.ctx.user,
        "emailPassword",
        &form.email_password,
        &mut errors,
    )
    .await?;
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return render_security_with(&req, &state, &user, errors, form.new_email.clone()).await;
    };
    let (base_url, by) = (
        state.base_url.clone(),
        crate::services::audit::Acting::user(&me, &meta),
    );
    let wanted = email.clone();
    match state
        .db
        .run(move |conn| crate::services::email_change::request(conn, &me, &wanted, &base_url, &by))
        .await
    {
        Ok(()) => {
            state.mail.wake();
            session::set_flash(
                &session,
                &format!(
                    "We sent a link to {email}: open it to confirm the new address. Until then you keep using {}.",
                    user.ctx.user.email
                ),
            )?;
            Ok(see_other(&req, "/account/security"))
        }
        Err(ServiceError::Invalid(found)) => {
            let mut errors = FieldErrors::new();
            for (_, message) in found.iter() {
                errors.add("newEmail", message);
            }
            render_security_with(&req, &state, &user, errors, form.new_email.clone()).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke_others(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let (user_id, current) = (user.ctx.user.id.clone(), user.ctx.login_id.clone());
    let ended = state
        .db
        .run(move |conn| account::revoke_other_sessions(conn, &user_id, &current))
        .await?;
    let message = match ended {
        0 => "You were not signed in on any other device".to_owned(),
        1 => "1 other device was signed out".to_owned(),
        n => format!("{n} other devices were signed out"),
    };
    session::set_flash(&session, &message)?;
    Ok(see_other(&req, "/account/security"))
}

#[derive(Deserialize)]
pub struct ThemeForm {
    #[serde(default)]
    theme: String,
}

/// The account menu's appearance choice; back to the page it was made on.
async fn set_theme(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(ctx): SignedIn,
    form: web::Form<ThemeForm>,
) -> Result<HttpResponse, AppError> {
    let (user_id, theme) = (ctx.user.id.clone(), form.into_inner().theme);
    state
        .db
        .run(move |conn| account::set_theme(conn, &user_id, &theme))
        .await?;
    let back = referer_path(&req).unwrap_or_else(|| "/".to_owned());
    Ok(see_other(&req, &back))
}
