//! API access: bearer tokens, and who a request acts as.
//!
//! A token is a JWT signed with the server's ES256 key (see `keys`), so that Medplum's SDK and
//! OpenID Connect libraries can read it. The signature only spares the database a lookup for
//! forged tokens: what makes a token valid is its Login row, whose current token it must be,
//! not revoked and not expired, and (for a person) still matching their credentials.
//! Revoking the row (signed out, secret rotated, membership removed) ends the token at once.

use chrono::Duration;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;
use super::{RequestMeta, ServiceError, hash_secret, new_id, now, random_secret};
use crate::db::DbConn;
use crate::db::models::{ClientApplication, Login, Membership, Project, User};
use crate::db::schema::{client_applications, logins, memberships, projects, users};

pub const LIFETIME_SECONDS: i64 = 3600;
pub const METHOD_CLIENT_CREDENTIALS: &str = "client_credentials";

/// What an access token says (RFC 9068 names where Medplum's SDK reads them).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user, or the client application for client credentials.
    pub sub: String,
    /// The client the token was issued to; absent for a person signing in without one (the
    /// SDK refuses a token whose client differs from its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Some clients read `cid` instead of `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    pub login_id: String,
    /// The user's id, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The member's profile, as `Practitioner/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    /// Makes every token unique, whatever the clock says.
    pub jti: String,
}

/// A token just issued.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub project_id: String,
    pub client_id: String,
}

fn client_membership(
    conn: &mut DbConn,
    client_id: &str,
) -> Result<Option<Membership>, ServiceError> {
    Ok(memberships::table
        .filter(memberships::client_id.eq(client_id))
        .filter(memberships::active.eq(true))
        .select(Membership::as_select())
        .first(conn)
        .optional()?)
}

/// Issues a token for a client whose credentials were checked. `None` when the client has
/// no active membership any more (it was removed or deactivated).
#[tracing::instrument(skip_all, fields(client = %client.id))]
pub fn issue(
    conn: &mut DbConn,
    keys: &KeyRing,
    client: &ClientApplication,
    meta: &RequestMeta,
) -> Result<Option<Issued>, ServiceError> {
    let Some(membership) = client_membership(conn, &client.id)? else {
        return Ok(None);
    };
    let at = now();
    let login_id = new_id();
    let claims = Claims {
        iss: keys.issuer().to_owned(),
        sub: client.id.clone(),
        client_id: Some(client.id.clone()),
        cid: Some(client.id.clone()),
        login_id: login_id.clone(),
        username: None,
        profile: None,
        scope: "openid".into(),
        iat: at.and_utc().timestamp(),
        exp: at.and_utc().timestamp() + LIFETIME_SECONDS,
        jti: random_secret(),
    };
    let token = keys.sign(conn, &claims)?;
    let login = Login {
        id: login_id,
        user_id: None,
        client_id: Some(client.id.clone()),
        membership_id: Some(membership.id.clone()),
        method: METHOD_CLIENT_CREDENTIALS.into(),
        remember: false,
        token_hash: Some(hash_secret(&token)),
        security_stamp: client.secret_hash.clone(),
        mfa_verified: true,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        created_at: at,
        last_seen_at: at,
        expires_at: at + Duration::seconds(LIFETIME_SECONDS),
        revoked_at: None,
    };
    diesel::insert_into(logins::table)
        .values(&login)
        .execute(conn)?;
    Ok(Some(Issued {
        access_token: token,
        expires_in: LIFETIME_SECONDS,
        project_id: membership.project_id,
        client_id: client.id.clone(),
    }))
}

/// Who an API request acts as: a membership of one project, held by a client application
/// or a signed-in user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub login_id: Option<String>,
    pub membership: Membership,
    pub project: Project,
    pub client: Option<ClientApplication>,
    pub user: Option<User>,
}

