//! Changing an account's email address. A person changes their own: the new address gets a
//! link, the old one a notice, and nothing changes until the link is used (sessions stay).
//! An admin changes the address of their project's own account at once, and both addresses
//! are told. Either way addresses stay unique per scope (server-wide, or per project).

use chrono::Duration;
use diesel::prelude::*;

use super::audit::{self, Acting, Target};
use super::emails::{self, EmailChange};
use super::recovery::{LinkError, LinkInfo, LinkProblem, check_any_link, claim_link};
use super::{ServiceError, hash_secret, new_id, now, outbox, random_secret};
use crate::db::models::{Membership, Project, SecurityRequest, User};
use crate::db::schema::{memberships, profiles, security_requests, users};
use crate::db::{self, DbConn};
use crate::domain::EmailAddress;
use crate::domain::folded::ProfileKeys;

pub const KIND_EMAIL: &str = "email_change";
const LIFETIME_HOURS: i64 = 24;

/// Refused when another account of the same scope has the address.
fn ensure_free(conn: &mut DbConn, user: &User, email: &EmailAddress) -> Result<(), ServiceError> {
    if email.as_str() == user.email {
        return Err(ServiceError::invalid(
            "email",
            "This is already the address of the account",
        ));
    }
    let mut taken = users::table
        .filter(users::email.eq(email.as_str()))
        .filter(users::id.ne(&user.id))
        .into_boxed();
    taken = match &user.project_id {
        Some(project) => taken.filter(users::project_id.eq(project.clone())),
        None => taken.filter(users::project_id.is_null()),
    };
    let n: i64 = taken.count().get_result(conn)?;
    if n > 0 {
        return Err(ServiceError::invalid(
            "email",
            "Another account already uses this address",
        ));
    }
    Ok(())
}

/// Writes the new address on the account and on its profiles (the member lists show and
/// search it), with the sort and search keys that follow from it.
fn apply(
    conn: &mut DbConn,
    user: &User,
    email: &EmailAddress,
    verified: bool,
) -> Result<(), ServiceError> {
    diesel::update(users::table.find(&user.id))
        .set((
            users::email.eq(email.as_str()),
            users::email_verified.eq(verified),
            users::updated_at.eq(now()),
        ))
        .execute(conn)
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                ServiceError::invalid("email", "Another account already uses this address")
            } else {
                e.into()
            }
        })?;
    // Links sent to the old address (a password reset, an invitation) stop working with it.
    super::recovery::cancel_links(conn, &user.id)?;
    show_address(conn, &user.id, None)
}

