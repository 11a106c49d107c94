//! One-time links (password reset, invite): created with a random secret that is stored
//! only hashed, valid for a while, used once, and superseded by a newer link of the same kind.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::audit::{self, Acting};
use super::auth::{self, NewSession, SessionPolicy, new_security_stamp};
use super::emails;
use super::outbox;
use super::{RequestMeta, ServiceError, constant_time_eq, hash_secret, new_id, now, random_secret};
use crate::db::models::{SecurityRequest, User};
use crate::db::schema::{logins, memberships, projects, security_requests, users};
use crate::db::{self, DbConn};
use crate::domain::EmailAddress;

pub const KIND_RESET: &str = "reset";
pub const KIND_INVITE: &str = "invite";

pub fn lifetime(kind: &str) -> Duration {
    if kind == KIND_INVITE {
        Duration::days(7)
    } else {
        Duration::hours(1)
    }
}

/// Creates a link for `user`, superseding the user's unused links of the same kind.
/// Returns the path `/setpassword/{id}/{secret}`: the only place the secret appears.
pub fn create_link(
    conn: &mut DbConn,
    kind: &str,
    user_id: &str,
    project_id: Option<&str>,
) -> Result<String, ServiceError> {
    let at = now();
    diesel::update(
        security_requests::table
            .filter(security_requests::user_id.eq(user_id))
            .filter(security_requests::kind.eq(kind))
            .filter(security_requests::used_at.is_null())
            .filter(security_requests::superseded_at.is_null()),
    )
    .set(security_requests::superseded_at.eq(Some(at)))
    .execute(conn)?;
    let secret = random_secret();
    let request = SecurityRequest {
        id: new_id(),
        kind: kind.to_owned(),
        user_id: user_id.to_owned(),
        project_id: project_id.map(str::to_owned),
        secret_hash: hash_secret(&secret),
        created_at: at,
        expires_at: at + lifetime(kind),
        used_at: None,
        superseded_at: None,
    };
    diesel::insert_into(security_requests::table)
        .values(&request)
        .execute(conn)?;
    Ok(format!("/setpassword/{}/{}", request.id, secret))
}

/// Ends every open invite and reset link of the account: once a password is set, by any path,
/// no older link may set another.
pub fn cancel_links(conn: &mut DbConn, user_id: &str) -> Result<(), ServiceError> {
    diesel::update(
        security_requests::table
            .filter(security_requests::user_id.eq(user_id))
            .filter(security_requests::used_at.is_null())
            .filter(security_requests::superseded_at.is_null()),
    )
    .set(security_requests::superseded_at.eq(Some(now())))
    .execute(conn)?;
    Ok(())
}

/// Queues a reset email for every account with this address (there may be a server-wide
/// one and project-scoped ones). Returns how many were queued; callers must not reveal it.
#[tracing::instrument(skip_all)]
/// Counts a request for a reset link against the address, the sender and both together,
/// refusing past the limits (the page and the API alike).
pub fn count_reset_request(
    conn: &mut DbConn,
    limits: &crate::config::Limits,
    ip: &str,
    address: &str,
) -> Result<(), ServiceError> {
    use super::throttle::hit_and_check;
    let window = limits.reset_window;
    hit_and_check(
        conn,
        &format!("reset-ip:{ip}"),
        limits.reset_requests_per_ip,
        window,
    )?;
    hit_and_check(
        conn,
        &format!("reset-email-ip:{address}|{ip}"),
        limits.reset_requests_per_email_and_ip,
        window,
    )?;
    hit_and_check(
        conn,
        &format!("reset-email:{address}"),
        limits.reset_requests_per_email,
        window,
    )
}

pub fn request_reset(
    conn: &mut DbConn,
    email: &EmailAddress,
    base_url: &str,
) -> Result<usize, ServiceError> {
    let accounts: Vec<(User, Option<String>)> = users::table
        .left_join(projects::table.on(users::project_id.eq(projects::id.nullable())))
        .filter(users::email.eq(email.as_str()))
        .select((User::as_select(), projects::name.nullable()))
        .limit(5)
        .load(conn)?;
    for (user, project_name) in &accounts {
        db::transaction(conn, |conn| {
            let path = create_link(conn, KIND_RESET, &user.id, user.project_id.as_deref())?;
            let account = match project_name {
                Some(name) => format!("your account in the project {name}"),
                None => "your Rollcall account".to_owned(),
            };
            let email = emails::password_reset(
                &user.email,
                &user.first_name,
                &format!("{base_url}{path}"),
                &account,
            )?;
            outbox::enqueue(conn, &email)?;
            Ok::<_, ServiceError>(())
        })?;
    }
    Ok(accounts.len())
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    Invalid,
    Expired,
    Used,
    Superseded,
    /// An invitation whose membership is gone: the project cancelled it (or removed them).
    Withdrawn,
}

#[derive(Debug)]
pub enum LinkError {
    Problem(LinkProblem),
    Service(ServiceError),
}

impl From<ServiceError> for LinkError {
    fn from(e: ServiceError) -> Self {
        LinkError::Service(e)
    }
}

impl From<diesel::result::Error> for LinkError {
    fn from(e: diesel::result::Error) -> Self {
        LinkError::Service(e.into())
    }
}

pub struct LinkInfo {
    pub request: SecurityRequest,
    pub user: User,
}

