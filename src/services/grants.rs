//! People signing in to apps: a pending login earns one short-lived authorization code,
//! which an app redeems (with its PKCE verifier) for an access token, an ID token and, when
//! asked for, a refresh token. Whether the login came from `POST /auth/login` (Medplum's
//! flow) or from `/oauth2/authorize` (a browser app), the same rules follow from here.
//!
//! One login is one family of tokens: a code redeemed twice, or a refresh token used twice,
//! revokes the login and with it every token it issued.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::auth::{self, MembershipChoice};
use super::keys::KeyRing;
use super::tokens::{Claims, LIFETIME_SECONDS};
use super::{ServiceError, hash_secret, new_id, now, random_secret};
use crate::db::DbConn;
use crate::db::models::{Login, LoginGrant, Membership, Profile, Project, User};
use crate::db::schema::{
    login_grants, logins, memberships, profiles, projects, refresh_tokens, users,
};
use crate::domain::MembershipStatus;

/// A pending login must reach its code within this time.
pub const PENDING_MINUTES: i64 = 10;
/// An authorization code is good for this long, once.
pub const CODE_SECONDS: i64 = 120;

/// What an app asked for when the login began.
#[derive(Debug, Clone, Default)]
pub struct GrantRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// For a project still to be made (`/auth/newproject`): no project is chosen.
    pub new_project: bool,
}

/// A PKCE verifier or challenge as RFC 7636 §4.1 allows: 43 to 128 unreserved characters.
pub fn pkce_value_ok(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Attaches what the app asked for to a login that has just begun.
pub fn begin(conn: &mut DbConn, login_id: &str, request: GrantRequest) -> Result<(), ServiceError> {
    let at = now();
    diesel::insert_into(login_grants::table)
        .values(LoginGrant {
            login_id: login_id.to_owned(),
            client_id: request.client_id,
            redirect_uri: request.redirect_uri,
            scope: request.scope,
            nonce: request.nonce,
            code_challenge: request.code_challenge,
            code_challenge_method: request.code_challenge_method,
            code_hash: None,
            code_expires_at: None,
            code_used_at: None,
            pending_until: at + Duration::minutes(PENDING_MINUTES),
            created_at: at,
            auth_time: None,
            new_project: request.new_project,
        })
        .execute(conn)?;
    if request.new_project {
        diesel::update(logins::table.find(login_id))
            .set(logins::membership_id.eq(None::<String>))
            .execute(conn)?;
    }
    Ok(())
}

/// Where a pending login stands.
#[derive(Debug)]
pub enum Stage {
    /// Finished: the app redeems this code at the token endpoint.
    Code(String),
    /// The person has several projects: one must be chosen.
    ChooseProject(Vec<MembershipChoice>),
    /// The second factor is next.
    Mfa,
    /// The project requires two-factor authentication and the person has none yet.
    MfaEnroll,
    /// Nothing is missing: the next step issues the code (seen only by `peek`).
    Ready,
    /// The project is still to be made (`/auth/newproject`).
    NewProject,
}

/// Why a pending login cannot go on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PendingError {
    #[error("Login not found")]
    NotFound,
    #[error("Login expired; sign in again")]
    Expired,
    #[error("Login already completed")]
    Finished,
    #[error("Login revoked")]
    Revoked,
}

/// A pending login with its request and its person.
pub struct Pending {
    pub login: Login,
    pub grant: LoginGrant,
    pub user: User,
}

/// The pending login the id names, or why it cannot go on.
pub fn pending(
    conn: &mut DbConn,
    login_id: &str,
) -> Result<Result<Pending, PendingError>, ServiceError> {
    let Some((login, grant, user)) = logins::table
        .inner_join(login_grants::table)
        .inner_join(users::table)
        .filter(logins::id.eq(login_id))
        .select((
            Login::as_select(),
            LoginGrant::as_select(),
            User::as_select(),
        ))
        .first::<(Login, LoginGrant, User)>(conn)
        .optional()?
    else {
        return Ok(Err(PendingError::NotFound));
    };
    let at = now();
    Ok(
        if login.revoked_at.is_some() || login.security_stamp != user.security_stamp {
            Err(PendingError::Revoked)
        } else if grant.code_hash.is_some() {
            Err(PendingError::Finished)
        } else if at >= grant.pending_until {
            Err(PendingError::Expired)
        } else {
            Ok(Pending { login, grant, user })
        },
    )
}