/// Shows the account's address to the projects that may see it (`authority::sees_address`),
/// through the profiles of its memberships (in `project` only, or in all). An invitation not
/// yet accepted keeps the address it was sent to: a project learns nothing of another
/// project's account before its owner accepts, and learns its current address when they do.
pub fn show_address(
    conn: &mut DbConn,
    user_id: &str,
    project: Option<&str>,
) -> Result<(), ServiceError> {
    let user: User = users::table
        .find(user_id)
        .select(User::as_select())
        .first(conn)?;
    let email = user.email.clone();
    let mut held = memberships::table
        .filter(memberships::user_id.eq(user_id))
        .select(Membership::as_select())
        .into_boxed();
    if let Some(project) = project {
        held = held.filter(memberships::project_id.eq(project.to_owned()));
    }
    let profile_ids: Vec<String> = held
        .load::<Membership>(conn)?
        .into_iter()
        .filter(|m| super::authority::sees_address(m, &user))
        .filter_map(|m| m.profile_id)
        .collect();
    let names: Vec<(String, String, String, Option<String>)> = profiles::table
        .filter(profiles::id.eq_any(&profile_ids))
        .select((
            profiles::id,
            profiles::first_name,
            profiles::last_name,
            profiles::email,
        ))
        .load(conn)?;
    for (id, first, last, _) in names
        .into_iter()
        .filter(|(.., shown)| shown.as_deref() != Some(email.as_str()))
    {
        let keys = ProfileKeys::of(&first, &last, Some(&email));
        diesel::update(profiles::table.find(&id))
            .set((
                profiles::email.eq(Some(email.as_str())),
                profiles::sort_first.eq(&keys.sort_first),
                profiles::sort_last.eq(&keys.sort_last),
                profiles::search_text.eq(&keys.search_text),
                profiles::updated_at.eq(now()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A person asks to change their own address: a link to the new one, a notice to the old.
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub fn request(
    conn: &mut DbConn,
    user: &User,
    email: &EmailAddress,
    base_url: &str,
    by: &Acting,
) -> Result<(), ServiceError> {
    db::transaction(conn, |conn| {
        ensure_free(conn, user, email)?;
        let at = now();
        diesel::update(
            security_requests::table
                .filter(security_requests::user_id.eq(&user.id))
                .filter(security_requests::kind.eq(KIND_EMAIL))
                .filter(security_requests::used_at.is_null())
                .filter(security_requests::superseded_at.is_null()),
        )
        .set(security_requests::superseded_at.eq(Some(at)))
        .execute(conn)?;
        let secret = random_secret();
        let request = SecurityRequest {
            id: new_id(),
            kind: KIND_EMAIL.to_owned(),
            user_id: user.id.clone(),
            project_id: user.project_id.clone(),
            secret_hash: hash_secret(&secret),
            created_at: at,
            expires_at: at + Duration::hours(LIFETIME_HOURS),
            used_at: None,
            superseded_at: None,
        };
        diesel::insert_into(security_requests::table)
            .values(&request)
            .execute(conn)?;
        diesel::update(security_requests::table.find(&request.id))
            .set(security_requests::new_email.eq(Some(email.as_str())))
            .execute(conn)?;
        let link = format!("{base_url}/account/email/{}/{secret}", request.id);
        let mut told = EmailChange {
            first_name: &user.first_name,
            old_email: &user.email,
            new_email: email.as_str(),
            link: Some(&link),
            by_admin: None,
            project_name: "",
        };
        outbox::enqueue(conn, &emails::email_change(email.as_str(), &told)?)?;
        told.link = None;
        outbox::enqueue(conn, &emails::email_change(&user.email, &told)?)?;
        audit::record(
            conn,
            None,
            by,
            "user.email_change_requested",
            None,
            email.as_str(),
        )
    })
}

/// The address a change-of-email link would set, for its confirmation page.
pub fn pending(conn: &mut DbConn, id: &str, secret: &str) -> Result<(LinkInfo, String), LinkError> {
    let info = check_any_link(conn, id, secret)?;
    if info.request.kind != KIND_EMAIL {
        return Err(LinkError::Problem(LinkProblem::Invalid));
    }
    let new_email: Option<String> = security_requests::table
        .find(&info.request.id)
        .select(security_requests::new_email)
        .first(conn)?;
    let new_email = new_email.ok_or(LinkError::Problem(LinkProblem::Invalid))?;
    Ok((info, new_email))
}

/// Uses the link once (of two concurrent uses one wins) and changes the address; sessions
/// stay. Returns the new address.
#[tracing::instrument(skip_all, fields(id = %id))]
pub fn confirm(
    conn: &mut DbConn,
    id: &str,
    secret: &str,
    meta: &super::RequestMeta,
) -> Result<String, LinkError> {
    db::transaction(conn, |conn| {
        let (LinkInfo { request, user }, new_email) = pending(conn, id, secret)?;
        claim_link(conn, &request.id, now())?;
        let email = EmailAddress::parse(&new_email)
            .map_err(|_| LinkError::Problem(LinkProblem::Invalid))?;
        ensure_free(conn, &user, &email)?;
        apply(conn, &user, &email, true)?;
        audit::record(
            conn,
            user.project_id.as_deref(),
            &Acting::user(&user, meta),
            "user.email_changed",
            None,
            &format!("{} → {}", user.email, email.as_str()),
        )?;
        Ok(email.as_str().to_owned())
    })
}

/// An admin changes the address of an account that belongs to their project alone; an
/// account shared with other projects is its owner's to change.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), membership = %membership_id))]
pub fn by_admin(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    membership_id: &str,
    email: &EmailAddress,
) -> Result<(), ServiceError> {
    db::transaction(conn, |conn| {
        let detail = super::members::get(conn, project, membership_id)?;
        super::authority::require_credentials(by, project, &detail.user)?;
        let user = detail.user;
        ensure_free(conn, &user, email)?;
        apply(conn, &user, email, false)?;
        let told = EmailChange {
            first_name: &user.first_name,
            old_email: &user.email,
            new_email: email.as_str(),
            link: None,
            by_admin: Some(&by.display),
            project_name: &project.name,
        };
        for to in [user.email.as_str(), email.as_str()] {
            if !to.is_empty() {
                outbox::enqueue(conn, &emails::email_change(to, &told)?)?;
            }
        }
        let name = format!("{} {}", detail.profile.first_name, detail.profile.last_name);
        audit::record(
            conn,
            Some(&project.id),
            by,
            "member.email_changed",
            Some(Target {
                kind: "ProjectMembership",
                id: membership_id,
                display: &name,
            }),
            &format!("{} → {}", user.email, email.as_str()),
        )
    })
}
