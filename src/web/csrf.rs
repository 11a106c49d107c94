//! CSRF protection for every state-changing browser request. The token lives in the session;
//! forms send it as `csrf_token` (htmx also as the `X-CSRF-Token` header). JSON API routes
//! authenticate with bearer tokens, not cookies, and are not checked here.

use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::errors::AppError;
use crate::http::session::CSRF_KEY;
use crate::services::{constant_time_eq, random_secret};

/// The session's CSRF token, for forms to embed.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl FromRequest for CsrfToken {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<CsrfToken>()
                .cloned()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("CSRF middleware missing"))),
        )
    }
}

fn submitted_in_form(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v)
}

fn submitted_in_query(req: &ServiceRequest) -> Option<String> {
    submitted_in_form(req.query_string().as_bytes())
}

/// The browser says the request comes from another site: `Sec-Fetch-Site` names one, or
/// `Origin` is neither this host (as the request addresses it) nor the configured base URL,
/// or is `null` (a sandboxed or privacy-stripped origin). A second lock beside the token:
/// even a leaked token does not let another site post a form here. Requests that carry
/// neither header (older browsers, scripts) are judged by the token alone.
fn from_another_site(req: &ServiceRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return true;
    }
    let Some(origin) = header("origin") else {
        return false;
    };
    let Some((_, host)) = origin.split_once("://") else {
        return true;
    };
    let own_host = header("host").is_some_and(|h| h.eq_ignore_ascii_case(host));
    let base = req
        .app_data::<web::Data<crate::http::AppState>>()
        .is_some_and(|state| {
            state
                .base_url
                .trim_end_matches('/')
                .eq_ignore_ascii_case(origin)
        });
    !(own_host || base)
}

pub async fn csrf_guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // API clients hold no session: neither create one nor check a form token.
    if crate::api::is_api_path(req.path()) {
        // The apps' entry point for browsers may show a page (sign in again) whose form needs
        // the session's token; its own POST comes from the app, without one.
        if req.path() == "/oauth2/authorize"
            && let Ok(Some(token)) = req.get_session().get::<String>(CSRF_KEY)
        {
            req.extensions_mut().insert(CsrfToken(token));
        }
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let session = req.get_session();
    let token = match session.get::<String>(CSRF_KEY) {
        Ok(Some(t)) => t,
        _ => {
            let t = random_secret();
            session
                .insert(CSRF_KEY, &t)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
            t
        }
    };
    req.extensions_mut().insert(CsrfToken(token.clone()));
    // The error page renders after the session middleware has packed the session away: it
    // finds who is signed in here.
    if let Some(login_id) = crate::http::session::login_id(&session) {
        req.extensions_mut()
            .insert(super::render::SessionLogin(login_id));
    }

    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && from_another_site(&req) {
        tracing::warn!(path = %crate::telemetry::redact_target(req.path()), "cross-site form refused");
        return Ok(req.error_response(AppError::Csrf).map_into_right_body());
    }
    if !safe {
        let header_token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let submitted = match header_token {
            Some(t) => Some(t),
            None if is_form => {
                let body = req.extract::<web::Bytes>().await?;
                let found = submitted_in_form(&body);
                // Put the body back for the handler's own extractor.
                let (_, mut payload) = actix_http::h1::Payload::create(true);
                payload.unread_data(body);
                req.set_payload(payload.into());
                found
            }
            // Multipart uploads without JavaScript carry the token in the form's action URL.
            None => submitted_in_query(&req),
        };
        if !submitted.is_some_and(|s| constant_time_eq(&s, &token)) {
            tracing::warn!(path = %crate::telemetry::redact_target(req.path()), "CSRF check failed");
            // A response (not an Err) so the error-page middleware renders it.
            return Ok(req.error_response(AppError::Csrf).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}
