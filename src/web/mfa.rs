//! Two-factor authentication pages: the second step of signing in, enrolment (forced when a
//! project requires it, or chosen from the Security page), and turning it off.

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::errors::AppError;
use super::extractors::{CurrentUser, Meta, PendingSession};
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
    .service(web::resource("/account/mfa/disable").route(web::post().to(disable)))
    .service(web::resource("/account/mfa/recovery-codes").route(web::post().to(regenerate_codes)));
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    recovery: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
    /// "I have stored my recovery codes" (enrolment only).
    stored: Option<String>,
    /// The sign-in form asked for a recovery code.
    recovery: Option<String>,
}

/// Where the recovery codes shown during an enrolment wait (in the encrypted session
/// cookie) until the enrolment is confirmed: a page shown again shows the same codes.
const PENDING_CODES_KEY: &str = "mfa_recovery";

#[derive(serde::Serialize, Deserialize)]
struct PendingCodes {
    user_id: String,
    codes: Vec<String>,
}

/// The codes this enrolment shows: the ones already shown, or fresh ones.
fn pending_codes(session: &Session, user_id: &str) -> Result<(Vec<String>, bool), AppError> {
    if let Ok(Some(held)) = session.get::<PendingCodes>(PENDING_CODES_KEY)
        && held.user_id == user_id
    {
        return Ok((held.codes, false));
    }
    let codes = mfa::new_recovery_codes();
    session
        .insert(
            PENDING_CODES_KEY,
            PendingCodes {
                user_id: user_id.to_owned(),
                codes: codes.clone(),
            },
        )
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    Ok((codes, true))
}

/// The codes as a text file to download (a `data:` link: no second trip to the server).
pub fn codes_download(email: &str, codes: &[String]) -> String {
    let text = format!(
        "Rollcall recovery codes for {email}\n\nEach code signs you in once when your authenticator app is not at hand.\nKeep them somewhere safe, apart from your password.\n\n{}\n",
        codes.join("\n")
    );
    format!(
        "data:text/plain;charset=utf-8,{}",
        percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
    )
}

#[derive(Template)]
#[template(path = "pages/mfa_code.html")]
struct CodePage {
    csrf: String,
    next: String,
    errors: FieldErrors,
    /// Asks for a recovery code instead of the app's.
    recovery: bool,
}

impl CodePage {
    /// `next=...`, for links that keep where the sign-in is headed.
    fn next_param(&self) -> String {
        serde_urlencoded::to_string([("next", &self.next)]).unwrap_or_default()
    }

    fn next_query(&self) -> String {
        if self.next.is_empty() {
            String::new()
        } else {
            format!("?{}", self.next_param())
        }
    }
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
        recovery: query.recovery.is_some(),
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

async fn count_code_attempt(state: &AppState, ctx: &SessionContext) -> Result<String, AppError> {
    Ok(state
        .throttle
        .count_code_attempt(&state.settings.limits, &ctx.user.id)
        .await?)
}

async fn check_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Meta(meta): Meta,
    PendingSession(ctx): PendingSession,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref());
    if ctx.mfa_verified {
        return Ok(see_other(&req, next.as_deref().unwrap_or("/")));
    }
    let key = count_code_attempt(&state, &ctx).await?;
    let recovery = form.recovery.is_some() || mfa::is_recovery_code(&form.token);
    let (user, login_id, code) = (ctx.user.clone(), ctx.login_id.clone(), form.token.clone());
    let project_id = ctx.membership.as_ref().map(|m| m.project_id.clone());
    let outcome = state
        .db
        .run(move |conn| {
            if recovery {
                mfa::verify_with_recovery_code(
                    conn,
                    &user,
                    &login_id,
                    &code,
                    project_id.as_deref(),
                    &meta,
                )
                .map(Some)
            } else {
                mfa::verify_signin(conn, &user.id, &login_id, &code).map(|()| None)
            }
        })
        .await;
    match outcome {
        Ok(left) => {
            state.throttle.reset(&key).await?;
            if let Some(left) = left {
                let message = match left {
                    0 => {
                        "You used your last recovery code. Make new ones on the Security page now."
                            .to_owned()
                    }
                    1 => "You used a recovery code; 1 is left. Make new ones on the Security page."
                        .to_owned(),
                    n => format!("You used a recovery code; {n} are left."),
                };
                session::set_flash(&session, &message)?;
            }
            Ok(see_other(&req, next.as_deref().unwrap_or("/")))
        }
        Err(ServiceError::Invalid(errors)) => {
            let view = CodePage {
                csrf: csrf_of(&req),
                next: next.unwrap_or_default(),
                errors,
                recovery,
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
    recovery_codes: Vec<String>,
    download: String,
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
    let (recovery_codes, _) = pending_codes(&req.get_session(), &ctx.user.id)?;
    let view = EnrollPage {
        csrf: csrf_of(req),
        action: req.path().to_owned(),
        forced,
        next,
        secret: enrolment.secret,
        qr_svg: enrolment.qr_svg,
        errors,
        download: codes_download(&ctx.user.email, &recovery_codes),
        recovery_codes,
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
    session: &Session,
    ctx: &SessionContext,
    form: CodeForm,
) -> Result<Result<(), FieldErrors>, AppError> {
    // The codes must be stored before two-factor authentication turns on: without them a
    // lost phone locks the person out.
    if form.stored.as_deref().is_none_or(str::is_empty) {
        return Ok(Err(FieldErrors::single(
            "stored",
            "Store your recovery codes, then tick the box to say so",
        )));
    }
    let (recovery, fresh) = pending_codes(session, &ctx.user.id)?;
    if fresh {
        return Ok(Err(FieldErrors::single(
            "stored",
            "These recovery codes are new (the page had expired): store them, then tick the box again",
        )));
    }
    let key = count_code_attempt(state, ctx).await?;
    let (user_id, login_id, code) = (ctx.user.id.clone(), ctx.login_id.clone(), form.token);
    match state
        .db
        .run(move |conn| mfa::confirm_enrolment(conn, &user_id, &login_id, &code, &recovery))
        .await
    {
        Ok(()) => {
            state.throttle.reset(&key).await?;
            session.remove(PENDING_CODES_KEY);
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
    match confirm(&state, &session, &ctx, form).await? {
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
    match confirm(&state, &session, &user.ctx, form.into_inner()).await? {
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
    let key = count_code_attempt(&state, &user.ctx).await?;
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

#[derive(Template)]
#[template(path = "pages/recovery_codes.html")]
struct RecoveryCodesPage {
    codes: Vec<String>,
    download: String,
}

/// New recovery codes from the Security page (a current code from the app is needed); the
/// old ones stop working.
async fn regenerate_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let key = count_code_attempt(&state, &user.ctx).await?;
    let (user_id, code) = (user.ctx.user.id.clone(), form.token.clone());
    match state
        .db
        .run(move |conn| mfa::regenerate_recovery_codes(conn, &user_id, &code))
        .await
    {
        Ok(codes) => {
            state.throttle.reset(&key).await?;
            let view = RecoveryCodesPage {
                download: codes_download(&user.ctx.user.email, &codes),
                codes,
            };
            page(
                &req,
                &state,
                Some(&user.ctx),
                "Your new recovery codes",
                &view,
                StatusCode::OK,
            )
            .await
        }
        Err(ServiceError::Invalid(errors)) => {
            let message = errors.get("token").unwrap_or(mfa::WRONG_CODE).to_owned();
            let errors = FieldErrors::single("recoveryToken", message);
            super::account::render_security(&req, &state, &user, errors).await
        }
        Err(e) => Err(e.into()),
    }
}
