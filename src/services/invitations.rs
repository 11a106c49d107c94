//! Invitations waiting for the person: a membership of an existing account is made only when
//! its owner accepts it (declining deletes it), so that no admin can make someone else's
//! account a member of their project, and see its details, without that person's word.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::{MembershipStatus, ProfileType};

use super::audit::{self, Acting, Target};
use super::{RequestMeta, ServiceError, now};
use crate::db::models::{Membership, Project, User};
use crate::db::schema::{memberships, profiles, projects, users};
use crate::db::{self, DbConn};

#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub membership_id: String,
    pub project_name: String,
    pub invited_by: Option<String>,
    pub role: ProfileType,
    pub admin: bool,
    pub created_at: NaiveDateTime,
}

/// Membership id, project, inviter's first and last name, role, admin, sent.
type InvitationRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<ProfileType>,
    bool,
    NaiveDateTime,
);

/// The user's invitations that wait for an answer, newest first.
pub fn pending(conn: &mut DbConn, user_id: &str) -> Result<Vec<PendingInvitation>, ServiceError> {
    let inviters = diesel::alias!(users as inviters);
    let rows: Vec<InvitationRow> = memberships::table
        .inner_join(projects::table)
        .left_join(inviters.on(memberships::invited_by.eq(inviters.field(users::id).nullable())))
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::status.eq(MembershipStatus::Invited))
        .filter(memberships::active.eq(true))
        .order(memberships::created_at.desc())
        .select((
            memberships::id,
            projects::name,
            inviters.field(users::first_name).nullable(),
            inviters.field(users::last_name).nullable(),
            memberships::profile_type,
            memberships::admin,
            memberships::created_at,
        ))
        .limit(200)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(membership_id, project_name, first, last, role, admin, created_at)| {
                PendingInvitation {
                    membership_id,
                    project_name,
                    invited_by: first.zip(last).map(|(f, l)| format!("{f} {l}")),
                    role: role.unwrap_or_default(),
                    admin,
                    created_at,
                }
            },
        )
        .collect())
}

/// Whether an invitation of this project waits for the user's answer.
pub fn is_invited_to(
    conn: &mut DbConn,
    user_id: &str,
    project_id: &str,
) -> Result<bool, ServiceError> {
    Ok(diesel::select(diesel::dsl::exists(
        memberships::table
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::status.eq(MembershipStatus::Invited))
            .filter(memberships::active.eq(true)),
    ))
    .get_result(conn)?)
}

pub fn count_pending(conn: &mut DbConn, user_id: &str) -> Result<i64, ServiceError> {
    Ok(memberships::table
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::status.eq(MembershipStatus::Invited))
        .filter(memberships::active.eq(true))
        .count()
        .get_result(conn)?)
}

fn load_own(
    conn: &mut DbConn,
    user: &User,
    membership_id: &str,
) -> Result<(Membership, Project), ServiceError> {
    memberships::table
        .inner_join(projects::table)
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::user_id.eq(&user.id))
        .filter(memberships::status.eq(MembershipStatus::Invited))
        // A suspended invitation is not on the person's list and cannot be answered.
        .filter(memberships::active.eq(true))
        .select((Membership::as_select(), Project::as_select()))
        .first(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)
}

/// Records the answer in the project's audit log. A decline tells the project nothing it did
/// not type itself: the invited profile's name, no account name, address or IP.
fn record(
    conn: &mut DbConn,
    user: &User,
    membership: &Membership,
    project: &Project,
    accepted: bool,
    meta: &RequestMeta,
) -> Result<(), ServiceError> {
    let typed: Option<(String, String)> = match &membership.profile_id {
        Some(id) => profiles::table
            .find(id)
            .select((profiles::first_name, profiles::last_name))
            .first(conn)
            .optional()?,
        None => None,
    };
    let invited = typed.map_or_else(String::new, |(f, l)| format!("{f} {l}"));
    let (by, detail) = if accepted {
        (Acting::user(user, meta), user.email.clone())
    } else {
        let anonymous = Acting {
            user_id: None,
            display: invited.clone(),
            super_admin: false,
            meta: RequestMeta::default(),
        };
        (anonymous, String::new())
    };
    audit::record(
        conn,
        Some(&project.id),
        &by,
        if accepted {
            "member.accepted"
        } else {
            "member.declined"
        },
        Some(Target {
            kind: "ProjectMembership",
            id: &membership.id,
            display: &invited,
        }),
        &detail,
    )
}

/// Accepts the person's waiting invitation of this project (not a suspended one): what a
/// path that proves the account for that project does (its link, its provider).
pub fn accept_in(
    conn: &mut DbConn,
    user_id: &str,
    project_id: &str,
    at: NaiveDateTime,
) -> Result<(), ServiceError> {
    diesel::update(
        memberships::table
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::status.eq(MembershipStatus::Invited))
            .filter(memberships::active.eq(true)),
    )
    .set((
        memberships::status.eq(MembershipStatus::Active),
        memberships::updated_at.eq(at),
    ))
    .execute(conn)?;
    super::email_change::show_address(conn, user_id, Some(project_id))
}

/// Anyone can sign up with any address: only its proven owner answers what is sent to it.
fn address_proven(conn: &mut DbConn, user: &User) -> Result<(), ServiceError> {
    let verified: bool = crate::db::schema::users::table
        .find(&user.id)
        .select(crate::db::schema::users::email_verified)
        .first(conn)?;
    if verified {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "Confirm your email address first: we can send you a link".into(),
        ))
    }
}

/// The person accepts: the membership becomes active. Returns the project.
#[tracing::instrument(skip_all, fields(user = %user.id, membership = %membership_id))]
pub fn accept(
    conn: &mut DbConn,
    user: &User,
    membership_id: &str,
    meta: &RequestMeta,
) -> Result<Project, ServiceError> {
    address_proven(conn, user)?;
    db::transaction(conn, |conn| {
        let (membership, project) = load_own(conn, user, membership_id)?;
        diesel::update(memberships::table.find(&membership.id))
            .set((
                memberships::status.eq(MembershipStatus::Active),
                memberships::updated_at.eq(now()),
            ))
            .execute(conn)?;
        super::email_change::show_address(conn, &user.id, Some(&project.id))?;
        record(conn, user, &membership, &project, true, meta)?;
        Ok(project)
    })
}

/// The person declines: the membership goes (the profile stays, as after a removal).
/// Returns the project's name.
#[tracing::instrument(skip_all, fields(user = %user.id, membership = %membership_id))]
pub fn decline(
    conn: &mut DbConn,
    user: &User,
    membership_id: &str,
    meta: &RequestMeta,
) -> Result<String, ServiceError> {
    address_proven(conn, user)?;
    db::transaction(conn, |conn| {
        let (membership, project) = load_own(conn, user, membership_id)?;
        diesel::delete(memberships::table.find(&membership.id)).execute(conn)?;
        record(conn, user, &membership, &project, false, meta)?;
        Ok(project.name)
    })
}
