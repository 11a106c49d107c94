//! Inviting someone into a project: the one function behind the invite form and the API.
//! Everything it writes — user, profile, membership, link, audit event, email — is written
//! in one transaction, so a failure leaves nothing half-made.

use diesel::prelude::*;

use super::audit::{self, Actor, Target};
use super::emails;
use super::outbox;
use super::recovery::{self, KIND_INVITE};
use super::users::{self, NewUser};
use super::{RequestMeta, ServiceError, new_id, now};
use crate::db::models::{Membership, Profile, Project, User};
use crate::db::schema::{memberships, profiles};
use crate::db::{self, DbConn, is_unique_violation};
use crate::domain::{EmailAddress, PersonName, ProfileType};

pub const ALREADY_MEMBER: &str = "User is already a member of this project";
pub const EXTERNAL_ID_TAKEN: &str = "A member of this project already has this externalId";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Server,
    Project,
}

pub struct InviteRequest {
    pub profile_type: ProfileType,
    pub first_name: PersonName,
    pub last_name: PersonName,
    /// `None` only for API invites by `external_id` (a project-scoped user without email).
    pub email: Option<EmailAddress>,
    pub access_policy_id: Option<String>,
    pub send_email: bool,
    pub admin: bool,
    /// `None`: Patients are project-scoped, everyone else server-scoped.
    pub scope: Option<Scope>,
    pub mfa_required: bool,
    pub external_id: Option<String>,
    /// Update the existing membership instead of refusing a second invite.
    pub upsert: bool,
}

/// Who is inviting.
pub struct Inviter<'a> {
    pub user_id: Option<&'a str>,
    pub display: &'a str,
}

#[derive(Debug)]
pub struct InviteOutcome {
    pub membership: Membership,
    pub profile: Profile,
    pub user: User,
    pub user_created: bool,
    pub email_queued: bool,
    pub updated_existing: bool,
    /// A set-password link for a new user who was not emailed, for the admin to pass on.
    pub invite_link: Option<String>,
}

