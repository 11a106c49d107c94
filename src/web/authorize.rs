//! `/oauth2/authorize` (GET and POST): a browser app sends the person here; without a
//! session they sign in on the usual pages (with their second factor and project choice), then
//! return here and go back to the app with a code. A wrong client or redirect URI is a page
//! (sending anyone to an unregistered address would make this an open redirect); every other
//! problem goes back to the app as an OAuth error.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::errors::AppError;
use super::extractors::Meta;
use super::render::{csrf_of, page};
use crate::http::{AppState, session};
use crate::services::auth::{self, SessionContext};
use crate::services::clients;
use crate::services::grants::{self, GrantRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/authorize")
            .route(web::get().to(authorize_get))
            .route(web::post().to(authorize_post)),
    );
}

/// How recent a sign-in must be for `prompt=login` to accept it.
const REAUTH_MINUTES: i64 = 5;

#[derive(Template)]
#[template(path = "pages/reauthenticate.html")]
struct Reauthenticate {
    csrf: String,
    app: String,
    email: String,
    next: String,
}

/// The request's parameters (RFC 6749 §4.1.1, RFC 7636, OpenID Connect Core §3.1.2.1).
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AuthorizeParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_challenge_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<String>,
}

/// The first value of each known parameter; unknown ones are ignored (RFC 6749 §3.1).
fn parse(raw: &[u8]) -> AuthorizeParams {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw).unwrap_or_default();
    let mut params = AuthorizeParams::default();
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "client_id" => &mut params.client_id,
            "redirect_uri" => &mut params.redirect_uri,
            "response_type" => &mut params.response_type,
            "state" => &mut params.state,
            "scope" => &mut params.scope,
            "nonce" => &mut params.nonce,
            "code_challenge" => &mut params.code_challenge,
            "code_challenge_method" => &mut params.code_challenge_method,
            "prompt" => &mut params.prompt,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    params
}

/// Starts a browser app's sign-in (also POST, form-encoded, with the same parameters).
#[utoipa::path(
    get,
    path = "/oauth2/authorize",
    tag = "auth",
    params(
        ("client_id" = String, Query, description = "The ClientApplication's id"),
        ("redirect_uri" = String, Query, description = "Exactly one of the client's registered redirect URIs"),
        ("response_type" = String, Query, description = "`code`"),
        ("state" = Option<String>, Query, description = "Returned unchanged"),
        ("scope" = Option<String>, Query, description = "Default `openid`; `profile`, `email`, `offline_access`"),
        ("nonce" = Option<String>, Query, description = "Put into the ID token"),
        ("code_challenge" = String, Query, description = "PKCE: base64url(SHA-256(verifier))"),
        ("code_challenge_method" = String, Query, description = "`S256` (plain is refused)"),
        ("prompt" = Option<String>, Query, description = "`none` (no sign-in page: `login_required` instead) or `login` (sign in again)"),
    ),
    responses(
        (status = 302, description = "Back to the app with `code` and `state`, or with `error`, `error_description` and `state`"),
        (status = 303, description = "To the sign-in page, which returns here"),
        (status = 400, description = "An HTML page: unknown client or unregistered redirect URI (nobody is sent anywhere)"),
    ),
    security(())
)]
pub async fn authorize_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    meta: Meta,
) -> Result<HttpResponse, AppError> {
    let params = parse(req.query_string().as_bytes());
    authorize(&req, &state, &session, meta, params).await
}

/// The same request as `GET /oauth2/authorize`, its parameters form-encoded in the body
/// (OpenID Connect Core §3.1.2.1).
#[utoipa::path(
    post,
    path = "/oauth2/authorize",
    tag = "auth",
    request_body(content = AuthorizeParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 302, description = "Back to the app with `code` and `state`, or with `error`, `error_description` and `state`"),
        (status = 303, description = "To the sign-in page, which returns here"),
        (status = 400, description = "An HTML page: unknown client or unregistered redirect URI (nobody is sent anywhere)"),
    ),
    security(())
)]
pub async fn authorize_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    meta: Meta,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    authorize(&req, &state, &session, meta, parse(&body)).await
}

