//! API access: bearer tokens for client applications, and who a request acts as.
//!
//! A token is a JWT (HS256, signed with a key derived from the server's session key) so that
//! Medplum's SDK can read its expiry and client id. The signature only spares the database a
//! lookup for forged tokens: what makes a token valid is its Login row, found by the token's
//! SHA-256, not revoked and not expired. Revoking the row (secret rotated, client or
//! membership removed) ends the token at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{RequestMeta, ServiceError, hash_secret, new_id, now, random_secret};
use crate::db::DbConn;
use crate::db::models::{ClientApplication, Login, Membership, Project, User};
use crate::db::schema::{client_applications, logins, memberships, projects, users};

pub const LIFETIME_SECONDS: i64 = 3600;
pub const METHOD_CLIENT_CREDENTIALS: &str = "client_credentials";

/// Signs and checks tokens.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
    issuer: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    /// Some clients read `cid` instead of `client_id`.
    pub cid: String,
    pub login_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    /// Makes every token unique, whatever the clock says.
    pub jti: String,
}

type HmacSha256 = Hmac<Sha256>;

impl TokenSigner {
    pub fn new(key: &[u8], issuer: &str) -> TokenSigner {
        TokenSigner {
            key: key.to_vec(),
            issuer: issuer.to_owned(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    fn sign(&self, claims: &Claims) -> Result<String, ServiceError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(claims).map_err(|e| ServiceError::Internal(e.into()))?);
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{signing_input}.{signature}"))
    }

    /// The claims of a token this server signed, or `None`.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (_, payload) = signing_input.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
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
    signer: &TokenSigner,
    client: &ClientApplication,
    meta: &RequestMeta,
) -> Result<Option<Issued>, ServiceError> {
    let Some(membership) = client_membership(conn, &client.id)? else {
        return Ok(None);
    };
    let at = now();
    let login_id = new_id();
    let claims = Claims {
        iss: signer.issuer.clone(),
        sub: client.id.clone(),
        client_id: client.id.clone(),
        cid: client.id.clone(),
        login_id: login_id.clone(),
        scope: "openid".into(),
        iat: at.and_utc().timestamp(),
        exp: at.and_utc().timestamp() + LIFETIME_SECONDS,
        jti: random_secret(),
    };
    let token = signer.sign(&claims)?;
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

/// The caller a bearer token stands for, or `None` when the token is unknown, forged,
/// expired or revoked, or its membership is gone.
pub fn by_token(
    conn: &mut DbConn,
    signer: &TokenSigner,
    token: &str,
) -> Result<Option<Principal>, ServiceError> {
    let Some(claims) = signer.verify(token) else {
        return Ok(None);
    };
    let at = now();
    let Some(login) = logins::table
        .filter(logins::token_hash.eq(hash_secret(token)))
        .select(Login::as_select())
        .first::<Login>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if login.id != claims.login_id || login.revoked_at.is_some() || at >= login.expires_at {
        return Ok(None);
    }
    let Some(membership_id) = login.membership_id else {
        return Ok(None);
    };
    principal_for(conn, &membership_id, Some(login.id))
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
