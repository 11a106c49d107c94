//! Admin actions that email the person: resend the invitation, a password reset, a
//! two-factor reset. Credentials only for the project's own accounts (see `authority`).

use crate::services::Conflict;
use diesel::prelude::*;

use crate::domain::MembershipStatus;

use super::{Acting, MemberDetail, display_name, get, target};
use crate::config::Limits;
use crate::db::models::{Project, User};
use crate::db::schema::users;
use crate::db::{self, DbConn};
use crate::services::audit;
use crate::services::recovery::{self, KIND_INVITE, KIND_RESET};
use crate::services::{ServiceError, authority, emails, now, outbox};

/// In one transaction: loads the member (of this project only), runs `act`, and records
/// `action` in the audit log.
fn act_on_member<T>(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    action: &str,
    act: impl FnOnce(&mut DbConn, &MemberDetail) -> Result<T, ServiceError>,
) -> Result<T, ServiceError> {
    db::transaction(conn, |conn| {
        let detail = get(conn, project, membership_id)?;
        let done = act(conn, &detail)?;
        let name = display_name(&detail.profile);
        audit::record(
            conn,
            Some(&project.id),
            by,
            action,
            Some(target(&detail, &name)),
            "",
        )?;
        Ok(done)
    })
}

/// Members invited through the API by externalId alone have no address to write to.
fn no_email_guard(user: &User) -> Result<(), ServiceError> {
    if user.email.is_empty() {
        return Err(ServiceError::Conflict(Conflict::NoEmail));
    }
    Ok(())
}

/// Admin-triggered emails to one person are limited (see `throttle::admin_email`).
fn limit_emails_to(
    conn: &mut DbConn,
    project: &Project,
    detail: &MemberDetail,
    limits: &Limits,
) -> Result<(), ServiceError> {
    no_email_guard(&detail.user)?;
    crate::services::throttle::admin_email(conn, limits, &project.id, &detail.user.email)
}

/// Sends the invitation again; `true` when it carries a new set-password link. For an account this project may give a first password (its
/// own, or one its invite created) that is a fresh set-password link, and the previous one
/// stops working; for anyone else's account, the invitation to accept, without any link that
/// touches the account.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn resend_invite(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    base_url: &str,
    limits: &Limits,
) -> Result<bool, ServiceError> {
    let detail = get(conn, project, membership_id)?;
    if detail.membership.status != MembershipStatus::Invited {
        return Err(ServiceError::Conflict(Conflict::AlreadyAccepted));
    }
    limit_emails_to(conn, project, &detail, limits)?;
    act_on_member(
        conn,
        project,
        by,
        membership_id,
        "member.invite_resent",
        |conn, detail| {
            let link = authority::may_send_invite_link(conn, by, project, &detail.user)?;
            let email = if link {
                let path =
                    recovery::create_link(conn, KIND_INVITE, &detail.user.id, Some(&project.id))?;
                emails::invite_new(
                    &detail.user.email,
                    &detail.profile.first_name,
                    &by.display,
                    &project.name,
                    &format!("{base_url}{path}"),
                )?
            } else {
                crate::services::invite::invitation_email(
                    &detail.user.email,
                    &detail.profile.first_name,
                    &by.display,
                    project,
                    detail.membership.status,
                    base_url,
                )?
            };
            let email_id = outbox::enqueue(conn, &email)?;
            super::pending::note_email(conn, membership_id, &email_id)?;
            Ok(link)
        },
    )
}

/// Emails a reset link: only to the project's own accounts (or by a super admin).
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn send_password_reset(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    base_url: &str,
    limits: &Limits,
) -> Result<(), ServiceError> {
    let detail = get(conn, project, membership_id)?;
    authority::require_credentials(by, project, &detail.user)?;
    limit_emails_to(conn, project, &detail, limits)?;
    act_on_member(
        conn,
        project,
        by,
        membership_id,
        "member.password_reset_sent",
        |conn, detail| {
            let path = recovery::create_link(
                conn,
                KIND_RESET,
                &detail.user.id,
                detail.user.project_id.as_deref(),
            )?;
            let account = format!("your account in the project {}", project.name);
            let email = emails::password_reset(
                &detail.user.email,
                &detail.profile.first_name,
                &format!("{base_url}{path}"),
                &account,
            )?;
            outbox::enqueue(conn, &email)?;
            Ok(())
        },
    )
}

/// Clears the member's two-factor enrolment and tells them by email: only for the project's
/// own accounts (or by a super admin), and only when there is something to clear.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn reset_mfa(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
) -> Result<(), ServiceError> {
    act_on_member(
        conn,
        project,
        by,
        membership_id,
        "member.mfa_reset",
        |conn, detail| {
            authority::require_credentials(by, project, &detail.user)?;
            if !detail.user.mfa_enrolled {
                return Err(ServiceError::Conflict(Conflict::MfaNotOn));
            }
            diesel::update(users::table.find(&detail.user.id))
                .set((
                    users::mfa_secret.eq(None::<String>),
                    users::mfa_enrolled.eq(false),
                    users::mfa_last_step.eq(None::<i64>),
                    users::updated_at.eq(now()),
                ))
                .execute(conn)?;
            crate::services::mfa::drop_recovery_codes(conn, &detail.user.id)?;
            if !detail.user.email.is_empty() {
                let email = emails::mfa_reset(
                    &detail.user.email,
                    &detail.profile.first_name,
                    &project.name,
                )?;
                outbox::enqueue(conn, &email)?;
            }
            Ok(())
        },
    )
}
