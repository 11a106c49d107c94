//! Project members: the Users and Patients lists (`list`), one member's page, the rules for
//! changing and removing memberships (`change`), and the admin actions that email the person
//! (`actions`). Every lookup is limited to the admin's project: another project's id is "not
//! found".

mod actions;
pub mod bulk;
mod change;
mod counts;
mod cursor;
mod list;
pub mod ownership;
pub mod pending;
mod record;
mod search;

use diesel::prelude::*;

use crate::domain::MembershipStatus;

pub use super::audit::Acting;
use super::audit::Target;
use super::{ServiceError, authority};
use crate::db::DbConn;
use crate::db::models::{Membership, Profile, Project, User};
use crate::db::schema::{client_applications, memberships, profiles, projects, users};
pub use actions::{resend_invite, reset_mfa, send_password_reset};
pub use change::{
    MembershipChange, Removal, adjust, apply_change, change, remove, remove_as, set_active, update,
};
pub use cursor::{Cursor, SortKey};
pub use list::{
    Filters, ListQuery, MemberKind, MemberPage, MemberRow, SEARCH_COUNT_CAP, Total, ids_matching,
    list,
};
pub use record::{edit_profile, names_locked};

pub const PAGE_SIZE: i64 = 50;

pub struct MemberDetail {
    pub membership: Membership,
    pub profile: Profile,
    /// The account. Pages show its sign-in and two-factor state only when `sees_account`.
    pub user: User,
    pub invited_by: Option<String>,
    pub is_owner: bool,
    /// The person accepted: the project may see their account's state.
    pub sees_account: bool,
    /// What became of the invitation email, while the invitation is open and one was sent.
    pub delivery: Option<pending::Delivery>,
}

impl MemberDetail {
    /// The address the project knows the person by (see `authority::sees_address`).
    pub fn email(&self) -> &str {
        if super::authority::sees_address(&self.membership, &self.user) {
            &self.user.email
        } else {
            &self.membership.email
        }
    }
}

/// One person's membership of this project.
pub fn get(
    conn: &mut DbConn,
    project: &Project,
    membership_id: &str,
) -> Result<MemberDetail, ServiceError> {
    let (membership, profile, user) = memberships::table
        .inner_join(profiles::table)
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::project_id.eq(&project.id))
        .select((
            Membership::as_select(),
            Profile::as_select(),
            User::as_select(),
        ))
        .first::<(Membership, Profile, User)>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    let invited_by = match &membership.invited_by {
        Some(id) => users::table
            .find(id)
            .select((users::first_name, users::last_name))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(f, l)| format!("{f} {l}")),
        None => None,
    };
    let delivery = if membership.status == MembershipStatus::Invited {
        let email: Option<String> = memberships::table
            .find(&membership.id)
            .select(memberships::invitation_email_id)
            .first(conn)?;
        match email {
            Some(id) => pending::deliveries(conn, &[&id])?
                .remove(&id)
                .map(|(delivery, _)| delivery),
            None => None,
        }
    } else {
        None
    };
    Ok(MemberDetail {
        delivery,
        is_owner: user.id == project.owner_id,
        sees_account: authority::sees_account(&membership),
        membership,
        profile,
        user,
        invited_by,
    })
}

/// Serialises admin changes within one project: on PostgreSQL by locking the project row (so
/// two admins demoting each other cannot both pass the last-admin check); SQLite's
/// `BEGIN IMMEDIATE` already lets one writer in at a time.
pub(crate) fn lock_project(conn: &mut DbConn, project_id: &str) -> Result<(), ServiceError> {
    if let DbConn::Postgres(pg) = conn {
        projects::table
            .find(project_id)
            .select(projects::id)
            .for_update()
            .first::<String>(pg)?;
    }
    Ok(())
}

/// The acting person is still an admin of the project, read inside the change's transaction
/// after `lock_project`: an admin demoted or suspended a moment ago (by another admin, at the
/// same time) cannot finish a change their request began while they still were one. Super
/// admins act on every project; a client's token has no person to check (its membership was
/// checked at the request, and deactivating it ends its tokens).
pub(crate) fn ensure_still_admin(
    conn: &mut DbConn,
    project_id: &str,
    by: &Acting,
) -> Result<(), ServiceError> {
    let Some(user_id) = by.user_id.as_deref().filter(|_| !by.super_admin) else {
        return Ok(());
    };
    let admins: i64 = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::admin.eq(true))
        .filter(memberships::active.eq(true))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .count()
        .get_result(conn)?;
    if admins == 0 {
        return Err(ServiceError::Forbidden(
            "You are no longer an admin of this project".into(),
        ));
    }
    Ok(())
}

/// Admins who can act: people (not clients) whose membership is active and accepted.
pub(crate) fn other_admins(
    conn: &mut DbConn,
    project_id: &str,
    membership_id: &str,
) -> Result<i64, ServiceError> {
    Ok(memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::admin.eq(true))
        .filter(memberships::active.eq(true))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .filter(memberships::user_id.is_not_null())
        .filter(memberships::id.ne(membership_id))
        .count()
        .get_result(conn)?)
}

pub(super) fn target<'a>(detail: &'a MemberDetail, name: &'a str) -> Target<'a> {
    Target {
        kind: "ProjectMembership",
        id: &detail.membership.id,
        display: name,
    }
}

pub(super) fn display_name(p: &Profile) -> String {
    format!("{} {}", p.first_name, p.last_name)
}

/// A membership of this project, a person's or a client application's, with the name the
/// audit log shows for it.
pub struct MemberRef {
    pub membership: Membership,
    pub user: Option<User>,
    pub name: String,
}

/// Loads any membership of this project (person or client); another project's is not found.
pub fn load_member(
    conn: &mut DbConn,
    project_id: &str,
    membership_id: &str,
) -> Result<MemberRef, ServiceError> {
    let membership = memberships::table
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::project_id.eq(project_id))
        .select(Membership::as_select())
        .first::<Membership>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    let names = match &membership.profile_id {
        Some(id) => profiles::table
            .find(id)
            .select((profiles::first_name, profiles::last_name))
            .first::<(String, String)>(conn)
            .optional()?,
        None => None,
    };
    let user = match &membership.user_id {
        Some(id) => users::table
            .find(id)
            .select(User::as_select())
            .first::<User>(conn)
            .optional()?,
        None => None,
    };
    let client_name = match &membership.client_id {
        Some(id) => client_applications::table
            .find(id)
            .select(client_applications::name)
            .first::<String>(conn)
            .optional()?,
        None => None,
    };
    let name = match (names, client_name) {
        (Some((first, last)), _) => format!("{first} {last}"),
        (None, Some(client)) => client,
        (None, None) => membership.id.clone(),
    };
    Ok(MemberRef {
        membership,
        user,
        name,
    })
}
