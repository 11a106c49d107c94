//! Medplum's sign-in flow as JSON: `POST /auth/login` checks the password (the same service
//! as the sign-in page, with its throttles), then `/auth/profile` picks a project,
//! `/auth/mfa/verify` takes the second factor and `/auth/mfa/login-enroll` sets one up where a
//! project requires it. Each step answers where the login stands; the last one, a code that
//! the app redeems at `/oauth2/token`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::errors::ApiError;
use super::resources::ProjectMembership;
use super::{Json, meta, ok, resource, state};
use crate::domain::EmailAddress;
use crate::http::AppState;
use crate::services::grants::{self, GrantRequest, Pending, PendingError, Stage};
use crate::services::signin::{self, PasswordSignin};
use crate::services::{ServiceError, lookup, mfa};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/login", "POST").route(web::post().to(login)))
        .service(resource("/auth/login/{login}", "GET").route(web::get().to(status)))
        .service(resource("/auth/profile", "POST").route(web::post().to(profile)))
        .service(resource("/auth/mfa/verify", "POST").route(web::post().to(mfa_verify)))
        .service(resource("/auth/mfa/login-enroll", "POST").route(web::post().to(mfa_enroll)))
        .service(resource("/auth/method", "POST").route(web::post().to(method)));
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    pub password: String,
    /// Sign in to this project (its own account for the address, when it has one).
    pub project_id: Option<String>,
    /// The app's ClientApplication id; empty or absent for none.
    pub client_id: Option<String>,
    /// Default `openid`; add `offline_access` for a refresh token.
    pub scope: Option<String>,
    pub nonce: Option<String>,
    /// PKCE: the challenge of the verifier the app will send to `/oauth2/token`.
    pub code_challenge: Option<String>,
    /// `S256` or `plain`.
    pub code_challenge_method: Option<String>,
    /// Keep me signed in: the tokens come with a refresh token (as with `offline_access`).
    #[serde(default)]
    pub remember: bool,
}

/// Where a login stands.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// The login's id: what the next step names.
    pub login: String,
    /// Finished: redeem at `/oauth2/token` with `grant_type=authorization_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Choose one with `/auth/profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memberships: Option<Vec<ProjectMembership>>,
    /// Send a code from the authenticator app (or a recovery code) to `/auth/mfa/verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<bool>,
    /// The project requires two-factor authentication: add `enrollUri` to an authenticator
    /// app, then send its code to `/auth/mfa/login-enroll`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_enroll_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enroll_uri: Option<String>,
    /// After an enrolment: single-use codes for when the phone is lost (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

