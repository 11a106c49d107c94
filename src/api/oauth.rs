//! `POST /oauth2/token` (client credentials) and `GET /auth/me`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::ApiError;
use super::errors::OperationOutcome;
use super::resources::Reference;
use super::{basic_credentials, meta, ok, read_form, resource, state};
use crate::db::models::Login;
use crate::http::AppState;
use crate::services::clients;
use crate::services::grants::{self, Presented};
use crate::services::tokens::Claims;
use crate::services::tokens::{self, Issued};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/oauth2/token", "POST").route(web::post().to(token)))
        .service(
            resource("/oauth2/logout", "GET, POST")
                .route(web::get().to(logout))
                .route(web::post().to(logout)),
        )
        .service(
            resource("/oauth2/userinfo", "GET, POST")
                .route(web::get().to(userinfo))
                .route(web::post().to(userinfo)),
        );
}

/// A successful token answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT (ES256): `exp`, `login_id`, and `client_id`/`cid` when a client was used, are
    /// readable; valid 3600 seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    /// When the scope has `openid` (people only): an OpenID Connect ID token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// When the scope has `offline_access` or `offline` (people only); each use gives a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub project: Reference,
    pub profile: Reference,
}

/// An OAuth 2.0 error answer (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client` or `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
}

fn oauth_error(error: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(OAuthError {
            error: error.into(),
            error_description: description.into(),
        })
}

fn ip_key(req: &HttpRequest) -> String {
    format!(
        "client-failures:ip:{}",
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    )
}

/// Counts an attempt with client credentials against its address, before the secret is
/// checked (so parallel guesses cannot slip under the limit), and refuses an address that sent
/// too many wrong ones. Only per address: secrets are 256 random bits, so guessing is
/// hopeless, and a per-client limit would let anyone who knows a client id lock it out.
pub(crate) async fn throttle_client(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let limits = &state.settings.limits;
    Ok(state
        .throttle
        .hit_and_check(
            &ip_key(req),
            limits.signin_failures_per_ip,
            limits.signin_window,
        )
        .await?)
}

/// The credentials were right: the attempt does not count. Wrong ones are logged.
pub(crate) async fn client_attempt_done(
    state: &AppState,
    req: &HttpRequest,
    client_id: Option<&str>,
    succeeded: bool,
) -> Result<(), ApiError> {
    if !succeeded {
        tracing::info!(client_id, "client authentication failed");
        return Ok(());
    }
    Ok(state.throttle.unhit(&ip_key(req)).await?)
}

#[derive(Debug, Default)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
}

fn parse_token_request(body: &[u8]) -> Result<TokenRequest, ()> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| ())?;
    let mut request = TokenRequest::default();
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "grant_type" => &mut request.grant_type,
            "client_id" => &mut request.client_id,
            "client_secret" => &mut request.client_secret,
            "code" => &mut request.code,
            "code_verifier" => &mut request.code_verifier,
            "redirect_uri" => &mut request.redirect_uri,
            "refresh_token" => &mut request.refresh_token,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    Ok(request)
}

/// Issues a bearer token for a client application's id and secret, sent in the form body
/// or as HTTP Basic.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "auth",
    request_body(
        content_type = "application/x-www-form-urlencoded",
        content = inline(TokenForm),
        description = "`grant_type=client_credentials` with `client_id` and `client_secret` (or HTTP Basic)"
    ),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "Bad request or bad credentials", body = OAuthError),
        (status = 413, description = "Body too large", body = super::errors::OperationOutcome),
        (status = 415, description = "Not form-encoded", body = super::errors::OperationOutcome),
        (status = 429, description = "Too many failed attempts", body = super::errors::OperationOutcome),
    ),
    security(())
)]
pub async fn token(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let mut payload = payload.into_inner();
    let body = read_form(&req, &mut payload).await?;
    let Ok(mut request) = parse_token_request(&body) else {
        return Ok(oauth_error(
            "invalid_request",
            "The body is not valid form data",
        ));
    };
    if let Some((id, secret)) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials)
    {
        request.client_id = Some(id);
        request.client_secret = Some(secret);
    }
    match request.grant_type.as_deref() {
        Some("client_credentials") => client_credentials(&req, &state, request).await,
        Some("authorization_code") | Some("refresh_token") => {
            for_a_person(&req, &state, request).await
        }
        Some(_) => Ok(oauth_error(
            "unsupported_grant_type",
            "Supported grant types: authorization_code, refresh_token, client_credentials",
        )),
        None => Ok(oauth_error("invalid_request", "Missing grant_type")),
    }
}

fn token_answer(body: &TokenResponse) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

async fn client_credentials(
    req: &HttpRequest,
    state: &AppState,
    request: TokenRequest,
) -> Result<HttpResponse, ApiError> {
    let (Some(client_id), Some(secret)) = (request.client_id, request.client_secret) else {
        return Ok(oauth_error(
            "invalid_request",
            "Missing client_id or client_secret",
        ));
    };
    throttle_client(state, req).await?;
    let keys = state.tokens.clone();
    let request_meta = meta(req);
    let id = client_id.clone();
    let issued: Option<Issued> = state
        .db
        .run(
            move |conn| match clients::authenticate(conn, &id, &secret)? {
                Some(client) => tokens::issue(conn, &keys, &client, &request_meta),
                None => Ok(None),
            },
        )
        .await?;
    client_attempt_done(state, req, Some(&client_id), issued.is_some()).await?;
    let Some(issued) = issued else {
        return Ok(oauth_error("invalid_client", "Invalid client credentials"));
    };
    Ok(token_answer(&TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        scope: "openid".into(),
        id_token: None,
        refresh_token: None,
        project: Reference::to("Project", &issued.project_id),
        profile: Reference::to("ClientApplication", &issued.client_id),
    }))
}

