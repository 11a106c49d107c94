//! JSON twins of what the pages do, in Medplum's paths and shapes, each one call to the same
//! service as its page: sign up (`/auth/newuser`, then `/auth/newproject`), passwords
//! (`/auth/changepassword`, `/auth/resetpassword`, `/auth/setpassword`), two-factor
//! authentication (`/auth/mfa/status`, `/auth/mfa/enroll`, `/auth/mfa/disable`), ending a
//! session (`/auth/revoke`), and an admin's reset of a member's password or second factor.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::admin::{ApiAdmin, MemberPath};
use super::errors::{ApiError, OperationOutcome};
use super::login::{LoginResponse, grant_request, next_step, pending_past_mfa};
use super::{Authorized, Caller, Json, meta, ok, resource, state};
use crate::config::Registration;
use crate::db::models::User;
use crate::domain::{EmailAddress, Password, ProjectName};
use crate::services::recovery::{self, LinkError, LinkProblem};
use crate::services::registration::{self, NewAccount};
use crate::services::tokens::Principal;
use crate::services::{ServiceError, account, auth, grants, members, mfa};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/newuser", "POST").route(web::post().to(new_user)))
        .service(resource("/auth/newproject", "POST").route(web::post().to(new_project)))
        .service(resource("/auth/changepassword", "POST").route(web::post().to(change_password)))
        .service(resource("/auth/resetpassword", "POST").route(web::post().to(reset_password)))
        .service(resource("/auth/setpassword", "POST").route(web::post().to(set_password)))
        .service(resource("/auth/mfa/status", "GET").route(web::get().to(mfa_status)))
        .service(resource("/auth/mfa/enroll", "POST").route(web::post().to(mfa_enroll)))
        .service(resource("/auth/mfa/disable", "POST").route(web::post().to(mfa_disable)))
        .service(resource("/auth/revoke", "POST").route(web::post().to(revoke)))
        .service(
            resource(
                "/admin/projects/{projectId}/members/{membershipId}/mfa/reset",
                "POST",
            )
            .route(web::post().to(admin_reset_mfa)),
        )
        .service(
            resource(
                "/admin/projects/{projectId}/members/{membershipId}/resetpassword",
                "POST",
            )
            .route(web::post().to(admin_reset_password)),
        );
}

fn all_ok() -> HttpResponse {
    ok(&OperationOutcome::all_ok())
}

/// The person behind a token or session: these routes are theirs, not a client's.
/// A person calling with their own token or page session (a client application is refused
/// with 403, before any body is read).
pub struct Person {
    pub user: User,
    pub login_id: String,
    pub caller: Principal,
}

impl FromRequest for Person {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let Caller(caller) = caller.await?;
            match (caller.user.clone(), caller.login_id.clone()) {
                (Some(user), Some(login_id)) => Ok(Person {
                    user,
                    login_id,
                    caller,
                }),
                _ => Err(ApiError::Forbidden(
                    "This is for people signed in, not client applications".into(),
                )),
            }
        })
    }
}

/// `POST /auth/newuser`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewUserRequest {
    pub first_name: String,
    pub last_name: String,
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub remember: bool,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Creates a server-wide account and starts its login; the next step is `/auth/newproject`
/// (or an invitation's project, through `/auth/login`).
#[utoipa::path(
    post,
    path = "/auth/newuser",
    tag = "auth",
    request_body = NewUserRequest,
    responses(
        (status = 200, description = "The account's pending login", body = LoginResponse),
        (status = 400, description = "Invalid input, or the email is taken", body = OperationOutcome),
        (status = 403, description = "Registration is closed", body = OperationOutcome),
    ),
    security(())
)]
pub async fn new_user(
    req: HttpRequest,
    Json(body): Json<NewUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    if state.settings.registration == Registration::Closed {
        return Err(ApiError::Forbidden("Registration is disabled".into()));
    }
    let grant = grant_request(
        body.code_challenge.clone(),
        body.code_challenge_method.clone(),
        body.client_id.clone(),
        body.scope.clone(),
        None,
    )?;
    let (first_name, last_name, email, password) = registration::parse_account(
        &body.first_name,
        &body.last_name,
        &body.email,
        &body.password,
    )
    .map_err(ApiError::Invalid)?;
    let password_hash = state.hasher.hash(password.expose()).await?;
    let account = NewAccount {
        first_name,
        last_name,
        email,
        password_hash,
    };
    let (policy, request_meta, remember) = (state.session_policy, meta(&req), body.remember);
    let limits = state.settings.limits.clone();
    let login = state
        .db
        .write(move |conn| {
            let login_id =
                registration::register(conn, account, remember, &request_meta, &policy, &limits)?;
            grants::begin(conn, &login_id, grant)?;
            Ok(login_id)
        })
        .await?;
    Ok(ok(&LoginResponse {
        login,
        ..Default::default()
    }))
}

