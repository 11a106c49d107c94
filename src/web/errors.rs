//! The one error type of the HTML pages, and the middleware that turns error responses into
//! pages with a request id. Internal details are logged, never shown.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use askama::Template;
use tracing_actix_web::RequestId;

use super::htmx;
use super::render::{Chrome, Layout};
use crate::services::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Not an error for the user: sign in first, choose a project first, and so on.
    #[error("redirect to {location}")]
    Redirect { location: String, htmx: bool },
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => AppError::NotFound,
            ServiceError::Forbidden(_) => AppError::Forbidden,
            ServiceError::Conflict(m) => AppError::BadRequest(m),
            ServiceError::TooManyRequests(r) => AppError::TooManyRequests { retry_after: r.0 },
            ServiceError::Invalid(errors) => {
                AppError::BadRequest(errors.iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))
            }
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("template: {e}"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Redirect { htmx: true, .. } => StatusCode::OK,
            AppError::Redirect { .. } => StatusCode::SEE_OTHER,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Redirect { location, htmx } => htmx::redirect_response(location, *htmx),
            AppError::TooManyRequests { retry_after } => HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, retry_after.to_string()))
                .finish(),
            AppError::Internal(e) => {
                // Logged once, inside the request's span, so the line carries the request id.
                tracing::error!(error = %format!("{e:#}"), "request failed");
                HttpResponse::InternalServerError().finish()
            }
            other => HttpResponse::build(other.status_code()).finish(),
        }
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPartial<'a> {
    status: u16,
    heading: &'a str,
    message: &'a str,
    request_id: &'a str,
}

fn describe(status: StatusCode, error: Option<&AppError>) -> (&'static str, String) {
    match (status.as_u16(), error) {
        (403, Some(AppError::Csrf)) => (
            "This form has expired",
            "The page you sent the form from was too old, or cookies are blocked. Go back, reload the page and try again.".into(),
        ),
        (400, Some(AppError::BadRequest(m))) => ("That request was not valid", m.clone()),
        (400, _) => ("That request was not valid", "Check what you entered and try again.".into()),
        (403, _) => (
            "You do not have access to this page",
            "Ask an administrator of this project if you think you should.".into(),
        ),
        (404, _) => (
            "Page not found",
            "The address may be mistyped, or the page may have been removed.".into(),
        ),
        (405, _) => ("That action is not allowed here", "Go back and try again.".into()),
        (413, _) => ("That upload is too large", "Send a smaller file or less text.".into()),
        (415, _) => ("That kind of content is not accepted", "Send the form from the page itself.".into()),
        (429, _) => (
            "Too many attempts",
            "For your security we paused this for a while. Wait a few minutes, then try again.".into(),
        ),
        _ => (
            "Something went wrong",
            "This was our fault, not yours. Try again in a moment; if it keeps happening, quote the request id below.".into(),
        ),
    }
}

fn is_api_response<B>(res: &ServiceResponse<B>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"))
}

/// `ErrorHandlers` hook: gives every failed request an HTML page. Pages a handler rendered
/// on purpose (a 422 form, a 410 link page) and JSON answers are left alone.
pub fn render_error_page<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if res.response().error().is_none() || is_api_response(&res) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let request_id = res
        .request()
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let app_error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>());
    let (heading, message) = describe(status, app_error);
    let partial = ErrorPartial {
        status: status.as_u16(),
        heading,
        message: &message,
        request_id: &request_id,
    }
    .render()
    .unwrap_or_else(|_| heading.to_owned());
    let is_htmx = htmx::is_htmx(res.request());
    let body = if is_htmx {
        partial
    } else {
        let chrome = Chrome::anonymous(String::new());
        Layout {
            title: heading,
            chrome: &chrome,
            body: &partial,
        }
        .render()
        .unwrap_or(partial)
    };
    let (req, mut response) = res.into_parts();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if is_htmx {
        headers.insert(
            header::HeaderName::from_static("hx-retarget"),
            HeaderValue::from_static("#main"),
        );
        headers.insert(
            header::HeaderName::from_static("hx-reswap"),
            HeaderValue::from_static("innerHTML"),
        );
    }
    let response = response.set_body(BoxBody::new(body));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
