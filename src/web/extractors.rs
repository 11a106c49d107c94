//! Who is asking: `SignedIn` (any session), `CurrentUser` (signed in, with a current
//! project), `ProjectAdmin` (an admin of that project), and `Meta` (IP and user agent).

use std::future::{Ready, ready};

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::AppState;
use super::errors::AppError;
use super::htmx;
use super::session;
pub use crate::http::request_meta;
use crate::services::RequestMeta;
use crate::services::auth::{self, CurrentMembership, SessionContext};

pub struct Meta(pub RequestMeta);

impl FromRequest for Meta {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Meta(request_meta(req))))
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))
}

/// Where to send someone who must sign in, remembering the page for afterwards.
fn to_signin(req: &HttpRequest) -> AppError {
    let mut location = "/signin".to_owned();
    if req.method() == actix_web::http::Method::GET && req.path() != "/" {
        let here = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        location = format!(
            "/signin?{}",
            serde_urlencoded::to_string([("next", here)]).unwrap_or_default()
        );
    }
    AppError::Redirect {
        location,
        htmx: htmx::is_htmx(req),
    }
}

/// Loads the session. A full page (a GET that is not htmx's) also reads what the top bar
/// shows in the same trip to the database, and leaves it for `render::page`.
async fn load(req: &HttpRequest) -> Result<Option<SessionContext>, AppError> {
    let Some(login_id) = session::login_id(&req.get_session()) else {
        return Ok(None);
    };
    let state = state(req)?;
    let policy = state.session_policy;
    let full_page = req.method() == actix_web::http::Method::GET && !htmx::is_htmx(req);
    let (ctx, chrome) = state
        .db
        .run(move |conn| {
            let ctx = auth::load_session(conn, &login_id, &policy)?;
            let chrome = match &ctx {
                Some(ctx) if full_page && ctx.mfa_verified => {
                    Some(super::render::ChromeData::load(conn, &ctx.user.id)?)
                }
                _ => None,
            };
            Ok((ctx, chrome))
        })
        .await?;
    if let Some(chrome) = chrome {
        req.extensions_mut().insert(chrome);
    }
    Ok(ctx)
}

fn here(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    }
}

/// Sends a session that still owes its second factor to `/signin/mfa`.
fn require_second_factor(req: &HttpRequest, ctx: &SessionContext) -> Result<(), AppError> {
    if ctx.mfa_verified {
        return Ok(());
    }
    let mut location = "/signin/mfa".to_owned();
    if req.method() == actix_web::http::Method::GET && req.path() != "/" {
        location = format!(
            "/signin/mfa?{}",
            serde_urlencoded::to_string([("next", here(req))]).unwrap_or_default()
        );
    }
    Err(AppError::Redirect {
        location,
        htmx: htmx::is_htmx(req),
    })
}

/// A signed-in session that may still owe its second factor: only for the MFA pages.
pub struct PendingSession(pub SessionContext);

impl FromRequest for PendingSession {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match load(&req).await? {
                Some(ctx) => Ok(PendingSession(ctx)),
                None => Err(to_signin(&req)),
            }
        })
    }
}

/// A session that may or may not be signed in.
pub struct MaybeSignedIn(pub Option<SessionContext>);

impl FromRequest for MaybeSignedIn {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybeSignedIn(load(&req).await?)) })
    }
}

/// A signed-in user, with or without a current project.
pub struct SignedIn(pub SessionContext);

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match load(&req).await? {
                Some(ctx) => {
                    require_second_factor(&req, &ctx)?;
                    Ok(SignedIn(ctx))
                }
                None => Err(to_signin(&req)),
            }
        })
    }
}

/// A signed-in user working in a project they are an active member of.
pub struct CurrentUser {
    pub ctx: SessionContext,
    pub membership: CurrentMembership,
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(ctx) = load(&req).await? else {
                return Err(to_signin(&req));
            };
            require_second_factor(&req, &ctx)?;
            match ctx.membership.clone() {
                // The project requires two-factor authentication and this user has none yet:
                // every page of the project leads to enrolment until it is done.
                Some(membership) if membership.mfa_required && !ctx.user.mfa_enrolled => {
                    let location = format!(
                        "/signin/mfa/enroll?{}",
                        serde_urlencoded::to_string([("next", here(&req))]).unwrap_or_default()
                    );
                    Err(AppError::Redirect {
                        location,
                        htmx: htmx::is_htmx(&req),
                    })
                }
                Some(membership) => Ok(CurrentUser { ctx, membership }),
                // No current project (never chosen, or the membership was removed).
                None => Err(AppError::Redirect {
                    location: "/signin/project".into(),
                    htmx: htmx::is_htmx(&req),
                }),
            }
        })
    }
}

/// An admin of the current project. Checked on every request, so a demotion takes effect
/// at the next one.
pub struct ProjectAdmin(pub CurrentUser);

impl FromRequest for ProjectAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let current = current.await?;
            if current.membership.admin {
                Ok(ProjectAdmin(current))
            } else {
                Err(AppError::Forbidden)
            }
        })
    }
}