fn find_or_create_profile(
    conn: &mut DbConn,
    project_id: &str,
    request: &InviteRequest,
) -> Result<Profile, ServiceError> {
    let email = request.email.as_ref().map(EmailAddress::as_str);
    let Some(email) = email else {
        return Ok(users::insert_profile(
            conn,
            project_id,
            request.profile_type.as_str(),
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
    if let Some(profile) = existing {
        return Ok(profile);
    }
    Ok(users::insert_profile(
        conn,
        project_id,
        request.profile_type.as_str(),
        request.first_name.as_str(),
        request.last_name.as_str(),
        Some(email),
    )?)
}

/// Maps a unique-index violation (a concurrent identical invite got there first) to the
/// "already a member" answer.
fn conflict_on_duplicate(e: diesel::result::Error) -> ServiceError {
    if is_unique_violation(&e) {
        ServiceError::Conflict(ALREADY_MEMBER.into())
    } else {
        e.into()
    }
}

pub fn invite(
    conn: &mut DbConn,
    project: &Project,
    inviter: &Inviter<'_>,
    request: InviteRequest,
    base_url: &str,
    meta: &RequestMeta,
) -> Result<InviteOutcome, ServiceError> {
    db::transaction(conn, |conn| {
        if let Some(policy) = &request.access_policy_id {
            super::policies::ensure_in_project(conn, &project.id, policy, "accessPolicy")?;
        }
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
                None => return Err(ServiceError::Conflict(EXTERNAL_ID_TAKEN.into())),
            },
            (None, None) => None,
        };
        let (user, user_created) = match found {
            Some(user) => (user, false),
            None => {
                let new = NewUser {
                    first_name: request.first_name.as_str(),
                    last_name: request.last_name.as_str(),
                    email: request.email.as_ref().map_or("", EmailAddress::as_str),
                    project_id: scope_project,
                    password_hash: None,
                    super_admin: false,
                };
                (
                    users::insert(conn, new).map_err(conflict_on_duplicate)?,
                    true,
                )
            }
        };

        let existing = memberships::table
            .filter(memberships::project_id.eq(&project.id))
            .filter(memberships::user_id.eq(&user.id))
            .select(Membership::as_select())
            .first::<Membership>(conn)
            .optional()?;
        if let Some(other) = &by_external_id
            && existing.as_ref().is_none_or(|m| m.id != other.id)
        {
            return Err(ServiceError::Conflict(EXTERNAL_ID_TAKEN.into()));
        }
        let access_policy_id = request.access_policy_id.clone().or_else(|| {
            (request.profile_type == ProfileType::Patient)
                .then(|| project.default_patient_policy_id.clone())
                .flatten()
        });
        let at = now();
        if let Some(existing) = existing {
            if !request.upsert {
                return Err(ServiceError::Conflict(ALREADY_MEMBER.into()));
            }
            return upsert(
                conn,
                project,
                inviter,
                existing,
                &request,
                access_policy_id,
                user,
                meta,
            );
        }

        let profile = find_or_create_profile(conn, &project.id, &request)?;
        let status = if user.password_hash.is_some() {
            "active"
        } else {
            "invited"
        };
        let membership = Membership {
            id: new_id(),
            project_id: project.id.clone(),
            user_id: Some(user.id.clone()),
            client_id: None,
            profile_id: Some(profile.id.clone()),
            access_policy_id,
            admin: request.admin,
            active: true,
            status: status.into(),
            mfa_required: request.mfa_required,
            invited_by: inviter.user_id.map(str::to_owned),
            external_id: request.external_id.clone(),
            created_at: at,
            updated_at: at,
            profile_type: Some(profile.resource_type.clone()),
        };
        diesel::insert_into(memberships::table)
            .values(&membership)
            .execute(conn)
            .map_err(conflict_on_duplicate)?;

        let name = format!("{} {}", profile.first_name, profile.last_name);
        let who = match (&request.email, &request.external_id) {
            (Some(email), _) => email.as_str().to_owned(),
            (None, Some(external_id)) => format!("externalId {external_id}"),
            (None, None) => String::new(),
        };
        let mut detail = format!("{who} as {}", profile.resource_type);
        if request.admin {
            detail.push_str(", admin");
        }
        audit::record(
            conn,
            Some(&project.id),
            Actor {
                id: inviter.user_id,
                display: inviter.display,
            },
            "member.invited",
            Some(Target {
                kind: "ProjectMembership",
                id: &membership.id,
                display: &name,
            }),
            &detail,
            meta,
        )?;

        // A user without an email has no way to use a link: nothing to send or show.
        let needs_password = user.password_hash.is_none() && request.email.is_some();
        let link = if needs_password {
            Some(recovery::create_link(
                conn,
                KIND_INVITE,
                &user.id,
                Some(&project.id),
            )?)
        } else {
            None
        };
        let email = match (&link, request.send_email && request.email.is_some()) {
            (_, false) => None,
            (Some(path), true) => Some(emails::invite_new(
                &user.email,
                &profile.first_name,
                inviter.display,
                &project.name,
                &format!("{base_url}{path}"),
            )?),
            (None, true) => Some(emails::invite_existing(
                &user.email,
                &profile.first_name,
                inviter.display,
                &project.name,
                &format!("{base_url}/signin?project={}", project.id),
            )?),
        };
        if let Some(email) = &email {
            outbox::enqueue(conn, email)?;
        }
        Ok(InviteOutcome {
            invite_link: if request.send_email {
                None
            } else {
                link.map(|p| format!("{base_url}{p}"))
            },
            email_queued: email.is_some(),
            membership,
            profile,
            user,
            user_created,
            updated_existing: false,
        })
    })
}

#[allow(clippy::too_many_arguments)]
fn upsert(
    conn: &mut DbConn,
    project: &Project,
    inviter: &Inviter<'_>,
    existing: Membership,
    request: &InviteRequest,
    access_policy_id: Option<String>,
    user: User,
    meta: &RequestMeta,
) -> Result<InviteOutcome, ServiceError> {
    let profile = match &existing.profile_id {
        Some(id) => profiles::table
            .find(id)
            .select(Profile::as_select())
            .first::<Profile>(conn)?,
        None => return Err(ServiceError::Conflict(ALREADY_MEMBER.into())),
    };
    if profile.resource_type != request.profile_type.as_str() {
        return Err(ServiceError::Conflict(format!(
            "This member's profile is a {}, not a {}",
            profile.resource_type, request.profile_type
        )));
    }
    let at = now();
    diesel::update(memberships::table.find(&existing.id))
        .set((
            memberships::admin.eq(request.admin),
            memberships::access_policy_id.eq(&access_policy_id),
            memberships::mfa_required.eq(request.mfa_required),
            memberships::external_id.eq(&request.external_id),
            memberships::updated_at.eq(at),
        ))
        .execute(conn)
        .map_err(conflict_on_duplicate)?;
    let membership = memberships::table
        .find(&existing.id)
        .select(Membership::as_select())
        .first::<Membership>(conn)?;
    let name = format!("{} {}", profile.first_name, profile.last_name);
    audit::record(
        conn,
        Some(&project.id),
        Actor {
            id: inviter.user_id,
            display: inviter.display,
        },
        "member.updated",
        Some(Target {
            kind: "ProjectMembership",
            id: &membership.id,
            display: &name,
        }),
        "updated by a repeated invite",
        meta,
    )?;
    Ok(InviteOutcome {
        membership,
        profile,
        user,
        user_created: false,
        email_queued: false,
        updated_existing: true,
        invite_link: None,
    })
}
