//! Handing a project over and leaving it. The owner hands the project to another admin (both
//! are emailed); a member leaves, but never the owner (who hands over first) nor the last
//! admin, by the same rules as removal.

use diesel::prelude::*;

use super::change::{Removal, remove_as};
use super::{Acting, lock_project};
use crate::db::models::Project;
use crate::db::schema::{memberships, profiles, projects, users};
use crate::db::{self, DbConn};
use crate::domain::MembershipStatus;
use crate::services::audit::{self, Target};
use crate::services::{ServiceError, emails, now, outbox};

/// An admin the owner may hand the project to: a person who accepted and is not suspended.
#[derive(Debug, Clone)]
pub struct Successor {
    pub membership_id: String,
    pub user_id: String,
    pub name: String,
    pub email: String,
}

/// The project's admins who could become its owner (everyone but the owner).
pub fn successors(conn: &mut DbConn, project: &Project) -> Result<Vec<Successor>, ServiceError> {
    let rows: Vec<(String, String, String, String, String)> = memberships::table
        .inner_join(profiles::table)
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::project_id.eq(&project.id))
        .filter(memberships::admin.eq(true))
        .filter(memberships::active.eq(true))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .filter(users::id.ne(&project.owner_id))
        .select((
            memberships::id,
            users::id,
            profiles::first_name,
            profiles::last_name,
            users::email,
        ))
        .order((memberships::sort_first.asc(), memberships::id.asc()))
        .limit(500)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(membership_id, user_id, first, last, email)| Successor {
            membership_id,
            user_id,
            name: format!("{first} {last}").trim().to_owned(),
            email,
        })
        .collect())
}

/// One successor by membership id, or a field error for the form.
pub fn successor(
    conn: &mut DbConn,
    project: &Project,
    membership_id: &str,
) -> Result<Successor, ServiceError> {
    successors(conn, project)?
        .into_iter()
        .find(|s| s.membership_id == membership_id)
        .ok_or_else(|| {
            ServiceError::invalid(
                "newOwner",
                "Choose an admin of this project who has accepted and is not suspended",
            )
        })
}

/// Makes another admin the owner. Only the owner (or a super admin) may; the previous owner
/// stays an admin. Both are emailed and the audit log records it.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-")))]
pub fn transfer(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    new_owner_membership: &str,
    base_url: &str,
) -> Result<Successor, ServiceError> {
    if by.user_id.as_deref() != Some(project.owner_id.as_str()) && !by.super_admin {
        return Err(ServiceError::Forbidden(
            "Only the project's owner can hand it over".into(),
        ));
    }
    db::transaction(conn, |conn| {
        lock_project(conn, &project.id)?;
        // Read under the lock: the owner may have changed since the page was shown.
        let current: String = projects::table
            .find(&project.id)
            .select(projects::owner_id)
            .first(conn)?;
        if current != project.owner_id {
            return Err(ServiceError::Conflict(
                crate::services::Conflict::OwnerChanged,
            ));
        }
        let next = successor(conn, project, new_owner_membership)?;
        let (old_first, old_last, old_email): (String, String, String) = users::table
            .find(&project.owner_id)
            .select((users::first_name, users::last_name, users::email))
            .first(conn)?;
        let old_name = format!("{old_first} {old_last}").trim().to_owned();
        diesel::update(projects::table.find(&project.id))
            .set((
                projects::owner_id.eq(&next.user_id),
                projects::updated_at.eq(now()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            Some(&project.id),
            by,
            "project.ownership_transferred",
            Some(Target {
                kind: "Project",
                id: &project.id,
                display: &project.name,
            }),
            &format!("from {old_name} to {}", next.name),
        )?;
        let url = format!("{base_url}/");
        for (to, first, becomes_owner) in [
            (&next.email, next.name.as_str(), true),
            (&old_email, old_first.as_str(), false),
        ] {
            if to.is_empty() {
                continue;
            }
            let email = emails::ownership_transferred(
                to,
                first,
                &project.name,
                &old_name,
                &next.name,
                becomes_owner,
                &url,
            )?;
            outbox::enqueue(conn, &email)?;
        }
        Ok(next)
    })
}

/// Leaves a project. The owner hands it over first; the last admin makes someone else an
/// admin first; a project's own account, left with no project, is deleted with its
/// membership (the confirmation says so).
#[tracing::instrument(skip_all, fields(project = %project.id, membership = %membership_id))]
pub fn leave(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
) -> Result<String, ServiceError> {
    remove_as(conn, project, by, membership_id, Removal::Leave)
}