/// `authorization_code` and `refresh_token`: a person's tokens. A confidential client that
/// sends its secret must send the right one; a public client proves itself with PKCE.
async fn for_a_person(
    req: &HttpRequest,
    state: &AppState,
    request: TokenRequest,
) -> Result<HttpResponse, ApiError> {
    let client_id = request.client_id.clone().filter(|c| !c.is_empty());
    let presented = Presented {
        client_id: client_id.clone(),
        redirect_uri: request.redirect_uri,
        code_verifier: request.code_verifier,
    };
    if let Some(secret) = request.client_secret.filter(|s| !s.is_empty()) {
        let Some(id) = client_id.clone() else {
            return Ok(oauth_error("invalid_request", "Missing client_id"));
        };
        throttle_client(state, req).await?;
        let proven = state
            .db
            .run(move |conn| Ok(clients::authenticate(conn, &id, &secret)?.is_some()))
            .await?;
        client_attempt_done(state, req, client_id.as_deref(), proven).await?;
        if !proven {
            return Ok(oauth_error("invalid_client", "Invalid client credentials"));
        }
    }
    let keys = state.tokens.clone();
    let outcome = match (
        request.grant_type.as_deref(),
        request.code,
        request.refresh_token,
    ) {
        (Some("authorization_code"), Some(code), _) => {
            state
                .db
                .write(move |conn| grants::redeem_code(conn, &keys, &code, &presented))
                .await?
        }
        (Some("refresh_token"), _, Some(token)) => {
            state
                .db
                .write(move |conn| grants::refresh(conn, &keys, &token, &presented))
                .await?
        }
        (Some("authorization_code"), None, _) => {
            return Ok(oauth_error("invalid_request", "Missing code"));
        }
        _ => return Ok(oauth_error("invalid_request", "Missing refresh_token")),
    };
    match outcome {
        Ok(issued) => {
            let (kind, id) = issued.profile.split_once('/').unwrap_or(("", ""));
            Ok(token_answer(&TokenResponse {
                access_token: issued.access_token,
                token_type: "Bearer".into(),
                expires_in: issued.expires_in,
                scope: issued.scope,
                id_token: issued.id_token,
                refresh_token: issued.refresh_token,
                project: Reference::to("Project", &issued.project_id),
                profile: Reference::to(kind, id),
            }))
        }
        Err(refusal) => Ok(oauth_error(refusal.error, refusal.description)),
    }
}

/// The form fields of a token request.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    #[schema(value_type = GrantType)]
    grant_type: String,
    /// The client; empty or absent for a person signing in without one.
    client_id: Option<String>,
    /// Confidential clients (or HTTP Basic).
    client_secret: Option<String>,
    /// `authorization_code`: the code from `/auth/login` or `/oauth2/authorize`.
    code: Option<String>,
    /// `authorization_code`: the PKCE verifier.
    code_verifier: Option<String>,
    /// `authorization_code`: the redirect URI the code was sent to (empty for `/auth/login`).
    redirect_uri: Option<String>,
    /// `refresh_token`: the refresh token.
    refresh_token: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum GrantType {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
}

/// The live login of the request's bearer token.
async fn bearer_login(req: &HttpRequest, state: &AppState) -> Result<(Login, Claims), ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .ok_or(ApiError::Unauthorized)?;
    let keys = state.tokens.clone();
    state
        .db
        .run(move |conn| tokens::login_of_token(conn, &keys, &token))
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// Signs out: the token's login ends, with every access and refresh token of it.
#[utoipa::path(
    method(get, post),
    path = "/oauth2/logout",
    tag = "auth",
    responses(
        (status = 200, description = "Signed out", body = super::errors::OperationOutcome),
        (status = 401, description = "No or bad token", body = super::errors::OperationOutcome),
    )
)]
pub async fn logout(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (login, _) = bearer_login(&req, &state).await?;
    state
        .db
        .write(move |conn| grants::sign_out(conn, &login.id))
        .await?;
    Ok(ok(&OperationOutcome::all_ok()))
}

/// Claims about the signed-in person, as the token's scope allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    /// The user's id (the ID token's `sub`).
    pub sub: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub person: grants::PersonClaims,
}

/// OpenID Connect UserInfo.
#[utoipa::path(
    method(get, post),
    path = "/oauth2/userinfo",
    tag = "auth",
    responses(
        (status = 200, description = "The person: `sub`, and `name`, `given_name`, `family_name`, `profile` with scope `profile`, `email`, `email_verified` with scope `email`", body = UserInfo),
        (status = 401, description = "No or bad token, or a client's token", body = super::errors::OperationOutcome),
    )
)]
pub async fn userinfo(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let (login, claims) = bearer_login(&req, &state).await?;
    let issuer = state.base_url.clone();
    let info = state
        .db
        .run(move |conn| grants::userinfo(conn, &login, &claims.scope, &issuer))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(UserInfo {
            sub: info.0,
            person: info.1,
        }))
}
