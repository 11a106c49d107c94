//! The account and the profile an invite is for: found in the invite's scope, or created.

use diesel::prelude::*;

use super::{InviteRequest, Scope};
use crate::db::models::{Membership, Profile, Project, User};
use crate::db::schema::{memberships, profiles};
use crate::db::{DbConn, is_unique_violation};
use crate::domain::{EmailAddress, ProfileType};
use crate::services::users::{self, NewUser};
use crate::services::{Conflict, ServiceError};

/// The account an invite is for, and whether this request created it.
pub(super) struct Invitee {
    pub user: User,
    pub created: bool,
    /// The project's membership that already has the request's `externalId`, if any.
    pub by_external_id: Option<Membership>,
}

/// Finds the account in the invite's scope (by email, or by the membership holding the
/// `externalId`), or creates it. A concurrent creation elsewhere asks for a retry.
pub(super) fn find_or_create(
    conn: &mut DbConn,
    project: &Project,
    request: &InviteRequest,
) -> Result<Invitee, ServiceError> {
    // Without an email the user can only be this project's: nobody could sign in as a
    // server-wide account that has no address.
    let scope = if request.email.is_none() {
        Scope::Project
    } else {
        request.scope.unwrap_or(match request.profile_type {
            ProfileType::Patient => Scope::Project,
            _ => Scope::Server,
        })
    };
    let scope_project = (scope == Scope::Project).then_some(project.id.as_str());
    let by_external_id = match &request.external_id {
        Some(external_id) => memberships::table
            .filter(memberships::project_id.eq(&project.id))
            .filter(memberships::external_id.eq(external_id))
            .select(Membership::as_select())
            .first::<Membership>(conn)
            .optional()?,
        None => None,
    };
    let found = match (&request.email, &by_external_id) {
        (Some(email), _) => users::find_by_email(conn, email.as_str(), scope_project)?,
        (None, Some(m)) => match &m.user_id {
            Some(id) => Some(
                crate::db::schema::users::table
                    .find(id)
                    .select(User::as_select())
                    .first::<User>(conn)?,
            ),
            None => return Err(ServiceError::Conflict(Conflict::ExternalIdTaken)),
        },
        (None, None) => None,
    };
    if let Some(user) = found {
        return Ok(Invitee {
            user,
            created: false,
            by_external_id,
        });
    }
    // A project-scoped twin of a member's server-wide account would capture that member's
    // sign-ins through the project's links: the address is already this project's member.
    if let (Some(email), Some(_)) = (&request.email, scope_project)
        && let Some(member) = users::find_by_email(conn, email.as_str(), None)?
        && memberships::table
            .filter(memberships::project_id.eq(&project.id))
            .filter(memberships::user_id.eq(&member.id))
            .count()
            .get_result::<i64>(conn)?
            > 0
    {
        return Err(ServiceError::Conflict(Conflict::AlreadyMember));
    }
    let new = NewUser {
        first_name: request.first_name.as_str(),
        last_name: request.last_name.as_str(),
        email: request.email.as_ref().map_or("", EmailAddress::as_str),
        project_id: scope_project,
        password_hash: None,
        super_admin: false,
    };
    let user = users::insert(conn, new).map_err(|e| {
        if is_unique_violation(&e) {
            ServiceError::Retry
        } else {
            e.into()
        }
    })?;
    Ok(Invitee {
        user,
        created: true,
        by_external_id,
    })
}

pub(super) fn find_or_create_profile(
    conn: &mut DbConn,
    project_id: &str,
    request: &InviteRequest,
) -> Result<Profile, ServiceError> {
    let email = request.email.as_ref().map(EmailAddress::as_str);
    let Some(email) = email else {
        return Ok(users::insert_profile(
            conn,
            project_id,
            request.profile_type,
            request.first_name.as_str(),
            request.last_name.as_str(),
            None,
        )?);
    };
    let existing = profiles::table
        .filter(profiles::project_id.eq(project_id))
        .filter(profiles::resource_type.eq(request.profile_type.as_str()))
        .filter(profiles::email.eq(email))
        // A profile backs at most one membership (lists page by profile).
        .filter(diesel::dsl::not(diesel::dsl::exists(
            memberships::table.filter(memberships::profile_id.eq(profiles::id.nullable())),
        )))
        .select(Profile::as_select())
        .order(profiles::created_at.asc())
        .first::<Profile>(conn)
        .optional()?;
    if let Some(mut profile) = existing {
        // The record is reused; the names are the ones the admin typed now.
        let (first, last) = (request.first_name.as_str(), request.last_name.as_str());
        if profile.first_name != first || profile.last_name != last {
            users::rename_profile(conn, &mut profile, first, last)?;
        }
        return Ok(profile);
    }
    Ok(users::insert_profile(
        conn,
        project_id,
        request.profile_type,
        request.first_name.as_str(),
        request.last_name.as_str(),
        Some(email),
    )?)
}