/// The membership a login may finish in: active, accepted, the person's own, and in the
/// app's project when the app belongs to one.
fn usable_membership(
    conn: &mut DbConn,
    user_id: &str,
    membership_id: &str,
    client_project: Option<&str>,
) -> Result<Option<(Membership, Project)>, ServiceError> {
    let mut query = memberships::table
        .inner_join(projects::table)
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::active.eq(true))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .select((Membership::as_select(), Project::as_select()))
        .into_boxed();
    if let Some(project) = client_project {
        query = query.filter(memberships::project_id.eq(project.to_owned()));
    }
    Ok(query.first::<(Membership, Project)>(conn).optional()?)
}

fn client_project(conn: &mut DbConn, grant: &LoginGrant) -> Result<Option<String>, ServiceError> {
    use crate::db::schema::client_applications;
    Ok(match &grant.client_id {
        Some(id) => client_applications::table
            .find(id)
            .select(client_applications::project_id)
            .first(conn)
            .optional()?,
        None => None,
    })
}

/// The next step of a pending login; at the end, its code.
pub fn advance(conn: &mut DbConn, pending: &Pending) -> Result<Stage, ServiceError> {
    step(conn, pending, true)
}

/// The next step of a pending login, changing nothing.
pub fn peek(conn: &mut DbConn, pending: &Pending) -> Result<Stage, ServiceError> {
    step(conn, pending, false)
}

fn step(conn: &mut DbConn, pending: &Pending, go_on: bool) -> Result<Stage, ServiceError> {
    let Pending { login, grant, user } = pending;
    if user.mfa_enrolled && !login.mfa_verified {
        return Ok(Stage::Mfa);
    }
    if grant.new_project && login.membership_id.is_none() {
        return Ok(Stage::NewProject);
    }
    let project = client_project(conn, grant)?;
    let chosen = match &login.membership_id {
        Some(id) => usable_membership(conn, &user.id, id, project.as_deref())?,
        None => None,
    };
    let Some((membership, project_row)) = chosen else {
        let mut choices = auth::memberships_of(conn, &user.id, None)?;
        if let Some(project) = &project {
            choices.retain(|c| &c.project_id == project);
        }
        if let [only] = choices.as_slice() {
            if !go_on {
                return Ok(Stage::Ready);
            }
            auth::select_membership(conn, &login.id, &user.id, &only.membership_id)?;
            let refreshed = Pending {
                login: Login {
                    membership_id: Some(only.membership_id.clone()),
                    ..login.clone()
                },
                grant: grant.clone(),
                user: user.clone(),
            };
            return step(conn, &refreshed, go_on);
        }
        return Ok(Stage::ChooseProject(choices));
    };
    if (membership.mfa_required || project_row.require_mfa) && !user.mfa_enrolled {
        return Ok(Stage::MfaEnroll);
    }
    if !go_on {
        return Ok(Stage::Ready);
    }
    let code = random_secret();
    let at = now();
    diesel::update(login_grants::table.find(&login.id))
        .set((
            login_grants::code_hash.eq(Some(hash_secret(&code))),
            login_grants::code_expires_at.eq(Some(at + Duration::seconds(CODE_SECONDS))),
        ))
        .execute(conn)?;
    Ok(Stage::Code(code))
}

/// Chooses the project of a pending login.
pub fn choose(
    conn: &mut DbConn,
    pending: &Pending,
    membership_id: &str,
) -> Result<Option<Stage>, ServiceError> {
    let project = client_project(conn, &pending.grant)?;
    if usable_membership(conn, &pending.user.id, membership_id, project.as_deref())?.is_none() {
        return Ok(None);
    }
    auth::select_membership(conn, &pending.login.id, &pending.user.id, membership_id)?;
    let chosen = Pending {
        login: Login {
            membership_id: Some(membership_id.to_owned()),
            ..pending.login.clone()
        },
        grant: pending.grant.clone(),
        user: pending.user.clone(),
    };
    advance(conn, &chosen).map(Some)
}

/// Tokens for a login.
#[derive(Debug, Clone)]
pub struct UserTokens {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
    pub project_id: String,
    /// `Practitioner/{id}` and so on.
    pub profile: String,
}

/// Why a token request is refused: an OAuth error code and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: &'static str,
    pub description: &'static str,
}

const fn refused(error: &'static str, description: &'static str) -> Refusal {
    Refusal { error, description }
}

