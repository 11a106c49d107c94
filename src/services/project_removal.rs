//! The owner deletes a project: every membership, profile, access policy, client application
//! and project-scoped account of it goes in one transaction; accounts shared with other
//! projects (server-scoped) stay, without this membership. Pending invitation emails are
//! withdrawn. The project's own audit log goes with it, so the deletion is recorded at server
//! level (no project), where super admins read it.

use diesel::prelude::*;

use super::audit::{self, Acting, Target};
use super::{ServiceError, outbox};
use crate::db::models::Project;
use crate::db::schema::{member_counts, memberships, outbox as outbox_table, projects, users};
use crate::db::{self, DbConn};

/// Values per statement when a list of ids is sent.
const CHUNK: usize = 500;

/// What went with the project, for the confirmation page and the audit event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    /// People's memberships (clients' are counted in `clients`).
    pub memberships: i64,
    pub clients: i64,
    /// Accounts that existed only in this project.
    pub project_accounts: i64,
    /// Server-wide accounts this project's invitations made that were never used (no
    /// password, no other project): they go too, as when an invitation is cancelled.
    pub unused_accounts: i64,
}

impl Removed {
    pub fn describe(&self) -> String {
        format!(
            "{} memberships, {} client applications, {} project-scoped accounts and {} unused invited accounts deleted; server-wide accounts kept",
            self.memberships, self.clients, self.project_accounts, self.unused_accounts
        )
    }
}

/// Only the owner (or a super admin) deletes a project.
pub fn may_delete(by: &Acting, project: &Project) -> bool {
    by.super_admin || by.user_id.as_deref() == Some(project.owner_id.as_str())
}

/// What deleting would remove, counted now.
pub fn preview(conn: &mut DbConn, project_id: &str) -> Result<Removed, ServiceError> {
    let people: i64 = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::user_id.is_not_null())
        .count()
        .get_result(conn)?;
    let clients: i64 = memberships::table
        .filter(memberships::project_id.eq(project_id))
        .filter(memberships::client_id.is_not_null())
        .count()
        .get_result(conn)?;
    let project_accounts: i64 = users::table
        .filter(users::project_id.eq(project_id))
        .count()
        .get_result(conn)?;
    Ok(Removed {
        memberships: people,
        clients,
        project_accounts,
        unused_accounts: unused_accounts(conn, project_id)?.len() as i64,
    })
}

/// Server-wide accounts never used (no password) whose only membership is in this project:
/// made by its invitations, they would otherwise stay behind, holding the names and address
/// its admins typed.
fn unused_accounts(conn: &mut DbConn, project_id: &str) -> Result<Vec<String>, ServiceError> {
    let candidates: Vec<String> = memberships::table
        .inner_join(users::table.on(users::id.nullable().eq(memberships::user_id)))
        .filter(memberships::project_id.eq(project_id))
        .filter(users::project_id.is_null())
        .filter(users::password_hash.is_null())
        .filter(users::super_admin.eq(false))
        .select(users::id)
        .load(conn)?;
    let mut elsewhere = std::collections::HashSet::new();
    // In chunks: a statement may carry only so many values.
    for chunk in candidates.chunks(CHUNK) {
        let found: Vec<String> = memberships::table
            .filter(memberships::project_id.ne(project_id))
            .filter(memberships::user_id.eq_any(chunk))
            .select(memberships::user_id.assume_not_null())
            .load(conn)?;
        elsewhere.extend(found);
    }
    Ok(candidates
        .into_iter()
        .filter(|id| !elsewhere.contains(id))
        .collect())
}

/// Deletes the project if `typed_name` is its name exactly (as shown; surrounding spaces
/// ignored). Refused for anyone but the owner or a super admin.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-")))]
pub fn delete(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    typed_name: &str,
) -> Result<Removed, ServiceError> {
    if !may_delete(by, project) {
        return Err(ServiceError::Forbidden(
            "Only the project's owner can delete it".into(),
        ));
    }
    if typed_name.trim() != project.name {
        return Err(ServiceError::invalid(
            "confirmName",
            format!(
                "Type the project's name, {}, exactly as shown to delete it",
                project.name
            ),
        ));
    }
    db::transaction(conn, |conn| {
        super::members::lock_project(conn, &project.id)?;
        // Read under the lock: the project may have been handed over or deleted meanwhile.
        let current = projects::table
            .find(&project.id)
            .select(Project::as_select())
            .first::<Project>(conn)
            .optional()?
            .ok_or(ServiceError::NotFound)?;
        if !may_delete(by, &current) {
            return Err(ServiceError::Conflict(super::Conflict::OwnerChanged));
        }
        let removed = preview(conn, &project.id)?;
        let unused = unused_accounts(conn, &project.id)?;
        diesel::update(
            outbox_table::table
                .filter(
                    outbox_table::id.nullable().eq_any(
                        memberships::table
                            .filter(memberships::project_id.eq(&project.id))
                            .select(memberships::invitation_email_id),
                    ),
                )
                .filter(outbox_table::status.eq(outbox::QUEUED)),
        )
        .set(outbox_table::status.eq(outbox::CANCELLED))
        .execute(conn)?;
        // Memberships first: they point at the profiles and policies the project's own
        // deletion then takes with it (with its accounts, links and audit events).
        diesel::delete(memberships::table.filter(memberships::project_id.eq(&project.id)))
            .execute(conn)?;
        diesel::delete(member_counts::table.filter(member_counts::project_id.eq(&project.id)))
            .execute(conn)?;
        for chunk in unused.chunks(CHUNK) {
            diesel::delete(users::table.filter(users::id.eq_any(chunk))).execute(conn)?;
        }
        diesel::delete(projects::table.find(&project.id)).execute(conn)?;
        audit::record(
            conn,
            None,
            by,
            "project.deleted",
            Some(Target {
                kind: "Project",
                id: &project.id,
                display: &project.name,
            }),
            &removed.describe(),
        )?;
        Ok(removed)
    })
}
