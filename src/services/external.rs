//! Signing in through an organisation's own OpenID Connect provider, chosen by the email's
//! domain. A project admin configures one for the project's own (project-scoped) accounts; a
//! super admin configures one for server-wide accounts. The trust rule decides which accounts
//! a provider may sign in: a project's provider only that project's own accounts, never a
//! server-wide account (whose credentials are its owner's), so an admin who points a common
//! domain at a provider of their own captures no one else's sign-in.

use chrono::Duration;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::audit::{self, Acting, Target};
use super::{ServiceError, hash_secret, new_id, now, random_secret};
use crate::db::models::{ExternalSignIn, IdentityProvider, User};
use crate::db::schema::{external_sign_ins, identity_providers, users};
use crate::db::{self, DbConn, is_unique_violation};
use crate::domain::{EmailAddress, FieldErrors};

/// How long a sign-in may stay at the provider.
pub const PENDING_MINUTES: i64 = 10;

/// A provider's settings as typed.
#[derive(Debug, Clone, Default)]
pub struct ProviderForm {
    pub domain: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

fn domain_of(email: &str) -> Option<&str> {
    email.rsplit_once('@').map(|(_, d)| d)
}

impl ProviderForm {
    /// Checks the fields; errors name the form and API fields.
    fn parse(&self) -> Result<(String, String), FieldErrors> {
        let mut errors = FieldErrors::new();
        let domain = self.domain.trim().trim_start_matches('@').to_lowercase();
        let domain_ok = EmailAddress::parse_new(&format!("someone@{domain}")).is_ok();
        if !domain_ok {
            errors.add("domain", "Enter an email domain such as example.com");
        }
        let issuer = self.issuer.trim().trim_end_matches('/').to_owned();
        if !url::Url::parse(&issuer).is_ok_and(|u| {
            matches!(u.scheme(), "https" | "http")
                && u.has_host()
                && u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none()
                && u.fragment().is_none()
        }) {
            errors.add(
                "issuer",
                "Enter the provider's issuer URL, such as https://login.example.com",
            );
        }
        if self.client_id.trim().is_empty() || self.client_id.len() > 500 {
            errors.add("clientId", "Enter the client ID the provider gave you");
        }
        if self.client_secret.len() > 1000 {
            errors.add("clientSecret", "That secret is too long");
        }
        errors.into_result()?;
        Ok((domain, issuer))
    }
}

/// The providers of a project, or the server-wide ones (`None`).
pub fn list(
    conn: &mut DbConn,
    project_id: Option<&str>,
) -> Result<Vec<IdentityProvider>, ServiceError> {
    Ok(identity_providers::table
        .filter(identity_providers::scope_key.eq(project_id.unwrap_or("")))
        .order(identity_providers::domain.asc())
        .select(IdentityProvider::as_select())
        .load(conn)?)
}

/// Adds a provider for a domain (project's or server-wide), or replaces the one there is.
/// An empty secret keeps the stored one.
#[tracing::instrument(skip_all, fields(project = project_id.unwrap_or("server")))]
pub fn save(
    conn: &mut DbConn,
    by: &Acting,
    project_id: Option<&str>,
    form: &ProviderForm,
) -> Result<IdentityProvider, ServiceError> {
    let (domain, issuer) = form.parse().map_err(ServiceError::Invalid)?;
    let scope_key = project_id.unwrap_or("").to_owned();
    db::transaction(conn, |conn| {
        let at = now();
        let existing: Option<IdentityProvider> = identity_providers::table
            .filter(identity_providers::domain.eq(&domain))
            .filter(identity_providers::scope_key.eq(&scope_key))
            .select(IdentityProvider::as_select())
            .first(conn)
            .optional()?;
        // The stored secret goes only where it came from: a new issuer or client id needs it
        // typed again (else an admin could send it to a host of their own).
        let secret = match (&existing, form.client_secret.trim()) {
            (Some(e), "") if e.issuer == issuer && e.client_id == form.client_id.trim() => {
                e.client_secret.clone()
            }
            (Some(_), "") => {
                return Err(ServiceError::invalid(
                    "clientSecret",
                    "Enter the client secret again: the issuer or client ID changed",
                ));
            }
            (_, typed) => typed.to_owned(),
        };
        let provider = IdentityProvider {
            id: existing.as_ref().map_or_else(new_id, |e| e.id.clone()),
            domain: domain.clone(),
            project_id: project_id.map(str::to_owned),
            scope_key: scope_key.clone(),
            issuer: issuer.clone(),
            client_id: form.client_id.trim().to_owned(),
            client_secret: secret,
            created_at: existing.as_ref().map_or(at, |e| e.created_at),
            updated_at: at,
        };
        if existing.is_some() {
            diesel::update(identity_providers::table.find(&provider.id))
                .set((
                    identity_providers::issuer.eq(&provider.issuer),
                    identity_providers::client_id.eq(&provider.client_id),
                    identity_providers::client_secret.eq(&provider.client_secret),
                    identity_providers::updated_at.eq(at),
                ))
                .execute(conn)?;
        } else {
            diesel::insert_into(identity_providers::table)
                .values(&provider)
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        ServiceError::Retry
                    } else {
                        e.into()
                    }
                })?;
        }
        audit::record(
            conn,
            project_id,
            by,
            "identity_provider.saved",
            Some(Target {
                kind: "IdentityProvider",
                id: &provider.id,
                display: &provider.domain,
            }),
            &format!("{} via {}", provider.domain, provider.issuer),
        )?;
        Ok(provider)
    })
}

