//! `POST /oauth2/token` (client credentials) and `GET /auth/me`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::ApiError;
use super::resources::{
    AnyResource, ClientApplicationResource, ProfileResource, ProjectMembership, ProjectResource,
    Reference,
};
use super::{Caller, basic_credentials, meta, ok, read_form, resource, state};
use crate::http::AppState;
use crate::services::tokens::{self, Issued};
use crate::services::{clients, lookup};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/oauth2/token", "POST").route(web::post().to(token)))
        .service(resource("/auth/me", "GET").route(web::get().to(me)));
}

/// A successful token answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT: `exp`, `client_id`, `cid` and `login_id` are readable; valid 3600 seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
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
}

fn parse_token_request(body: &[u8]) -> Result<TokenRequest, ()> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| ())?;
    let mut request = TokenRequest::default();
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "grant_type" => &mut request.grant_type,
            "client_id" => &mut request.client_id,
            "client_secret" => &mut request.client_secret,
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
        Some("client_credentials") => {}
        Some(_) => {
            return Ok(oauth_error(
                "unsupported_grant_type",
                "Only grant_type=client_credentials is supported",
            ));
        }
        None => return Ok(oauth_error("invalid_request", "Missing grant_type")),
    }
    let (Some(client_id), Some(secret)) = (request.client_id, request.client_secret) else {
        return Ok(oauth_error(
            "invalid_request",
            "Missing client_id or client_secret",
        ));
    };
    throttle_client(&state, &req).await?;
    let signer = state.tokens.clone();
    let request_meta = meta(&req);
    let id = client_id.clone();
    let issued: Option<Issued> = state
        .db
        .run(
            move |conn| match clients::authenticate(conn, &id, &secret)? {
                Some(client) => tokens::issue(conn, &signer, &client, &request_meta),
                None => Ok(None),
            },
        )
        .await?;
    client_attempt_done(&state, &req, Some(&client_id), issued.is_some()).await?;
    let Some(issued) = issued else {
        return Ok(oauth_error("invalid_client", "Invalid client credentials"));
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer".into(),
            expires_in: issued.expires_in,
            scope: "openid".into(),
            project: Reference::to("Project", &issued.project_id),
            profile: Reference::to("ClientApplication", &issued.client_id),
        }))
}

/// The form fields of a token request.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    #[schema(value_type = GrantType)]
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum GrantType {
    ClientCredentials,
}

/// Who the token (or session) acts as.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub project: ProjectResource,
    pub membership: ProjectMembership,
    /// The member's Practitioner, Patient or RelatedPerson, or the ClientApplication.
    pub profile: AnyResource,
}

/// The project, membership and profile of the caller.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No or bad token", body = super::errors::OperationOutcome),
    )
)]
pub async fn me(req: HttpRequest, Caller(caller): Caller) -> Result<HttpResponse, ApiError> {
    let state = state(&req)?;
    let base_url = state.base_url.clone();
    let me = state
        .db
        .run(move |conn| {
            let project_id = caller.project.id.clone();
            let view = lookup::membership(conn, &project_id, &caller.membership.id)?;
            let profile = match (&caller.client, &view.profile) {
                (Some(client), _) => {
                    AnyResource::ClientApplication(ClientApplicationResource::of(client, None))
                }
                (None, Some(p)) => {
                    let profile = lookup::profile(conn, &project_id, &p.resource_type, &p.id)?;
                    AnyResource::Profile(ProfileResource::of(&profile, &base_url))
                }
                (None, None) => return Err(crate::services::ServiceError::NotFound),
            };
            Ok(Me {
                project: ProjectResource::from(&caller.project),
                membership: ProjectMembership::from(&view),
                profile,
            })
        })
        .await?;
    Ok(ok(&me))
}
