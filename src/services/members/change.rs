//! Changing and removing memberships: the owner and last-admin rules, in one place.

use crate::services::Conflict;
use diesel::prelude::*;

use crate::domain::MembershipStatus;

use super::{Acting, MemberRef, ensure_still_admin, load_member, lock_project, other_admins};
use crate::db::models::{Membership, Project};
use crate::db::schema::{access_policies, logins, memberships, users};
use crate::db::{self, DbConn};
use crate::services::audit::{self, Target};
use crate::services::{ServiceError, now};

/// What an admin may change on a membership. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MembershipChange {
    pub admin: bool,
    pub access_policy_id: Option<String>,
    pub active: Option<bool>,
    pub external_id: Option<Option<String>>,
}

/// Saves the admin flag and access policy (the member page).
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn update(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    admin: bool,
    access_policy_id: Option<String>,
) -> Result<Membership, ServiceError> {
    change(
        conn,
        project,
        by,
        membership_id,
        MembershipChange {
            admin,
            access_policy_id,
            ..MembershipChange::default()
        },
    )
}

/// Suspends (`active: false`) or reactivates a membership, keeping its admin flag and access
/// policy: a suspended member keeps their membership and data but cannot use the project
/// (sign-in, sessions, tokens) until reactivated, without a new invitation.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn set_active(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    active: bool,
) -> Result<Membership, ServiceError> {
    // A client application's membership is ended on the client's own page (deactivating it
    // ends its tokens for good); it has no member page to be suspended from.
    let client: Option<Option<String>> = memberships::table
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::project_id.eq(&project.id))
        .select(memberships::client_id)
        .first(conn)
        .optional()?;
    if !matches!(client, Some(None)) {
        return Err(ServiceError::NotFound);
    }
    adjust(conn, project, by, membership_id, |c| {
        c.active = Some(active)
    })
}

/// Changes one thing of a membership (`edit` gets the current admin flag and policy), in its
/// own transaction, by the rules of `apply_change`. A refusal by the owner or last-admin
/// rule is a conflict with the project here (the member page and bulk actions have no form
/// field to show it next to).
pub fn adjust(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    edit: impl FnOnce(&mut MembershipChange),
) -> Result<Membership, ServiceError> {
    db::transaction(conn, |conn| {
        // Locked before reading, so a concurrent change of admin or policy is not undone.
        lock_project(conn, &project.id)?;
        let current = load_member(conn, &project.id, membership_id)?.membership;
        let is_owner = current.user_id.as_deref() == Some(project.owner_id.as_str());
        let mut change = MembershipChange {
            admin: current.admin,
            access_policy_id: current.access_policy_id,
            active: Some(current.active),
            external_id: None,
        };
        edit(&mut change);
        apply_change(conn, project, by, membership_id, change).map_err(|e| match e {
            ServiceError::Invalid(errors)
                if errors.get("active").is_some() || errors.get("admin").is_some() =>
            {
                ServiceError::Conflict(if is_owner {
                    Conflict::OwnerStays
                } else {
                    Conflict::LastAdmin
                })
            }
            other => other,
        })
    })
}

fn member_target<'a>(member: &'a MemberRef) -> Target<'a> {
    Target {
        kind: "ProjectMembership",
        id: &member.membership.id,
        display: &member.name,
    }
}

/// Changes a membership, in its own transaction: see `apply_change`.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn change(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    change: MembershipChange,
) -> Result<Membership, ServiceError> {
    db::transaction(conn, |conn| {
        apply_change(conn, project, by, membership_id, change)
    })
}

