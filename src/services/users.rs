//! Creating user rows: the one place a new User is assembled.

use diesel::prelude::*;

use super::auth::new_security_stamp;
use super::{ServiceError, new_id, now};
use crate::db::DbConn;
use crate::db::models::{Profile, User};
use crate::db::schema::{profiles, users};
use crate::domain::ProfileType;

pub struct NewUser<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    /// `None` for a server-scoped user.
    pub project_id: Option<&'a str>,
    pub password_hash: Option<String>,
    pub super_admin: bool,
}

/// Inserts the user. A duplicate address in the same scope is the unique index's error, for
/// the caller to map.
pub fn insert(conn: &mut DbConn, new: NewUser<'_>) -> Result<User, diesel::result::Error> {
    let at = now();
    let user = User {
        id: new_id(),
        first_name: new.first_name.to_owned(),
        last_name: new.last_name.to_owned(),
        email: new.email.to_owned(),
        email_verified: false,
        password_hash: new.password_hash,
        project_id: new.project_id.map(str::to_owned),
        mfa_secret: None,
        mfa_enrolled: false,
        mfa_last_step: None,
        super_admin: new.super_admin,
        security_stamp: new_security_stamp(),
        created_at: at,
        updated_at: at,
        last_signin_at: None,
    };
    diesel::insert_into(users::table)
        .values(&user)
        .execute(conn)?;
    Ok(user)
}

/// The user with this address in a scope: server-wide (`project_id` `None`) or one project.
pub fn find_by_email(
    conn: &mut DbConn,
    email: &str,
    project_id: Option<&str>,
) -> Result<Option<User>, ServiceError> {
    let query = users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .into_boxed();
    let query = match project_id {
        Some(p) => query.filter(users::project_id.eq(p)),
        None => query.filter(users::project_id.is_null()),
    };
    Ok(query.first(conn).optional()?)
}

/// A new profile row (the member's record inside one project) with only names and email.
pub fn new_profile(
    project_id: &str,
    resource_type: ProfileType,
    first_name: &str,
    last_name: &str,
    email: Option<&str>,
) -> Profile {
    let at = now();
    Profile {
        id: new_id(),
        project_id: project_id.to_owned(),
        resource_type,
        first_name: first_name.to_owned(),
        last_name: last_name.to_owned(),
        prefix: None,
        suffix: None,
        email: email.map(str::to_owned),
        phone: None,
        gender: None,
        birth_date: None,
        language: None,
        qualifications: "[]".into(),
        photo_content_type: None,
        photo_updated_at: None,
        created_at: at,
        updated_at: at,
    }
}

/// Inserts a new profile with only names and email.
pub fn insert_profile(
    conn: &mut DbConn,
    project_id: &str,
    resource_type: ProfileType,
    first_name: &str,
    last_name: &str,
    email: Option<&str>,
) -> Result<Profile, diesel::result::Error> {
    let profile = new_profile(project_id, resource_type, first_name, last_name, email);
    diesel::insert_into(profiles::table)
        .values(&profile)
        .execute(conn)?;
    Ok(profile)
}