/// What a token request brought besides the code or the refresh token.
#[derive(Debug, Default)]
pub struct Presented {
    /// A client id from the body or HTTP Basic; empty means none (Medplum's SDK sends `client_id=`).
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

fn blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn pkce_matches(grant: &LoginGrant, verifier: Option<&str>) -> bool {
    let Some(challenge) = &grant.code_challenge else {
        return true;
    };
    let Some(verifier) = verifier else {
        return false;
    };
    let expected = match grant.code_challenge_method.as_deref() {
        Some("plain") => verifier.to_owned(),
        _ => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
    };
    expected.as_bytes().ct_eq(challenge.as_bytes()).into()
}

fn client_matches(grant: &LoginGrant, presented: &Presented) -> bool {
    match (&grant.client_id, blank(&presented.client_id)) {
        (Some(bound), Some(given)) => bound == given,
        // A code bound to a client needs that client's id.
        (Some(_), None) => false,
        (None, given) => given.is_none(),
    }
}

/// Ends a login and every token of it.
fn revoke_family(conn: &mut DbConn, login_id: &str) -> Result<(), ServiceError> {
    auth::revoke_login(conn, login_id)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::login_id.eq(login_id))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(Some(now())))
    .execute(conn)?;
    Ok(())
}

/// Redeems an authorization code. A code seen before revokes what it first issued.
#[tracing::instrument(skip_all)]
pub fn redeem_code(
    conn: &mut DbConn,
    keys: &KeyRing,
    code: &str,
    presented: &Presented,
) -> Result<Result<UserTokens, Refusal>, ServiceError> {
    let invalid = refused("invalid_grant", "Invalid authorization code");
    let Some(grant) = login_grants::table
        .filter(login_grants::code_hash.eq(hash_secret(code)))
        .select(LoginGrant::as_select())
        .first::<LoginGrant>(conn)
        .optional()?
    else {
        return Ok(Err(invalid));
    };
    let at = now();
    // Claim the code: of two requests with it, exactly one changes the row.
    let claimed = diesel::update(
        login_grants::table
            .find(&grant.login_id)
            .filter(login_grants::code_used_at.is_null()),
    )
    .set(login_grants::code_used_at.eq(Some(at)))
    .execute(conn)?;
    if claimed == 0 {
        tracing::warn!(login = %grant.login_id, "authorization code replayed; login revoked");
        revoke_family(conn, &grant.login_id)?;
        return Ok(Err(invalid));
    }
    if grant.code_expires_at.is_none_or(|expiry| at >= expiry) {
        return Ok(Err(refused("invalid_grant", "Authorization code expired")));
    }
    if !client_matches(&grant, presented) {
        return Ok(Err(refused(
            "invalid_grant",
            "The code was issued to another client",
        )));
    }
    if grant.redirect_uri.as_deref() != blank(&presented.redirect_uri) {
        return Ok(Err(refused("invalid_grant", "redirect_uri does not match")));
    }
    if !pkce_matches(&grant, presented.code_verifier.as_deref()) {
        return Ok(Err(refused("invalid_grant", "Invalid code_verifier")));
    }
    issue(conn, keys, &grant, at)
}

/// Trades a refresh token for new tokens; the old one is spent. A spent one that comes back
/// was copied: the whole login ends.
#[tracing::instrument(skip_all)]
pub fn refresh(
    conn: &mut DbConn,
    keys: &KeyRing,
    token: &str,
    presented: &Presented,
) -> Result<Result<UserTokens, Refusal>, ServiceError> {
    let invalid = refused("invalid_grant", "Invalid refresh token");
    let Some((id, login_id, expires_at)) = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash_secret(token)))
        .select((
            refresh_tokens::id,
            refresh_tokens::login_id,
            refresh_tokens::expires_at,
        ))
        .first::<(String, String, NaiveDateTime)>(conn)
        .optional()?
    else {
        return Ok(Err(invalid));
    };
    let grant = login_grants::table
        .find(&login_id)
        .select(LoginGrant::as_select())
        .first::<LoginGrant>(conn)?;
    // Before the token is spent: a stranger's wrong client id must not burn the owner's token.
    if let Some(given) = blank(&presented.client_id)
        && grant.client_id.as_deref() != Some(given)
    {
        return Ok(Err(refused(
            "invalid_grant",
            "The token was issued to another client",
        )));
    }
    let at = now();
    let spent = diesel::update(
        refresh_tokens::table
            .find(&id)
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(Some(at)))
    .execute(conn)?;
    if spent == 0 {
        tracing::warn!(login = %login_id, "refresh token reused; login revoked");
        revoke_family(conn, &login_id)?;
        return Ok(Err(invalid));
    }
    if at >= expires_at {
        return Ok(Err(refused("invalid_grant", "Refresh token expired")));
    }
    issue(conn, keys, &grant, at)
}