/// Removes a provider of this scope; its people sign in with passwords again.
pub fn remove(
    conn: &mut DbConn,
    by: &Acting,
    project_id: Option<&str>,
    id: &str,
) -> Result<(), ServiceError> {
    db::transaction(conn, |conn| {
        let provider: IdentityProvider = identity_providers::table
            .find(id)
            .filter(identity_providers::scope_key.eq(project_id.unwrap_or("")))
            .select(IdentityProvider::as_select())
            .first(conn)
            .optional()?
            .ok_or(ServiceError::NotFound)?;
        diesel::delete(identity_providers::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            project_id,
            by,
            "identity_provider.removed",
            Some(Target {
                kind: "IdentityProvider",
                id: &provider.id,
                display: &provider.domain,
            }),
            &provider.domain,
        )
    })
}

/// The provider that signs in this address: the hinted project's for its domain, else the
/// server-wide one.
pub fn for_email(
    conn: &mut DbConn,
    email: &EmailAddress,
    project_hint: Option<&str>,
) -> Result<Option<IdentityProvider>, ServiceError> {
    let Some(domain) = domain_of(email.as_str()) else {
        return Ok(None);
    };
    let scopes: Vec<&str> = match project_hint {
        Some(project) => vec![project, ""],
        None => vec![""],
    };
    let mut found: Vec<IdentityProvider> = identity_providers::table
        .filter(identity_providers::domain.eq(domain))
        .filter(identity_providers::scope_key.eq_any(&scopes))
        .select(IdentityProvider::as_select())
        .load(conn)?;
    // The project's own provider first; the server-wide one for the accounts it may not
    // sign in (a project's provider never opens a way around the server's).
    found.sort_by_key(|p| p.project_id.is_none());
    for provider in found {
        if takes_over(conn, &provider, email)? {
            return Ok(Some(provider));
        }
    }
    Ok(None)
}

/// Whether this sign-in goes to the provider: when an account it may sign in has the
/// address, or when no account has it (the person finds none afterwards). A server-wide
/// account is not taken over by a project's provider, and an account someone else signed up
/// with the address does not keep a project's own account from its provider.
pub fn takes_over(
    conn: &mut DbConn,
    provider: &IdentityProvider,
    email: &EmailAddress,
) -> Result<bool, ServiceError> {
    if account_for(conn, provider, email.as_str())?.is_some() {
        return Ok(true);
    }
    let any: i64 = users::table
        .filter(users::email.eq(email.as_str()))
        .count()
        .get_result(conn)?;
    Ok(any == 0)
}

/// What an app asked for when its sign-in went to a provider (Medplum's `/auth/method` flow).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub code_challenge_method: String,
    /// The app's own state, given back with the answer.
    pub state: Option<String>,
}