/// Back to the app at its registered address, with these parameters added.
fn back_to_app(redirect_uri: &url::Url, pairs: &[(&str, &str)]) -> HttpResponse {
    let mut target = redirect_uri.clone();
    {
        let mut query = target.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn oauth_error(
    redirect_uri: &url::Url,
    params: &AuthorizeParams,
    error: &str,
    description: &str,
) -> HttpResponse {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = &params.state {
        pairs.push(("state", s));
    }
    back_to_app(redirect_uri, &pairs)
}

fn local(path: &str, next: &str) -> HttpResponse {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{path}?{query}")))
        .finish()
}

async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    Meta(meta): Meta,
    params: AuthorizeParams,
) -> Result<HttpResponse, AppError> {
    // Who is asking, and where the answer goes: until both are known good, only a page.
    let client_id = params.client_id.clone().unwrap_or_default();
    let client = {
        let id = client_id.clone();
        state.db.run(move |conn| clients::find(conn, &id)).await?
    };
    let Some(client) = client.filter(|_| !client_id.is_empty()) else {
        return Err(AppError::BadRequest(
            "This sign-in link names an app (client_id) that is not registered here. Tell whoever runs the app you came from.".into(),
        ));
    };
    let wanted = params.redirect_uri.clone().unwrap_or_default();
    let registered = clients::redirect_uris(&client);
    let redirect_uri = registered
        .iter()
        .find(|u| **u == wanted)
        .and_then(|u| url::Url::parse(u).ok());
    let Some(redirect_uri) = redirect_uri else {
        return Err(AppError::BadRequest(format!(
            "The app \u{201c}{}\u{201d} asked to return to an address it did not register (redirect_uri). Tell whoever runs the app; you were not sent anywhere.",
            client.name
        )));
    };

    if params.response_type.as_deref() != Some("code") {
        return Ok(oauth_error(
            &redirect_uri,
            &params,
            "unsupported_response_type",
            "Only response_type=code is supported",
        ));
    }
    let Some(challenge) = params
        .code_challenge
        .clone()
        .filter(|c| !c.is_empty() && c.len() <= 256)
    else {
        return Ok(oauth_error(
            &redirect_uri,
            &params,
            "invalid_request",
            "PKCE is required: send code_challenge (43 to 128 characters) with code_challenge_method=S256",
        ));
    };
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Ok(oauth_error(
            &redirect_uri,
            &params,
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    let prompt = params.prompt.clone().unwrap_or_default();
    if !prompt.is_empty() && prompt != "none" && prompt != "login" {
        return Ok(oauth_error(
            &redirect_uri,
            &params,
            "invalid_request",
            "prompt may be none or login",
        ));
    }

    let ctx = current_session(state, session).await?;
    // This request again, for after the sign-in pages.
    let mut again = params.clone();
    again.prompt = None;
    let next = format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string(&again).unwrap_or_default()
    );
    // `prompt=login`: a sign-in older than a few minutes is confirmed again. The person is
    // asked (a link from anywhere must not sign them out); signing in again comes back here.
    if prompt == "login"
        && let Some(ctx) = &ctx
        && chrono::Utc::now().naive_utc() - ctx.signed_in_at
            > chrono::Duration::minutes(REAUTH_MINUTES)
    {
        let view = Reauthenticate {
            csrf: csrf_of(req),
            app: client.name.clone(),
            email: ctx.user.email.clone(),
            next,
        };
        return page(
            req,
            state,
            Some(ctx),
            "Sign in again",
            &view,
            StatusCode::OK,
        )
        .await;
    }
    let Some(ctx) = ctx else {
        if prompt == "none" {
            return Ok(oauth_error(
                &redirect_uri,
                &params,
                "login_required",
                "The person is not signed in",
            ));
        }
        return Ok(local("/signin", &next));
    };
    if !ctx.mfa_verified {
        if prompt == "none" {
            return Ok(oauth_error(
                &redirect_uri,
                &params,
                "login_required",
                "The sign-in is not finished",
            ));
        }
        return Ok(local("/signin/mfa", &next));
    }

    let (user, project_id) = (ctx.user.clone(), client.project_id.clone());
    let membership = state
        .db
        .run(move |conn| {
            let membership = auth::memberships_of(conn, &user.id, None)?
                .into_iter()
                .find(|m| m.project_id == project_id);
            let Some(m) = membership else {
                return Ok(None);
            };
            let enrol_first = grants::needs_enrolment(conn, &user, &m.membership_id)?;
            Ok(Some((m, enrol_first)))
        })
        .await?;
    let Some((membership, enrol_first)) = membership else {
        return Ok(oauth_error(
            &redirect_uri,
            &params,
            "access_denied",
            "The signed-in person is not a member of this app's project",
        ));
    };
    if enrol_first {
        return Ok(oauth_error(
            &redirect_uri,
            &params,
            "access_denied",
            "This project requires two-factor authentication: turn it on under Security, then try again",
        ));
    }
    let request = GrantRequest {
        client_id: Some(client.id.clone()),
        redirect_uri: Some(wanted),
        scope: params
            .scope
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "openid".into()),
        nonce: params.nonce.clone().filter(|n| !n.is_empty()),
        code_challenge: Some(challenge),
        code_challenge_method: Some("S256".into()),
        new_project: false,
    };
    let (user, policy) = (ctx.user.clone(), state.session_policy);
    let (membership_id, browser_login) = (membership.membership_id.clone(), ctx.login_id.clone());
    let code = state
        .db
        .write(move |conn| {
            grants::authorize(
                conn,
                &policy,
                &user,
                &membership_id,
                request,
                &meta,
                &browser_login,
            )
        })
        .await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &params.state {
        pairs.push(("state", s));
    }
    Ok(back_to_app(&redirect_uri, &pairs))
}

async fn current_session(
    state: &AppState,
    session: &Session,
) -> Result<Option<SessionContext>, AppError> {
    let Some(login_id) = session::login_id(session) else {
        return Ok(None);
    };
    let policy = state.session_policy;
    Ok(state
        .db
        .run(move |conn| auth::load_session(conn, &login_id, &policy))
        .await?)
}
