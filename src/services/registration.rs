//! Creating accounts and projects.

use diesel::prelude::*;

use super::audit::{self, Acting, Target};
use super::emails;
use super::outbox;
use super::users::{self, NewUser};
use super::{RequestMeta, ServiceError, new_id, now};
use crate::db::models::{Membership, Project, User};
use crate::db::schema::{memberships, projects};
use crate::db::{self, DbConn, is_unique_violation};
use crate::domain::{EmailAddress, FieldErrors, Password, PersonName, ProfileType, ProjectName};

pub const EMAIL_TAKEN: &str =
    "An account with this email already exists. Sign in instead, or reset your password";

pub struct NewAccount {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: EmailAddress,
    pub password_hash: String,
}

/// Creates a server-scoped user. A taken address is a field error, also when two sign-ups
/// race (the unique index decides).
fn register_user(conn: &mut DbConn, account: NewAccount) -> Result<User, ServiceError> {
    if users::find_by_email(conn, account.email.as_str(), None)?.is_some() {
        return Err(ServiceError::invalid("email", EMAIL_TAKEN));
    }
    let new = NewUser {
        first_name: account.first_name.as_str(),
        last_name: account.last_name.as_str(),
        email: account.email.as_str(),
        project_id: None,
        password_hash: Some(account.password_hash),
        super_admin: false,
    };
    match users::insert(conn, new) {
        Ok(user) => Ok(user),
        Err(e) if is_unique_violation(&e) => Err(ServiceError::invalid("email", EMAIL_TAKEN)),
        Err(e) => Err(e.into()),
    }
}

/// A sign-up's fields as domain values, or every field's error (the page and the API).
pub fn parse_account(
    first_name: &str,
    last_name: &str,
    email: &str,
    password: &str,
) -> Result<(PersonName, PersonName, EmailAddress, Password), FieldErrors> {
    let mut errors = FieldErrors::new();
    let first = errors.take("firstName", PersonName::parse(first_name, "first name"));
    let last = errors.take("lastName", PersonName::parse(last_name, "last name"));
    let email = errors.take("email", EmailAddress::parse_new(email));
    let password = errors.take(
        "password",
        Password::parse(password, email.as_ref(), &[first_name, last_name]),
    );
    match (first, last, email, password) {
        (Some(first), Some(last), Some(email), Some(password)) => {
            Ok((first, last, email, password))
        }
        _ => Err(errors),
    }
}

/// Registers an account and signs it in, in one transaction: a new session, or nothing.
/// Returns the session's id.
#[tracing::instrument(skip_all)]
pub fn register(
    conn: &mut DbConn,
    account: NewAccount,
    remember: bool,
    meta: &RequestMeta,
    policy: &super::auth::SessionPolicy,
    limits: &crate::config::Limits,
) -> Result<String, ServiceError> {
    // Sign-ups from one address are limited: each account is an address claimed.
    super::throttle::hit_and_check(
        conn,
        &format!("register-ip:{}", meta.ip.as_deref().unwrap_or("-")),
        limits.registrations_per_ip,
        limits.registration_window,
    )?;
    db::transaction(conn, |conn| {
        let user = register_user(conn, account)?;
        let new = super::auth::NewSession {
            user: &user,
            method: "password",
            remember,
            membership_id: None,
            mfa_verified: true,
            meta,
        };
        super::auth::create_login(conn, new, policy)
    })
}

pub struct CreatedProject {
    pub project: Project,
    pub membership_id: String,
}

/// Creates a project owned by `owner`, with the owner's Practitioner profile and admin
/// membership, an audit event and the welcome email, in one transaction.
#[tracing::instrument(skip_all, fields(owner = %owner.id))]
pub fn create_project(
    conn: &mut DbConn,
    owner: &User,
    name: ProjectName,
    description: &str,
    base_url: &str,
    meta: &RequestMeta,
) -> Result<CreatedProject, ServiceError> {
    db::transaction(conn, |conn| {
        let at = now();
        let project = Project {
            id: new_id(),
            name: name.into_inner(),
            description: description.to_owned(),
            owner_id: owner.id.clone(),
            default_patient_policy_id: None,
            require_mfa: false,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(projects::table)
            .values(&project)
            .execute(conn)?;
        let profile = users::insert_profile(
            conn,
            &project.id,
            ProfileType::Practitioner,
            &owner.first_name,
            &owner.last_name,
            Some(&owner.email),
        )?;
        let membership = Membership {
            admin: true,
            // The owner is in the new project from now on.
            last_signin_at: Some(at),
            ..users::person_membership(&project.id, owner, &profile)
        };
        diesel::insert_into(memberships::table)
            .values(&membership)
            .execute(conn)?;
        audit::record(
            conn,
            Some(&project.id),
            &Acting::user(owner, meta),
            "project.created",
            Some(Target {
                kind: "Project",
                id: &project.id,
                display: &project.name,
            }),
            "",
        )?;
        let email = emails::welcome(
            &owner.email,
            &owner.first_name,
            &project.name,
            &emails::project_url(base_url, &project.id),
        )?;
        outbox::enqueue(conn, &email)?;
        Ok(CreatedProject {
            membership_id: membership.id,
            project,
        })
    })
}
