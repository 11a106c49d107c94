//! The middleware that turns every failed request into an HTML page with a request id (JSON
//! answers and pages a handler rendered on purpose are left alone).

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use askama::Template;
use tracing_actix_web::RequestId;

use super::errors::AppError;
use super::htmx;
use super::render::{Chrome, Layout};

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
        (503, _) => (
            "Busy right now",
            "Many people are signing in at this moment. Wait a second, then try again.".into(),
        ),
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