/// `POST /auth/newproject`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewProjectRequest {
    pub login: String,
    #[schema(min_length = 4, max_length = 72)]
    pub project_name: String,
}

/// Creates a project for a pending login's person, who becomes its owner and admin; the
/// login finishes in it.
#[utoipa::path(
    post,
    path = "/auth/newproject",
    tag = "auth",
    request_body = NewProjectRequest,
    responses(
        (status = 200, description = "The code", body = LoginResponse),
        (status = 400, description = "Invalid name, or the login cannot go on", body = OperationOutcome),
        (status = 403, description = "A project's own account cannot own projects", body = OperationOutcome),
        (status = 404, description = "No such login", body = OperationOutcome),
    ),
    security(())
)]
pub async fn new_project(
    req: HttpRequest,
    Json(body): Json<NewProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let name =
        ProjectName::parse(&body.project_name).map_err(|m| ApiError::invalid("projectName", m))?;
    let (base_url, request_meta) = (state.base_url.clone(), meta(&req));
    let answer = state
        .db
        .write(move |conn| {
            let pending = match pending_past_mfa(conn, &body.login)? {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            if pending.user.project_id.is_some() {
                return Ok(Err(ApiError::Forbidden(
                    "This account belongs to one project and cannot own projects".into(),
                )));
            }
            if pending.grant.client_id.is_some() {
                return Ok(Err(ApiError::BadRequest(
                    "This login is for an app of an existing project".into(),
                )));
            }
            let created = registration::create_project(
                conn,
                &pending.user,
                name,
                "",
                &base_url,
                &request_meta,
            )?;
            auth::select_membership(
                conn,
                &pending.login.id,
                &pending.user.id,
                &created.membership_id,
            )?;
            next_step(conn, &pending.login.id)
        })
        .await?;
    state.mail.wake();
    Ok(ok(&answer?))
}

/// `POST /auth/changepassword`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub old_password: String,
    pub new_password: String,
}

/// Changes the caller's password; their other sessions and API sign-ins end.
#[utoipa::path(
    post,
    path = "/auth/changepassword",
    tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed", body = OperationOutcome),
        (status = 400, description = "The current password is wrong, or the new one is weak", body = OperationOutcome),
        (status = 401, description = "No or bad token", body = OperationOutcome),
    )
)]
pub async fn change_password(
    req: HttpRequest,
    Authorized(person, Json(body)): Authorized<Person, Json<ChangePasswordRequest>>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (user, login_id) = (person.user, person.login_id);
    if !state
        .hasher
        .verify(user.password_hash.as_deref(), &body.old_password)
        .await?
    {
        return Err(ApiError::invalid("oldPassword", "Incorrect password"));
    }
    let email = EmailAddress::parse(&user.email).ok();
    let password = Password::parse(
        &body.new_password,
        email.as_ref(),
        &[&user.first_name, &user.last_name],
    )
    .map_err(|m| ApiError::invalid("newPassword", m))?;
    let hash = state.hasher.hash(password.expose()).await?;
    let request_meta = meta(&req);
    state
        .db
        .run(move |conn| account::change_password(conn, &user, &login_id, &hash, &request_meta))
        .await?;
    state.mail.wake();
    Ok(all_ok())
}

/// `POST /auth/resetpassword`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
}

/// Emails a reset link when an account has this address; the answer is the same either way.
#[utoipa::path(
    post,
    path = "/auth/resetpassword",
    tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Sent, if the account exists", body = OperationOutcome),
        (status = 400, description = "Not an email address", body = OperationOutcome),
        (status = 429, description = "Too many requests", body = OperationOutcome),
    ),
    security(())
)]
pub async fn reset_password(
    req: HttpRequest,
    Json(body): Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let email = EmailAddress::parse(&body.email).map_err(|m| ApiError::invalid("email", m))?;
    let (limits, base_url) = (state.settings.limits.clone(), state.base_url.clone());
    let ip = meta(&req).ip.unwrap_or_else(|| "-".into());
    state
        .db
        .run(move |conn| {
            recovery::count_reset_request(conn, &limits, &ip, email.as_str())?;
            recovery::request_reset(conn, &email, &base_url).map(drop)
        })
        .await?;
    state.mail.wake();
    Ok(all_ok())
}

