//! Client applications: API clients of one project. Each has its own membership (its access
//! in the project) and a secret that is shown once and stored only as a hash.

use diesel::prelude::*;

use super::audit::{self, Target};
use super::members::{self, Acting, MembershipChange};
use super::{ServiceError, hash_secret, new_id, now, random_secret};
use crate::db::models::{ClientApplication, Membership, Project};
use crate::db::schema::{access_policies, client_applications, logins, memberships};
use crate::db::{self, DbConn};
use crate::domain::FieldErrors;

const NAME_MAX: usize = 128;
const DESCRIPTION_MAX: usize = 1000;
const REDIRECT_URI_MAX: usize = 2000;
const REDIRECT_URIS_MAX: usize = 20;

/// An address an app may receive codes at: absolute http(s), no fragment (RFC 6749 §3.1.2).
fn redirect_uri_ok(uri: &str) -> bool {
    uri.len() <= REDIRECT_URI_MAX
        && url::Url::parse(uri).is_ok_and(|u| {
            matches!(u.scheme(), "https" | "http") && u.has_host() && u.fragment().is_none()
        })
}

/// Some client application registered a redirect URI at this origin
/// (`https://app.example.com`): browser apps there may call the API.
pub fn origin_registered(conn: &mut DbConn, origin: &str) -> Result<bool, ServiceError> {
    // Every row that could hold it (no limit: rows that merely mention the origin must not
    // crowd out the one that registered it).
    let pattern = format!("%{}/%", super::auth::escape_like(origin));
    let candidates: Vec<Option<String>> = client_applications::table
        .filter(client_applications::redirect_uri.like(pattern).escape('\\'))
        .select(client_applications::redirect_uri)
        .load(conn)?;
    Ok(candidates
        .iter()
        .flatten()
        .flat_map(|uris| uris.lines())
        .any(|uri| url::Url::parse(uri).is_ok_and(|u| u.origin().ascii_serialization() == origin)))
}

/// The redirect URIs a client registered (kept one per line).
pub fn redirect_uris(client: &ClientApplication) -> Vec<&str> {
    client
        .redirect_uri
        .as_deref()
        .map_or_else(Vec::new, |uris| uris.lines().collect())
}

/// Validated input for a new client.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub description: String,
    pub redirect_uri: Option<String>,
    pub access_policy_id: Option<String>,
    pub admin: bool,
    /// May create projects through the API; only a super admin may ask for one.
    pub super_admin: bool,
}

impl NewClient {
    /// Trims and checks the text fields; errors name the form and API field.
    pub fn parse(
        name: &str,
        description: Option<&str>,
        redirect_uri: Option<&str>,
    ) -> Result<NewClient, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = name.trim();
        if name.is_empty() {
            errors.add("name", "Enter a name for the client");
        } else if name.chars().count() > NAME_MAX {
            errors.add("name", format!("Use at most {NAME_MAX} characters"));
        } else if name.chars().any(char::is_control) {
            errors.add(
                "name",
                "A name cannot contain line breaks or control characters",
            );
        }
        let description = description.unwrap_or("").trim();
        if description.chars().count() > DESCRIPTION_MAX {
            errors.add(
                "description",
                format!("Use at most {DESCRIPTION_MAX} characters"),
            );
        }
        let redirect_uris: Vec<&str> = redirect_uri.unwrap_or("").split_whitespace().collect();
        if redirect_uris.len() > REDIRECT_URIS_MAX {
            errors.add(
                "redirectUri",
                format!("Register at most {REDIRECT_URIS_MAX} redirect URIs"),
            );
        } else if let Some(bad) = redirect_uris.iter().find(|uri| !redirect_uri_ok(uri)) {
            errors.add(
                "redirectUri",
                format!(
                    "Enter a full http or https address on each line, like https://app.example.com/callback, without a #fragment: \u{201c}{bad}\u{201d} is not one"
                ),
            );
        }
        errors.into_result()?;
        Ok(NewClient {
            name: name.to_owned(),
            description: description.to_owned(),
            redirect_uri: Some(redirect_uris.join("\n")).filter(|u| !u.is_empty()),
            access_policy_id: None,
            admin: false,
            super_admin: false,
        })
    }
}

