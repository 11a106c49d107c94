//! Creating user rows: the one place a new User is assembled.

use diesel::prelude::*;

use super::auth::new_security_stamp;
use super::{ServiceError, new_id, now};
use crate::db::DbConn;
use crate::db::models::Membership;
use crate::db::models::{Profile, User};
use crate::db::schema::{profiles, users};
use crate::domain::folded::ProfileKeys;
use crate::domain::{MembershipStatus, ProfileType};

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
        theme: None,
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
    let keys = ProfileKeys::of(first_name, last_name, email);
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
        sort_first: keys.sort_first,
        sort_last: keys.sort_last,
        search_text: keys.search_text,
        identifiers: "[]".into(),
    }
}

/// Gives a profile new names, with the folded keys the member lists sort and search by (a
/// trigger copies them onto the profile's membership).
pub fn rename_profile(
    conn: &mut DbConn,
    profile: &mut Profile,
    first_name: &str,
    last_name: &str,
) -> Result<(), diesel::result::Error> {
    let keys = ProfileKeys::of(first_name, last_name, profile.email.as_deref());
    diesel::update(profiles::table.find(&profile.id))
        .set((
            profiles::first_name.eq(first_name),
            profiles::last_name.eq(last_name),
            profiles::sort_first.eq(&keys.sort_first),
            profiles::sort_last.eq(&keys.sort_last),
            profiles::search_text.eq(&keys.search_text),
            profiles::updated_at.eq(now()),
        ))
        .execute(conn)?;
    profile.first_name = first_name.to_owned();
    profile.last_name = last_name.to_owned();
    (profile.sort_first, profile.sort_last, profile.search_text) =
        (keys.sort_first, keys.sort_last, keys.search_text);
    Ok(())
}

/// A new, active, non-admin membership of a person, with what the member lists sort and
/// filter on copied from the profile and the account. Callers set the rest.
pub fn person_membership(project_id: &str, user: &User, profile: &Profile) -> Membership {
    let at = now();
    Membership {
        id: new_id(),
        project_id: project_id.to_owned(),
        user_id: Some(user.id.clone()),
        client_id: None,
        profile_id: Some(profile.id.clone()),
        access_policy_id: None,
        admin: false,
        active: true,
        status: MembershipStatus::Active,
        mfa_required: false,
        invited_by: None,
        external_id: None,
        created_at: at,
        updated_at: at,
        profile_type: Some(profile.resource_type),
        sort_first: profile.sort_first.clone(),
        sort_last: profile.sort_last.clone(),
        email: profile.email.clone().unwrap_or_default(),
        mfa: user.mfa_enrolled,
        last_signin_at: None,
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

/// Folds the names of profiles written before the member lists kept folded keys (rows with
/// an empty `search_text`), in batches. Returns how many it folded; at start-up.
pub fn fold_unfolded_profiles(conn: &mut DbConn) -> Result<usize, diesel::result::Error> {
    let mut folded = 0;
    loop {
        let batch: Vec<(String, String, String, Option<String>)> = profiles::table
            .filter(profiles::search_text.eq(""))
            .select((
                profiles::id,
                profiles::first_name,
                profiles::last_name,
                profiles::email,
            ))
            .limit(1000)
            .load(conn)?;
        if batch.is_empty() {
            return Ok(folded);
        }
        crate::db::transaction(conn, |conn| {
            for (id, first, last, email) in &batch {
                let keys = ProfileKeys::of(first, last, email.as_deref());
                diesel::update(profiles::table.find(id))
                    .set((
                        profiles::sort_first.eq(&keys.sort_first),
                        profiles::sort_last.eq(&keys.sort_last),
                        profiles::search_text.eq(&keys.search_text),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        folded += batch.len();
    }
}