/// Claims of an ID token (OpenID Connect Core §2).
#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    login_id: &'a str,
    /// The FHIR resource that is this person in the project (SMART on FHIR).
    #[serde(rename = "fhirUser")]
    fhir_user: &'a str,
    #[serde(flatten)]
    person: PersonClaims,
}

/// The claims about the person that the scope allows (OpenID Connect Core §5.4).
#[derive(Debug, Default, Serialize)]
pub struct PersonClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// What the scope lets an app know about the person; `profile_url` is the member's profile.
pub fn person_claims(
    scope: &str,
    user: &User,
    profile: Option<&Profile>,
    profile_url: &str,
) -> PersonClaims {
    let mut claims = PersonClaims::default();
    if has_scope(scope, "profile") {
        let (given, family) = profile.map_or_else(
            || (user.first_name.clone(), user.last_name.clone()),
            |p| (p.first_name.clone(), p.last_name.clone()),
        );
        claims.name = Some(format!("{given} {family}"));
        claims.given_name = Some(given);
        claims.family_name = Some(family);
        claims.profile = Some(profile_url.to_owned());
    }
    if has_scope(scope, "email") {
        claims.email = Some(user.email.clone());
        claims.email_verified = Some(user.email_verified);
    }
    claims
}

/// Issues tokens for a login whose code or refresh token was just accepted, after checking
/// that the login, the person's credentials and the membership still hold.
fn issue(
    conn: &mut DbConn,
    keys: &KeyRing,
    grant: &LoginGrant,
    at: NaiveDateTime,
) -> Result<Result<UserTokens, Refusal>, ServiceError> {
    let gone = refused("invalid_grant", "The sign-in has ended");
    let Some((login, user)) = logins::table
        .inner_join(users::table)
        .filter(logins::id.eq(&grant.login_id))
        .select((Login::as_select(), User::as_select()))
        .first::<(Login, User)>(conn)
        .optional()?
    else {
        return Ok(Err(gone));
    };
    if login.revoked_at.is_some()
        || at >= login.expires_at
        || login.security_stamp != user.security_stamp
        || !login.mfa_verified && user.mfa_enrolled
    {
        return Ok(Err(gone));
    }
    let client_project = client_project(conn, grant)?;
    let Some((membership, project)) = (match &login.membership_id {
        Some(id) => usable_membership(conn, &user.id, id, client_project.as_deref())?,
        None => None,
    }) else {
        return Ok(Err(gone));
    };
    if (membership.mfa_required || project.require_mfa) && !user.mfa_enrolled {
        return Ok(Err(refused(
            "invalid_grant",
            "This project requires two-factor authentication: sign in again to set it up",
        )));
    }
    let profile: Option<Profile> = match &membership.profile_id {
        Some(id) => profiles::table
            .find(id)
            .select(Profile::as_select())
            .first(conn)
            .optional()?,
        None => None,
    };
    let profile_ref = profile.as_ref().map_or_else(
        || format!("ProjectMembership/{}", membership.id),
        |p| format!("{}/{}", p.resource_type.as_str(), p.id),
    );
    let iat = at.and_utc().timestamp();
    let claims = Claims {
        iss: keys.issuer().to_owned(),
        sub: user.id.clone(),
        client_id: grant.client_id.clone(),
        cid: grant.client_id.clone(),
        login_id: login.id.clone(),
        username: Some(user.id.clone()),
        profile: Some(profile_ref.clone()),
        scope: grant.scope.clone(),
        iat,
        exp: iat + LIFETIME_SECONDS,
        jti: random_secret(),
    };
    let access_token = keys.sign(conn, &claims)?;
    diesel::update(logins::table.find(&login.id))
        .set((
            logins::token_hash.eq(Some(hash_secret(&access_token))),
            logins::last_seen_at.eq(at),
        ))
        .execute(conn)?;
    let id_token = if has_scope(&grant.scope, "openid") {
        let profile_url = format!("{}/fhir/R4/{profile_ref}", keys.issuer());
        let id_claims = IdClaims {
            iss: keys.issuer(),
            sub: &user.id,
            aud: grant.client_id.as_deref().unwrap_or(keys.issuer()),
            iat,
            exp: iat + LIFETIME_SECONDS,
            auth_time: grant
                .auth_time
                .unwrap_or(login.created_at)
                .and_utc()
                .timestamp(),
            nonce: grant.nonce.as_deref(),
            login_id: &login.id,
            fhir_user: &profile_ref,
            person: person_claims(&grant.scope, &user, profile.as_ref(), &profile_url),
        };
        Some(keys.sign(conn, &id_claims)?)
    } else {
        None
    };
    let refresh_token =
        if has_scope(&grant.scope, "offline_access") || has_scope(&grant.scope, "offline") {
            let token = random_secret();
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::id.eq(new_id()),
                    refresh_tokens::login_id.eq(&login.id),
                    refresh_tokens::token_hash.eq(hash_secret(&token)),
                    refresh_tokens::created_at.eq(at),
                    refresh_tokens::expires_at.eq(login.expires_at),
                ))
                .execute(conn)?;
            Some(token)
        } else {
            None
        };
    Ok(Ok(UserTokens {
        access_token,
        id_token,
        refresh_token,
        expires_in: LIFETIME_SECONDS,
        scope: grant.scope.clone(),
        project_id: project.id,
        profile: profile_ref,
    }))
}

