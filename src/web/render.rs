//! Pages: a full page is the layout wrapped around a partial; htmx requests get the partial.

use actix_session::SessionExt;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use askama::Template;

use super::AppState;
use super::csrf::CsrfToken;
use super::errors::AppError;
use super::htmx;
use super::session;
use crate::services::auth::{self, MembershipChoice, SessionContext};
use crate::services::{ServiceError, authority, invitations};

pub struct ChromeUser {
    pub name: String,
    pub email: String,
    pub initials: String,
    pub project_name: Option<String>,
    pub membership_id: Option<String>,
    pub admin: bool,
    pub photo_url: Option<String>,
    pub projects: Vec<MembershipChoice>,
    /// Invitations of other projects waiting for an answer.
    pub invitations: i64,
    /// A project-scoped account cannot create projects.
    pub can_create_projects: bool,
    /// `light` or `dark` when the person chose one; else the device decides.
    pub theme: Option<String>,
}

impl ChromeUser {
    /// Whether `choice` (system, light, dark) is the person's current appearance setting.
    pub fn theme_is(&self, choice: &str) -> bool {
        self.theme.as_deref().unwrap_or("system") == choice
    }
}

impl ChromeUser {
    fn new(ctx: &SessionContext, projects: Vec<MembershipChoice>, invitations: i64) -> ChromeUser {
        ChromeUser {
            name: ctx.user.display_name(),
            email: ctx.user.email.clone(),
            initials: initials(&ctx.user.first_name, &ctx.user.last_name),
            project_name: ctx.membership.as_ref().map(|m| m.project_name.clone()),
            membership_id: ctx.membership.as_ref().map(|m| m.id.clone()),
            admin: ctx.membership.as_ref().is_some_and(|m| m.admin),
            // The account's avatar: the photo uploaded last, in whichever of its projects.
            photo_url: projects
                .iter()
                .filter_map(|p| p.photo.as_ref())
                .max_by_key(|(at, _)| *at)
                .map(|(_, url)| url.clone())
                .or_else(|| ctx.membership.as_ref().and_then(|m| m.photo_url.clone())),
            projects,
            invitations,
            can_create_projects: authority::may_create_projects(&ctx.user),
            theme: ctx.user.theme.clone(),
        }
    }
}

/// The session's login, noted while the session could still be read.
pub struct SessionLogin(pub String);

/// The top bar of a signed-in person for an error page (which runs after the handler, so
/// it loads the session itself), and, when the page was another of their projects' admin
/// page, their membership there to switch to.
pub async fn error_chrome(
    req: &HttpRequest,
    held: Option<(auth::Held, String)>,
) -> Option<(ChromeUser, Option<MembershipChoice>)> {
    let login_id = req.extensions().get::<SessionLogin>()?.0.clone();
    let state = req.app_data::<actix_web::web::Data<AppState>>()?.clone();
    let policy = state.session_policy;
    let loaded = state
        .db
        .run(move |conn| {
            let Some(ctx) = auth::load_session(conn, &login_id, &policy)? else {
                return Ok(None);
            };
            if !ctx.mfa_verified {
                return Ok(None);
            }
            let data = ChromeData::load(conn, &ctx.user.id)?;
            let switch = match held {
                Some((held, id)) => {
                    auth::admin_membership_holding(conn, &ctx.user.id, held, &id)?
                        // Already there: the page was refused for another reason.
                        .filter(|c| {
                            ctx.membership.as_ref().map(|m| &m.id) != Some(&c.membership_id)
                        })
                }
                None => None,
            };
            Ok(Some((ctx, data, switch)))
        })
        .await;
    match loaded {
        Ok(Some((ctx, data, switch))) => Some((
            ChromeUser::new(&ctx, data.projects, data.invitations),
            switch,
        )),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "error page rendered without the top bar");
            None
        }
    }
}

/// What the layout shows around every page: top bar, status message, CSRF token.
pub struct Chrome {
    pub csrf: String,
    pub user: Option<ChromeUser>,
    pub flash: Option<String>,
}

impl Chrome {
    pub fn anonymous(csrf: String) -> Chrome {
        Chrome {
            csrf,
            user: None,
            flash: None,
        }
    }
}

#[derive(Template)]
#[template(path = "layout.html")]
pub struct Layout<'a> {
    pub title: &'a str,
    pub chrome: &'a Chrome,
    pub body: &'a str,
}

pub fn csrf_of(req: &HttpRequest) -> String {
    req.extensions()
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default()
}

fn initials(first: &str, last: &str) -> String {
    first
        .chars()
        .take(1)
        .chain(last.chars().take(1))
        .collect::<String>()
        .to_uppercase()
}

/// What the top bar lists for a signed-in person: their projects and waiting invitations.
#[derive(Clone)]
pub struct ChromeData {
    user_id: String,
    projects: Vec<MembershipChoice>,
    invitations: i64,
}

impl ChromeData {
    pub fn load(conn: &mut crate::db::DbConn, user_id: &str) -> Result<ChromeData, ServiceError> {
        Ok(ChromeData {
            user_id: user_id.to_owned(),
            projects: auth::memberships_of(conn, user_id, None)?,
            invitations: invitations::count_pending(conn, user_id)?,
        })
    }
}

async fn chrome(
    req: &HttpRequest,
    state: &AppState,
    ctx: Option<&SessionContext>,
) -> Result<Chrome, AppError> {
    let user = match ctx {
        Some(ctx) => {
            // Read with the session when this request loaded it for a full page (and the
            // person is the same: a page rendered after signing in someone else is not).
            let loaded = req
                .extensions()
                .get::<ChromeData>()
                .filter(|c| c.user_id == ctx.user.id)
                .cloned();
            let ChromeData {
                projects,
                invitations,
                ..
            } = match loaded {
                Some(data) => data,
                None => {
                    let user_id = ctx.user.id.clone();
                    state
                        .db
                        .run(move |conn| ChromeData::load(conn, &user_id))
                        .await?
                }
            };
            Some(ChromeUser::new(ctx, projects, invitations))
        }
        None => None,
    };
    Ok(Chrome {
        csrf: csrf_of(req),
        user,
        flash: session::take_flash(&req.get_session()),
    })
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    // Pages show personal data: keep them out of shared and back-button caches.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Renders `partial` alone for htmx, or inside the layout for a full page load.
pub async fn page(
    req: &HttpRequest,
    state: &AppState,
    ctx: Option<&SessionContext>,
    title: &str,
    partial: &impl Template,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let body = partial.render()?;
    if htmx::is_htmx(req) {
        return Ok(html(status, body));
    }
    let chrome = chrome(req, state, ctx).await?;
    let full = Layout {
        title,
        chrome: &chrome,
        body: &body,
    }
    .render()?;
    Ok(html(status, full))
}
