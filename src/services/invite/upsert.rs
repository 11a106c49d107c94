//! A repeated invite with `upsert: true` (API only).

use diesel::prelude::*;

use super::{Invitation, InviteOutcome};
use crate::db::DbConn;
use crate::db::models::{Membership, Profile, User};
use crate::db::schema::{memberships, profiles};
use crate::domain::MembershipStatus;
use crate::services::audit::{self, Target};
use crate::services::members::{self, MembershipChange};
use crate::services::{Conflict, ServiceError};

/// A repeated invite with `upsert`: the membership's fields change through the one function
/// that holds the owner and last-admin rules.
pub(super) fn upsert(
    conn: &mut DbConn,
    cx: &Invitation,
    existing: Membership,
    user: User,
) -> Result<InviteOutcome, ServiceError> {
    let (project, by, request) = (cx.project, cx.by, cx.request);
    let profile = match &existing.profile_id {
        Some(id) => profiles::table
            .find(id)
            .select(Profile::as_select())
            .first::<Profile>(conn)?,
        None => return Err(ServiceError::Conflict(Conflict::AlreadyMember)),
    };
    if profile.resource_type != request.profile_type {
        return Err(ServiceError::Conflict(Conflict::ProfileType {
            existing: profile.resource_type,
            requested: request.profile_type,
        }));
    }
    members::apply_change(
        conn,
        project,
        by,
        &existing.id,
        MembershipChange {
            admin: request.admin,
            access_policy_id: cx.access_policy_id(),
            active: None,
            // Left out: the membership keeps its externalId.
            external_id: request.external_id.clone().map(Some),
        },
    )?;
    // A repeated invite can require two-factor authentication, not lift the requirement.
    if request.mfa_required && !existing.mfa_required {
        diesel::update(memberships::table.find(&existing.id))
            .set(memberships::mfa_required.eq(true))
            .execute(conn)?;
        let name = format!("{} {}", profile.first_name, profile.last_name);
        audit::record(
            conn,
            Some(&project.id),
            by,
            "member.updated",
            Some(Target {
                kind: "ProjectMembership",
                id: &existing.id,
                display: &name,
            }),
            "two-factor authentication required",
        )?;
    }
    let membership = memberships::table
        .find(&existing.id)
        .select(Membership::as_select())
        .first::<Membership>(conn)?;
    Ok(InviteOutcome {
        awaits_acceptance: membership.status == MembershipStatus::Invited
            && user.project_id.is_none(),
        membership,
        profile,
        user,
        user_created: false,
        email_queued: false,
        updated_existing: true,
        invite_link: None,
    })
}