impl Principal {
    pub fn super_admin(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.super_admin)
            || self.user.as_ref().is_some_and(|u| u.super_admin)
    }

    /// Admin of its own project.
    pub fn admin(&self) -> bool {
        self.membership.admin
    }

    /// How the audit log names this caller.
    pub fn display(&self) -> String {
        match (&self.client, &self.user) {
            (Some(client), _) => format!("{} (client)", client.name),
            (None, Some(user)) => user.display_name(),
            (None, None) => self.membership.id.clone(),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.id.as_str())
    }
}

/// Loads the active membership with its project and holder.
pub fn principal_for(
    conn: &mut DbConn,
    membership_id: &str,
    login_id: Option<String>,
) -> Result<Option<Principal>, ServiceError> {
    let Some((membership, project)) = memberships::table
        .inner_join(projects::table)
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::active.eq(true))
        .select((Membership::as_select(), Project::as_select()))
        .first::<(Membership, Project)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let client = match &membership.client_id {
        Some(id) => Some(
            client_applications::table
                .find(id)
                .select(ClientApplication::as_select())
                .first(conn)?,
        ),
        None => None,
    };
    let user = match &membership.user_id {
        Some(id) => Some(
            users::table
                .find(id)
                .select(User::as_select())
                .first(conn)?,
        ),
        None => None,
    };
    Ok(Some(Principal {
        login_id,
        membership,
        project,
        client,
        user,
    }))
}

/// The live login a bearer token belongs to: signed by one of the keys, the login's current
/// token, not revoked or expired, and for a person still matching their credentials.
pub fn login_of_token(
    conn: &mut DbConn,
    keys: &KeyRing,
    token: &str,
) -> Result<Option<(Login, Claims)>, ServiceError> {
    let Some(claims) = keys.verify::<Claims>(conn, token) else {
        return Ok(None);
    };
    let Some((login, stamp)) = logins::table
        .left_join(users::table)
        .filter(logins::id.eq(&claims.login_id))
        .filter(logins::token_hash.eq(hash_secret(token)))
        .select((Login::as_select(), users::security_stamp.nullable()))
        .first::<(Login, Option<String>)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let person_ok = match (&login.user_id, stamp) {
        (Some(_), Some(stamp)) => stamp == login.security_stamp && login.mfa_verified,
        (None, None) => true,
        _ => false,
    };
    if !person_ok || login.revoked_at.is_some() || now() >= login.expires_at {
        return Ok(None);
    }
    Ok(Some((login, claims)))
}

/// The caller a bearer token stands for, or `None` when the token is unknown, forged,
/// expired or revoked, or its membership is gone.
pub fn by_token(
    conn: &mut DbConn,
    keys: &KeyRing,
    token: &str,
) -> Result<Option<Principal>, ServiceError> {
    let Some((login, _)) = login_of_token(conn, keys, token)? else {
        return Ok(None);
    };
    let Some(membership_id) = login.membership_id else {
        return Ok(None);
    };
    let principal = principal_for(conn, &membership_id, Some(login.id))?;
    // A person's token acts only through their own membership, and not before they set up
    // two-factor authentication where the project (or their invitation) requires it.
    Ok(principal.filter(|p| match (&p.client, &p.user) {
        (Some(_), _) => true,
        (None, Some(user)) => {
            Some(user.id.as_str()) == login.user_id.as_deref()
                && (user.mfa_enrolled || !(p.membership.mfa_required || p.project.require_mfa))
        }
        (None, None) => false,
    }))
}

/// The caller for HTTP Basic client credentials on an API request.
pub fn by_client_secret(
    conn: &mut DbConn,
    client_id: &str,
    secret: &str,
) -> Result<Option<Principal>, ServiceError> {
    let Some(client) = super::clients::authenticate(conn, client_id, secret)? else {
        return Ok(None);
    };
    match client_membership(conn, &client.id)? {
        Some(m) => principal_for(conn, &m.id, None),
        None => Ok(None),
    }
}
