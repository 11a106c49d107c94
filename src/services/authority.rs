//! Who may do what to an account: the one place that says it.
//!
//! An account (User) is shared by every project it belongs to; a membership belongs to one
//! project. So a project admin governs the memberships of their project (admin, access
//! policy, active, removal), but the credentials of an account (password, two-factor,
//! sessions, email) only when the account is scoped to that very project. A server-wide
//! account's credentials are its owner's, and a super admin's; every action is audited.
//! Until the person behind an invitation accepts it, the project sees only what its admin
//! typed, nothing of the account.

use diesel::prelude::*;

use super::ServiceError;
use super::audit::Acting;
use crate::db::DbConn;
use crate::db::models::{Membership, Project, User};
use crate::db::schema::security_requests;

pub use crate::domain::MembershipStatus;

pub const OWNER_ACCOUNT: &str = "This is the project owner's account: only the owner can change its email address, password or two-factor authentication";

pub const SHARED_ACCOUNT: &str = "This person's account is shared with other projects: only they can change its password, two-factor authentication or sessions";

/// The project may act on this account's credentials: its own account, but never its
/// owner's (whose account would otherwise be any admin's to take: owner-only acts such as
/// handing the project over would follow), unless the owner acts themselves.
pub fn governs_credentials(by: &Acting, project: &Project, user: &User) -> bool {
    by.super_admin
        || (user.project_id.as_deref() == Some(project.id.as_str())
            && (user.id != project.owner_id || by.user_id.as_deref() == Some(user.id.as_str())))
}

pub fn require_credentials(
    by: &Acting,
    project: &Project,
    user: &User,
) -> Result<(), ServiceError> {
    if governs_credentials(by, project, user) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(if user.id == project.owner_id {
            OWNER_ACCOUNT.into()
        } else {
            SHARED_ACCOUNT.into()
        }))
    }
}

/// The project may email this account a link to set its first password: the account has an
/// address and no password yet, and it is the project's own, or this project's invite created
/// it (its first invite link is this project's). Such links only ever go to the account's
/// address; the only link an admin ever sees is the one for an account their request created.
pub fn may_send_invite_link(
    conn: &mut DbConn,
    by: &Acting,
    project: &Project,
    user: &User,
) -> Result<bool, ServiceError> {
    if user.password_hash.is_some() || user.email.is_empty() {
        return Ok(false);
    }
    if governs_credentials(by, project, user) {
        return Ok(true);
    }
    let first: Option<Option<String>> = security_requests::table
        .filter(security_requests::user_id.eq(&user.id))
        .filter(security_requests::kind.eq(super::recovery::KIND_INVITE))
        .order(security_requests::created_at.asc())
        .select(security_requests::project_id)
        .first(conn)
        .optional()?;
    Ok(first.flatten().as_deref() == Some(project.id.as_str()))
}

/// What the project sees of the account behind a membership (last sign-in, two-factor
/// state): nothing until the person has accepted.
pub fn sees_account(membership: &Membership) -> bool {
    membership.status == MembershipStatus::Active
}

/// Whether the project sees the account's current email address through this membership:
/// once the person accepted, and always for the project's own accounts. Until then it knows
/// the address it invited.
pub fn sees_address(membership: &Membership, user: &User) -> bool {
    sees_account(membership) || user.project_id.as_deref() == Some(membership.project_id.as_str())
}

/// The status a new membership of `user` starts with. A server-wide account that already
/// existed must accept first (as GitHub organisations do); a new account accepts by setting
/// its password from the invitation; the project's own accounts are the project's.
pub fn initial_status(project: &Project, user: &User, created_now: bool) -> MembershipStatus {
    let own = user.project_id.as_deref() == Some(project.id.as_str());
    if own && user.password_hash.is_some() && !created_now {
        MembershipStatus::Active
    } else {
        MembershipStatus::Invited
    }
}

/// A project-scoped account belongs to one project: it cannot create or join others.
pub fn may_create_projects(user: &User) -> bool {
    user.project_id.is_none()
}