/// `POST /auth/setpassword`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetPasswordRequest {
    /// The link's id and secret (`/setpassword/{id}/{secret}`).
    pub id: String,
    pub secret: String,
    pub password: String,
}

fn link_problem(problem: LinkProblem) -> ApiError {
    ApiError::BadRequest(
        match problem {
            LinkProblem::Invalid => "Invalid link",
            LinkProblem::Expired => "This link has expired; ask for a new one",
            LinkProblem::Used => "Already used",
            LinkProblem::Superseded => "A newer link was sent; use that one",
            LinkProblem::Withdrawn => "The invitation was withdrawn",
        }
        .into(),
    )
}

fn link_outcome<T>(result: Result<T, LinkError>) -> Result<Result<T, ApiError>, ServiceError> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(LinkError::Problem(p)) => Ok(Err(link_problem(p))),
        Err(LinkError::Service(e)) => Err(e),
    }
}

/// Sets a password with an invitation or reset link (single use; every session ends).
#[utoipa::path(
    post,
    path = "/auth/setpassword",
    tag = "auth",
    request_body = SetPasswordRequest,
    responses(
        (status = 200, description = "Set", body = OperationOutcome),
        (status = 400, description = "A weak password, or the link is invalid, expired or used", body = OperationOutcome),
    ),
    security(())
)]
pub async fn set_password(
    req: HttpRequest,
    Json(body): Json<SetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (id, secret) = (body.id.clone(), body.secret.clone());
    let info = state
        .db
        .run(move |conn| link_outcome(recovery::check_link(conn, &id, &secret)))
        .await??;
    let email = EmailAddress::parse(&info.user.email).ok();
    let password = Password::parse(
        &body.password,
        email.as_ref(),
        &[&info.user.first_name, &info.user.last_name],
    )
    .map_err(|m| ApiError::invalid("password", m))?;
    let hash = state.hasher.hash(password.expose()).await?;
    let (policy, request_meta) = (state.session_policy, meta(&req));
    state
        .db
        .run(move |conn| {
            link_outcome(recovery::set_password(
                conn,
                &body.id,
                &body.secret,
                &hash,
                &request_meta,
                &policy,
            ))
        })
        .await??;
    Ok(all_ok())
}

/// `GET /auth/mfa/status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaStatus {
    pub enrolled: bool,
    /// Not enrolled: the `otpauth://` address for an authenticator app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enroll_uri: Option<String>,
    /// Not enrolled: the same as a QR code (an SVG `data:` URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enroll_qr_code: Option<String>,
}

/// Whether the caller uses two-factor authentication; if not, what to set it up with.
#[utoipa::path(
    get,
    path = "/auth/mfa/status",
    tag = "auth",
    responses(
        (status = 200, description = "Enrolled, or the enrolment to confirm", body = MfaStatus),
        (status = 401, description = "No or bad token", body = OperationOutcome),
    )
)]
pub async fn mfa_status(req: HttpRequest, person: Person) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let user = person.user;
    if user.mfa_enrolled {
        return Ok(ok(&MfaStatus {
            enrolled: true,
            enroll_uri: None,
            enroll_qr_code: None,
        }));
    }
    let enrolment = state
        .db
        .run(move |conn| mfa::start_enrolment(conn, &user))
        .await?;
    Ok(ok(&MfaStatus {
        enrolled: false,
        enroll_qr_code: Some(format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(enrolment.qr_svg)
        )),
        enroll_uri: Some(enrolment.uri),
    }))
}

/// `POST /auth/mfa/enroll` and `/auth/mfa/disable`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaTokenRequest {
    /// Six digits from the authenticator app.
    pub token: String,
}

/// Recovery codes from an enrolment, shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrolled {
    pub enrolled: bool,
    pub recovery_codes: Vec<String>,
}

async fn count_attempt(state: &crate::http::AppState, user: &User) -> Result<String, ApiError> {
    Ok(state
        .throttle
        .count_code_attempt(&state.settings.limits, &user.id)
        .await?)
}

/// Confirms the enrolment `/auth/mfa/status` started with a code from the app.
#[utoipa::path(
    post,
    path = "/auth/mfa/enroll",
    tag = "auth",
    request_body = MfaTokenRequest,
    responses(
        (status = 200, description = "Enrolled, with recovery codes", body = Enrolled),
        (status = 400, description = "Invalid token", body = OperationOutcome),
        (status = 409, description = "Already enrolled", body = OperationOutcome),
        (status = 429, description = "Too many wrong codes", body = OperationOutcome),
    )
)]
pub async fn mfa_enroll(
    req: HttpRequest,
    Authorized(person, Json(body)): Authorized<Person, Json<MfaTokenRequest>>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (user, login_id) = (person.user, person.login_id);
    if user.mfa_enrolled {
        return Err(ApiError::Conflict("Already enrolled".into()));
    }
    let key = count_attempt(&state, &user).await?;
    let codes = mfa::new_recovery_codes();
    let kept = codes.clone();
    state
        .db
        .run(move |conn| mfa::confirm_enrolment(conn, &user.id, &login_id, &body.token, &kept))
        .await?;
    state.throttle.reset(&key).await?;
    Ok(ok(&Enrolled {
        enrolled: true,
        recovery_codes: codes,
    }))
}

