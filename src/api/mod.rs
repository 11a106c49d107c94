//! The JSON API, wire-compatible with Medplum's client SDK: OAuth client credentials, the
//! project admin endpoints, FHIR reads and member search, and the OpenAPI document.

pub mod account;
pub mod admin;
pub mod cors;
pub mod errors;
pub mod fhir;
pub mod login;
pub mod me;
pub mod oauth;
pub mod openapi;
pub mod resources;
pub mod wellknown;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::AppState;
use crate::http::session;
use crate::services::auth;
use crate::services::tokens::{self, Principal};
use errors::{API_JSON, ApiError};

/// Request bodies above this size are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(oauth::configure)
        .configure(login::configure)
        .configure(account::configure)
        .configure(me::configure)
        .configure(wellknown::configure)
        .configure(admin::configure)
        .configure(fhir::configure)
        .configure(openapi::configure);
}

/// The paths the JSON API answers under: their unknown paths are OperationOutcomes, and
/// they carry no session (so no CSRF check).
pub fn is_api_path(path: &str) -> bool {
    path == "/openapi.json"
        || path.starts_with("/oauth2/")
        || path.starts_with("/.well-known/")
        || path.starts_with("/auth/")
        || path.starts_with("/fhir/")
        || path == "/admin/projects"
        || path.trim_end_matches('/') == "/admin/Project"
        || path.starts_with("/admin/projects/")
}

/// A route's resource whose other methods answer 405, with `Allow`, as an OperationOutcome.
pub fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    }))
}

/// A JSON answer with this status.
pub fn fhir_json<T: Serialize>(status: actix_web::http::StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, API_JSON))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

pub fn ok<T: Serialize>(body: &T) -> HttpResponse {
    fhir_json(actix_web::http::StatusCode::OK, body)
}

pub(crate) fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))
}

pub(crate) use crate::http::request_meta as meta;

/// `id:secret` of an HTTP Basic header.
pub(crate) fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Who is calling: a bearer token, HTTP Basic client credentials, or (for reads only) the
/// browser session of a signed-in member. Anything else is 401.
pub struct Caller(pub Principal);

async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = state(req)?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let found = match authorization {
        Some(value) => {
            if let Some(token) = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
            {
                let token = token.trim().to_owned();
                let signer = state.tokens.clone();
                state
                    .db
                    .run(move |conn| tokens::by_token(conn, &signer, &token))
                    .await?
            } else if let Some((id, secret)) = basic_credentials(&value) {
                oauth::throttle_client(&state, req).await?;
                let found = state
                    .db
                    .run(move |conn| tokens::by_client_secret(conn, &id, &secret))
                    .await?;
                oauth::client_attempt_done(&state, req, None, found.is_some()).await?;
                found
            } else {
                None
            }
        }
        // Cookies ride along on cross-site requests; only reads may use them, and only from
        // this site's own pages (an origin allowed by CORS carries a token, not the cookie).
        None if matches!(*req.method(), Method::GET | Method::HEAD) && same_origin(req, &state) => {
            let Some(login_id) = session::login_id(&req.get_session()) else {
                return Err(ApiError::Unauthorized);
            };
            let policy = state.session_policy;
            state
                .db
                .run(move |conn| {
                    let Some(ctx) = auth::load_session(conn, &login_id, &policy)? else {
                        return Ok(None);
                    };
                    // As on the pages: the second factor checked, and enrolled where the
                    // member must be, before any answer.
                    match (&ctx.membership, ctx.mfa_verified) {
                        (Some(m), true) if !m.mfa_required || ctx.user.mfa_enrolled => {
                            tokens::principal_for(conn, &m.id, Some(ctx.login_id))
                        }
                        _ => Ok(None),
                    }
                })
                .await?
        }
        None => None,
    };
    found.ok_or(ApiError::Unauthorized)
}

/// The request came from this site's own pages (or straight from a person's address bar).
fn same_origin(req: &HttpRequest, state: &AppState) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let origin_ok = header("origin").is_none_or(|o| o == state.base_url);
    let fetch_ok = header("sec-fetch-site").is_none_or(|s| s == "same-origin" || s == "none");
    origin_ok && fetch_ok
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(Caller) })
    }
}

/// Reads the whole body, refusing more than `BODY_LIMIT` bytes (413) and media types other
/// than `accepted` (415).
async fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    accepted: &[&str],
) -> Result<web::Bytes, ApiError> {
    read_body_up_to(req, payload, accepted, BODY_LIMIT).await
}

async fn read_body_up_to(
    req: &HttpRequest,
    payload: &mut Payload,
    accepted: &[&str],
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !accepted.contains(&essence.as_str()) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Send the body as {}",
            accepted.join(" or ")
        )));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge);
    }
    let mut body = web::BytesMut::new();
    let mut stream = payload.take();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("Could not read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Turns a serde error into a 400 naming the field when serde names one.
pub(crate) fn json_error(e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    let field = text
        .split('`')
        .nth(1)
        .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"));
    match field {
        Some(f) => ApiError::invalid(f, text.clone()),
        None => ApiError::BadRequest(format!("Invalid JSON body: {text}")),
    }
}

/// The caller `A` first, then the body `B`. actix extracts a handler's arguments side by
/// side and answers the first that fails, and a body fails before a token is looked up: so
/// without this, a caller with no right to call would be told what is wrong with their body
/// (and have it read) before being told 401 or 403.
pub struct Authorized<A, B>(pub A, pub B);

impl<A, B> FromRequest for Authorized<A, B>
where
    A: FromRequest<Error = ApiError> + 'static,
    B: FromRequest<Error = ApiError> + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let caller = A::from_request(&req, &mut Payload::None).await?;
            let body = B::from_request(&req, &mut payload).await?;
            Ok(Authorized(caller, body))
        })
    }
}

/// A JSON body (`application/json` or `application/fhir+json`).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body(
                &req,
                &mut payload,
                &["application/json", "application/fhir+json"],
            )
            .await?;
            serde_json::from_slice(&body)
                .map(Json)
                .map_err(|e| json_error(&e))
        })
    }
}

/// Bodies of requests that carry many items (a bulk invite) may be this large.
pub const BULK_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body of up to `BULK_BODY_LIMIT` bytes, for requests that carry many items.
pub struct BulkJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for BulkJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body_up_to(
                &req,
                &mut payload,
                &["application/json", "application/fhir+json"],
                BULK_BODY_LIMIT,
            )
            .await?;
            serde_json::from_slice(&body)
                .map(BulkJson)
                .map_err(|e| json_error(&e))
        })
    }
}

/// A JSON Patch body (`application/json-patch+json`; plain JSON is accepted too).
pub struct PatchBody(pub json_patch::Patch);

impl FromRequest for PatchBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body(
                &req,
                &mut payload,
                &["application/json-patch+json", "application/json"],
            )
            .await?;
            serde_json::from_slice(&body)
                .map(PatchBody)
                .map_err(|e| ApiError::BadRequest(format!("Invalid JSON Patch: {e}")))
        })
    }
}

/// A form body, for the OAuth token endpoint.
pub(crate) async fn read_form(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<web::Bytes, ApiError> {
    read_body(req, payload, &["application/x-www-form-urlencoded"]).await
}
