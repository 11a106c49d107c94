//! Registration, sign-in, choosing a project, sign-out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::errors::AppError;
use super::extractors::{MaybeSignedIn, Meta, SignedIn};
use super::htmx::{safe_next, see_other};
use super::render::{csrf_of, page};
use super::session;
use crate::config::Registration;
use crate::domain::{EmailAddress, FieldErrors, Password, PersonName};
use crate::services::ServiceError;
use crate::services::auth::{self, MembershipChoice, SessionContext};
use crate::services::registration::{self, NewAccount};
use crate::services::signin::{self, PasswordSignin, SignedIn as SignedInNow};
use crate::services::{authority, invitations};

/// The sign-up form's fields as domain values, or every field's error.
fn parse_account(
    form: &RegisterForm,
) -> Result<(PersonName, PersonName, EmailAddress, Password), FieldErrors> {
    registration::parse_account(
        &form.first_name,
        &form.last_name,
        &form.email,
        &form.password,
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/register")
            .route(web::get().to(register_form))
            .route(web::post().to(register)),
    )
    .service(
        web::resource("/signin")
            .route(web::get().to(signin_form))
            .route(web::post().to(signin)),
    )
    .service(
        web::resource("/signin/project")
            .route(web::get().to(choose_project_form))
            .route(web::post().to(choose_project)),
    )
    .service(web::resource("/signout").route(web::post().to(signout)));
}

fn checked(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

#[derive(Template, Default)]
#[template(path = "pages/register.html")]
struct RegisterPage {
    csrf: String,
    closed: bool,
    errors: FieldErrors,
    first_name: String,
    last_name: String,
    email: String,
    remember: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    remember: Option<String>,
}

async fn register_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: MaybeSignedIn,
) -> Result<HttpResponse, AppError> {
    if who.0.is_some() {
        return Ok(see_other(&req, "/"));
    }
    let view = RegisterPage {
        csrf: csrf_of(&req),
        closed: state.settings.registration == Registration::Closed,
        ..Default::default()
    };
    page(
        &req,
        &state,
        None,
        "Create an account",
        &view,
        StatusCode::OK,
    )
    .await
}

