//! What the invited person is told: a set-password link for a new account, an invitation to
//! accept for an existing one, or a note that they were added.

use super::Invitation;
use super::account::Invitee;
use crate::db::DbConn;
use crate::db::models::{Profile, Project};
use crate::domain::MembershipStatus;
use crate::services::recovery::{self, KIND_INVITE};
use crate::services::{ServiceError, authority, emails, outbox, throttle};

/// Emails the person (unless the admin said not to) and makes the set-password link: only for
/// an account this request created (shown to the admin when not emailed), or one this project
/// may send a first link to (then only emailed). Returns the link to show and whether an
/// email was queued.
pub(super) fn tell_the_person(
    conn: &mut DbConn,
    cx: &Invitation,
    invitee: &Invitee,
    profile: &Profile,
    status: MembershipStatus,
) -> Result<(Option<String>, Option<String>), ServiceError> {
    let (project, by, request, base_url) = (cx.project, cx.by, cx.request, cx.base_url);
    let (user, user_created) = (&invitee.user, invitee.created);
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
    let mut email_id = None;
    if let Some(email) = &email {
        // Counted in this transaction: an invite that fails or sends nothing counts nothing,
        // and inviting and removing someone over and over cannot flood their inbox.
        throttle::admin_email(conn, cx.limits, &project.id, &email.to)?;
        email_id = Some(outbox::enqueue(conn, email)?);
    }
    let shown = match (user_created, request.send_email, link) {
        (true, false, Some(p)) => Some(format!("{base_url}{p}")),
        _ => None,
    };
    Ok((shown, email_id))
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
        emails::project_url(base_url, &project.id)
    };
    emails::invite_existing(to, first_name, inviter, &project.name, &link, accept)
}