/// Every change of a membership's `admin` or `active`, by any path (member page, API POST
/// and PATCH, invite with upsert), goes through here, inside the caller's transaction. The
/// owner stays admin and active; the last active admin can be neither demoted nor
/// deactivated, checked under the project lock so concurrent changes cannot both pass.
/// Deactivating a client's membership ends its tokens for good.
pub fn apply_change(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    change: MembershipChange,
) -> Result<Membership, ServiceError> {
    lock_project(conn, &project.id)?;
    ensure_still_admin(conn, &project.id, by)?;
    let member = load_member(conn, &project.id, membership_id)?;
    let old = &member.membership;
    if let Some(policy) = &change.access_policy_id {
        crate::services::policies::ensure_in_project(conn, &project.id, policy, "accessPolicy")?;
    }
    let active = change.active.unwrap_or(old.active);
    let external_id = change
        .external_id
        .unwrap_or_else(|| old.external_id.clone());
    let is_owner = old.user_id.as_deref() == Some(project.owner_id.as_str());
    if is_owner && !(change.admin && active) {
        let field = if change.admin { "active" } else { "admin" };
        return Err(ServiceError::invalid(
            field,
            Conflict::OwnerStays.to_string(),
        ));
    }
    let counts_as_admin =
        old.admin && old.active && old.status == MembershipStatus::Active && old.user_id.is_some();
    if counts_as_admin
        && !(change.admin && active)
        && other_admins(conn, &project.id, membership_id)? == 0
    {
        let field = if change.admin { "active" } else { "admin" };
        return Err(ServiceError::invalid(
            field,
            Conflict::LastAdmin.to_string(),
        ));
    }
    if old.client_id.is_some() && old.active && !active {
        diesel::update(
            logins::table
                .filter(logins::membership_id.eq(membership_id))
                .filter(logins::revoked_at.is_null()),
        )
        .set(logins::revoked_at.eq(Some(now())))
        .execute(conn)?;
    }
    diesel::update(memberships::table.find(membership_id))
        .set((
            memberships::admin.eq(change.admin),
            memberships::access_policy_id.eq(&change.access_policy_id),
            memberships::active.eq(active),
            memberships::external_id.eq(&external_id),
            memberships::updated_at.eq(now()),
        ))
        .execute(conn)
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                ServiceError::Conflict(Conflict::ExternalIdTaken)
            } else {
                e.into()
            }
        })?;
    let new = memberships::table
        .find(membership_id)
        .select(Membership::as_select())
        .first::<Membership>(conn)?;
    record_changes(conn, project, by, &member, &new)?;
    Ok(new)
}

/// One audit event per kind of change between the membership before (`member`) and after.
fn record_changes(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    member: &MemberRef,
    new: &Membership,
) -> Result<(), ServiceError> {
    let old = &member.membership;
    let mut events: Vec<(&str, String)> = Vec::new();
    if old.admin != new.admin {
        let action = if new.admin {
            "member.promoted"
        } else {
            "member.demoted"
        };
        events.push((action, String::new()));
    }
    if old.access_policy_id != new.access_policy_id {
        let policy_name = match &new.access_policy_id {
            Some(id) => access_policies::table
                .find(id)
                .select(access_policies::name)
                .first::<String>(conn)?,
            None => "none".into(),
        };
        events.push((
            "member.policy_changed",
            format!("access policy: {policy_name}"),
        ));
    }
    if old.active != new.active {
        let action = if new.active {
            "member.reactivated"
        } else {
            "member.suspended"
        };
        events.push((action, String::new()));
    }
    if old.external_id != new.external_id {
        events.push((
            "member.updated",
            format!(
                "externalId: {}",
                new.external_id.as_deref().unwrap_or("none")
            ),
        ));
    }
    for (action, detail) in events {
        audit::record(
            conn,
            Some(&project.id),
            by,
            action,
            Some(member_target(member)),
            &detail,
        )?;
    }
    Ok(())
}

/// Why a membership is taken away: the audit log and the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// An admin removes a member (invited or not).
    Member,
    /// An admin withdraws an invitation that was not accepted yet.
    CancelInvitation,
    /// The member leaves the project themselves.
    Leave,
}

