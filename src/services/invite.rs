//! Inviting someone into a project: the one function behind the invite form and the API.
//! Everything it writes — user, profile, membership, link, audit event, email — is written
//! in one transaction, so a failure leaves nothing half-made.

use crate::services::Conflict;
use diesel::prelude::*;

use super::audit::{self, Acting, Target};
use super::members::{self, MembershipChange};
use super::recovery::{self, KIND_INVITE};
use super::users::{self, NewUser};
use super::{ServiceError, authority, emails, new_id, now, outbox};
use crate::config::Limits;
use crate::db::models::{Membership, Profile, Project, User};
use crate::db::schema::{memberships, profiles};
use crate::db::{self, DbConn, is_unique_violation};
use crate::domain::MembershipStatus;
use crate::domain::{EmailAddress, PersonName, ProfileType};

/// Where an invited person's account lives: shared by every project it joins, or this
/// project's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Scope {
    Server,
    Project,
}

impl Scope {
    pub fn parse(input: &str) -> Result<Scope, String> {
        match input {
            "project" => Ok(Scope::Project),
            "server" => Ok(Scope::Server),
            _ => Err("scope must be \"project\" or \"server\"".into()),
        }
    }
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

#[derive(Debug)]
pub struct InviteOutcome {
    pub membership: Membership,
    pub profile: Profile,
    pub user: User,
    pub user_created: bool,
    pub email_queued: bool,
    pub updated_existing: bool,
    /// A set-password link for a new user who was not emailed, for the admin to pass on.
    /// Never for an account that existed before this request.
    pub invite_link: Option<String>,
    /// An existing server-wide account was invited: the membership waits for its owner.
    pub awaits_acceptance: bool,
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
            diesel::update(profiles::table.find(&profile.id))
                .set((
                    profiles::first_name.eq(first),
                    profiles::last_name.eq(last),
                    profiles::updated_at.eq(now()),
                ))
                .execute(conn)?;
            profile.first_name = first.to_owned();
            profile.last_name = last.to_owned();
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

/// Maps a unique-index violation (a concurrent identical invite got there first) to the
/// "already a member" answer.
fn conflict_on_duplicate(e: diesel::result::Error) -> ServiceError {
    if is_unique_violation(&e) {
        ServiceError::Conflict(Conflict::AlreadyMember)
    } else {
        e.into()
    }
}

/// Counts an invite against the inviter (`key`) and their address; refuses past the limits.
/// Page and API share it. Not inside a transaction.
pub fn check_rate(
    conn: &mut DbConn,
    limits: &crate::config::Limits,
    key: &str,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    super::throttle::hit_and_check(conn, key, limits.invites_per_admin, limits.invite_window)?;
    super::throttle::hit_and_check(
        conn,
        &format!("invite-ip:{}", ip.unwrap_or("-")),
        limits.invites_per_ip,
        limits.invite_window,
    )
}

/// Invites in one transaction. When another project's concurrent invite created the same
/// account first (PostgreSQL lets both transactions look before either writes), the losing
/// transaction runs again and reuses the account that won.
pub fn invite(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    request: InviteRequest,
    base_url: &str,
    limits: &Limits,
) -> Result<InviteOutcome, ServiceError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match db::transaction(conn, |conn| {
            invite_once(conn, project, by, &request, base_url, limits)
        }) {
            Err(ServiceError::Retry) if attempts < 3 => continue,
            Err(ServiceError::Retry) => {
                return Err(ServiceError::Conflict(Conflict::AlreadyMember));
            }
            other => return other,
        }
    }
}

fn invite_once(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    request: &InviteRequest,
    base_url: &str,
    limits: &Limits,
) -> Result<InviteOutcome, ServiceError> {
    if let Some(policy) = &request.access_policy_id {
        super::policies::ensure_in_project(conn, &project.id, policy, "accessPolicy")?;
    }
    let Invitee {
        user,
        created: user_created,
        by_external_id,
    } = find_or_create_account(conn, project, request)?;
    let existing = memberships::table
        .filter(memberships::project_id.eq(&project.id))
        .filter(memberships::user_id.eq(&user.id))
        .select(Membership::as_select())
        .first::<Membership>(conn)
        .optional()?;
    if let Some(other) = &by_external_id
        && existing.as_ref().is_none_or(|m| m.id != other.id)
    {
        return Err(ServiceError::Conflict(Conflict::ExternalIdTaken));
    }
    let access_policy_id = request.access_policy_id.clone().or_else(|| {
        (request.profile_type == ProfileType::Patient)
            .then(|| project.default_patient_policy_id.clone())
            .flatten()
    });
    if let Some(existing) = existing {
        if !request.upsert {
            return Err(ServiceError::Conflict(Conflict::AlreadyMember));
        }
        return upsert(conn, project, by, existing, request, access_policy_id, user);
    }
    let profile = find_or_create_profile(conn, &project.id, request)?;
    let status = authority::initial_status(project, &user, user_created);
    let membership = insert_membership(
        conn,
        project,
        by,
        request,
        &user,
        &profile,
        access_policy_id,
        status,
    )?;
    record_invite(
        conn,
        project,
        by,
        request,
        &membership,
        &profile,
        user_created,
    )?;
    let (invite_link, email_queued) = tell_the_person(
        conn,
        project,
        by,
        request,
        &user,
        &profile,
        user_created,
        status,
        base_url,
        limits,
    )?;
    Ok(InviteOutcome {
        invite_link,
        email_queued,
        awaits_acceptance: !user_created && status == MembershipStatus::Invited,
        membership,
        profile,
        user,
        user_created,
        updated_existing: false,
    })
}

