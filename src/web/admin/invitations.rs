//! Pending invitations: who has not accepted yet, whether their email arrived and until when
//! their link works; resend one, cancel one (after a confirmation), resend every expired one.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Tab, query_string};
use crate::services::ServiceError;
use crate::services::members::pending::{self, Delivery, Link, PendingPage};
use crate::services::members::{self, MemberDetail};
use crate::web::errors::AppError;
use crate::web::htmx::is_htmx;

const LIST: &str = "/admin/invitations";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(LIST).route(web::get().to(list)))
        .service(
            web::resource("/admin/invitations/resend-expired")
                .route(web::post().to(resend_expired)),
        )
        .service(web::resource("/admin/invitations/{id}/resend").route(web::post().to(resend)))
        .service(
            web::resource("/admin/invitations/{id}/cancel")
                .route(web::get().to(confirm_cancel))
                .route(web::post().to(cancel)),
        );
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/admin/invitations.html")]
struct ListView {
    tab: Tab,
    csrf: String,
    page: PendingPage,
    paged: bool,
    next_href: Option<String>,
    problem: Option<String>,
}

impl ListView {
    fn count(&self, n: &i64) -> String {
        super::member_list::thousands(*n)
    }
}

/// The email's state in words (the pending invitations list and the member page).
pub(super) trait DeliveryText {
    fn text(&self) -> String;
}

impl DeliveryText for Delivery {
    fn text(&self) -> String {
        match self {
            Delivery::NotSent => "Not emailed".into(),
            Delivery::Queued { attempts: 0 } => "Waiting to be sent".into(),
            Delivery::Queued { attempts } => format!("Retrying ({attempts} failed attempts)"),
            Delivery::Sent(at) => format!("Delivered {}", at.format("%Y-%m-%d %H:%M")),
            Delivery::Failed(_) => "Failed".into(),
            Delivery::Cancelled => "Not sent".into(),
        }
    }
}

async fn render_list(
    admin: &Admin,
    after: Option<String>,
    problem: Option<(StatusCode, String)>,
) -> Result<HttpResponse, AppError> {
    let cursor = after.clone();
    let page = admin
        .run(move |conn, project, _| pending::list(conn, &project.id, cursor.as_deref()))
        .await?;
    let status = problem.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let view = ListView {
        tab: Tab::Invitations,
        csrf: admin.csrf(),
        next_href: page
            .next
            .as_ref()
            .map(|n| format!("{LIST}{}", query_string(&[("after", n)]))),
        paged: after.is_some(),
        problem: problem.map(|(_, p)| p),
        page,
    };
    admin.render("Invitations", &view, status).await
}

async fn list(admin: Admin, query: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    render_list(&admin, query.into_inner().after, None).await
}

/// A refusal shown on the list (the invitation was accepted meanwhile, a limit was reached).
async fn refused(admin: &Admin, e: ServiceError) -> Result<HttpResponse, AppError> {
    let problem = match e {
        ServiceError::Conflict(problem) => (StatusCode::CONFLICT, problem.to_string()),
        // A limit answers 429 with `Retry-After`, as everywhere else.
        other => return Err(other.into()),
    };
    render_list(admin, None, Some(problem)).await
}

async fn resend(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (base_url, limits) = (
        admin.state().base_url.clone(),
        admin.state().settings.limits.clone(),
    );
    match admin
        .run(move |conn, project, by| {
            members::resend_invite(conn, project, by, &id, &base_url, &limits)
        })
        .await
    {
        Ok(link) => {
            admin.state().mail.wake();
            let message = if link {
                "The invitation was sent again with a new link; the previous link no longer works"
            } else {
                "The invitation was sent again"
            };
            admin.done(&session, message, LIST)
        }
        Err(e) => refused(&admin, e).await,
    }
}

async fn resend_expired(admin: Admin, session: Session) -> Result<HttpResponse, AppError> {
    let (base_url, limits) = (
        admin.state().base_url.clone(),
        admin.state().settings.limits.clone(),
    );
    let outcome = admin
        .run(move |conn, project, by| {
            pending::resend_expired(conn, project, by, &base_url, &limits)
        })
        .await?;
    admin.state().mail.wake();
    let message = match (outcome.resent, outcome.refused) {
        (0, 0) => "No invitation had expired".to_owned(),
        (n, 0) => format!("{n} expired invitation{} sent again", plural(n)),
        (n, r) => format!(
            "{n} expired invitation{} sent again; {r} could not be sent now (limit on emails) and stay expired",
            plural(n)
        ),
    };
    admin.done(&session, &message, LIST)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[derive(Template)]
#[template(path = "pages/admin/confirm_cancel.html")]
struct ConfirmCancel<'a> {
    csrf: String,
    detail: &'a MemberDetail,
    dialog: bool,
    problem: Option<String>,
}

/// The confirmation step: a page without JavaScript, a dialog with htmx. For someone who
/// has accepted meanwhile it says so, in the same place (409), and offers nothing to confirm.
async fn confirm_cancel(admin: Admin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (detail, pending) = admin
        .run(move |conn, project, _| {
            let detail = members::get(conn, project, &id)?;
            let pending = pending::is_pending(conn, &project.id, &id)?;
            Ok((detail, pending))
        })
        .await?;
    let view = ConfirmCancel {
        csrf: admin.csrf(),
        detail: &detail,
        dialog: is_htmx(admin.req()),
        problem: (!pending).then(|| crate::services::Conflict::AlreadyAccepted.to_string()),
    };
    let status = if pending {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    admin.render("Cancel invitation", &view, status).await
}

async fn cancel(
    admin: Admin,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    match admin
        .run(move |conn, project, by| pending::cancel(conn, project, by, &id))
        .await
    {
        Ok(name) => admin.done(
            &session,
            &format!("The invitation of {name} was cancelled"),
            LIST,
        ),
        Err(e) => refused(&admin, e).await,
    }
}