/// Where a sign-in returns after the provider, and who may finish it.
#[derive(Debug, Default)]
pub struct Comeback {
    /// A page of this site (a browser's sign-in).
    pub next: Option<String>,
    /// An app's request (Medplum's `/auth/method`).
    pub app: Option<AppRequest>,
    /// The mark the starting browser keeps in its session: only it may finish.
    pub binding: Option<String>,
}

/// A sign-in about to leave for the provider: what goes into the authorization request.
#[derive(Debug)]
pub struct Departure {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
}

/// Records a sign-in leaving for the provider.
pub fn depart(
    conn: &mut DbConn,
    provider: &IdentityProvider,
    email: &EmailAddress,
    comeback: &Comeback,
) -> Result<Departure, ServiceError> {
    let departure = Departure {
        state: random_secret(),
        nonce: random_secret(),
        // 64 hex characters: within RFC 7636's 43 to 128 unreserved characters.
        code_verifier: random_secret(),
    };
    let at = now();
    let app_request = comeback
        .app
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| ServiceError::Internal(e.into()))?;
    diesel::insert_into(external_sign_ins::table)
        .values(ExternalSignIn {
            id: new_id(),
            state_hash: hash_secret(&departure.state),
            provider_id: provider.id.clone(),
            code_verifier: departure.code_verifier.clone(),
            nonce: departure.nonce.clone(),
            email: email.as_str().to_owned(),
            next: comeback.next.clone(),
            app_request,
            binding_hash: comeback.binding.as_deref().map(hash_secret),
            created_at: at,
            expires_at: at + Duration::minutes(PENDING_MINUTES),
            used_at: None,
        })
        .execute(conn)?;
    Ok(departure)
}

/// The sign-in this state belongs to, used up (of two requests with it, one wins); `None` for
/// an unknown, expired or used state.
pub fn arrive(
    conn: &mut DbConn,
    state: &str,
    binding: Option<&str>,
) -> Result<Option<(ExternalSignIn, IdentityProvider)>, ServiceError> {
    let Some((sign_in, provider)) = external_sign_ins::table
        .inner_join(identity_providers::table)
        .filter(external_sign_ins::state_hash.eq(hash_secret(state)))
        .select((ExternalSignIn::as_select(), IdentityProvider::as_select()))
        .first::<(ExternalSignIn, IdentityProvider)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    // A sign-in started by a browser comes back only to that browser.
    if let Some(expected) = &sign_in.binding_hash
        && binding.map(hash_secret).as_ref() != Some(expected)
    {
        tracing::warn!("external sign-in answered in another browser; refused");
        return Ok(None);
    }
    let at = now();
    let claimed = diesel::update(
        external_sign_ins::table
            .find(&sign_in.id)
            .filter(external_sign_ins::used_at.is_null())
            .filter(external_sign_ins::expires_at.gt(at)),
    )
    .set(external_sign_ins::used_at.eq(Some(at)))
    .execute(conn)?;
    Ok((claimed == 1).then_some((sign_in, provider)))
}

/// The account a provider vouched for: with the address it verified, and one this provider
/// may sign in (the project's own account, or a server-wide account for a server-wide
/// provider).
pub fn account_for(
    conn: &mut DbConn,
    provider: &IdentityProvider,
    verified_email: &str,
) -> Result<Option<User>, ServiceError> {
    let email = verified_email.trim().to_lowercase();
    if domain_of(&email) != Some(provider.domain.as_str()) {
        return Ok(None);
    }
    let query = users::table
        .filter(users::email.eq(&email))
        .select(User::as_select())
        .into_boxed();
    let query = match &provider.project_id {
        Some(project) => query.filter(users::project_id.eq(project.clone())),
        None => query.filter(users::project_id.is_null()),
    };
    Ok(query.first(conn).optional()?)
}

/// The provider vouched for the account's address: it is verified, and for a project's own
/// account the invitation of that project is accepted (as setting its password would).
pub fn vouched(
    conn: &mut DbConn,
    provider: &IdentityProvider,
    user: &User,
) -> Result<(), ServiceError> {
    let at = now();
    diesel::update(users::table.find(&user.id))
        .set((users::email_verified.eq(true), users::updated_at.eq(at)))
        .execute(conn)?;
    if let (Some(project), Some(own)) = (&provider.project_id, &user.project_id)
        && project == own
    {
        super::invitations::accept_in(conn, &user.id, project, at)?;
    }
    Ok(())
}
