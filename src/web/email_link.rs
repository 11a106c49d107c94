//! The link that confirms a new email address: opening it shows what it will do (mail
//! scanners that open links change nothing); the button changes the address.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::AppState;
use super::errors::AppError;
use super::extractors::Meta;
use super::render::{csrf_of, page};
use crate::services::ServiceError;
use crate::services::email_change;
use crate::services::recovery::{LinkError, LinkProblem};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/email/{id}/{secret}")
            .route(web::get().to(show))
            .route(web::post().to(confirm)),
    );
}

#[derive(Template)]
#[template(path = "pages/email_confirm.html")]
struct ConfirmPage {
    csrf: String,
    action: String,
    /// The address the link sets, or (once done) has set.
    new_email: String,
    done: bool,
    problem: Option<LinkProblem>,
    /// Another account took the address since the link was sent.
    taken: bool,
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    view: ConfirmPage,
) -> Result<HttpResponse, AppError> {
    let status = match (&view.problem, view.taken) {
        (Some(LinkProblem::Invalid), _) => StatusCode::NOT_FOUND,
        (Some(_), _) => StatusCode::GONE,
        (None, true) => StatusCode::CONFLICT,
        (None, false) => StatusCode::OK,
    };
    page(
        req,
        state,
        None,
        "Confirm your new email address",
        &view,
        status,
    )
    .await
}

fn view(req: &HttpRequest) -> ConfirmPage {
    ConfirmPage {
        csrf: csrf_of(req),
        action: req.path().to_owned(),
        new_email: String::new(),
        done: false,
        problem: None,
        taken: false,
    }
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, secret) = path.into_inner();
    let mut v = view(&req);
    match state
        .db
        .run_link(move |conn| email_change::pending(conn, &id, &secret))
        .await?
    {
        Ok((_, new_email)) => v.new_email = new_email,
        Err(problem) => v.problem = Some(problem),
    }
    render(&req, &state, v).await
}

async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Meta(meta): Meta,
) -> Result<HttpResponse, AppError> {
    let (id, secret) = path.into_inner();
    let mut v = view(&req);
    let outcome = state
        .db
        .run_link(move |conn| {
            match email_change::confirm(conn, &id, &secret, &meta) {
                Ok(new_email) => Ok(Some(new_email)),
                // Another account took the address since the link was sent.
                Err(LinkError::Service(ServiceError::Invalid(_))) => Ok(None),
                Err(other) => Err(other),
            }
        })
        .await?;
    match outcome {
        Ok(Some(new_email)) => {
            v.new_email = new_email;
            v.done = true;
        }
        Ok(None) => v.taken = true,
        Err(problem) => v.problem = Some(problem),
    }
    render(&req, &state, v).await
}