/// A client and its membership, as lists and pages show them.
#[derive(Debug, Clone)]
pub struct ClientDetail {
    pub client: ClientApplication,
    pub membership: Membership,
    pub policy_name: Option<String>,
}

/// A new client or a rotated secret: the only time the secret exists in clear.
pub struct WithSecret {
    pub detail: ClientDetail,
    pub secret: String,
}

fn target(client: &ClientApplication) -> Target<'_> {
    Target {
        kind: "ClientApplication",
        id: &client.id,
        display: &client.name,
    }
}

/// Creates the client, its membership and an audit event in one transaction.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-")))]
pub fn create(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    new: NewClient,
) -> Result<WithSecret, ServiceError> {
    db::transaction(conn, |conn| {
        if let Some(policy) = &new.access_policy_id {
            super::policies::ensure_in_project(conn, &project.id, policy, "accessPolicy")?;
        }
        let secret = random_secret();
        let at = now();
        let client = ClientApplication {
            id: new_id(),
            project_id: project.id.clone(),
            name: new.name,
            description: new.description,
            redirect_uri: new.redirect_uri,
            secret_hash: hash_secret(&secret),
            super_admin: new.super_admin,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(client_applications::table)
            .values(&client)
            .execute(conn)?;
        let membership = Membership {
            id: new_id(),
            project_id: project.id.clone(),
            user_id: None,
            client_id: Some(client.id.clone()),
            profile_id: None,
            access_policy_id: new.access_policy_id,
            admin: new.admin,
            active: true,
            status: crate::domain::MembershipStatus::Active,
            mfa_required: false,
            invited_by: by.user_id.clone(),
            external_id: None,
            created_at: at,
            updated_at: at,
            profile_type: None,
            sort_first: String::new(),
            sort_last: String::new(),
            email: String::new(),
            mfa: false,
            last_signin_at: None,
        };
        diesel::insert_into(memberships::table)
            .values(&membership)
            .execute(conn)?;
        let mut detail = String::new();
        if membership.admin {
            detail.push_str("admin");
        }
        if client.super_admin {
            detail.push_str(if detail.is_empty() { "" } else { ", " });
            detail.push_str("super admin");
        }
        audit::record(
            conn,
            Some(&project.id),
            by,
            "client.created",
            Some(target(&client)),
            &detail,
        )?;
        let detail = get(conn, &project.id, &client.id)?;
        Ok(WithSecret { detail, secret })
    })
}

/// The project's clients, newest first.
pub fn list(conn: &mut DbConn, project_id: &str) -> Result<Vec<ClientDetail>, ServiceError> {
    let rows = client_applications::table
        .inner_join(memberships::table)
        .left_join(
            access_policies::table.on(access_policies::id
                .nullable()
                .eq(memberships::access_policy_id)),
        )
        .filter(client_applications::project_id.eq(project_id))
        .order(client_applications::created_at.desc())
        .select((
            ClientApplication::as_select(),
            Membership::as_select(),
            access_policies::name.nullable(),
        ))
        .load::<(ClientApplication, Membership, Option<String>)>(conn)?;
    Ok(rows
        .into_iter()
        .map(|(client, membership, policy_name)| ClientDetail {
            client,
            membership,
            policy_name,
        })
        .collect())
}

/// One client of this project; another project's is not found.
pub fn get(conn: &mut DbConn, project_id: &str, id: &str) -> Result<ClientDetail, ServiceError> {
    let (client, membership, policy_name) = client_applications::table
        .inner_join(memberships::table)
        .left_join(
            access_policies::table.on(access_policies::id
                .nullable()
                .eq(memberships::access_policy_id)),
        )
        .filter(client_applications::project_id.eq(project_id))
        .filter(client_applications::id.eq(id))
        .select((
            ClientApplication::as_select(),
            Membership::as_select(),
            access_policies::name.nullable(),
        ))
        .first::<(ClientApplication, Membership, Option<String>)>(conn)
        .optional()?
        .ok_or(ServiceError::NotFound)?;
    Ok(ClientDetail {
        client,
        membership,
        policy_name,
    })
}

/// Any client of any project, for token requests and reads by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<ClientApplication>, ServiceError> {
    Ok(client_applications::table
        .find(id)
        .select(ClientApplication::as_select())
        .first(conn)
        .optional()?)
}