fn blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The grant an API sign-in asks for; PKCE is required (`plain` too: the password went
/// straight to this server, as in Medplum).
pub(crate) fn grant_request(
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    nonce: Option<String>,
) -> Result<GrantRequest, ApiError> {
    let challenge = blank(code_challenge)
        .filter(|c| grants::pkce_value_ok(c))
        .ok_or_else(|| {
            ApiError::invalid(
                "codeChallenge",
                "Invalid code challenge: 43 to 128 letters, digits, -, ., _ or ~ (RFC 7636)",
            )
        })?;
    let method = blank(code_challenge_method).unwrap_or_else(|| "S256".into());
    if method != "S256" && method != "plain" {
        return Err(ApiError::invalid(
            "codeChallengeMethod",
            "Invalid code challenge method",
        ));
    }
    Ok(GrantRequest {
        client_id: blank(client_id),
        redirect_uri: None,
        scope: blank(scope).unwrap_or_else(|| "openid".into()),
        nonce: blank(nonce),
        code_challenge: Some(challenge),
        code_challenge_method: Some(method),
        new_project: false,
    })
}

pub(crate) fn pending_error(e: PendingError) -> ApiError {
    match e {
        PendingError::NotFound => ApiError::NotFound,
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// The answer for a stage; a project choice lists the memberships.
fn answer(
    conn: &mut crate::db::DbConn,
    pending: &Pending,
    stage: Stage,
) -> Result<LoginResponse, ServiceError> {
    let mut response = LoginResponse {
        login: pending.login.id.clone(),
        ..Default::default()
    };
    match stage {
        Stage::Code(code) => response.code = Some(code),
        Stage::Ready | Stage::NewProject => {}
        Stage::Mfa => response.mfa_required = Some(true),
        Stage::MfaEnroll => {
            let enrolment = mfa::start_enrolment(conn, &pending.user)?;
            response.mfa_enroll_required = Some(true);
            response.enroll_uri = Some(enrolment.uri);
        }
        Stage::ChooseProject(choices) => {
            let mut memberships = Vec::with_capacity(choices.len());
            for choice in choices {
                let view = lookup::membership(conn, &choice.project_id, &choice.membership_id)?;
                let mut membership = ProjectMembership::from(&view);
                membership.project.display = Some(choice.project_name);
                memberships.push(membership);
            }
            response.memberships = Some(memberships);
        }
    }
    Ok(response)
}

/// Checks the client a sign-in names and returns its project.
fn client_project(
    conn: &mut crate::db::DbConn,
    client_id: Option<&str>,
) -> Result<Option<String>, ApiError> {
    use crate::db::schema::client_applications;
    use diesel::prelude::*;
    let Some(id) = client_id else {
        return Ok(None);
    };
    let project: Option<String> = client_applications::table
        .find(id)
        .select(client_applications::project_id)
        .first(conn)
        .optional()
        .map_err(ServiceError::from)?;
    project
        .map(Some)
        .ok_or_else(|| ApiError::invalid("clientId", "Client not found"))
}

/// Signs a person in with email and password.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A code, a choice of projects, or the second factor next", body = LoginResponse),
        (status = 400, description = "Email or password is invalid, or bad input", body = super::errors::OperationOutcome),
        (status = 429, description = "Too many attempts", body = super::errors::OperationOutcome),
    ),
    security(())
)]
pub async fn login(
    req: HttpRequest,
    Json(body): Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let email = EmailAddress::parse(&body.email).map_err(|m| ApiError::invalid("email", m))?;
    if body.password.is_empty() {
        return Err(ApiError::invalid("password", "Enter your password"));
    }
    let mut grant = grant_request(
        body.code_challenge.clone(),
        body.code_challenge_method.clone(),
        body.client_id.clone(),
        body.scope.clone(),
        body.nonce.clone(),
    )?;
    // "Keep me signed in" asks for a refresh token, as in Medplum.
    if body.remember
        && !grants::has_scope(&grant.scope, "offline_access")
        && !grants::has_scope(&grant.scope, "offline")
    {
        grant.scope.push_str(" offline_access");
    }
    let client_id = grant.client_id.clone();
    let client_project = state
        .db
        .run(move |conn| Ok(client_project(conn, client_id.as_deref())))
        .await??;
    // Medplum's `projectId: "new"`: sign in for a project still to be made.
    let new_project = body.project_id.as_deref() == Some("new");
    grant.new_project = new_project;
    let asked = blank(body.project_id.clone()).filter(|p| p != "new");
    if new_project && client_project.is_some() {
        return Err(ApiError::invalid(
            "projectId",
            "An app's sign-in is for the app's project, not a new one",
        ));
    }
    if let (Some(asked), Some(client)) = (&asked, &client_project)
        && asked != client
    {
        return Err(ApiError::invalid("projectId", "Invalid projectId"));
    }
    let project_hint = client_project.or(asked);
    // An address whose organisation signs in with its own provider has no password here.
    let (address, hint) = (email.clone(), project_hint.clone());
    let managed = state
        .db
        .run(move |conn| {
            crate::services::external::for_email(conn, &address, hint.as_deref())
                .map(|p| p.is_some())
        })
        .await?;
    if managed {
        return Err(ApiError::invalid(
            "email",
            "This address signs in through its organisation's provider: ask POST /auth/method where to send the person",
        ));
    }
    let attempt = PasswordSignin {
        email,
        password: body.password,
        project_hint,
        remember: body.remember,
        meta: meta(&req),
    };
    let Some(signed_in) = signin::with_password(
        &state.db,
        &state.hasher,
        &state.settings.limits,
        state.session_policy,
        attempt,
    )
    .await?
    else {
        return Err(ApiError::BadRequest(signin::INVALID_CREDENTIALS.into()));
    };
    let login_id = signed_in.login_id;
    let response = state
        .db
        .write(move |conn| {
            grants::begin(conn, &login_id, grant)?;
            next_step(conn, &login_id)
        })
        .await?;
    Ok(ok(&response?))
}

