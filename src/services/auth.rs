//! Sign-in and sessions. A session is a Login row; the cookie holds only its id, and every
//! request re-checks that the Login is live and the user's credentials have not changed.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::domain::{MembershipStatus, ProfileType};

use super::{RequestMeta, ServiceError, new_id, now, random_secret};
use crate::db::DbConn;
use crate::db::models::{Login, Membership, Project, User};
use crate::db::schema::{
    access_policies, client_applications, logins, memberships, profiles, projects, users,
};
use crate::domain::EmailAddress;

/// How long may pass between requests before `last_seen_at` is written again.
const LAST_SEEN_GRANULARITY_SECONDS: i64 = 60;
/// At most this many accounts share one address (one server-wide, the rest project-scoped).
const MAX_CANDIDATES: i64 = 5;

/// The project a signed-in user is working in.
#[derive(Debug, Clone)]
pub struct CurrentMembership {
    pub id: String,
    pub project_id: String,
    pub project_name: String,
    /// The project itself, read with the session (the admin pages need it, and one query
    /// less per request than reading it again).
    pub project: Project,
    pub admin: bool,
    pub profile_id: Option<String>,
    /// The member must use two-factor authentication (their invite or the project says so).
    pub mfa_required: bool,
    /// `/profiles/{id}/photo?v=...` when the member has a photo.
    pub photo_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionContext {
    pub login_id: String,
    pub user: User,
    pub membership: Option<CurrentMembership>,
    /// The second factor was checked for this session (or the user has none).
    pub mfa_verified: bool,
    /// When this session signed in.
    pub signed_in_at: NaiveDateTime,
}

/// Where a profile's photo is served; the version makes a new photo bypass caches.
pub fn photo_url(profile_id: &str, updated_at: NaiveDateTime) -> String {
    format!(
        "/profiles/{profile_id}/photo?v={}",
        updated_at.and_utc().timestamp()
    )
}

/// The session timing rules, from settings.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub lifetime: Duration,
}

fn is_live(login: &Login, user: &User, policy: &SessionPolicy, at: NaiveDateTime) -> bool {
    login.revoked_at.is_none()
        && at < login.expires_at
        && (login.remember || at - login.last_seen_at < policy.idle_timeout)
        && login.security_stamp == user.security_stamp
}

/// Loads a browser session, or `None` when it is unknown, revoked, expired, or predates a
/// change of the user's credentials.
pub fn load_session(
    conn: &mut DbConn,
    login_id: &str,
    policy: &SessionPolicy,
) -> Result<Option<SessionContext>, ServiceError> {
    let at = now();
    let Some((login, user)) = logins::table
        .inner_join(users::table)
        .filter(logins::id.eq(login_id))
        .select((Login::as_select(), User::as_select()))
        .first::<(Login, User)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if !is_live(&login, &user, policy, at) {
        return Ok(None);
    }
    let membership = match &login.membership_id {
        Some(mid) => memberships::table
            .inner_join(projects::table)
            .left_join(profiles::table)
            .filter(memberships::id.eq(mid))
            .filter(memberships::user_id.eq(&user.id))
            .filter(memberships::active.eq(true))
            .filter(memberships::status.eq(MembershipStatus::Active))
            .select((
                Membership::as_select(),
                Project::as_select(),
                profiles::photo_updated_at.nullable(),
            ))
            .first::<(Membership, Project, Option<NaiveDateTime>)>(conn)
            .optional()?
            .map(|(m, project, photo_at)| CurrentMembership {
                photo_url: photo_at
                    .zip(m.profile_id.as_ref())
                    .map(|(at, id)| photo_url(id, at)),
                id: m.id,
                project_id: m.project_id,
                project_name: project.name.clone(),
                admin: m.admin,
                profile_id: m.profile_id,
                mfa_required: m.mfa_required || project.require_mfa,
                project,
            }),
        None => None,
    };
    if at - login.last_seen_at > Duration::seconds(LAST_SEEN_GRANULARITY_SECONDS) {
        diesel::update(logins::table.find(&login.id))
            .set(logins::last_seen_at.eq(at))
            .execute(conn)?;
    }
    Ok(Some(SessionContext {
        mfa_verified: login.mfa_verified || !user.mfa_enrolled,
        signed_in_at: login.created_at,
        login_id: login.id,
        user,
        membership,
    }))
}