/// A replaced invite link whose membership no longer exists was withdrawn, not replaced.
fn withdrawn_or(
    conn: &mut DbConn,
    request: &SecurityRequest,
    problem: LinkProblem,
) -> Result<LinkProblem, ServiceError> {
    let (LinkProblem::Superseded, KIND_INVITE, Some(project)) =
        (problem, request.kind.as_str(), &request.project_id)
    else {
        return Ok(problem);
    };
    let members: i64 = memberships::table
        .filter(memberships::user_id.eq(&request.user_id))
        .filter(memberships::project_id.eq(project))
        .count()
        .get_result(conn)?;
    Ok(if members == 0 {
        LinkProblem::Withdrawn
    } else {
        problem
    })
}

fn problem_with(request: &SecurityRequest, at: NaiveDateTime) -> Option<LinkProblem> {
    if request.used_at.is_some() {
        Some(LinkProblem::Used)
    } else if request.superseded_at.is_some() {
        Some(LinkProblem::Superseded)
    } else if request.expires_at <= at {
        Some(LinkProblem::Expired)
    } else {
        None
    }
}

/// A link that sets a password (an invitation or a reset), ready to use.
pub fn check_link(conn: &mut DbConn, id: &str, secret: &str) -> Result<LinkInfo, LinkError> {
    let info = check_any_link(conn, id, secret)?;
    if info.request.kind != KIND_INVITE && info.request.kind != KIND_RESET {
        return Err(LinkError::Problem(LinkProblem::Invalid));
    }
    Ok(info)
}

/// Uses a link up: of two requests with it, exactly one changes the row; the other is told it
/// was used.
pub fn claim_link(conn: &mut DbConn, request_id: &str, at: NaiveDateTime) -> Result<(), LinkError> {
    let claimed = diesel::update(
        security_requests::table
            .find(request_id)
            .filter(security_requests::used_at.is_null())
            .filter(security_requests::superseded_at.is_null()),
    )
    .set(security_requests::used_at.eq(Some(at)))
    .execute(conn)?;
    if claimed == 1 {
        Ok(())
    } else {
        Err(LinkError::Problem(LinkProblem::Used))
    }
}

/// A link of any kind, ready to use: known, its secret right, not used, replaced or expired.
pub fn check_any_link(conn: &mut DbConn, id: &str, secret: &str) -> Result<LinkInfo, LinkError> {
    let found = security_requests::table
        .inner_join(users::table)
        .filter(security_requests::id.eq(id))
        .select((SecurityRequest::as_select(), User::as_select()))
        .first::<(SecurityRequest, User)>(conn)
        .optional()?;
    let Some((request, user)) = found else {
        return Err(LinkError::Problem(LinkProblem::Invalid));
    };
    if !constant_time_eq(&request.secret_hash, &hash_secret(secret)) {
        return Err(LinkError::Problem(LinkProblem::Invalid));
    }
    if let Some(problem) = problem_with(&request, now()) {
        return Err(LinkError::Problem(withdrawn_or(conn, &request, problem)?));
    }
    Ok(LinkInfo { request, user })
}

pub struct PasswordSet {
    pub user_id: String,
    pub project_id: Option<String>,
    /// An invitation's link signs the person in (a new session, in the project they were
    /// invited to); a reset link leaves them to sign in with the new password.
    pub login_id: Option<String>,
}

/// Uses the link once (atomically: of two concurrent uses one wins), sets the password,
/// verifies the email, activates invited memberships and ends every session of the user.
#[tracing::instrument(skip_all, fields(id = %id))]
pub fn set_password(
    conn: &mut DbConn,
    id: &str,
    secret: &str,
    password_hash: &str,
    meta: &RequestMeta,
    policy: &SessionPolicy,
) -> Result<PasswordSet, LinkError> {
    db::transaction(conn, |conn| {
        let LinkInfo { request, user } = check_link(conn, id, secret)?;
        let at = now();
        claim_link(conn, &request.id, at)?;
        let stamp = new_security_stamp();
        diesel::update(users::table.find(&user.id))
            .set((
                users::password_hash.eq(Some(password_hash)),
                users::email_verified.eq(true),
                users::security_stamp.eq(&stamp),
                users::updated_at.eq(at),
            ))
            .execute(conn)?;
        cancel_links(conn, &user.id)?;
        // Following an invitation's link accepts that invitation. A project-scoped account
        // belongs to its project, so any way of setting its password accepts. Invitations of
        // other projects to a server-wide account wait for the person to accept them.
        let accepted = match (&user.project_id, request.kind.as_str(), &request.project_id) {
            (Some(own), _, _) => Some(own.clone()),
            (None, KIND_INVITE, Some(project)) => Some(project.clone()),
            _ => None,
        };
        if let Some(project_id) = accepted {
            super::invitations::accept_in(conn, &user.id, &project_id, at)?;
        }
        diesel::update(
            logins::table
                .filter(logins::user_id.eq(&user.id))
                .filter(logins::revoked_at.is_null()),
        )
        .set(logins::revoked_at.eq(Some(at)))
        .execute(conn)?;
        let action = if request.kind == KIND_INVITE {
            "user.invite_accepted"
        } else {
            "user.password_reset"
        };
        audit::record(
            conn,
            request.project_id.as_deref(),
            &Acting::user(&user, meta),
            action,
            None,
            "",
        )?;
        // The link proved the address; a second factor, where the account has one, is
        // still asked for before anything else.
        let login_id = if request.kind == KIND_INVITE {
            let user = User {
                security_stamp: stamp,
                ..user.clone()
            };
            let membership_id =
                auth::default_membership(conn, &user.id, request.project_id.as_deref())?;
            let new = NewSession {
                user: &user,
                method: "invite",
                remember: false,
                membership_id,
                mfa_verified: !user.mfa_enrolled,
                meta,
            };
            Some(auth::create_login(conn, new, policy)?)
        } else {
            None
        };
        Ok(PasswordSet {
            user_id: user.id,
            project_id: request.project_id,
            login_id,
        })
    })
}