/// A pending login whose second factor, where the person has one, was checked.
pub(crate) fn pending_past_mfa(
    conn: &mut crate::db::DbConn,
    login_id: &str,
) -> Result<Result<Pending, ApiError>, ServiceError> {
    let pending = match grants::pending(conn, login_id)? {
        Ok(p) => p,
        Err(e) => return Ok(Err(pending_error(e))),
    };
    if pending.user.mfa_enrolled && !pending.login.mfa_verified {
        return Ok(Err(ApiError::BadRequest(
            "Verify the second factor first (/auth/mfa/verify)".into(),
        )));
    }
    Ok(Ok(pending))
}

/// Advances a pending login and answers where it stands.
pub(crate) fn next_step(
    conn: &mut crate::db::DbConn,
    login_id: &str,
) -> Result<Result<LoginResponse, ApiError>, ServiceError> {
    let pending = match grants::pending(conn, login_id)? {
        Ok(p) => p,
        Err(e) => return Ok(Err(pending_error(e))),
    };
    let stage = grants::advance(conn, &pending)?;
    answer(conn, &pending, stage).map(Ok)
}

/// Where a pending login stands, without moving it on.
#[utoipa::path(
    get,
    path = "/auth/login/{login}",
    tag = "auth",
    params(("login" = String, Path, description = "The login's id")),
    responses(
        (status = 200, description = "The next step", body = LoginResponse),
        (status = 400, description = "Expired, finished or revoked", body = super::errors::OperationOutcome),
        (status = 404, description = "No such login", body = super::errors::OperationOutcome),
    ),
    security(())
)]
pub async fn status(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let login_id = path.into_inner();
    let response = state
        .db
        .run(move |conn| {
            let pending = match grants::pending(conn, &login_id)? {
                Ok(p) => p,
                Err(e) => return Ok(Err(pending_error(e))),
            };
            let stage = grants::peek(conn, &pending)?;
            answer(conn, &pending, stage).map(Ok)
        })
        .await?;
    Ok(ok(&response?))
}

/// `POST /auth/profile`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileRequest {
    pub login: String,
    /// The id of the ProjectMembership chosen (as Medplum's SDK sends it).
    pub profile: String,
}

/// Chooses the project a pending login continues in.
#[utoipa::path(
    post,
    path = "/auth/profile",
    tag = "auth",
    request_body = ProfileRequest,
    responses(
        (status = 200, description = "The next step, usually the code", body = LoginResponse),
        (status = 400, description = "Not one of the person's memberships, or the login cannot go on", body = super::errors::OperationOutcome),
        (status = 404, description = "No such login", body = super::errors::OperationOutcome),
    ),
    security(())
)]
pub async fn profile(
    req: HttpRequest,
    Json(body): Json<ProfileRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let response = state
        .db
        .write(move |conn| {
            let pending = match pending_past_mfa(conn, &body.login)? {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            let membership = body.profile.rsplit('/').next().unwrap_or_default();
            match grants::choose(conn, &pending, membership)? {
                Some(stage) => answer(conn, &pending, stage).map(Ok),
                None => Ok(Err(ApiError::invalid("profile", "Profile not found"))),
            }
        })
        .await?;
    Ok(ok(&response?))
}

/// `POST /auth/mfa/verify` and `/auth/mfa/login-enroll`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaLoginRequest {
    pub login: String,
    /// Six digits from the authenticator app, or a recovery code (verify only).
    pub token: String,
}