/// Accounts that may be signing in with this address: the project-scoped one of
/// `project_hint` when given, else the server-wide account first, then project-scoped ones.
pub fn signin_candidates(
    conn: &mut DbConn,
    email: &EmailAddress,
    project_hint: Option<&str>,
) -> Result<Vec<User>, ServiceError> {
    let mut query = users::table
        .filter(users::email.eq(email.as_str()))
        .select(User::as_select())
        .into_boxed();
    if let Some(project) = project_hint {
        query = query.filter(
            users::project_id
                .is_null()
                .or(users::project_id.eq(project)),
        );
    }
    let mut found: Vec<User> = query
        .order(users::created_at.asc())
        .limit(MAX_CANDIDATES)
        .load(conn)?;
    // Server-wide first, then the hinted project's account.
    found.sort_by_key(|u| {
        (
            u.project_id.is_some(),
            u.project_id.as_deref() != project_hint,
        )
    });
    Ok(found)
}

/// The one account a password sign-in is checked against, so that every attempt costs one
/// hash: the hinted project's own account when it has a password, else the server-wide
/// account, else the oldest project-scoped one.
pub fn signin_account(
    conn: &mut DbConn,
    email: &EmailAddress,
    project_hint: Option<&str>,
) -> Result<Option<User>, ServiceError> {
    let candidates = signin_candidates(conn, email, project_hint)?;
    // A project's account without a password cannot be the one meant (and must not stand in
    // front of a member's server-wide account).
    let hinted = project_hint.and_then(|hint| {
        candidates
            .iter()
            .position(|u| u.project_id.as_deref() == Some(hint) && u.password_hash.is_some())
    });
    let mut candidates = candidates;
    Ok(match hinted {
        Some(i) => Some(candidates.swap_remove(i)),
        None => candidates.into_iter().next(),
    })
}

pub struct NewSession<'a> {
    pub user: &'a User,
    pub method: &'a str,
    pub remember: bool,
    pub membership_id: Option<String>,
    pub mfa_verified: bool,
    pub meta: &'a RequestMeta,
}

pub fn create_login(
    conn: &mut DbConn,
    new: NewSession<'_>,
    policy: &SessionPolicy,
) -> Result<String, ServiceError> {
    let at = now();
    let login = Login {
        id: new_id(),
        user_id: Some(new.user.id.clone()),
        client_id: None,
        membership_id: new.membership_id,
        method: new.method.to_owned(),
        remember: new.remember,
        token_hash: None,
        security_stamp: new.user.security_stamp.clone(),
        mfa_verified: new.mfa_verified,
        ip: new.meta.ip.clone(),
        user_agent: new
            .meta
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(400).collect()),
        created_at: at,
        last_seen_at: at,
        expires_at: at + policy.lifetime,
        revoked_at: None,
    };
    diesel::insert_into(logins::table)
        .values(&login)
        .execute(conn)?;
    diesel::update(users::table.find(&new.user.id))
        .set(users::last_signin_at.eq(Some(at)))
        .execute(conn)?;
    if let Some(membership_id) = &login.membership_id {
        signed_in_to(conn, membership_id, at)?;
    }
    Ok(login.id)
}

