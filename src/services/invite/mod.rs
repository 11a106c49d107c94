//! Inviting someone into a project: the one function behind the invite form and the API.
//! Everything it writes — user, profile, membership, link, audit event, email — is written
//! in one transaction, so a failure leaves nothing half-made.

mod account;
pub mod bulk;
mod tell;
mod upsert;

use diesel::prelude::*;

use super::audit::{self, Acting, Target};
use super::{Conflict, ServiceError, authority, users};
use crate::config::Limits;
use crate::db::models::{Membership, Profile, Project, User};
use crate::db::schema::memberships;
use crate::db::{self, DbConn, is_unique_violation};
use crate::domain::{EmailAddress, MembershipStatus, PersonName, ProfileType};
pub use tell::invitation_email;

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

/// One invite under way: who asks, in which project, for whom, and what the answers need.
pub(super) struct Invitation<'a> {
    project: &'a Project,
    by: &'a Acting,
    request: &'a InviteRequest,
    base_url: &'a str,
    limits: &'a Limits,
}

/// Invites in one transaction. When another project's concurrent invite created the same
/// account first (PostgreSQL lets both transactions look before either writes), the losing
/// transaction runs again and reuses the account that won.
#[tracing::instrument(name = "invite", skip_all, fields(project = %project.id))]
pub fn invite(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    request: InviteRequest,
    base_url: &str,
    limits: &Limits,
) -> Result<InviteOutcome, ServiceError> {
    let cx = Invitation {
        project,
        by,
        request: &request,
        base_url,
        limits,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        match db::transaction(conn, |conn| invite_once(conn, &cx)) {
            Err(ServiceError::Retry) if attempts < 3 => continue,
            Err(ServiceError::Retry) => {
                return Err(ServiceError::Conflict(Conflict::AlreadyMember));
            }
            other => return other,
        }
    }
}

fn invite_once(conn: &mut DbConn, cx: &Invitation) -> Result<InviteOutcome, ServiceError> {
    let (project, request) = (cx.project, cx.request);
    if let Some(policy) = &request.access_policy_id {
        super::policies::ensure_in_project(conn, &project.id, policy, "accessPolicy")?;
    }
    let invitee = account::find_or_create(conn, project, request)?;
    let existing = memberships::table
        .filter(memberships::project_id.eq(&project.id))
        .filter(memberships::user_id.eq(&invitee.user.id))
        .select(Membership::as_select())
        .first::<Membership>(conn)
        .optional()?;
    if let Some(other) = &invitee.by_external_id
        && existing.as_ref().is_none_or(|m| m.id != other.id)
    {
        return Err(ServiceError::Conflict(Conflict::ExternalIdTaken));
    }
    if let Some(existing) = existing {
        if !request.upsert {
            return Err(ServiceError::Conflict(Conflict::AlreadyMember));
        }
        return upsert::upsert(conn, cx, existing, invitee.user);
    }
    let profile = account::find_or_create_profile(conn, &project.id, request)?;
    let status = authority::initial_status(project, &invitee.user, invitee.created);
    let membership = insert_membership(conn, cx, &invitee.user, &profile, status)?;
    record_invite(conn, cx, &membership, &profile, invitee.created)?;
    let (invite_link, email_id) = tell::tell_the_person(conn, cx, &invitee, &profile, status)?;
    if let Some(id) = &email_id {
        super::members::pending::note_email(conn, &membership.id, id)?;
    }
    Ok(InviteOutcome {
        invite_link,
        email_queued: email_id.is_some(),
        awaits_acceptance: !invitee.created && status == MembershipStatus::Invited,
        membership,
        profile,
        user: invitee.user,
        user_created: invitee.created,
        updated_existing: false,
    })
}

impl Invitation<'_> {
    /// The policy asked for, or for a Patient without one, the project's default.
    fn access_policy_id(&self) -> Option<String> {
        self.request.access_policy_id.clone().or_else(|| {
            (self.request.profile_type == ProfileType::Patient)
                .then(|| self.project.default_patient_policy_id.clone())
                .flatten()
        })
    }
}

fn insert_membership(
    conn: &mut DbConn,
    cx: &Invitation,
    user: &User,
    profile: &Profile,
    status: MembershipStatus,
) -> Result<Membership, ServiceError> {
    let membership = Membership {
        access_policy_id: cx.access_policy_id(),
        admin: cx.request.admin,
        status,
        mfa_required: cx.request.mfa_required,
        invited_by: cx.by.user_id.clone(),
        external_id: cx.request.external_id.clone(),
        ..users::person_membership(&cx.project.id, user, profile)
    };
    diesel::insert_into(memberships::table)
        .values(&membership)
        .execute(conn)
        .map_err(conflict_on_duplicate)?;
    Ok(membership)
}

fn record_invite(
    conn: &mut DbConn,
    cx: &Invitation,
    membership: &Membership,
    profile: &Profile,
    user_created: bool,
) -> Result<(), ServiceError> {
    let request = cx.request;
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
        Some(&cx.project.id),
        cx.by,
        "member.invited",
        Some(Target {
            kind: "ProjectMembership",
            id: &membership.id,
            display: &name,
        }),
        &detail,
    )
}