async fn pending_for_code(state: &AppState, login_id: &str) -> Result<Pending, ApiError> {
    let login_id = login_id.to_owned();
    state
        .db
        .run(move |conn| grants::pending(conn, &login_id))
        .await?
        .map_err(pending_error)
}

/// Takes the second factor of a pending login.
#[utoipa::path(
    post,
    path = "/auth/mfa/verify",
    tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "The next step", body = LoginResponse),
        (status = 400, description = "Invalid MFA token, or the login cannot go on", body = super::errors::OperationOutcome),
        (status = 429, description = "Too many wrong codes", body = super::errors::OperationOutcome),
        (status = 404, description = "No such login", body = super::errors::OperationOutcome),
    ),
    security(())
)]
pub async fn mfa_verify(
    req: HttpRequest,
    Json(body): Json<MfaLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let pending = pending_for_code(&state, &body.login).await?;
    if !pending.user.mfa_enrolled {
        return Err(ApiError::BadRequest("User not enrolled in MFA".into()));
    }
    if pending.login.mfa_verified {
        return Err(ApiError::BadRequest("Login already verified".into()));
    }
    let key = state
        .throttle
        .count_code_attempt(&state.settings.limits, &pending.user.id)
        .await?;
    let request_meta = meta(&req);
    let token = body.token;
    let response = state
        .db
        .write(move |conn| {
            let (user, login_id) = (&pending.user, &pending.login.id);
            let checked = if mfa::is_recovery_code(&token) {
                let project = match &pending.login.membership_id {
                    Some(id) => Some(lookup::project_of_membership(conn, id)?),
                    None => None,
                };
                mfa::verify_with_recovery_code(
                    conn,
                    user,
                    login_id,
                    &token,
                    project.as_deref(),
                    &request_meta,
                )
                .map(|_| ())
            } else {
                mfa::verify_signin(conn, &user.id, login_id, &token)
            };
            match checked {
                Ok(()) => next_step(conn, login_id),
                Err(ServiceError::Invalid(errors)) => Ok(Err(ApiError::Invalid(errors))),
                Err(e) => Err(e),
            }
        })
        .await?;
    if response.is_ok() {
        state.throttle.reset(&key).await?;
    }
    Ok(ok(&response?))
}

/// Sets up two-factor authentication during a sign-in to a project that requires it.
#[utoipa::path(
    post,
    path = "/auth/mfa/login-enroll",
    tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "The next step, with the recovery codes", body = LoginResponse),
        (status = 400, description = "Invalid token, or the login cannot go on", body = super::errors::OperationOutcome),
        (status = 429, description = "Too many wrong codes", body = super::errors::OperationOutcome),
        (status = 404, description = "No such login", body = super::errors::OperationOutcome),
    ),
    security(())
)]
pub async fn mfa_enroll(
    req: HttpRequest,
    Json(body): Json<MfaLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let pending = pending_for_code(&state, &body.login).await?;
    if pending.user.mfa_enrolled {
        return Err(ApiError::BadRequest("Already enrolled".into()));
    }
    let key = state
        .throttle
        .count_code_attempt(&state.settings.limits, &pending.user.id)
        .await?;
    let token = body.token;
    let response = state
        .db
        .write(move |conn| {
            let codes = mfa::new_recovery_codes();
            let (user_id, login_id) = (&pending.user.id, &pending.login.id);
            match mfa::confirm_enrolment(conn, user_id, login_id, &token, &codes) {
                Ok(()) => Ok(next_step(conn, login_id)?.map(|mut r| {
                    r.recovery_codes = Some(codes);
                    r
                })),
                Err(ServiceError::Invalid(errors)) => Ok(Err(ApiError::Invalid(errors))),
                Err(e) => Err(e),
            }
        })
        .await?;
    if response.is_ok() {
        state.throttle.reset(&key).await?;
    }
    Ok(ok(&response?))
}