/// Records a sign-in into a project (the Users tab's "Last sign-in").
fn signed_in_to(
    conn: &mut DbConn,
    membership_id: &str,
    at: chrono::NaiveDateTime,
) -> Result<(), ServiceError> {
    diesel::update(memberships::table.find(membership_id))
        .set(memberships::last_signin_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

pub fn revoke_login(conn: &mut DbConn, login_id: &str) -> Result<(), ServiceError> {
    diesel::update(
        logins::table
            .find(login_id)
            .filter(logins::revoked_at.is_null()),
    )
    .set(logins::revoked_at.eq(Some(now())))
    .execute(conn)?;
    Ok(())
}

/// A project the user can switch to.
#[derive(Debug, Clone)]
pub struct MembershipChoice {
    pub membership_id: String,
    pub project_id: String,
    pub project_name: String,
    pub admin: bool,
    pub profile_type: ProfileType,
    /// When this project's profile photo was last uploaded, and its address.
    pub photo: Option<(NaiveDateTime, String)>,
}

/// The projects where this person's membership is suspended, by name: to tell them why a
/// project is missing.
pub fn suspended_in(conn: &mut DbConn, user_id: &str) -> Result<Vec<String>, ServiceError> {
    Ok(memberships::table
        .inner_join(projects::table)
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::active.eq(false))
        .select(projects::name)
        .order(projects::name.asc())
        .limit(20)
        .load(conn)?)
}

/// The user's active memberships, by project name; `filter` narrows by name.
pub fn memberships_of(
    conn: &mut DbConn,
    user_id: &str,
    filter: Option<&str>,
) -> Result<Vec<MembershipChoice>, ServiceError> {
    let mut query = memberships::table
        .inner_join(projects::table)
        .left_join(profiles::table)
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::active.eq(true))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .select((
            memberships::id,
            projects::id,
            projects::name,
            memberships::admin,
            profiles::resource_type.nullable(),
            profiles::id.nullable(),
            profiles::photo_updated_at.nullable(),
        ))
        .order((projects::name.asc(), projects::id.asc()))
        .into_boxed();
    if let Some(q) = filter.map(str::trim).filter(|q| !q.is_empty()) {
        query = query.filter(
            projects::name
                .like(format!("%{}%", escape_like(q)))
                .escape('\\'),
        );
    }
    type Row = (
        String,
        String,
        String,
        bool,
        Option<ProfileType>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = query.limit(500).load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(membership_id, project_id, project_name, admin, t, profile, photo_at)| {
                MembershipChoice {
                    membership_id,
                    project_id,
                    project_name,
                    admin,
                    profile_type: t.unwrap_or_default(),
                    photo: profile
                        .zip(photo_at)
                        .map(|(id, at)| (at, photo_url(&id, at))),
                }
            },
        )
        .collect())
}

pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Makes one of the user's memberships the session's current project.
pub fn select_membership(
    conn: &mut DbConn,
    login_id: &str,
    user_id: &str,
    membership_id: &str,
) -> Result<Project, ServiceError> {
    let project = memberships::table
        .inner_join(projects::table)
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::active.eq(true))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .select(Project::as_select())
        .first::<Project>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    diesel::update(logins::table.find(login_id))
        .set(logins::membership_id.eq(Some(membership_id)))
        .execute(conn)?;
    signed_in_to(conn, membership_id, now())?;
    Ok(project)
}

/// What an admin page's address can name.
#[derive(Debug, Clone, Copy)]
pub enum Held {
    Member,
    Policy,
    Client,
}

/// The person's own admin membership of the project that holds `id`, when they have one: a
/// page of another of their projects can offer to switch. Nothing is said of a project they
/// do not administer.
pub fn admin_membership_holding(
    conn: &mut DbConn,
    user_id: &str,
    held: Held,
    id: &str,
) -> Result<Option<MembershipChoice>, ServiceError> {
    let project_id: Option<String> = match held {
        Held::Member => memberships::table
            .find(id)
            .select(memberships::project_id)
            .first(conn)
            .optional()?,
        Held::Policy => access_policies::table
            .find(id)
            .select(access_policies::project_id)
            .first(conn)
            .optional()?,
        Held::Client => client_applications::table
            .find(id)
            .select(client_applications::project_id)
            .first(conn)
            .optional()?,
    };
    let Some(project_id) = project_id else {
        return Ok(None);
    };
    Ok(memberships_of(conn, user_id, None)?
        .into_iter()
        .find(|c| c.project_id == project_id && c.admin))
}

/// The membership a fresh sign-in should start in: the hinted project's, or the only one.
pub fn default_membership(
    conn: &mut DbConn,
    user_id: &str,
    project_hint: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    let choices = memberships_of(conn, user_id, None)?;
    if let Some(hint) = project_hint
        && let Some(c) = choices.iter().find(|c| c.project_id == hint)
    {
        return Ok(Some(c.membership_id.clone()));
    }
    Ok(if choices.len() == 1 {
        Some(choices[0].membership_id.clone())
    } else {
        None
    })
}

/// A fresh value for the user's security stamp: changing it ends every session.
pub fn new_security_stamp() -> String {
    random_secret()
}