/// The account an invite is for, and whether this request created it.
struct Invitee {
    user: User,
    created: bool,
    /// The project's membership that already has the request's `externalId`, if any.
    by_external_id: Option<Membership>,
}

/// Finds the account in the invite's scope (by email, or by the membership holding the
/// `externalId`), or creates it. A concurrent creation elsewhere asks for a retry.
fn find_or_create_account(
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

#[allow(clippy::too_many_arguments)]
fn insert_membership(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    request: &InviteRequest,
    user: &User,
    profile: &Profile,
    access_policy_id: Option<String>,
    status: MembershipStatus,
) -> Result<Membership, ServiceError> {
    let at = now();
    let membership = Membership {
        id: new_id(),
        project_id: project.id.clone(),
        user_id: Some(user.id.clone()),
        client_id: None,
        profile_id: Some(profile.id.clone()),
        access_policy_id,
        admin: request.admin,
        active: true,
        status,
        mfa_required: request.mfa_required,
        invited_by: by.user_id.clone(),
        external_id: request.external_id.clone(),
        created_at: at,
        updated_at: at,
        profile_type: Some(profile.resource_type),
    };
    diesel::insert_into(memberships::table)
        .values(&membership)
        .execute(conn)
        .map_err(conflict_on_duplicate)?;
    Ok(membership)
}

fn record_invite(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    request: &InviteRequest,
    membership: &Membership,
    profile: &Profile,
    user_created: bool,
) -> Result<(), ServiceError> {
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
    if !user_created && membership.status == MembershipStatus::Invited {
        detail.push_str(", existing account: waits for acceptance");
    }
    audit::record(
        conn,
        Some(&project.id),
        by,
        "member.invited",
        Some(Target {
            kind: "ProjectMembership",
            id: &membership.id,
            display: &name,
        }),
        &detail,
    )
}

/// Emails the person (unless the admin said not to) and makes the set-password link: only for
/// an account this request created (shown to the admin when not emailed), or one this project
/// may send a first link to (then only emailed). Returns the link to show and whether an
/// email was queued.
#[allow(clippy::too_many_arguments)]
fn tell_the_person(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    request: &InviteRequest,
    user: &User,
    profile: &Profile,
    user_created: bool,
    status: MembershipStatus,
    base_url: &str,
    limits: &Limits,
) -> Result<(Option<String>, bool), ServiceError> {
    // A set-password link exists only for an account this request created, or one that is
    // this project's own and has never had a password (and then it is only emailed).
    let link = if (user_created && request.email.is_some())
        || (!user_created && authority::may_send_invite_link(conn, by, project, user)?)
    {
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
            &by.display,
            &project.name,
            &format!("{base_url}{path}"),
        )?),
        (None, true) => Some(invitation_email(
            &user.email,
            &profile.first_name,
            &by.display,
            project,
            status,
            base_url,
        )?),
    };
    if let Some(email) = &email {
        // Counted in this transaction: an invite that fails or sends nothing counts nothing,
        // and inviting and removing someone over and over cannot flood their inbox.
        super::throttle::admin_email(conn, limits, &project.id, &email.to)?;
        outbox::enqueue(conn, email)?;
    }
    let shown = match (user_created, request.send_email, link) {
        (true, false, Some(p)) => Some(format!("{base_url}{p}")),
        _ => None,
    };
    Ok((shown, email.is_some()))
}

/// The email to an existing account: an invitation to accept, or a note that they were added.
pub fn invitation_email(
    to: &str,
    first_name: &str,
    inviter: &str,
    project: &Project,
    status: MembershipStatus,
    base_url: &str,
) -> Result<emails::Email, ServiceError> {
    let accept = status == MembershipStatus::Invited;
    let link = if accept {
        format!("{base_url}/invitations")
    } else {
        format!("{base_url}/signin?project={}", project.id)
    };
    emails::invite_existing(to, first_name, inviter, &project.name, &link, accept)
}

/// A repeated invite with `upsert`: the membership's fields change through the one function
/// that holds the owner and last-admin rules.
fn upsert(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    existing: Membership,
    request: &InviteRequest,
    access_policy_id: Option<String>,
    user: User,
) -> Result<InviteOutcome, ServiceError> {
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
            access_policy_id,
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