/// The client whose id and secret these are, or `None`. The comparison of the secret's
/// hash takes the same time however much of it matches.
pub fn authenticate(
    conn: &mut DbConn,
    client_id: &str,
    secret: &str,
) -> Result<Option<ClientApplication>, ServiceError> {
    let given = hash_secret(secret);
    Ok(find(conn, client_id)?.filter(|c| super::constant_time_eq(&c.secret_hash, &given)))
}

fn revoke_tokens(conn: &mut DbConn, client_id: &str) -> Result<(), ServiceError> {
    diesel::update(
        logins::table
            .filter(logins::client_id.eq(client_id))
            .filter(logins::revoked_at.is_null()),
    )
    .set(logins::revoked_at.eq(Some(now())))
    .execute(conn)?;
    Ok(())
}

/// A new secret; the old one and every token issued with it stop working at once.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), id = %id))]
pub fn rotate_secret(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    id: &str,
) -> Result<WithSecret, ServiceError> {
    db::transaction(conn, |conn| {
        let detail = get(conn, &project.id, id)?;
        let secret = random_secret();
        diesel::update(client_applications::table.find(id))
            .set((
                client_applications::secret_hash.eq(hash_secret(&secret)),
                client_applications::updated_at.eq(now()),
            ))
            .execute(conn)?;
        revoke_tokens(conn, id)?;
        audit::record(
            conn,
            Some(&project.id),
            by,
            "client.secret_rotated",
            Some(target(&detail.client)),
            "",
        )?;
        Ok(WithSecret { detail, secret })
    })
}

/// Admin flag and access policy of the client's membership (same rules as a person's).
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), id = %id))]
pub fn set_access(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    id: &str,
    admin: bool,
    access_policy_id: Option<String>,
) -> Result<(), ServiceError> {
    let detail = get(conn, &project.id, id)?;
    members::change(
        conn,
        project,
        by,
        &detail.membership.id,
        MembershipChange {
            admin,
            access_policy_id,
            ..MembershipChange::default()
        },
    )?;
    Ok(())
}

/// Replaces the addresses a browser app may receive codes at (one per line).
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), id = %id))]
pub fn set_redirect_uris(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    id: &str,
    redirect_uris: &str,
) -> Result<(), ServiceError> {
    let parsed = NewClient::parse("-", None, Some(redirect_uris)).map_err(ServiceError::Invalid)?;
    db::transaction(conn, |conn| {
        let detail = get(conn, &project.id, id)?;
        if detail.client.redirect_uri == parsed.redirect_uri {
            return Ok(());
        }
        diesel::update(client_applications::table.find(id))
            .set((
                client_applications::redirect_uri.eq(&parsed.redirect_uri),
                client_applications::updated_at.eq(now()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            Some(&project.id),
            by,
            "client.redirect_uris_changed",
            Some(target(&detail.client)),
            parsed.redirect_uri.as_deref().unwrap_or("none"),
        )?;
        Ok(())
    })
}

/// Deletes the client; its membership and tokens go with it.
#[tracing::instrument(skip_all, fields(project = %project.id, by = by.user_id.as_deref().unwrap_or("-"), id = %id))]
pub fn remove(
    conn: &mut DbConn,
    project: &Project,
    by: &Acting,
    id: &str,
) -> Result<String, ServiceError> {
    db::transaction(conn, |conn| {
        let detail = get(conn, &project.id, id)?;
        revoke_tokens(conn, id)?;
        diesel::delete(memberships::table.filter(memberships::client_id.eq(id))).execute(conn)?;
        diesel::delete(client_applications::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            Some(&project.id),
            by,
            "client.removed",
            Some(target(&detail.client)),
            "",
        )?;
        Ok(detail.client.name)
    })
}