/// `POST /auth/method`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MethodRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// Sign in to this project (its own provider for the domain, if it has one).
    pub project_id: Option<String>,
    /// With `redirectUri` and `codeChallenge`: the app gets its code at `redirectUri` after
    /// the provider (one of the client's registered redirect URIs).
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// Given back to the app with its code.
    pub state: Option<String>,
}

/// Where the address's domain signs in.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MethodResponse {
    /// The domain that has a provider; absent: sign in with a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Send the person here (the provider's authorization URL for this sign-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
}

/// The app's request, when it asked to get its code back after the provider.
fn app_request(
    conn: &mut crate::db::DbConn,
    body: &MethodRequest,
) -> Result<Result<Option<(String, crate::services::external::AppRequest)>, ApiError>, ServiceError>
{
    let (Some(client_id), Some(redirect_uri)) = (
        blank(body.client_id.clone()),
        blank(body.redirect_uri.clone()),
    ) else {
        return Ok(Ok(None));
    };
    let Some(client) = crate::services::clients::find(conn, &client_id)? else {
        return Ok(Err(ApiError::invalid("clientId", "Client not found")));
    };
    if !crate::services::clients::redirect_uris(&client).contains(&redirect_uri.as_str()) {
        return Ok(Err(ApiError::invalid(
            "redirectUri",
            "Not one of the client's registered redirect URIs",
        )));
    }
    let grant = match grant_request(
        body.code_challenge.clone(),
        body.code_challenge_method.clone(),
        Some(client_id.clone()),
        body.scope.clone(),
        body.nonce.clone(),
    ) {
        Ok(g) => g,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Some((
        client.project_id.clone(),
        crate::services::external::AppRequest {
            client_id,
            redirect_uri,
            scope: grant.scope,
            nonce: grant.nonce,
            code_challenge: grant.code_challenge.unwrap_or_default(),
            code_challenge_method: grant.code_challenge_method.unwrap_or_default(),
            state: blank(body.state.clone()),
        },
    ))))
}

/// Tells whether an address signs in with its organisation's provider (Medplum's domain
/// stage), and where to send the person.
#[utoipa::path(
    post,
    path = "/auth/method",
    tag = "auth",
    request_body = MethodRequest,
    responses(
        (status = 200, description = "`{domain, authorizeUrl}`, or `{}` for a password sign-in", body = MethodResponse),
        (status = 400, description = "Not an email address, or a bad app request", body = super::errors::OperationOutcome),
        (status = 503, description = "The domain's provider cannot be reached", body = super::errors::OperationOutcome),
    ),
    security(())
)]
pub async fn method(
    req: HttpRequest,
    Json(body): Json<MethodRequest>,
) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let email = EmailAddress::parse(&body.email).map_err(|m| ApiError::invalid("email", m))?;
    let app = state
        .db
        .run(move |conn| app_request(conn, &body).map(|r| (r, body)))
        .await?;
    let (app, body) = app;
    let app = app?;
    let hint = app
        .as_ref()
        .map(|(project, _)| project.clone())
        .or_else(|| blank(body.project_id.clone()));
    let callback = format!("{}/signin/external/callback", state.base_url);
    let departure = crate::services::oidc::departure(
        &state.db,
        &state.http,
        &callback,
        &email,
        hint,
        crate::services::external::Comeback {
            app: app.map(|(_, a)| a),
            ..Default::default()
        },
    )
    .await?
    .map_err(ApiError::Unavailable)?;
    Ok(ok(&match departure {
        Some((provider, url)) => MethodResponse {
            domain: Some(provider.domain),
            authorize_url: Some(url),
        },
        None => MethodResponse::default(),
    }))
}
