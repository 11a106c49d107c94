//! Sign-in through an organisation's OpenID Connect provider: the sign-in form sends people
//! whose email domain has one there (and no password is asked), and they come back to
//! `/signin/external/callback`, signed in to the account the provider vouched for. An app's
//! sign-in (`POST /auth/method`) comes back the same way and goes on to the app with a code.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::errors::AppError;
use super::extractors::Meta;
use super::htmx::{safe_next, see_other};
use crate::db::models::IdentityProvider;
use crate::domain::EmailAddress;
use crate::http::{AppState, session};
use crate::services::auth::{self, NewSession};
use crate::services::external::{self, AppRequest};
use crate::services::grants::{self, GrantRequest, Stage};
use crate::services::oidc;

pub const CALLBACK: &str = "/signin/external/callback";
/// Where the session keeps the mark of a browser's own single sign-on in progress.
const BINDING_KEY: &str = "sso";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(CALLBACK).route(web::get().to(callback)));
}

/// The address the provider sends people back to (registered there as a redirect URI).
pub fn callback_url(state: &AppState) -> String {
    format!("{}{CALLBACK}", state.base_url)
}

/// The provider's authorization URL for this address, when its domain has a provider in
/// this scope (see `oidc::departure`); a provider that cannot be reached is a page that says so.
pub async fn departure_for(
    state: &AppState,
    session: &Session,
    email: &EmailAddress,
    project_hint: Option<String>,
    next: Option<String>,
) -> Result<Option<(IdentityProvider, String)>, AppError> {
    // The browser's own mark: the answer is accepted only in this browser.
    let binding = crate::services::random_secret();
    session
        .insert(BINDING_KEY, &binding)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    oidc::departure(
        &state.db,
        &state.http,
        &callback_url(state),
        email,
        project_hint,
        external::Comeback {
            next,
            app: None,
            binding: Some(binding),
        },
    )
    .await?
    .map_err(AppError::BadRequest)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn refused(message: impl Into<String>) -> AppError {
    AppError::BadRequest(message.into())
}

/// Back from the provider: check everything, then sign in.
async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Meta(meta): Meta,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let Some(state_value) = query.state.filter(|s| !s.is_empty()) else {
        return Err(refused(
            "This sign-in link is incomplete. Start again from the sign-in page.",
        ));
    };
    let binding = session.get::<String>(BINDING_KEY).ok().flatten();
    let Some((sign_in, provider)) = state
        .db
        .run(move |conn| external::arrive(conn, &state_value, binding.as_deref()))
        .await?
    else {
        return Err(refused(
            "This sign-in has expired or was already used. Start again from the sign-in page.",
        ));
    };
    if let Some(error) = query.error {
        tracing::info!(%error, domain = %provider.domain, "identity provider refused the sign-in");
        return Err(refused(format!(
            "Your organisation's provider did not sign you in ({error}). Start again from the sign-in page."
        )));
    }
    let Some(code) = query.code else {
        return Err(refused(
            "The provider sent no code. Start again from the sign-in page.",
        ));
    };
    let metadata = oidc::discover(&state.http, &provider).await;
    let email = match metadata {
        Ok(metadata) => {
            oidc::finish(
                &state.http,
                &metadata,
                &provider,
                &callback_url(&state),
                &code,
                &sign_in.code_verifier,
                &sign_in.nonce,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let email = email.map_err(|e| {
        tracing::warn!(error = %e, domain = %provider.domain, "external sign-in refused");
        refused(
            "Your organisation's provider could not confirm who you are. Start again, or tell your administrator.",
        )
    })?;
    if !email.eq_ignore_ascii_case(&sign_in.email) {
        tracing::info!(domain = %provider.domain, "external sign-in came back for another address");
    }
    let (p, verified) = (provider.clone(), email.clone());
    let Some(user) = state
        .db
        .run(move |conn| external::account_for(conn, &p, &verified))
        .await?
    else {
        return Err(refused(format!(
            "There is no account for {email} here that your organisation's provider may sign in. Ask an administrator of your project for an invitation."
        )));
    };
    let app: Option<AppRequest> = sign_in
        .app_request
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    let policy = state.session_policy;
    let method = format!("external:{}", provider.domain);
    let hint = provider.project_id.clone();
    let (user_for_login, meta_for_login) = (user.clone(), meta.clone());
    let vouching = provider.clone();
    let (login_id, in_project) = state
        .db
        .write(move |conn| {
            external::vouched(conn, &vouching, &user_for_login)?;
            let membership_id =
                auth::default_membership(conn, &user_for_login.id, hint.as_deref())?;
            let in_project = membership_id.is_some();
            let new = NewSession {
                user: &user_for_login,
                method: &method,
                remember: false,
                membership_id,
                // The provider stands in for the password; a second factor here is still asked.
                mfa_verified: !user_for_login.mfa_enrolled,
                meta: &meta_for_login,
            };
            Ok((auth::create_login(conn, new, &policy)?, in_project))
        })
        .await?;
    match app {
        None => {
            session::sign_in(&session, &login_id)?;
            let next = safe_next(sign_in.next.as_deref());
            Ok(see_other(
                &req,
                &super::auth::after_signin(in_project, next),
            ))
        }
        Some(app) => back_to_app(&state, &login_id, app).await,
    }
}

/// An app's sign-in came back: a code for the app, or its login id when a step remains
/// (a project to choose, a second factor), as Medplum's `/auth/external` does.
async fn back_to_app(
    state: &AppState,
    login_id: &str,
    app: AppRequest,
) -> Result<HttpResponse, AppError> {
    let request = GrantRequest {
        client_id: Some(app.client_id.clone()),
        redirect_uri: Some(app.redirect_uri.clone()),
        scope: app.scope.clone(),
        nonce: app.nonce.clone(),
        code_challenge: Some(app.code_challenge.clone()),
        code_challenge_method: Some(app.code_challenge_method.clone()),
        new_project: false,
    };
    let id = login_id.to_owned();
    let stage = state
        .db
        .write(move |conn| {
            grants::begin(conn, &id, request)?;
            let pending = grants::pending(conn, &id)?
                .map_err(|e| crate::services::ServiceError::Internal(anyhow::anyhow!("{e}")))?;
            grants::advance(conn, &pending)
        })
        .await?;
    let mut target = url::Url::parse(&app.redirect_uri)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored redirect URI: {e}")))?;
    {
        let mut pairs = target.query_pairs_mut();
        match &stage {
            Stage::Code(code) => {
                pairs.append_pair("code", code);
            }
            _ => {
                pairs.append_pair("login", login_id);
            }
        }
        if let Some(s) = &app.state {
            pairs.append_pair("state", s);
        }
    }
    Ok(HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, target.as_str()))
        .finish())
}
