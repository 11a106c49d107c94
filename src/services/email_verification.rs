//! Proving that an account's address is its owner's: a one-time link sent to it. An account
//! registered by someone who does not own the address (anyone can type any address at sign-up)
//! must not accept the invitations sent to that address, so accepting needs a verified address.

use diesel::prelude::*;

use super::recovery::{self, LinkError, LinkInfo, LinkProblem};
use super::{ServiceError, emails, now, outbox, throttle};
use crate::config::Limits;
use crate::db::models::User;
use crate::db::schema::users;
use crate::db::{self, DbConn};

pub const KIND_VERIFY: &str = "verify_email";

/// Emails a confirmation link to the account's address (a few an hour at most).
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub fn request(
    conn: &mut DbConn,
    user: &User,
    base_url: &str,
    limits: &Limits,
) -> Result<(), ServiceError> {
    throttle::hit_and_check(
        conn,
        &format!("verify-email:{}", user.id),
        limits.reset_requests_per_email_and_ip,
        limits.reset_window,
    )?;
    db::transaction(conn, |conn| {
        let path = recovery::create_link(conn, KIND_VERIFY, &user.id, None)?.replacen(
            "/setpassword/",
            "/verify-email/",
            1,
        );
        let link = format!("{base_url}{path}");
        outbox::enqueue(
            conn,
            &emails::verify_email(&user.email, &user.first_name, &link)?,
        )?;
        Ok(())
    })
}

/// The link, when it is a usable confirmation link.
pub fn check(conn: &mut DbConn, id: &str, secret: &str) -> Result<LinkInfo, LinkError> {
    let info = recovery::check_any_link(conn, id, secret)?;
    if info.request.kind != KIND_VERIFY {
        return Err(LinkError::Problem(LinkProblem::Invalid));
    }
    Ok(info)
}

/// Uses the link once and marks the address verified.
#[tracing::instrument(skip_all, fields(id = %id))]
pub fn confirm(conn: &mut DbConn, id: &str, secret: &str) -> Result<User, LinkError> {
    db::transaction(conn, |conn| {
        let LinkInfo { request, user } = check(conn, id, secret)?;
        let at = now();
        recovery::claim_link(conn, &request.id, at)?;
        diesel::update(users::table.find(&user.id))
            .set((users::email_verified.eq(true), users::updated_at.eq(at)))
            .execute(conn)?;
        Ok(User {
            email_verified: true,
            ..user
        })
    })
}