/// Ends the login a token belongs to, with all its tokens (`/oauth2/logout`).
pub fn sign_out(conn: &mut DbConn, login_id: &str) -> Result<(), ServiceError> {
    revoke_family(conn, login_id)
}

/// `sub` and the claims the scope allows, for the person a login belongs to; `None` for a
/// client's login.
pub fn userinfo(
    conn: &mut DbConn,
    login: &Login,
    scope: &str,
    issuer: &str,
) -> Result<Option<(String, PersonClaims)>, ServiceError> {
    let Some(user_id) = &login.user_id else {
        return Ok(None);
    };
    let user: User = users::table
        .find(user_id)
        .select(User::as_select())
        .first(conn)?;
    let profile: Option<Profile> = match &login.membership_id {
        Some(id) => memberships::table
            .inner_join(profiles::table)
            .filter(memberships::id.eq(id))
            .select(Profile::as_select())
            .first(conn)
            .optional()?,
        None => None,
    };
    let url = profile.as_ref().map_or_else(String::new, |p| {
        format!("{issuer}/fhir/R4/{}/{}", p.resource_type.as_str(), p.id)
    });
    let claims = person_claims(scope, &user, profile.as_ref(), &url);
    Ok(Some((user.id, claims)))
}

/// The membership requires two-factor authentication and the person has not set it up.
pub fn needs_enrolment(
    conn: &mut DbConn,
    user: &User,
    membership_id: &str,
) -> Result<bool, ServiceError> {
    Ok(usable_membership(conn, &user.id, membership_id, None)?
        .is_some_and(|(m, p)| (m.mfa_required || p.require_mfa) && !user.mfa_enrolled))
}

/// A browser app's authorization for a signed-in person: a login of the app's own (signing
/// the app out leaves the browser signed in), in the membership given, and its code.
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub fn authorize(
    conn: &mut DbConn,
    policy: &auth::SessionPolicy,
    user: &User,
    membership_id: &str,
    request: GrantRequest,
    meta: &super::RequestMeta,
    browser_login: &str,
) -> Result<String, ServiceError> {
    crate::db::transaction(conn, |conn| {
        // The ID token's auth_time: when the person signed in to the browser session.
        let authenticated: NaiveDateTime = logins::table
            .find(browser_login)
            .select(logins::created_at)
            .first(conn)?;
        let new = auth::NewSession {
            user,
            method: "app",
            remember: true,
            membership_id: Some(membership_id.to_owned()),
            mfa_verified: true,
            meta,
        };
        let login_id = auth::create_login(conn, new, policy)?;
        begin(conn, &login_id, request)?;
        diesel::update(login_grants::table.find(&login_id))
            .set(login_grants::auth_time.eq(Some(authenticated)))
            .execute(conn)?;
        let pending = pending(conn, &login_id)?
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("new login: {e}")))?;
        match advance(conn, &pending)? {
            Stage::Code(code) => Ok(code),
            other => Err(ServiceError::Internal(anyhow::anyhow!(
                "authorization stopped at {other:?}"
            ))),
        }
    })
}