/// Removes a member: see `remove_as`.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn remove(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
) -> Result<String, ServiceError> {
    remove_as(conn, project, by, membership_id, Removal::Member)
}

/// Takes a membership away: the membership goes, the profile stays for the record, and a
/// project-scoped user left with no membership is deleted. The member's sessions and tokens
/// for this project lose it with the membership row. Cancelling an invitation also withdraws
/// its email if still unsent, and is refused once the person has accepted.
pub fn remove_as(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    why: Removal,
) -> Result<String, ServiceError> {
    db::transaction(conn, |conn| {
        lock_project(conn, &project.id)?;
        if why != Removal::Leave {
            ensure_still_admin(conn, &project.id, by)?;
        }
        let member = load_member(conn, &project.id, membership_id)?;
        let user = member.user.as_ref();
        if why == Removal::Leave && user.is_none_or(|u| Some(&u.id) != by.user_id.as_ref()) {
            return Err(ServiceError::Forbidden(
                "Only the member can leave a project".into(),
            ));
        }
        if user.is_some_and(|u| u.id == project.owner_id) {
            return Err(ServiceError::Conflict(if why == Removal::Leave {
                Conflict::OwnerMustHandOver
            } else {
                Conflict::OwnerRemoval
            }));
        }
        let m = &member.membership;
        if why == Removal::CancelInvitation && m.status != MembershipStatus::Invited {
            return Err(ServiceError::Conflict(Conflict::AlreadyAccepted));
        }
        if m.admin
            && m.active
            && m.status == MembershipStatus::Active
            && user.is_some()
            && other_admins(conn, &project.id, membership_id)? == 0
        {
            return Err(ServiceError::Conflict(Conflict::LastAdmin));
        }
        let email_id: Option<String> = memberships::table
            .find(membership_id)
            .select(memberships::invitation_email_id)
            .first(conn)?;
        diesel::delete(memberships::table.find(membership_id)).execute(conn)?;
        // A project's own account goes with its last membership; so does an account an
        // invitation made that was never used (no password), when that invitation is cancelled.
        let owned_here = |u: &&crate::db::models::User| {
            u.project_id.as_deref() == Some(project.id.as_str())
                || (why == Removal::CancelInvitation
                    && u.project_id.is_none()
                    && u.password_hash.is_none())
        };
        if let Some(user) = user.filter(owned_here) {
            let left: i64 = memberships::table
                .filter(memberships::user_id.eq(&user.id))
                .count()
                .get_result(conn)?;
            if left == 0 {
                diesel::delete(users::table.find(&user.id)).execute(conn)?;
            }
        }
        let action = match why {
            Removal::Member => "member.removed",
            Removal::Leave => "member.left",
            Removal::CancelInvitation => {
                if let Some(id) = &email_id {
                    crate::services::outbox::cancel_unsent(conn, id)?;
                }
                if let Some(user) = user {
                    cancel_invite_links(conn, &user.id, &project.id)?;
                }
                "invitation.cancelled"
            }
        };
        audit::record(
            conn,
            Some(&project.id),
            by,
            action,
            Some(member_target(&member)),
            user.map_or("", |u| u.email.as_str()),
        )?;
        Ok(member.name.clone())
    })
}

/// Ends the open invite links of this account for this project (an account of its own, with
/// other memberships, stays).
fn cancel_invite_links(
    conn: &mut DbConn,
    user_id: &str,
    project_id: &str,
) -> Result<(), ServiceError> {
    use crate::db::schema::security_requests;
    diesel::update(
        security_requests::table
            .filter(security_requests::user_id.eq(user_id))
            .filter(security_requests::project_id.eq(project_id))
            .filter(security_requests::kind.eq(crate::services::recovery::KIND_INVITE))
            .filter(security_requests::used_at.is_null())
            .filter(security_requests::superseded_at.is_null()),
    )
    .set(security_requests::superseded_at.eq(Some(now())))
    .execute(conn)?;
    Ok(())
}