/// Turns two-factor authentication off; needs a current code.
#[utoipa::path(
    post,
    path = "/auth/mfa/disable",
    tag = "auth",
    request_body = MfaTokenRequest,
    responses(
        (status = 200, description = "Turned off", body = OperationOutcome),
        (status = 400, description = "Invalid token, or not enrolled", body = OperationOutcome),
        (status = 429, description = "Too many wrong codes", body = OperationOutcome),
    )
)]
pub async fn mfa_disable(
    req: HttpRequest,
    Authorized(person, Json(body)): Authorized<Person, Json<MfaTokenRequest>>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (user, caller) = (person.user, person.caller);
    if !user.mfa_enrolled {
        return Err(ApiError::BadRequest("User not enrolled in MFA".into()));
    }
    if caller.project.require_mfa || caller.membership.mfa_required {
        return Err(ApiError::BadRequest(
            "This project requires two-factor authentication".into(),
        ));
    }
    let key = count_attempt(&state, &user).await?;
    state
        .db
        .run(move |conn| mfa::disable(conn, &user.id, &body.token))
        .await?;
    state.throttle.reset(&key).await?;
    Ok(all_ok())
}

/// `POST /auth/revoke`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokeRequest {
    /// One of the caller's other sessions (`security.sessions[].id` of `/auth/me`).
    pub login_id: String,
}

/// Signs one of the caller's other sessions out.
#[utoipa::path(
    post,
    path = "/auth/revoke",
    tag = "auth",
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "Signed out", body = OperationOutcome),
        (status = 404, description = "Not one of the caller's sessions", body = OperationOutcome),
        (status = 409, description = "The current session (use /oauth2/logout)", body = OperationOutcome),
    )
)]
pub async fn revoke(
    req: HttpRequest,
    Authorized(person, Json(body)): Authorized<Person, Json<RevokeRequest>>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (user, current) = (person.user, person.login_id);
    state
        .db
        .run(move |conn| account::revoke_session(conn, &user.id, &current, &body.login_id))
        .await?;
    Ok(all_ok())
}

/// Resets a member's two-factor authentication (the project's own accounts only, or by a
/// super admin) and tells them by email.
#[utoipa::path(
    post,
    path = "/admin/projects/{projectId}/members/{membershipId}/mfa/reset",
    tag = "admin",
    params(MemberPath),
    responses(
        (status = 200, description = "Reset", body = OperationOutcome),
        (status = 403, description = "Not an admin here, or another project's account", body = OperationOutcome),
        (status = 404, description = "No such member in this project", body = OperationOutcome),
        (status = 409, description = "The member has no second factor to reset", body = OperationOutcome),
    )
)]
pub async fn admin_reset_mfa(
    admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, membership_id) = path.into_inner();
    admin
        .run(move |conn, project, by| members::reset_mfa(conn, project, by, &membership_id))
        .await?;
    admin.state.mail.wake();
    Ok(all_ok())
}

/// Emails a member a password reset link (the project's own accounts only, or by a super
/// admin).
#[utoipa::path(
    post,
    path = "/admin/projects/{projectId}/members/{membershipId}/resetpassword",
    tag = "admin",
    params(MemberPath),
    responses(
        (status = 200, description = "Sent", body = OperationOutcome),
        (status = 403, description = "Not an admin here, or another project's account", body = OperationOutcome),
        (status = 404, description = "No such member in this project", body = OperationOutcome),
        (status = 429, description = "Too many emails to this member", body = OperationOutcome),
        (status = 409, description = "The member has no email address", body = OperationOutcome),
    )
)]
pub async fn admin_reset_password(
    admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, membership_id) = path.into_inner();
    let (base_url, limits) = (
        admin.state.base_url.clone(),
        admin.state.settings.limits.clone(),
    );
    admin
        .run(move |conn, project, by| {
            members::send_password_reset(conn, project, by, &membership_id, &base_url, &limits)
        })
        .await?;
    admin.state.mail.wake();
    Ok(all_ok())
}
