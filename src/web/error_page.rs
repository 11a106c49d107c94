//! The middleware that turns every failed request into an HTML page with a request id (JSON
//! answers and pages a handler rendered on purpose are left alone).

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpMessage, HttpRequest};
use askama::Template;
use tracing_actix_web::RequestId;

use super::errors::AppError;
use super::htmx;
use super::render::{self, Chrome, Layout, csrf_of};
use crate::services::auth::Held;

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPartial<'a> {
    status: u16,
    heading: &'a str,
    message: String,
    request_id: String,
    /// Where "Back" goes: the page the person came from, when it was one of ours.
    back: Option<String>,
    /// The signed-in person's current project, for the way home.
    project_name: Option<String>,
    switch: Option<Switch>,
}

/// An offer to open the project the page belongs to (another of the person's projects).
struct Switch {
    csrf: String,
    membership_id: String,
    project_name: String,
    next: String,
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
        (503, Some(AppError::Unavailable)) => (
            "Rollcall cannot reach its database",
            "Nothing was changed. This usually passes by itself within seconds: wait a moment, then try again.".into(),
        ),
        (503, Some(AppError::StorageFull)) => (
            "Rollcall cannot save anything just now",
            "The server's disk is full, so nothing was saved. Tell whoever runs Rollcall; once they free some space, try again.".into(),
        ),
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

/// The admin page an address names (member, access policy, client), for the offer to switch.
fn held_by(path: &str) -> Option<(Held, String)> {
    let mut parts = path.trim_start_matches('/').split('/');
    if parts.next()? != "admin" {
        return None;
    }
    let held = match parts.next()? {
        "members" => Held::Member,
        "access-policies" => Held::Policy,
        "clients" => Held::Client,
        _ => return None,
    };
    let id = parts.next().filter(|id| !id.is_empty() && *id != "new")?;
    Some((held, id.to_owned()))
}

/// `/admin/{kind}/{id}` of an address below it.
fn held_page(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(4, '/').collect();
    (parts.len() >= 3).then(|| format!("/{}/{}/{}", parts[0], parts[1], parts[2]))
}

fn came_from(req: &HttpRequest) -> Option<String> {
    htmx::referer_path(req).filter(|p| p != &here(req))
}

fn here(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    }
}

fn html_response<B>(
    res: ServiceResponse<B>,
    body: String,
    is_htmx: bool,
) -> ServiceResponse<EitherBody<B>> {
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
    ServiceResponse::new(req, response).map_into_right_body()
}

/// `ErrorHandlers` hook: gives every failed request an HTML page. Pages a handler rendered
/// on purpose (a 422 form, a 410 link page) and JSON answers are left alone. A full page
/// has the person's own top bar when they are signed in, a way back, and for another of
/// their projects' admin pages an offer to switch to that project.
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
    let mut partial = ErrorPartial {
        status: status.as_u16(),
        heading,
        message,
        request_id,
        back: came_from(res.request()),
        project_name: None,
        switch: None,
    };
    if htmx::is_htmx(res.request()) {
        let body = partial.render().unwrap_or_else(|_| heading.to_owned());
        return Ok(ErrorHandlerResponse::Response(html_response(
            res, body, true,
        )));
    }
    let req = res.request().clone();
    Ok(ErrorHandlerResponse::Future(Box::pin(async move {
        let refused = matches!(status.as_u16(), 403 | 404);
        let held = held_by(req.path()).filter(|_| refused);
        let (user, switch) = match render::error_chrome(&req, held).await {
            Some((user, switch)) => (Some(user), switch),
            None => (None, None),
        };
        partial.project_name = user.as_ref().and_then(|u| u.project_name.clone());
        if let Some(choice) = switch {
            partial.heading = "This page is in another of your projects";
            partial.message = format!(
                "It belongs to {}. You are working in {}; switch to open it there.",
                choice.project_name,
                partial.project_name.as_deref().unwrap_or("no project")
            );
            // After a refused action (a POST), the record's own page is where to go.
            let next = match (
                req.method() == actix_web::http::Method::GET,
                held_page(req.path()),
            ) {
                (false, Some(page)) => page,
                _ => here(&req),
            };
            partial.switch = Some(Switch {
                csrf: csrf_of(&req),
                membership_id: choice.membership_id,
                project_name: choice.project_name,
                next,
            });
        }
        let body = partial.render().unwrap_or_else(|_| heading.to_owned());
        let chrome = Chrome {
            csrf: csrf_of(&req),
            user,
            // A status message waits for the next real page.
            flash: None,
        };
        let full = Layout {
            title: partial.heading,
            chrome: &chrome,
            body: &body,
        }
        .render()
        .unwrap_or(body);
        Ok(html_response(res, full, false))
    })))
}