async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Meta(meta): Meta,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let mut view = RegisterPage {
        csrf: csrf_of(&req),
        closed: state.settings.registration == Registration::Closed,
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        email: form.email.clone(),
        remember: checked(&form.remember),
        ..Default::default()
    };
    if view.closed {
        return page(
            &req,
            &state,
            None,
            "Create an account",
            &view,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let (first_name, last_name, email, password) = match parse_account(&form) {
        Ok(parsed) => parsed,
        Err(errors) => {
            view.errors = errors;
            return page(
                &req,
                &state,
                None,
                "Create an account",
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let password_hash = state.hasher.hash(password.expose()).await?;
    let account = NewAccount {
        first_name,
        last_name,
        email,
        password_hash,
    };
    let (policy, limits) = (state.session_policy, state.settings.limits.clone());
    let remember = view.remember;
    let created = state
        .db
        .run(move |conn| registration::register(conn, account, remember, &meta, &policy, &limits))
        .await;
    match created {
        Ok(login_id) => {
            session::sign_in(&session, &login_id)?;
            Ok(see_other(&req, "/register/project"))
        }
        Err(ServiceError::Invalid(errors)) => {
            view.errors = errors;
            page(
                &req,
                &state,
                None,
                "Create an account",
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, Default)]
#[template(path = "pages/signin.html")]
struct SigninPage {
    csrf: String,
    errors: FieldErrors,
    /// What went wrong that belongs to no one field (the email or the password is wrong: one
    /// answer for both), shown at the top of the form.
    problem: Option<String>,
    email: String,
    remember: bool,
    next: String,
    project: String,
    registration_open: bool,
}

#[derive(Deserialize)]
pub struct SigninQuery {
    next: Option<String>,
    project: Option<String>,
}

#[derive(Deserialize)]
pub struct SigninForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    remember: Option<String>,
    next: Option<String>,
    project: Option<String>,
}

pub use crate::services::signin::INVALID_CREDENTIALS;

enum Opened {
    /// Already the session's project.
    Current,
    /// A project of theirs to switch to: its membership and name.
    Other(String, String),
    Invitation,
    NotAMember,
}

/// What a link naming a project means for this signed-in person: their project (the current
/// one or another), an invitation waiting for their answer, or neither.
async fn open_project(
    state: &AppState,
    ctx: &SessionContext,
    project_id: String,
) -> Result<Opened, AppError> {
    let user_id = ctx.user.id.clone();
    let current = ctx.membership.as_ref().map(|m| m.id.clone());
    Ok(state
        .db
        .run(move |conn| {
            let choices = auth::memberships_of(conn, &user_id, None)?;
            if let Some(c) = choices.into_iter().find(|c| c.project_id == project_id) {
                return Ok(if Some(&c.membership_id) == current.as_ref() {
                    Opened::Current
                } else {
                    Opened::Other(c.membership_id, c.project_name)
                });
            }
            Ok(
                if invitations::is_invited_to(conn, &user_id, &project_id)? {
                    Opened::Invitation
                } else {
                    Opened::NotAMember
                },
            )
        })
        .await?)
}

/// "Open this project?": switching is a POST from this page (a link from anywhere must not
/// change which project the session's forms act on).
#[derive(Template)]
#[template(path = "pages/open_project.html")]
struct OpenProjectPage {
    csrf: String,
    membership_id: String,
    project_name: String,
    current: Option<String>,
    next: String,
}

async fn signin_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: MaybeSignedIn,
    query: web::Query<SigninQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref());
    let project = query.project.clone().filter(|p| !p.trim().is_empty());
    let mut problem = None;
    if let Some(ctx) = who.0.filter(|ctx| ctx.mfa_verified) {
        match project {
            // A link that names a project ("You were added to X"), followed while signed in.
            Some(project) => match open_project(&state, &ctx, project).await? {
                Opened::Current => {
                    return Ok(see_other(&req, next.as_deref().unwrap_or("/")));
                }
                Opened::Other(membership_id, project_name) => {
                    let view = OpenProjectPage {
                        csrf: csrf_of(&req),
                        membership_id,
                        current: ctx.membership.as_ref().map(|m| m.project_name.clone()),
                        next: next.unwrap_or_else(|| "/".to_owned()),
                        project_name,
                    };
                    let title = format!("Open {}", view.project_name);
                    return page(&req, &state, Some(&ctx), &title, &view, StatusCode::OK).await;
                }
                Opened::Invitation => return Ok(see_other(&req, "/invitations")),
                Opened::NotAMember => {
                    problem = Some(format!(
                        "You are signed in as {}, who is not a member of the project this link is for. Sign out, then sign in with the account the email was sent to.",
                        ctx.user.email
                    ));
                }
            },
            None if ctx.membership.is_some() => {
                return Ok(see_other(&req, next.as_deref().unwrap_or("/")));
            }
            None => return Ok(see_other(&req, &after_signin(false, next))),
        }
    }
    let view = SigninPage {
        csrf: csrf_of(&req),
        next: next.unwrap_or_default(),
        project: query.project.clone().unwrap_or_default(),
        registration_open: state.settings.registration == Registration::Open,
        problem,
        ..Default::default()
    };
    page(&req, &state, None, "Sign in", &view, StatusCode::OK).await
}

async fn signin(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Meta(meta): Meta,
    form: web::Form<SigninForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let project_hint = form.project.clone().filter(|p| !p.trim().is_empty());
    let mut view = SigninPage {
        csrf: csrf_of(&req),
        email: form.email.clone(),
        remember: checked(&form.remember),
        next: next.clone().unwrap_or_default(),
        project: project_hint.clone().unwrap_or_default(),
        registration_open: state.settings.registration == Registration::Open,
        ..Default::default()
    };
    let mut errors = FieldErrors::new();
    let email = errors.take("email", EmailAddress::parse(&form.email));
    // An address whose organisation signs in with its own provider goes there; no password
    // is asked here.
    if let Some(address) = &email
        && let Some((_, url)) = super::external::departure_for(
            &state,
            &session,
            address,
            project_hint.clone(),
            next.clone(),
        )
        .await?
    {
        return Ok(see_other(&req, &url));
    }
    if form.password.is_empty() {
        errors.add("password", "Enter your password");
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        view.errors = errors;
        return refused(&req, &state, &view).await;
    };

    let attempt = PasswordSignin {
        email,
        password: form.password.clone(),
        project_hint,
        remember: view.remember,
        meta,
    };
    let limits = &state.settings.limits;
    let outcome = signin::with_password(
        &state.db,
        &state.hasher,
        limits,
        state.session_policy,
        attempt,
    )
    .await?;
    let Some(SignedInNow {
        login_id,
        membership_id,
    }) = outcome
    else {
        view.problem = Some(INVALID_CREDENTIALS.to_owned());
        return refused(&req, &state, &view).await;
    };
    session::sign_in(&session, &login_id)?;
    Ok(see_other(
        &req,
        &after_signin(membership_id.is_some(), next),
    ))
}

/// The sign-in form again, with its errors.
async fn refused(
    req: &HttpRequest,
    state: &AppState,
    view: &SigninPage,
) -> Result<HttpResponse, AppError> {
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    page(req, state, None, "Sign in", view, status).await
}

/// Where a password sign-in goes: the page asked for, or first the project chooser when no
/// project was picked.
pub(super) fn after_signin(in_a_project: bool, next: Option<String>) -> String {
    match (in_a_project, next) {
        (true, Some(next)) => next,
        (true, None) => "/".to_owned(),
        (false, Some(next)) => format!(
            "/signin/project?{}",
            serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
        ),
        (false, None) => "/signin/project".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "pages/choose_project.html")]
struct ChooseProjectPage {
    csrf: String,
    choices: Vec<MembershipChoice>,
    q: String,
    show_search: bool,
    next: String,
    current: String,
    invitations: i64,
    can_create_projects: bool,
    /// Projects where this person is suspended.
    suspended: Vec<String>,
    /// How many projects they are an active member of (whatever the search shows).
    member_of: usize,
}

#[derive(Deserialize)]
pub struct ChooseQuery {
    q: Option<String>,
    next: Option<String>,
}

/// Offer a search box once the list is longer than this.
const SEARCH_THRESHOLD: usize = 8;

async fn choose_project_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
    query: web::Query<ChooseQuery>,
) -> Result<HttpResponse, AppError> {
    let user_id = ctx.user.id.clone();
    let (all, invitations, suspended) = state
        .db
        .run(move |conn| {
            Ok((
                auth::memberships_of(conn, &user_id, None)?,
                invitations::count_pending(conn, &user_id)?,
                auth::suspended_in(conn, &user_id)?,
            ))
        })
        .await?;
    if all.is_empty() && invitations > 0 {
        return Ok(see_other(&req, "/invitations"));
    }
    // Suspended everywhere: this page says so, rather than sending them off to create one.
    if all.is_empty() && suspended.is_empty() && !authority::may_create_projects(&ctx.user) {
        return Err(AppError::Forbidden);
    }
    if all.is_empty() && suspended.is_empty() {
        // Someone removed from their last project lands here too: say why, after what
        // brought them here (a project just deleted or left).
        let why = "You are not a member of any project. Create your own, or ask a project's admin to invite you.";
        let message = match session::take_flash(&session) {
            Some(before) => format!("{before}. {why}"),
            None => why.to_owned(),
        };
        session::set_flash(&session, &message)?;
        return Ok(see_other(&req, "/register/project"));
    }
    let q = query.q.clone().unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let choices = all
        .iter()
        .filter(|c| needle.is_empty() || c.project_name.to_lowercase().contains(&needle))
        .cloned()
        .collect();
    let view = ChooseProjectPage {
        csrf: csrf_of(&req),
        show_search: all.len() > SEARCH_THRESHOLD,
        member_of: all.len(),
        choices,
        q,
        next: safe_next(query.next.as_deref()).unwrap_or_default(),
        current: ctx
            .membership
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default(),
        invitations,
        can_create_projects: authority::may_create_projects(&ctx.user),
        suspended,
    };
    page(
        &req,
        &state,
        Some(&ctx),
        "Choose a project",
        &view,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    membership: String,
    next: Option<String>,
}

async fn choose_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    SignedIn(ctx): SignedIn,
    form: web::Form<ChooseForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let login_id = ctx.login_id.clone();
    let user_id = ctx.user.id.clone();
    let membership = form.membership.clone();
    let project = state
        .db
        .run(move |conn| auth::select_membership(conn, &login_id, &user_id, &membership))
        .await?;
    session::set_flash(
        &session,
        &format!("You are now working in {}", project.name),
    )?;
    let next = safe_next(form.next.as_deref()).unwrap_or_else(|| "/".into());
    Ok(see_other(&req, &next))
}

#[derive(Deserialize, Default)]
pub struct SignoutForm {
    /// Where to go after signing in again (an app asked for a fresh sign-in).
    next: Option<String>,
}

async fn signout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: Option<web::Form<SignoutForm>>,
) -> Result<HttpResponse, AppError> {
    if let Some(login_id) = session::login_id(&session) {
        state
            .db
            .run(move |conn| auth::revoke_login(conn, &login_id))
            .await?;
    }
    session::sign_out(&session);
    if let Some(next) = form.and_then(|f| safe_next(f.next.as_deref())) {
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        return Ok(see_other(&req, &format!("/signin?{query}")));
    }
    session::set_flash(&session, "You have signed out")?;
    Ok(see_other(&req, "/signin"))
}
